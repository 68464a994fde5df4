"""The book builds without a warning, lists every chapter, and its pages stay light."""

import re
from pathlib import Path

import pytest

from tools.book_pages import page_weight, toc_files

ROOT = Path(__file__).resolve().parent.parent
PAGE_BUDGET = 1_500_000  # bytes: a page with the images it shows
SITE_BUDGET = 40_000_000  # bytes: everything that gets published

# A Jupyter kernel logs its own start-up notices as "[IPKernelApp] WARNING | ..."; they are
# about the kernel's transport, not about the book.
KERNEL_LOG = re.compile(r"^\[\w+\] WARNING \| ")


def requirement_pins(path):
    """The ``name==version`` pins of a requirements file, as {name: version}."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_every_chapter_notebook_is_in_the_toc():
    # only_build_toc_files would silently leave out a chapter the toc forgets.
    listed = set(toc_files())
    notebooks = {f"book/{path.stem}" for path in (ROOT / "book").glob("*.ipynb")}
    assert notebooks, "no chapter notebook in book/"
    assert notebooks <= listed, f"notebooks missing from _toc.yml: {sorted(notebooks - listed)}"


def test_every_toc_entry_exists():
    for name in toc_files():
        sources = [ROOT / f"{name}{suffix}" for suffix in (".ipynb", ".md")]
        assert any(path.is_file() for path in sources), f"_toc.yml lists {name}, not found"


def test_binder_pins_match_the_project_pins():
    # Binder must run the versions the book is built and tested with.
    project = requirement_pins(ROOT / "requirements.txt")
    binder = requirement_pins(ROOT / "binder" / "requirements.txt")
    assert binder, "binder/requirements.txt pins nothing"
    differing = {
        name: (version, project.get(name))
        for name, version in binder.items()
        if project.get(name) != version
    }
    assert not differing, f"binder pin vs requirements.txt pin: {differing}"


@pytest.mark.slow
def test_book_builds_without_warnings(book_build):
    tail = "\n".join(book_build.log.splitlines()[-60:])
    assert book_build.returncode == 0, f"jupyter-book build failed:\n{tail}"
    warnings = [
        line
        for line in book_build.log.splitlines()
        if "WARNING" in line and not KERNEL_LOG.match(line)
    ]
    assert not warnings, "the build warned:\n" + "\n".join(warnings)


@pytest.mark.slow
def test_every_toc_entry_has_a_page(book_build):
    assert book_build.returncode == 0
    missing = [name for name in toc_files() if not (book_build.html / f"{name}.html").is_file()]
    assert not missing, f"no HTML page for {missing}"


@pytest.mark.slow
def test_every_page_is_light(book_build):
    assert book_build.returncode == 0
    pages = sorted(book_build.html.rglob("*.html"))
    assert pages
    heavy = {
        str(page.relative_to(book_build.html)): weight
        for page in pages
        if (weight := page_weight(page, book_build.html)) > PAGE_BUDGET
    }
    assert not heavy, f"pages over {PAGE_BUDGET} bytes with their images: {heavy}"


@pytest.mark.slow
def test_site_is_light(book_build):
    assert book_build.returncode == 0
    total = sum(f.stat().st_size for f in book_build.html.rglob("*") if f.is_file())
    assert total <= SITE_BUDGET, f"the site weighs {total} bytes, over {SITE_BUDGET}"


def test_page_weight_counts_the_page_and_its_own_images(tmp_path):
    site = tmp_path
    (site / "_images").mkdir()
    (site / "_static").mkdir()
    (site / "book").mkdir()
    (site / "_images" / "a.png").write_bytes(b"x" * 1000)
    (site / "_images" / "b b.png").write_bytes(b"x" * 300)
    (site / "_static" / "theme.js").write_bytes(b"x" * 5000)
    page = site / "book" / "page.html"
    page.write_text(
        '<img src="../_images/a.png"><a href="../_images/a.png#top">again</a>'
        '<img src="../_images/b%20b.png"><script src="../_static/theme.js"></script>'
        '<img src="https://example.org/c.png"><img src="../_images/missing.png">',
        encoding="utf-8",
    )
    assert page_weight(page, site) == page.stat().st_size + 1000 + 300


def test_pages_show_no_asserts_no_unseen_sources_and_little_code():
    from tools.book_audit import CODE_BUDGET, audit, chapters

    pages = {path.stem: audit(path) for path in chapters()}
    assert not {name: c["asserts"] for name, c in pages.items() if c["asserts"]}
    assert not {name: c["framing"] for name, c in pages.items() if c["framing"]}
    notebooks = [path for path in chapters() if path.suffix == ".ipynb"]
    assert sum(c["code"] for c in pages.values()) <= CODE_BUDGET * len(notebooks)


def test_book_audit_counts_what_a_page_shows(tmp_path):
    import json

    from tools.book_audit import audit

    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "Run the lab's comparison."},
        {"cell_type": "code", "metadata": {}, "source": "x = 1\n\nassert x == 1\n"},
        {"cell_type": "code", "metadata": {"tags": ["remove-input"]}, "source": "assert x\n"},
        {"cell_type": "code", "metadata": {"tags": ["hide-input"]}, "source": "y = 2\n"},
    ]
    page = tmp_path / "page.ipynb"
    page.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    assert audit(page) == {"code": 2, "asserts": 1, "framing": 1}
