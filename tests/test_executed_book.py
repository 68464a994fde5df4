"""The book is built only from notebooks that nbmake executed, with this package, as stored."""

import re
import shutil

import nbformat
import pytest
import yaml

from tools import executed_book


def notebook(path, *sources):
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Two notebooks as stored, copied into a book folder and executed there under nbmake."""
    base = tmp_path_factory.mktemp("executed")
    stored = base / "stored"
    stored.mkdir()
    good = notebook(stored / "good.ipynb", "x = 6 * 7", "print(x)")
    bad = notebook(stored / "bad.ipynb", "x = 1", 'raise ValueError("the cell that fails")')
    folder = base / "folder"
    (folder / "book").mkdir(parents=True)
    for path in (good, bad):
        shutil.copy(path, folder / "book" / path.name)
    ran = executed_book.execute(folder, timeout=300)
    return folder, [good, bad], ran


@pytest.mark.slow
def test_a_failing_notebook_is_reported_with_its_cell_and_traceback(executed):
    _, _, ran = executed
    assert ran.returncode == 1, ran.stdout
    assert "1 failed, 1 passed" in ran.stdout, ran.stdout
    # The kernel colours its traceback; the words are what matters here.
    failure = re.sub(r"\x1b\[[0-9;]*m", "", ran.stdout.split("FAILURES", 1)[1])
    assert "bad.ipynb" in failure
    assert 'raise ValueError("the cell that fails")' in failure
    assert "In[2], line 1" in failure
    assert "ValueError: the cell that fails" in failure


@pytest.mark.slow
def test_each_notebook_gets_a_record_with_its_time_and_outcome(executed):
    folder, _, ran = executed
    records = executed_book.records(folder)
    assert set(records) == {"good.ipynb", "bad.ipynb"}
    assert records["good.ipynb"]["passed"] is True
    assert records["bad.ipynb"]["passed"] is False
    # The wall time of the call includes the kernel's start, so it cannot be zero.
    assert all(record["seconds"] > 0 for record in records.values())
    # The executed copy holds its outputs: the one the build would show.
    outputs = nbformat.read(folder / "book" / "good.ipynb", as_version=4).cells[1].outputs
    assert outputs[0]["text"] == "42\n"


@pytest.mark.slow
def test_only_notebooks_that_passed_as_stored_with_this_package_may_be_built(
    executed, tmp_path, monkeypatch
):
    folder, stored, _ = executed
    good, bad = stored
    assert executed_book.problems(folder, [good]) == []
    (failed,) = executed_book.problems(folder, [bad])
    assert "bad.ipynb failed under nbmake" in failed

    edited = tmp_path / "good.ipynb"
    shutil.copy(good, edited)
    notebook(edited, "x = 6 * 7", "print(x + 1)")
    (problem,) = executed_book.problems(folder, [edited])
    assert "edited after it was executed" in problem

    missing = notebook(tmp_path / "new.ipynb", "1")
    (problem,) = executed_book.problems(folder, [missing])
    assert "new.ipynb was not executed" in problem

    monkeypatch.setattr(executed_book, "package_digest", lambda: "another package")
    (problem,) = executed_book.problems(folder, [good])
    assert "another state of the adalearn package" in problem


def test_the_package_digest_follows_every_file_but_bytecode(tmp_path, monkeypatch):
    package = tmp_path / "adalearn"
    (package / "assets").mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (package / "assets" / "player.js").write_text("let x = 1;\n")
    monkeypatch.setattr(executed_book, "PACKAGE", package)
    first = executed_book.package_digest()
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert executed_book.package_digest() == first
    (package / "assets" / "player.js").write_text("let x = 2;\n")
    assert executed_book.package_digest() != first


def test_the_prepared_copy_runs_the_stored_cells_and_builds_without_executing(tmp_path):
    folder = tmp_path / "book-copy"
    executed_book.prepare(folder)
    stored = executed_book.notebooks()
    assert stored
    for path in stored:
        copy = folder / "book" / path.name
        assert executed_book.cells_digest(copy) == executed_book.cells_digest(path)
        timeout = nbformat.read(copy, as_version=4).metadata["execution"]["timeout"]
        assert timeout == executed_book.CELL_TIMEOUT
    config = yaml.safe_load((folder / "_config.yml").read_text(encoding="utf-8"))
    assert config["execute"]["execute_notebooks"] == "off"
    assert executed_book.records(folder) == {}
