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
  installs torch's CPU build when torch is missing or older than the torch extra's minimum
  (Colab brings its own), then the package with its ``book`` extra (what the chapters import)
  from the repository named in ``_config.yml`` (``repository.url``), at the release tag
  ``v<version>`` of ``adalearn/__init__.py``: the tag the published book is built from. It is
  tagged ``remove-cell`` so the published pages do not show it. An existing install cell is
  rewritten, so changing the URL or the version and running this script updates every
  notebook, and changes nothing else in them.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tomllib
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


def release_tag(init: Path = ROOT / "adalearn" / "__init__.py") -> str:
    """Return the tag of the release in this checkout: ``v`` and ``adalearn.__version__``."""
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]:
            return f"v{ast.literal_eval(node.value)}"
    raise ValueError(f"{init} assigns no __version__")


def torch_minimum(pyproject: Path = ROOT / "pyproject.toml") -> tuple[int, int]:
    """Return the (major, minor) release the ``torch`` extra requires at least."""
    (requirement,) = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]["torch"]
    major, minor = re.fullmatch(r"torch>=(\d+)\.(\d+)", requirement).groups()
    return int(major), int(minor)


def install_source(url: str, tag: str, torch: tuple[int, int]) -> str:
    """Return the source of the install cell for release ``tag`` of the repository at ``url``.

    ``torch`` is the (major, minor) release the package needs at least.
    """
    minimum = ".".join(map(str, torch))
    return (
        f"{INSTALL_MARKER}: install adalearn {tag} when it is missing.\n"
        "try:\n"
        "    import adalearn  # noqa: F401\n"
        "except ImportError:\n"
        "    from importlib.metadata import PackageNotFoundError, version\n"
        "\n"
        "    try:\n"
        '        torch_release = tuple(map(int, version("torch").split(".")[:2]))\n'
        "    except PackageNotFoundError:\n"
        "        torch_release = (0, 0)\n"
        f"    if torch_release < {torch!r}:  # missing or too old; Colab brings a recent one\n"
        f'        %pip install --quiet "torch>={minimum}" '
        "--index-url https://download.pytorch.org/whl/cpu\n"
        f'    %pip install --quiet "adalearn[book] @ git+{url}@{tag}"'
    )


def is_install_cell(cell) -> bool:
    """Tell whether ``cell`` is an install cell written by this script."""
    return cell.cell_type == "code" and cell.source.startswith(INSTALL_MARKER)


def clean(nb, source: str) -> None:
    """Clean the notebook ``nb`` in place (see the module docstring)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None

    code_cells = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    install = nbformat.v4.new_code_cell(source, metadata={"tags": [INSTALL_TAG]})
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
    source = install_source(repository_url(), release_tag(), torch_minimum())

    unclean = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        clean(nb, source)
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
