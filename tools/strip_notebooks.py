"""Store the book's notebooks clean: no outputs, no execution counts, one install cell.

Usage::

    python tools/strip_notebooks.py              # clean every book/*.ipynb in place
    python tools/strip_notebooks.py book/03.ipynb
    python tools/strip_notebooks.py --check      # list the notebooks that are not clean, exit 1

Cleaning a notebook

- removes every code cell's outputs and execution count, and the per-cell metadata that
  Jupyter front ends write while running (``execution``, ``collapsed``, ``scrolled``);
- drops saved widget state from the notebook metadata (the built book renders widgets from
  the outputs it executes itself);
- makes the first code cell the install cell: on a machine without adalearn (Colab) it
  installs the package from the repository named in ``_config.yml`` (``repository.url``), and
  it is tagged ``remove-cell`` so the published pages do not show it. An existing install
  cell is rewritten, so changing the URL in ``_config.yml`` and running this script updates
  every notebook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml
from nbformat.corpus.words import generate_corpus_id

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TAG = "remove-cell"
INSTALL_MARKER = "# Colab and other fresh machines"
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "jp-MarkdownHeadingCollapsed")


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """Return the repository URL the book names in ``_config.yml``."""
    url = yaml.safe_load(config.read_text(encoding="utf-8"))["repository"]["url"]
    return url.rstrip("/")


def install_source(url: str) -> str:
    """Return the source of the install cell for the repository at ``url``."""
    return (
        f"{INSTALL_MARKER}: install adalearn when it is missing.\n"
        "try:\n"
        "    import adalearn  # noqa: F401\n"
        "except ImportError:\n"
        f'    %pip install --quiet "adalearn[all] @ git+{url}"'
    )


def is_install_cell(cell) -> bool:
    """Tell whether ``cell`` is an install cell written by this script."""
    return cell.cell_type == "code" and cell.source.startswith(INSTALL_MARKER)


def clean(nb, url: str) -> None:
    """Clean the notebook ``nb`` in place (see the module docstring)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None

    code_cells = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    install = nbformat.v4.new_code_cell(install_source(url), metadata={"tags": [INSTALL_TAG]})
    if code_cells and is_install_cell(nb.cells[code_cells[0]]):
        install.id = nb.cells[code_cells[0]].id
        nb.cells[code_cells[0]] = install
    else:
        # Before the first code cell, so the prose above it still opens the chapter.
        nb.cells.insert(code_cells[0] if code_cells else len(nb.cells), install)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: book/*.ipynb")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a notebook is not clean"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "book").glob("*.ipynb"))
    url = repository_url()

    unclean = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        clean(nb, url)
        if nb.nbformat_minor < 5:
            # Cell ids arrived in nbformat 4.5; the inserted install cell carries one.
            nb.nbformat_minor = 5
            for cell in nb.cells:
                cell.setdefault("id", generate_corpus_id())
        nbformat.validate(nb)
        new_text = nbformat.writes(nb).rstrip("\n") + "\n"
        if new_text != text:
            unclean.append(path)
            if not args.check:
                path.write_text(new_text, encoding="utf-8")
    for path in unclean:
        print(f"{'not clean' if args.check else 'cleaned'}: {path}")
    return 1 if args.check and unclean else 0


if __name__ == "__main__":
    sys.exit(main())
