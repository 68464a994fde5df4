"""What the three HTML figures share: their browser code and templates, and the base class.

The browser code lives in ``assets/`` as ``.js``, ``.css`` and ``.html`` files, shipped as
package data and read with :mod:`importlib.resources`. A template's placeholders are
:class:`string.Template`'s ``$name``; the values put in are HTML, escaped by the caller.
"""

from __future__ import annotations

import functools
import html
import json
import numbers
import os
import re
import string
import uuid
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from adalearn import knobs

if TYPE_CHECKING:
    from adalearn.functions import Function
    from adalearn.rules import Rule

#: The scripts and styles each figure carries, in the order they are put on the page.
_ASSETS = {
    "player": (("figure.js", "status.js", "player.js"), ("figure.css", "runs.css", "player.css")),
    "explorer": (("figure.js", "status.js", "inflate.js", "runs.js", "explorer.js"),
                 ("figure.css", "runs.css", "explorer.css")),
    "basins": (("figure.js", "inflate.js", "basins.js"), ("figure.css", "basins.css")),
}

#: What the note under an explorer or a basin map says about its sliders.
PRECOMPUTED_NOTE = (
    "Precomputed when this page was built: each slider steps through the grid of values that "
    "were run, and the readouts give the values shown. Open the notebook on Binder, Colab or "
    "a local Jupyter to run any value in the playground."
)


_JS_STRING = re.compile(r'("(?:[^"\\\n]|\\.)*")')
_JS_SPACE = re.compile(r"[ \t]*([{}()\[\],;:=<>?&|!])[ \t]*")


@functools.cache
def asset(name: str) -> str:
    """The text of one file of ``assets/``, as a page carries it.

    Every figure carries its own copy of the scripts and styles, so they go without their
    comments and spaces: whole-line ``//`` comments, indentation and the spaces next to
    punctuation of the scripts, ``/* */`` comments and line breaks of the styles. A template
    loses its final newline, so that it can be put inside a line.
    """
    text = resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")
    if name.endswith(".js"):
        lines = (line.strip() for line in text.splitlines())
        text = "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"
        # Spaces next to punctuation, outside string literals (the scripts quote strings with
        # double quotes only); never a line break, so statements end where they did.
        text = "".join(part if part.startswith('"') else _JS_SPACE.sub(r"\1", part)
                       for part in _JS_STRING.split(text))
    elif name.endswith(".css"):
        text = re.sub(r"\s*\n\s*", " ", re.sub(r"/\*.*?\*/", "", text, flags=re.S)).strip()
    else:
        text = text.rstrip("\n")
    # Inlined into <script> and <style>: a "</" would end the element early.
    if "</" in text and not name.endswith(".html"):
        raise ValueError(f"assets/{name} must not contain '</': it is inlined into the page")
    return text


def fill(name: str, **values: object) -> str:
    """The template ``assets/<name>`` with its ``$placeholders`` replaced by ``values``."""
    return string.Template(asset(name)).substitute(values)


def readout(values: Iterable[float]) -> list[float]:
    """Numbers as the readouts show them, four significant digits: all a page needs of them."""
    return [float(f"{v:.4g}") for v in values]


def json_script(data: Any) -> str:
    """JSON for a ``<script type="application/json">``: no ``</`` can end the script early."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


class HtmlFigure:
    """The base of :class:`Player`, :class:`Explorer` and :class:`Basins`: a figure as HTML.

    A subclass names its ``kind`` (its template ``assets/<kind>.html`` and its scripts and
    styles), returns the values of its template's placeholders from ``_fields(uid)`` and
    says what it shows in ``_describe()``, the default of :attr:`description`.

    Attributes
    ----------
    description : str
        What the figure shows, in words: its accessible name, which screen readers announce,
        and the title of its page (:meth:`save_html`).
    """

    kind: ClassVar[str]

    def _set_description(self, description: str | None) -> None:
        if description is None:
            description = self._describe()
        elif not isinstance(description, str) or not description.strip():
            raise TypeError(
                "`description` must be a non-empty string (what the figure shows). "
                f"Received: description={description!r}"
            )
        self.description = description

    def _describe(self) -> str:
        raise NotImplementedError

    def _fields(self, uid: str) -> dict[str, str]:
        raise NotImplementedError

    def to_html(self, *, full_page: bool = False) -> str:
        """The figure as HTML: a fragment for notebooks, or a whole page with ``full_page``.

        The fragment carries its own image, styles, data and script (no external resources)
        and fresh element ids, so any number of figures can share a page.
        """
        uid = f"adl-{uuid.uuid4().hex[:10]}"
        scripts, styles = _ASSETS[self.kind]
        fragment = fill(
            f"{self.kind}.html", uid=uid, style="".join(asset(name) for name in styles),
            script="".join(asset(name) for name in scripts),
            label=html.escape(self.description), **self._fields(uid),
        )
        if not full_page:
            return fragment
        return fill("page.html", title=html.escape(self.description), figure=fragment)

    def _repr_html_(self) -> str:
        return self.to_html()

    def save_html(self, path: str | os.PathLike[str]) -> None:
        """Write the figure as a standalone HTML page to ``path``."""
        with open(path, "w", encoding="utf-8") as file:
            file.write(self.to_html(full_page=True))


# --- the figures in words ----------------------------------------------------------------------


def who(label: str, rule: Rule | None, run: tuple[int, tuple[int, ...]] | None = None) -> str:
    """A run's label and its hyperparameters: ``"Adam (learning rate 0.1, β₁ 0.9, β₂ 0.99)"``.

    The rule's name is added when the label is not it (``"GD, lr = 0.2 (SGD, learning rate
    0.2)"``); ``run`` picks one run of a batch (see :func:`adalearn.knobs.describe`).
    """
    if rule is None:
        return label
    name = getattr(rule, "name", type(rule).__name__)
    parts = [name] if name != label else []
    parts.append(knobs.describe(rule, run))
    words = ", ".join(part for part in parts if part)
    return f"{label} ({words})" if words else label


def listing(items: Iterable[str], last: str = "and") -> str:
    """``"a, b and c"`` (or with ``last="or"``, ``"a, b or c"``)."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def point(xy: Sequence[float] | np.ndarray) -> str:
    return f"({xy[0]:.4g}, {xy[1]:.4g})"


def landscape(fn: Function, view: str = "2d") -> str:
    """What a figure's background image shows: the text alternative of its ``<img>``."""
    (x1_lo, x1_hi), (x2_lo, x2_hi) = fn.bounds
    drawing = "Contours" if view == "2d" else "Surface"
    return (f"{drawing} of the {getattr(fn, 'name', 'test')} function for x₁ from {x1_lo:.4g} "
            f"to {x1_hi:.4g} and x₂ from {x2_lo:.4g} to {x2_hi:.4g}")


# --- argument checks shared by the figures ----------------------------------------------------


def check_view(view: str) -> None:
    if view not in ("2d", "3d"):
        raise ValueError(f"`view` must be '2d' or '3d'. Received: view={view!r}")


def check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")


def check_count(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not (
        low <= value <= high
    ):
        raise ValueError(
            f"`{name}` must be an integer in [{low}, {high}]. Received: {name}={value!r}"
        )
    return int(value)


def check_image_format(image_format: str) -> None:
    if image_format not in ("auto", "png", "jpeg"):
        raise ValueError(
            "`image_format` must be 'auto', 'png' or 'jpeg'. "
            f"Received: image_format={image_format!r}"
        )


def as_function(fn: Function | str, name: str = "fn") -> Function:
    """``fn`` as a test function: one given by name is :func:`adalearn.functions.get`'s."""
    from adalearn import functions

    if isinstance(fn, str):
        if fn.lower() not in functions.names():
            raise ValueError(
                f"`{name}` must be a test function or one of the names "
                f"{', '.join(functions.names())}. Received: {name}={fn!r}"
            )
        return functions.get(fn)
    if not callable(getattr(fn, "grad", None)) or not hasattr(fn, "bounds"):
        raise TypeError(
            f"`{name}` must be a test function (with grad and bounds) or the name of one. "
            f"Received: {name}={fn!r}"
        )
    return fn
