"""The book executed once per test run: nbmake runs each notebook, the build reads its outputs.

``make test`` executes every chapter notebook once, under nbmake, and builds the book from
those executed notebooks with execution off. This module holds the three steps and the
checks that keep a stale output out of the build:

1. ``python -m tools.executed_book FOLDER`` lays out a fresh copy of the book in ``FOLDER``
   (``book/``, ``_toc.yml``, and ``_config.yml`` with ``execute_notebooks: off``).
2. ``pytest -p tools.executed_book --nbmake --overwrite FOLDER/book`` executes each notebook
   in place, once; nbmake reports a failing notebook with its failing cell and traceback. This
   module, loaded as a pytest plugin, puts the checkout first on the kernels' ``PYTHONPATH``
   and writes ``FOLDER/records/<notebook>.json`` for each notebook: its wall time (kernel
   start included), whether it passed, and digests of the package and of the notebook's cells
   as they ran.
3. :func:`build` builds ``FOLDER`` with ``-W -n``, after :func:`problems` has checked that
   every notebook of the table of contents passed in step 2, from the cells stored in
   ``book/`` now, with the package as it is now. A notebook that failed, was edited, or ran
   against another state of ``adalearn`` stops the build instead of being served.

``benchmarks/bench_book.py`` prints the recorded times next to its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from tools.book_pages import toc_files

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "adalearn"
RECORDS = "records"
# Where `make test` executes the book (EXECUTED in the Makefile); its records outlive the run.
MAKE_TEST_FOLDER = ROOT / ".executed"
# Per cell, as the build's own execution allows (execute.timeout in _config.yml).
CELL_TIMEOUT = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["execute"][
    "timeout"
]


def package_digest() -> str:
    """A digest of every file of the ``adalearn`` package in this checkout."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(PACKAGE).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cells_digest(path: Path) -> str:
    """A digest of a notebook's cells (type and source): what runs, not what it printed."""
    notebook = nbformat.read(path, as_version=4)
    cells = [[cell.cell_type, cell.source] for cell in notebook.cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def notebooks() -> list[Path]:
    """The chapter notebooks of the table of contents, as stored in ``book/``."""
    return [ROOT / f"{name}.ipynb" for name in toc_files() if (ROOT / f"{name}.ipynb").exists()]


def prepare(folder: Path) -> None:
    """Lay out a fresh copy of the book in ``folder``, configured to build without executing."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "book", folder / "book", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "_toc.yml", folder / "_toc.yml")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["execute"]["execute_notebooks"] = "off"
    (folder / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    # The book's extension serves MathJax from the npm package installed under tools/.
    (folder / "tools").symlink_to(ROOT / "tools")
    (folder / RECORDS).mkdir()
    # nbmake reads a notebook's own cell timeout from there: the one the build would allow.
    for path in (folder / "book").glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        notebook.metadata["execution"] = {"timeout": CELL_TIMEOUT}
        nbformat.write(notebook, path)


def records(folder: Path) -> dict[str, dict]:
    """The records of the notebooks executed in ``folder``, by notebook file name."""
    return {
        path.name.removesuffix(".json"): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((folder / RECORDS).glob("*.json"))
    }


def _record_name(path: Path) -> str:
    return f"{path.name}.json"


def problems(folder: Path, stored_notebooks: list[Path] | None = None) -> list[str]:
    """Why the notebooks executed in ``folder`` may not be built now; empty when they may.

    ``stored_notebooks`` are the notebooks as stored (default: the book's chapters).
    """
    found = []
    package = package_digest()
    for stored in notebooks() if stored_notebooks is None else stored_notebooks:
        record_path = folder / RECORDS / _record_name(stored)
        executed = folder / "book" / stored.name
        if not record_path.is_file() or not executed.is_file():
            found.append(f"{stored.name} was not executed in {folder}")
            continue
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if not record["passed"]:
            found.append(f"{stored.name} failed under nbmake (its report names the cell)")
        elif record["package"] != package:
            found.append(f"{stored.name} ran against another state of the adalearn package")
        elif record["cells"] != cells_digest(stored) or cells_digest(executed) != record["cells"]:
            found.append(f"{stored.name} was edited after it was executed")
    return found


def execute(folder: Path, timeout: float) -> subprocess.CompletedProcess:
    """Execute the notebooks of ``folder`` under nbmake, one after the other; its output."""
    command = [
        sys.executable, "-m", "pytest", "-p", "tools.executed_book", "-p", "no:cacheprovider",
        "--nbmake", "--overwrite", "-q",
        str(folder / "book"),
    ]
    return subprocess.run(
        command, cwd=ROOT, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=timeout, check=False,
    )


def build(folder: Path, out: Path, timeout: float) -> tuple[int, str]:
    """Build the executed book in ``folder`` into ``out``, warnings as errors; (code, log).

    The HTML lands in ``out/_build/html``. The site offers the stored notebooks (no outputs)
    for download, as a build that executes them does, not the executed copies.
    """
    command = [
        str(Path(sys.executable).with_name("jupyter-book")), "build", str(folder),
        "--path-output", str(out), "-W", "-n", "--keep-going",
    ]
    result = subprocess.run(
        command, cwd=folder, env=environment(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False,
    )
    sources = out / "_build" / "html" / "_sources" / "book"
    for stored in notebooks():
        if (sources / stored.name).exists():
            shutil.copy(stored, sources / stored.name)
    return result.returncode, result.stdout


def environment() -> dict[str, str]:
    """This process's environment with the checkout first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


# --------------------------------------------------------------------------------------------
# The pytest plugin (``-p tools.executed_book``).


def pytest_configure(config):
    # Kernels inherit the environment: each imports this checkout's adalearn, the one the
    # records' digest describes, even where another adalearn is installed.
    os.environ["PYTHONPATH"] = environment()["PYTHONPATH"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not getattr(item, "nbmake", False):
        return (yield)
    path = Path(item.filename)
    record = {"package": package_digest(), "cells": cells_digest(path), "passed": False}
    start = time.perf_counter()
    try:
        result = yield
        record["passed"] = True
        return result
    finally:
        record["seconds"] = round(time.perf_counter() - start, 1)
        folder = path.parent.parent / RECORDS
        folder.mkdir(exist_ok=True)
        (folder / _record_name(path)).write_text(json.dumps(record), encoding="utf-8")


def pytest_terminal_summary(terminalreporter, config):
    seconds = {
        report.nodeid.split("::")[-1]: report.duration
        for report in terminalreporter.stats.get("passed", [])
        + terminalreporter.stats.get("failed", [])
        if report.when == "call" and report.nodeid.endswith(".ipynb")
    }
    if seconds:
        terminalreporter.section("notebook execution, kernel start included (s)")
        for name, value in sorted(seconds.items()):
            terminalreporter.write_line(f"{name:<34} {value:6.1f}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tools.executed_book FOLDER", file=sys.stderr)
        return 2
    prepare(Path(args[0]).resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
