"""The built pages hold no frozen widgets: each playground cell shows a live explorer.

A playground's output carries the ipywidgets view (for a live Jupyter) and an explorer as
HTML; the book prefers the HTML (``nb_mime_priority_overrides`` in ``_config.yml``), and
``book/_ext/local_assets.py`` drops the widget state that execution recorded. So a page has
no widget state or view, loads neither RequireJS nor the widget manager, and names no script
or stylesheet on another host; its MathJax is the pinned copy the site serves. These are
checks of the built HTML; ``test_site_browser.py`` opens the pages.
"""

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# The chapters that derive an algorithm: each needs live hyperparameter controls.
ALGORITHM_CHAPTERS = ("02", "03", "04", "05", "06", "07", "09", "11", "12")
PLAYGROUND_CALL = re.compile(r"\bwidgets\.(playground|Playground)\(")
REMOTE = re.compile(r'<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)="(?:https?:)?//[^"]*"')
# The learning-rate and shared sliders of explorers and basin maps (a player's step slider is
# not a hyperparameter).
EXPLORER_SLIDERS = re.compile(r'<input type="range" class="adl-(?:lr|knob-input)"')


def page_of(html, notebook):
    return html / "book" / f"{notebook.stem}.html"


def playground_cells(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum(
        1 for cell in cells
        if cell["cell_type"] == "code" and PLAYGROUND_CALL.search("".join(cell["source"]))
    )


@pytest.fixture(scope="module")
def html(book_build):
    if book_build.returncode != 0:
        pytest.fail("the book did not build: see its build.log")
    return book_build.html


def test_no_page_holds_widgets_or_names_another_host(html):
    offenders = {}
    for page in sorted(html.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        found = [name for name, needle in (
            ("widget state", "application/vnd.jupyter.widget-state+json"),
            ("widget view", "application/vnd.jupyter.widget-view+json"),
            ("RequireJS", "require.min.js"),
            ("widget manager", "embed-amd.js"),
        ) if needle in text]
        found += REMOTE.findall(text)
        if found:
            offenders[page.relative_to(html).as_posix()] = found
    assert not offenders, offenders


def test_mathjax_is_the_pinned_copy_served_by_the_site(html):
    pinned = json.loads((ROOT / "tools" / "widget-assets" / "package.json").read_text())
    version = pinned["dependencies"]["mathjax"]
    assert version.startswith("3.")
    served = html / "_static" / "mathjax"
    script = (served / "tex-chtml.js").read_bytes()
    installed = ROOT / "tools" / "widget-assets" / "node_modules" / "mathjax"
    assert json.loads((installed / "package.json").read_text())["version"] == version
    assert script == (installed / "es5" / "tex-chtml.js").read_bytes()
    assert len(list((served / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) > 20
    page = (html / "book" / "02_gradient_descent.html").read_text(encoding="utf-8")
    assert re.search(r'<script defer="defer" src="\.\./_static/mathjax/tex-chtml\.js', page)


def test_each_playground_cell_shows_an_explorer(html):
    missing = {}
    for notebook in sorted((ROOT / "book").glob("*.ipynb")):
        cells = playground_cells(notebook)
        if not cells:
            continue
        shown = page_of(html, notebook).read_text(encoding="utf-8").count(
            '<div class="adalearn-explorer ')
        if shown < cells:
            missing[notebook.name] = f"{cells} playground cells, {shown} explorers"
    assert not missing, missing


def test_every_algorithm_chapter_has_two_live_hyperparameter_controls(html):
    few = {}
    for prefix in ALGORITHM_CHAPTERS:
        (notebook,) = (ROOT / "book").glob(f"{prefix}_*.ipynb")
        text = page_of(html, notebook).read_text(encoding="utf-8")
        controls = len(EXPLORER_SLIDERS.findall(text))
        if controls < 2:
            few[notebook.name] = controls
    assert not few, f"chapters with fewer than two live hyperparameter controls: {few}"
