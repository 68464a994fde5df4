"""The typed modules annotate their whole public API, which mypy checks in ``make lint``."""

import importlib
import inspect
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TYPED = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"][
    "files"
]


def unannotated(function):
    """The parameters (and ``return``) of ``function`` that carry no annotation."""
    signature = inspect.signature(function)
    missing = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.annotation is inspect.Parameter.empty and name not in ("self", "cls")
    ]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def module_name(path):
    """The module a file of ``[tool.mypy] files`` holds; ``pkg/__init__.py`` holds ``pkg``."""
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def public_names(module):
    """``__all__``, or for a module without one (a package's internals) the public names it
    defines itself."""
    if hasattr(module, "__all__"):
        return module.__all__
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    ]


def public_callables(module):
    """Each public function of ``module``, and each method its public classes define."""
    for name in public_names(module):
        # A cached function is checked through the function it wraps.
        value = inspect.unwrap(getattr(module, name))
        if inspect.isfunction(value):
            yield name, value
        elif inspect.isclass(value) and value.__module__ == module.__name__:
            for attribute, member in vars(value).items():
                if isinstance(member, property):
                    member = member.fget
                public = not attribute.startswith("_") or attribute in ("__init__", "__call__")
                # Only what the module defines (matplotlib generates Artist.set in subclasses).
                if (
                    public
                    and inspect.isfunction(member)
                    and member.__module__ == module.__name__
                ):
                    yield f"{name}.{attribute}", member


def test_the_typed_modules_are_listed_and_ship_their_marker():
    assert TYPED, "pyproject.toml lists no module for mypy"
    assert (ROOT / "adalearn" / "py.typed").is_file()


@pytest.mark.parametrize("path", TYPED)
def test_every_public_function_and_method_is_annotated(path):
    module = importlib.import_module(module_name(path))
    missing = {
        name: gaps for name, function in public_callables(module) if (gaps := unannotated(function))
    }
    assert not missing, f"unannotated in {path}: {missing}"
