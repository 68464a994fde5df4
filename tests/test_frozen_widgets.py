"""The playgrounds of the built book render frozen: controls, initial figure and live note.

A built page keeps each playground as its widget state (a ``widget-state+json`` script) and a
``widget-view+json`` script, drawn by ``@jupyter-widgets/html-manager``'s ``embed-amd.js`` on
RequireJS, both loaded from CDNs. The test runs offline: it answers those requests
with the very releases the page names, installed from npm by the project's install step into
``tools/widget-assets/node_modules`` (``npm ci --prefix tools/widget-assets``); every other
request to another host is aborted.

The page pins cdnjs's minified ``require.min.js`` with a Subresource Integrity hash. npm ships
the same RequireJS release unminified, whose hash differs, so the browser would block it: the
test serves each page with that one ``integrity`` attribute removed and nothing else changed.

What a playground must show is read from its own widget state, the input the browser renders:
the descriptions of its sliders, its checkboxes and their values, its dropdown's options and
choice, and the pixel size of the picture its image buffer holds (decoded with Pillow).
"""

import base64
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from _browser import HOST
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "tools" / "widget-assets" / "node_modules"
RENDER_TIMEOUT_MS = 15_000
SETTLE_MS = 300  # lets rejections raised just after the views appear reach the page
BLOCKED_WAIT_MS = 500  # once loaded without the manager, nothing can be drawn

STATE_SCRIPT = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', re.S
)
VIEW_SCRIPT = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S
)
HTML_MANAGER_URL = re.compile(
    r'src="(https://[^"]+/@jupyter-widgets/html-manager@([^/"]+)/dist/)embed-amd\.js"'
)
REQUIREJS_URL = re.compile(r'src="(https://[^"]+/require\.js/([^/"]+)/require\.min\.js)"')
REQUIREJS_INTEGRITY = re.compile(r'\s+integrity="[^"]*"(?=[^>]*require\.min\.js")')
# A pattern, not a Python predicate, so that requests to the site are never paused.
OTHER_HOSTS = re.compile(rf"^(?!http://{re.escape(HOST)}:)")
LIVE_NOTE = re.compile(r"\blive\b.*\bBinder\b.*\bColab\b.*\blocal", re.I)

SLIDERS = {"FloatSliderModel", "IntSliderModel", "FloatLogSliderModel"}

# What each rendered view shows, read from the DOM. A view is drawn into the
# ``widget-subarea`` the manager inserts just before its view script.
READ_VIEWS = """() => {
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  const label = (el) => (el.querySelector(".widget-label")?.textContent ?? "").trim();
  const selector = 'script[type="application/vnd.jupyter.widget-view+json"]';
  return [...document.querySelectorAll(selector)].map((script) => {
    const model_id = JSON.parse(script.textContent).model_id;
    const area = script.previousElementSibling;
    if (!area || !area.classList.contains("widget-subarea")) return {model_id, drawn: false};
    const all = (css) => [...area.querySelectorAll(css)];
    return {
      model_id,
      drawn: true,
      sliders: all(".widget-slider").map((el) => ({label: label(el), shown: shown(el)})),
      checkboxes: all(".widget-checkbox").map((el) => ({
        label: (el.querySelector(".widget-label-basic span")?.textContent ?? "").trim(),
        checked: el.querySelector("input[type=checkbox]")?.checked ?? null,
        shown: shown(el),
      })),
      dropdowns: all(".widget-dropdown").map((el) => ({
        label: label(el),
        options: [...el.querySelectorAll("option")].map((option) => option.textContent),
        chosen: el.querySelector("select")?.selectedOptions[0]?.textContent ?? null,
        shown: shown(el),
      })),
      images: all("img").map((img) => ({
        scheme: img.src.split(":")[0],
        width: img.naturalWidth,
        height: img.naturalHeight,
        shown: shown(img),
      })),
      lines: area.innerText.split("\\n").map((line) => line.trim()).filter(Boolean),
    };
  });
}"""

# True once every view script has its drawn area and every image in it has settled (decoded,
# or failed: a broken image is complete too, with no pixels).
VIEWS_DRAWN = """() => {
  const selector = 'script[type="application/vnd.jupyter.widget-view+json"]';
  return [...document.querySelectorAll(selector)].every((script) => {
    const area = script.previousElementSibling;
    if (!area || !area.classList.contains("widget-subarea")) return false;
    const images = [...area.querySelectorAll("img")];
    return images.length > 0 && images.every((img) => img.src && img.complete);
  });
}"""


def installed_version(package):
    """The version of ``package`` in the local widget assets; fails when they are missing."""
    manifest = ASSETS / package / "package.json"
    if not manifest.exists():
        pytest.fail(
            f"{manifest} is missing: the install step (make) runs "
            "`npm ci --prefix tools/widget-assets`"
        )
    return json.loads(manifest.read_text(encoding="utf-8"))["version"]


@dataclass(frozen=True)
class Expected:
    """What one playground view must show, read from the page's widget state."""

    model_id: str
    sliders: list
    checkboxes: list
    dropdowns: list
    image_sizes: list
    live_notes: list


def descendants(state, model_id):
    """The models a view displays, depth first in display order (layouts and styles left out)."""
    model = state[model_id]
    found = [model]
    for child in model["state"].get("children", []):
        found += descendants(state, child.removeprefix("IPY_MODEL_"))
    return found


def image_size(model):
    """Width and height of the picture in an Image model's value buffer."""
    (buffer,) = [b for b in model.get("buffers", []) if b["path"] == ["value"]]
    assert buffer["encoding"] == "base64", buffer["encoding"]
    return Image.open(io.BytesIO(base64.b64decode(buffer["data"]))).size


def expected_views(html):
    """One ``Expected`` per widget view of a built page, from its embedded widget state."""
    (state_json,) = STATE_SCRIPT.findall(html)
    state = json.loads(state_json)["state"]
    views = []
    for view_json in VIEW_SCRIPT.findall(html):
        model_id = json.loads(view_json)["model_id"]
        models = descendants(state, model_id)

        def named(*names, models=models):
            return [model for model in models if model["model_name"] in names]

        views.append(
            Expected(
                model_id=model_id,
                sliders=[m["state"]["description"] for m in named(*SLIDERS)],
                checkboxes=[
                    (m["state"]["description"], m["state"]["value"]) for m in named("CheckboxModel")
                ],
                dropdowns=[
                    (
                        m["state"]["description"],
                        m["state"]["_options_labels"],
                        m["state"]["_options_labels"][m["state"]["index"]],
                    )
                    for m in named("DropdownModel")
                ],
                image_sizes=[image_size(m) for m in named("ImageModel")],
                live_notes=[
                    m["state"]["value"]
                    for m in named("HTMLModel")
                    if LIVE_NOTE.search(m["state"]["value"])
                ],
            )
        )
    return views


def rendering_problems(expected, seen):
    """What a drawn view lacks compared with its widget state; empty when it all shows."""
    if not seen.get("drawn"):
        return ["the view was not drawn"]
    problems = []
    hidden = [
        f"{kind} {item.get('label', '')!r}"
        for kind in ("sliders", "checkboxes", "dropdowns", "images")
        for item in seen[kind]
        if not item["shown"]
    ]
    if hidden:
        problems.append(f"not visible: {hidden}")
    sliders = [item["label"] for item in seen["sliders"]]
    if sliders != expected.sliders:
        problems.append(f"sliders {sliders}, state has {expected.sliders}")
    checkboxes = [(item["label"], item["checked"]) for item in seen["checkboxes"]]
    if checkboxes != expected.checkboxes:
        problems.append(f"checkboxes {checkboxes}, state has {expected.checkboxes}")
    dropdowns = [(item["label"], item["options"], item["chosen"]) for item in seen["dropdowns"]]
    if dropdowns != expected.dropdowns:
        problems.append(f"dropdowns {dropdowns}, state has {expected.dropdowns}")
    images = [(item["width"], item["height"]) for item in seen["images"]]
    if images != expected.image_sizes:
        problems.append(f"images of {images} pixels, state has {expected.image_sizes}")
    if any(item["scheme"] not in ("blob", "data") for item in seen["images"]):
        problems.append(f"image sources {[item['scheme'] for item in seen['images']]}")
    notes = [line for line in seen["lines"] if LIVE_NOTE.search(line)]
    if len(notes) != 1:
        problems.append(f"{len(notes)} lines say where the playground is live: {notes}")
    if len(expected.live_notes) != 1:
        problems.append(f"state has {len(expected.live_notes)} live notes")
    return problems


@pytest.fixture(scope="module")
def site(book_build, serve):
    """The built book served on 127.0.0.1; its base URL."""
    if book_build.returncode != 0:
        pytest.fail("the book did not build: see its build.log")
    return serve(book_build.html)


@pytest.fixture(scope="module")
def playground_pages(book_build):
    """The built pages holding widget views, as paths relative to the site root."""
    html = book_build.html
    pages = sorted(
        path.relative_to(html).as_posix()
        for path in html.rglob("*.html")
        if "_static" not in path.relative_to(html).parts
        and VIEW_SCRIPT.search(path.read_text(encoding="utf-8"))
    )
    assert pages, "no built page holds a widget view"
    return pages


def open_frozen(browser, url, html, *, block_widgets=False, edit_page=None):
    """Open ``url``, built as ``html``, with the CDN scripts it names answered locally.

    Returns the page and the list its uncaught errors are collected into. ``block_widgets``
    aborts every request for the widget manager's files; ``edit_page`` rewrites the served page
    text. Both exist to show that the checks can fail.
    """
    manager = HTML_MANAGER_URL.search(html)
    requirejs = REQUIREJS_URL.search(html)
    assert manager and requirejs, "the page loads no widget manager or RequireJS"
    for package, version in (
        ("@jupyter-widgets/html-manager", manager.group(2)),
        ("requirejs", requirejs.group(2)),
    ):
        assert installed_version(package) == version, (
            f"the page loads {package} {version}: pin that version in "
            "tools/widget-assets/package.json"
        )
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def manager_file(route):
        name = route.request.url[len(manager.group(1)) :].split("?")[0]
        target = ASSETS / "@jupyter-widgets" / "html-manager" / "dist" / name
        if block_widgets or not target.is_file():
            route.abort()
        else:
            route.fulfill(path=target)

    def page_text(route):
        response = route.fetch()
        text, count = REQUIREJS_INTEGRITY.subn("", response.text())
        assert count == 1, f"{count} integrity attributes on the RequireJS script"
        if edit_page:
            text = edit_page(text)
        route.fulfill(response=response, body=text)

    # Routes run newest first: the catch-all keeps every other host out of the test.
    page.route(OTHER_HOSTS, lambda route: route.abort())
    page.route(manager.group(1) + "**", manager_file)
    page.route(
        requirejs.group(1),
        lambda route: route.fulfill(
            path=ASSETS / "requirejs" / "require.js", content_type="application/javascript"
        ),
    )
    page.route(url, page_text)
    # Returns once the page starts loading: the wait for its views covers the rest, and
    # pages opened one after another then load side by side.
    page.goto(url, wait_until="commit")
    return page, errors


def render(page, timeout_ms=RENDER_TIMEOUT_MS):
    """Wait until the page has loaded and its views are drawn, or the timeout passes.

    Returns what the views show.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_load_state("load")
    try:
        page.wait_for_function(VIEWS_DRAWN, timeout=timeout_ms)
    except PlaywrightTimeout:
        pass  # what did not appear is reported by rendering_problems
    page.wait_for_timeout(SETTLE_MS)
    return page.evaluate(READ_VIEWS)


def open_and_render(book_build, site, browser, names, timeout_ms=RENDER_TIMEOUT_MS, **options):
    """Open the built pages ``names`` frozen, all at once.

    Returns, for each page in order, its expected views, its drawn views and its uncaught
    errors.
    """
    texts = [(book_build.html / name).read_text(encoding="utf-8") for name in names]
    opened = [
        open_frozen(browser, site + name, html, **options)
        for name, html in zip(names, texts, strict=True)
    ]
    results = []
    for html, (page, errors) in zip(texts, opened, strict=True):
        results.append((expected_views(html), render(page, timeout_ms), errors))
        page.close()
    return results


def test_every_playground_renders_its_controls_figure_and_live_note(
    book_build, site, browser, playground_pages
):
    failures = {}
    rendered = open_and_render(book_build, site, browser, playground_pages)
    for name, (expected, seen, _) in zip(playground_pages, rendered, strict=True):
        assert [view.model_id for view in expected] == [view["model_id"] for view in seen]
        for want, got in zip(expected, seen, strict=True):
            # A playground is the sliders, the run checkboxes, the function menu and a figure.
            assert want.sliders and want.checkboxes, name
            assert len(want.dropdowns) == 1 and len(want.image_sizes) == 1, name
            problems = rendering_problems(want, got)
            if problems:
                failures[f"{name} {want.model_id}"] = problems
    assert not failures, failures


def test_a_playground_renders_without_uncaught_errors(book_build, site, browser, playground_pages):
    # Every playground is built by the same code, so one page stands for all.
    ((_, seen, errors),) = open_and_render(book_build, site, browser, playground_pages[:1])
    assert all(view["drawn"] for view in seen)
    assert errors == []


def test_the_checks_see_a_missing_manager_and_a_broken_figure(
    book_build, site, browser, playground_pages
):
    first = playground_pages[:1]

    (((expected,), (seen,), _),) = open_and_render(
        book_build, site, browser, first, BLOCKED_WAIT_MS, block_widgets=True
    )
    assert rendering_problems(expected, seen) == ["the view was not drawn"]

    def break_image(text):
        # Keeps the buffer valid base64 but no longer a picture.
        broken, count = re.subn(
            r'("data": ")[^"]+(", "encoding": "base64", "path": \["value"\])',
            r"\1AAAA\2",
            text,
        )
        assert count == 1
        return broken

    (((expected,), (seen,), _),) = open_and_render(
        book_build, site, browser, first, edit_page=break_image
    )
    problems = rendering_problems(expected, seen)
    assert len(problems) == 1 and problems[0].startswith("images of [(0, 0)] pixels"), problems
