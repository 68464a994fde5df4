"""The book's notebooks are stored clean, valid, and open with the install cell."""

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import adalearn

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
HIDING_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell"}


def repository_url():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"].rstrip("/")


def read(path):
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def install_calls(source):
    """The ``(magic, argument)`` of each line magic an install cell runs, or None.

    The cell must be ``try: import adalearn`` with an ``except ImportError`` handler; the
    magics are those of the handler, which IPython's own transformer turns into plain Python.
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
    calls = [
        tuple(arg.value for arg in node.args)
        for statement in handler.body
        for node in ast.walk(statement)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run_line_magic"
        and all(isinstance(arg, ast.Constant) for arg in node.args)
    ]
    return calls or None


def first_code_cell(path):
    return next(cell for cell in read(path).cells if cell.cell_type == "code")


def torch_extra():
    (requirement,) = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]["optional-dependencies"]["torch"]
    return requirement


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
def test_first_code_cell_installs_the_release_the_book_is_built_from(path):
    first = first_code_cell(path)
    calls = install_calls(first.source)
    assert calls is not None, f"the first code cell of {path.name} is not an install cell"
    pin = f'install --quiet "adalearn[book] @ git+{repository_url()}@v{adalearn.__version__}"'
    assert calls[-1] == ("pip", pin)
    assert HIDING_TAGS & set(first.metadata.get("tags", [])), "the install cell is not hidden"


@pytest.mark.parametrize(
    "torch_version, installs_torch",
    [(None, True), ("2.5.1+cu121", True), ("2.13.0", False), ("2.14.1+cu126", False)],
    ids=["no torch", "torch 2.5", "torch 2.13", "torch 2.14"],
)
def test_the_install_cell_adds_torch_only_where_it_is_missing_or_too_old(
    torch_version, installs_torch, monkeypatch
):
    calls = []

    class Shell:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    def version(name):
        if name != "torch" or torch_version is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return torch_version

    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setitem(sys.modules, "adalearn", None)  # `import adalearn` fails, as on Colab
    code = TransformerManager().transform_cell(first_code_cell(NOTEBOOKS[0]).source)
    exec(code, {"get_ipython": Shell})
    torch_lines = [line for _, line in calls if "torch>=" in line]
    assert len(torch_lines) == installs_torch, calls
    if installs_torch:
        # The CPU build: the book runs on CPU, and Linux's default build is gigabytes larger.
        (line,) = torch_lines
        assert f'"{torch_extra()}"' in line
        assert "--index-url https://download.pytorch.org/whl/cpu" in line
    assert "adalearn[book]" in calls[-1][1]


def test_the_install_cell_does_nothing_where_adalearn_is_installed():
    calls = []

    class Shell:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    exec(TransformerManager().transform_cell(first_code_cell(NOTEBOOKS[0]).source),
         {"get_ipython": Shell})
    assert calls == []


def test_install_calls_recognise_only_the_install_cell():
    url = "https://example.org/x"
    good = f'try:\n    import adalearn\nexcept ImportError:\n    %pip install "a @ git+{url}"\n'
    assert install_calls(good) == [("pip", f'install "a @ git+{url}"')]
    assert install_calls("# comment\n" + good) == [("pip", f'install "a @ git+{url}"')]
    assert install_calls("import adalearn\n") is None
    assert install_calls(good.replace("ImportError", "Exception")) is None
    assert install_calls(good.replace("import adalearn", "import numpy")) is None
    assert install_calls(good.replace("%pip", "print(1)  #")) is None


def _guarded(node):
    """True for ``try: ... except ImportError:``: a chapter runs without what it imports."""
    if not isinstance(node, ast.Try):
        return False
    caught = {getattr(h.type, "id", None) for h in node.handlers}
    return bool(caught & {"ImportError", "ModuleNotFoundError"})


def test_the_book_extra_holds_what_the_chapters_import():
    # Colab brings torch (or the install cell adds it); everything else a chapter imports comes
    # from adalearn's own dependencies and its book extra.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *extras["book"], torch_extra()]
    while any(name.startswith("adalearn[") for name in wanted):
        name = next(name for name in wanted if name.startswith("adalearn["))
        wanted.remove(name)
        for extra in name.removeprefix("adalearn[").removesuffix("]").split(","):
            wanted.extend(extras[extra])
    provided = {canonicalize_name(Requirement(text).name) for text in wanted}
    distributions = importlib.metadata.packages_distributions()
    imported = set()
    for path in NOTEBOOKS:
        for cell in read(path).cells:
            if cell.cell_type != "code":
                continue
            tree = ast.parse(TransformerManager().transform_cell(cell.source))
            optional = {
                id(node)
                for guard in ast.walk(tree) if _guarded(guard)
                for statement in guard.body for node in ast.walk(statement)
            }
            for node in ast.walk(tree):
                if id(node) in optional:
                    continue
                if isinstance(node, ast.Import):
                    imported.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"adalearn"}
    assert third_party, "the chapters import nothing outside the standard library"
    missing = {
        module: distributions.get(module)
        for module in third_party
        if not {canonicalize_name(d) for d in distributions.get(module, [])} & provided
    }
    assert not missing, f"imported by the chapters, in no dependency of adalearn[book]: {missing}"


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
