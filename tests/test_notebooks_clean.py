"""The book's notebooks are stored clean, valid, and open with the install cell."""

import ast
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
HIDING_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell"}


def repository_url():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"].rstrip("/")


def read(path):
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def install_call(source):
    """The ``(magic, argument)`` of the line magic an install cell runs, or None.

    The cell must be ``try: import adalearn`` with an ``except ImportError`` handler that
    runs a single line magic; IPython's own transformer turns the magic into plain Python.
    """
    tree = ast.parse(TransformerManager().transform_cell(source))
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Try):
        return None
    block = tree.body[0]
    imports = [n.name for stmt in block.body if isinstance(stmt, ast.Import) for n in stmt.names]
    if imports != ["adalearn"] or len(block.handlers) != 1:
        return None
    handler = block.handlers[0]
    if not (isinstance(handler.type, ast.Name) and handler.type.id == "ImportError"):
        return None
    if len(handler.body) != 1 or not isinstance(handler.body[0], ast.Expr):
        return None
    call = handler.body[0].value
    is_magic = (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "run_line_magic"
        and all(isinstance(arg, ast.Constant) for arg in call.args)
    )
    return tuple(arg.value for arg in call.args) if is_magic else None


def test_the_book_has_notebooks():
    assert NOTEBOOKS, "no notebook in book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_valid_and_clean(path):
    nb = read(path)
    assert nb.nbformat == 4
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} of {path.name} stores outputs"
            assert cell.execution_count is None, f"cell {index} of {path.name} stores a count"
    # The build and nbmake run the default kernel; a machine-specific one would not exist.
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_installs_adalearn_when_missing(path):
    first = next(cell for cell in read(path).cells if cell.cell_type == "code")
    magic = install_call(first.source)
    assert magic is not None, f"the first code cell of {path.name} is not an install cell"
    name, argument = magic
    assert name == "pip"
    assert argument.startswith("install ")
    assert f"@ git+{repository_url()}" in argument
    assert HIDING_TAGS & set(first.metadata.get("tags", [])), "the install cell is not hidden"


def test_install_call_recognises_only_the_install_cell():
    url = "https://example.org/x"
    good = f'try:\n    import adalearn\nexcept ImportError:\n    %pip install "a @ git+{url}"\n'
    assert install_call(good) == ("pip", f'install "a @ git+{url}"')
    assert install_call("# comment\n" + good) == ("pip", f'install "a @ git+{url}"')
    assert install_call("import adalearn\n") is None
    assert install_call(good.replace("ImportError", "Exception")) is None
    assert install_call(good.replace("import adalearn", "import numpy")) is None
    assert install_call(good.replace("%pip", "print(1)  #")) is None


def test_repository_url_lives_only_in_the_config_and_install_cells():
    # A fork changes _config.yml and reruns tools/strip_notebooks.py; no other copy may lag.
    url = repository_url()
    offenders = []
    for path in sorted((ROOT / "book").rglob("*")):
        if not path.is_file() or path.suffix not in (".ipynb", ".md", ".bib", ".py"):
            continue
        if path.suffix == ".ipynb":
            cells = read(path).cells
            code = [cell for cell in cells if cell.cell_type == "code"]
            texts = [cell.source for cell in cells if not code or cell is not code[0]]
        else:
            texts = [path.read_text(encoding="utf-8")]
        if any(url in text for text in texts):
            offenders.append(path.name)
    assert not offenders, f"the repository URL is written out in {offenders}"
