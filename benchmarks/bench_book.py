"""What running and reading the book costs: execution time, kernel memory, page weight.

- Every notebook in ``_toc.yml`` runs top to bottom with nbclient in a subprocess, from the
  book folder as Jupyter Book runs it; its wall time and the peak resident memory of its
  kernel (the kernel process and its children, sampled every 20 ms with psutil) are recorded.
  Budgets: the whole book ≤ 4 min, each kernel ≤ 1 GB. The same run times, inside each
  notebook, what its explorers and basin maps cost to compute and write (``Explorer`` and
  ``Basins``, building and ``to_html``), by wrapping them in a cell put before the first and
  taken out again before the notebook is built. Beside them, the times the last ``make test``
  recorded for each notebook under nbmake (``tools/executed_book.py``).
- The executed notebooks are then built into HTML in a temporary copy of the book, without
  executing them again, and each page is weighed with the images it shows, as
  ``tests/test_book.py`` weighs them (both with ``tools/book_pages.py``). Budgets: ≤ 1.5 MB
  per page, ≤ 40 MB for the site (MathJax's script, fonts and TeX extensions included).
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks import table
from tools import executed_book
from tools.book_pages import page_weight, toc_files

ROOT = Path(__file__).resolve().parent.parent
# The whole book, Part III included, and each notebook; chapters 1-12 keep their own budget.
BOOK_BUDGET_S, PARTS_I_II_BUDGET_S, NOTEBOOK_BUDGET_S, KERNEL_BUDGET_MB = 360, 300, 90, 1536
PAGE_BUDGET_MB, SITE_BUDGET_MB = 1.5, 40
NOTEBOOK_TIMEOUT = 600
# Runs first in every kernel: times each explorer and basin map the notebook builds and writes.
TIMING = """
import time as _time
import adalearn.animation as _animation
_animation._bench = {"seconds": 0.0, "figures": 0}
def _timed(cls, name):
    original = getattr(cls, name)
    def timed(self, *args, **kwargs):
        start = _time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            _animation._bench["seconds"] += _time.perf_counter() - start
            _animation._bench["figures"] += name == "__init__"
    setattr(cls, name, timed)
for _cls in (_animation.Explorer, _animation.Basins):
    _timed(_cls, "__init__")
    _timed(_cls, "to_html")
"""
DRIVER = f"""
import sys, nbclient, nbformat
notebook = nbformat.read(sys.argv[1], as_version=4)
notebook.cells.insert(0, nbformat.v4.new_code_cell({TIMING!r}))
notebook.cells.append(nbformat.v4.new_code_cell(
    "import json; print(json.dumps(_animation._bench))"))
nbclient.NotebookClient(notebook, timeout={NOTEBOOK_TIMEOUT}, kernel_name="python3",
                        resources={{"metadata": {{"path": sys.argv[3]}}}}).execute()
last = notebook.cells.pop()
notebook.cells.pop(0)
with open(sys.argv[4], "w") as timing:
    timing.write(last.outputs[0]["text"])
nbformat.write(notebook, sys.argv[2])
"""


def execute(notebook, output):
    """Run ``notebook`` into ``output``.

    Returns (seconds, peak kernel RSS in bytes, error, seconds in explorers, explorers).
    """
    start = time.perf_counter()
    timing = output.with_suffix(".timing.json")
    driver = psutil.Popen(
        [sys.executable, "-c", DRIVER, str(notebook), str(output), str(notebook.parent),
         str(timing)],
        env=executed_book.environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    while driver.poll() is None:
        rss = 0
        for child in driver.children(recursive=True):
            try:
                rss += child.memory_info().rss
            except psutil.Error:
                pass
        peak = max(peak, rss)
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    error = driver.stderr.read().strip().splitlines()[-1:] if driver.returncode else []
    explorers = json.loads(timing.read_text()) if timing.exists() else {"seconds": float("nan"),
                                                                        "figures": 0}
    return seconds, peak, error[0] if error else "", explorers["seconds"], explorers["figures"]


def build(executed, out):
    """Build the book from the executed notebooks in ``executed`` into ``out``; the HTML path."""
    project = out / "project"
    executed_book.prepare(project)
    for notebook in executed.glob("*.ipynb"):
        shutil.copy(notebook, project / "book" / notebook.name)
    returncode, log = executed_book.build(project, out, timeout=NOTEBOOK_TIMEOUT)
    html = out / "_build" / "html"
    if not html.is_dir():
        raise RuntimeError(f"the book did not build (exit code {returncode}):\n{log[-3000:]}")
    return html


def main():
    notebooks = [ROOT / f"{name}.ipynb" for name in toc_files()
                 if (ROOT / f"{name}.ipynb").exists()]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        executed = tmp / "executed"
        executed.mkdir()
        # What the last `make test` recorded for each notebook, executed there under nbmake.
        in_tests = executed_book.records(executed_book.MAKE_TEST_FOLDER)
        rows, total, in_explorers, parts_i_ii = [], 0.0, 0.0, 0.0
        for notebook in notebooks:
            seconds, peak, error, explore_s, figures = execute(notebook, executed / notebook.name)
            total += seconds
            if notebook.name < "13":
                parts_i_ii += seconds
            in_explorers += explore_s
            mb = peak / 2**20
            tested = in_tests.get(notebook.name, {}).get("seconds")
            rows.append([notebook.name, f"{seconds:.1f}",
                         "-" if tested is None else f"{tested:.1f}",
                         f"{explore_s:.1f}", str(figures), f"{mb:.0f}",
                         "yes" if mb <= KERNEL_BUDGET_MB and seconds <= NOTEBOOK_BUDGET_S
                         and not error else "NO",
                         error[:60] or "-"])
        rows.append(["chapters 1-12", f"{parts_i_ii:.1f}", "-", "-", "-", "-",
                     "yes" if parts_i_ii <= PARTS_I_II_BUDGET_S else "NO", "-"])
        rows.append(["whole book", f"{total:.1f}", "-", f"{in_explorers:.1f}", "-", "-",
                     "yes" if total <= BOOK_BUDGET_S else "NO", "-"])
        table(f"Notebook execution (nbclient, fresh kernel each): budgets {BOOK_BUDGET_S} s "
              f"for the book, {PARTS_I_II_BUDGET_S} s for chapters 1-12, "
              f"{NOTEBOOK_BUDGET_S} s and {KERNEL_BUDGET_MB} MB per notebook; s in make test: "
              "under nbmake in the last make test (kernel start included, beside the other "
              "worker's tests); explorer s: the part spent building and writing explorers and "
              "basin maps",
              ["notebook", "s", "s in make test", "explorer s", "explorers", "peak kernel MB",
               "within", "error"],
              rows)

        start = time.perf_counter()
        html = build(executed, tmp / "site")
        build_seconds = time.perf_counter() - start
        pages = sorted(html.rglob("*.html"))
        rows = []
        for page in pages:
            mb = page_weight(page, html) / 1e6
            rows.append([str(page.relative_to(html)), f"{mb:.2f}",
                         "yes" if mb <= PAGE_BUDGET_MB else "NO"])
        site = sum(f.stat().st_size for f in html.rglob("*") if f.is_file()) / 1e6
        rows.append(["whole site", f"{site:.1f}", "yes" if site <= SITE_BUDGET_MB else "NO"])
        table(f"Page weight with the images each page shows (built without execution in "
              f"{build_seconds:.0f} s): budgets {PAGE_BUDGET_MB} MB per page, "
              f"{SITE_BUDGET_MB} MB for the site", ["page", "MB", "within"], rows)


if __name__ == "__main__":
    main()
