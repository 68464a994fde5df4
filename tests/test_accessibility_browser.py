"""Players, explorers and basin maps as a screen reader and a keyboard use them, in Chromium.

A small page holds one figure of each kind inside an <article>, with the page colours of the
book's light and dark theme. axe-core (every rule, the experimental ones included) finds no
critical or serious violation on it in either colour scheme; every figure has a real text
alternative; every control is named by its visible label and says its value in words; the
figures work from the keyboard alone, tell a screen reader what they show after each change
(checked against single trajectory runs) once the controls rest, and never move by
themselves.
"""

import re

import pytest
from _browser import audit, blocking, real_text_alternative, refuse_network
from playwright.sync_api import expect

from adalearn import animation, functions, rules, trajectory

pytestmark = pytest.mark.browser

CUBIC = functions.get("cubic")
PLAYER_RUNS = {
    "SGD": rules.SGD(lr=0.01),
    "Momentum": rules.SGD(lr=0.01, momentum=0.9),
    "Adam": rules.Adam(lr=0.1, betas=(0.9, 0.99)),
}
EXPLORER_RULES = {
    "Momentum": rules.SGD(lr=0.02, momentum=0.9),
    "Adam": rules.Adam(lr=0.1, betas=(0.9, 0.99)),
}
STEPS = 40

# The page colours of the book's theme (pydata-sphinx-theme's text on background), light and
# dark: the figures' text takes the page's colour.
PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Figures</title>
<style>body{background:#fff;color:#222832}
@media (prefers-color-scheme: dark){body{background:#14181e;color:#ced6dd}}</style></head>
<body><main><article><h1>Figures</h1>FIGURES</article></main></body></html>"""

# The role and accessible name of a control, and the text a sighted reader sees as its label:
# its <label>'s text, or a button's own text without its hidden icon.
LABELS = """root => [...root.querySelectorAll("input, select, button")].map(e => {
    let visible;
    if (e.tagName === "BUTTON") {
        visible = [...e.childNodes].filter(n => !(n.getAttribute &&
            n.getAttribute("aria-hidden") === "true")).map(n => n.textContent).join("");
    } else {
        const label = e.closest("label").cloneNode(true);
        label.querySelectorAll("input, select, [aria-hidden=true]").forEach(n => n.remove());
        visible = label.textContent;
    }
    return {visible: visible.replace(/\\s+/g, " ").trim(),
            valuetext: e.getAttribute("aria-valuetext")};
})"""


@pytest.fixture(scope="module")
def figures():
    player_runs = {label: trajectory.run(rule, CUBIC, CUBIC.start, 60)
                   for label, rule in PLAYER_RUNS.items()}
    assert bool(player_runs["Momentum"].diverged)
    return {
        "player": animation.compare(CUBIC, player_runs, dpi=60, density=1),
        "explorer": animation.explore(["cubic", "sphere"], EXPLORER_RULES, steps=STEPS,
                                      starts=[(2.0, 3.0), (-1.5, 2.0)], dpi=60, density=1),
        "basins": animation.basins("himmelblau", rules.SGD(lr=0.01),
                                   lr=[0.005, 0.0175, 0.03], resolution=30, steps=100,
                                   dpi=60, density=1),
    }


@pytest.fixture(scope="module")
def page_file(figures, tmp_path_factory):
    path = tmp_path_factory.mktemp("a11y") / "figures.html"
    body = "".join(f"<h2>{kind}</h2>{figure.to_html()}" for kind, figure in figures.items())
    path.write_text(PAGE.replace("FIGURES", body), encoding="utf-8")
    return path


def open_ready(browser, path, **options):
    page = browser.new_page(**options)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    refused = refuse_network(page)
    page.goto(path.as_uri())
    page.wait_for_function("[...document.querySelectorAll('.adl-figure')].every("
                           "e => e.getAttribute('data-state') === 'ready')")
    return page, errors, refused


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_and_every_figure_has_a_text_alternative(
        page_file, browser, scheme):
    page, errors, refused = open_ready(browser, page_file, color_scheme=scheme)
    try:
        violations, missing = audit(page)
    finally:
        page.close()
    assert blocking(violations) == [] and blocking(violations, article=False) == []
    assert missing == []
    assert errors == [] and refused == []


def test_each_figure_is_named_by_what_it_shows(figures, page_file, browser):
    page, _, _ = open_ready(browser, page_file)
    try:
        for kind, figure in figures.items():
            root = page.get_by_role("figure", name=figure.description, exact=True)
            assert root.count() == 1, kind
            # The background's text alternative names the function and its window.
            assert re.fullmatch(r"Contours of the \w+ function for x₁ from \S+ to \S+ and x₂ "
                                r"from \S+ to \S+", root.locator("img").first.get_attribute("alt"))
    finally:
        page.close()
    player, explorer, basins = figures.values()
    assert player.description == (
        "Animated optimizer paths over the contours of the cubic function, from (2, 3), up to "
        "60 steps: SGD (learning rate 0.01); Momentum (learning rate 0.01, momentum 0.9); "
        "Adam (learning rate 0.1, β₁ 0.9, β₂ 0.99).")
    assert explorer.description.startswith(
        "Optimizer paths on the cubic or sphere function (a menu) from (2, 3) or (-1.5, 2) "
        "(a menu), 40 steps: Momentum (learning rate 0.02, momentum 0.9); Adam (learning "
        "rate 0.1, β₁ 0.9, β₂ 0.99).")
    assert basins.description.startswith("Basins of attraction of SGD (learning rate 0.01) on "
                                         "the himmelblau function: each of 900 starts")
    described = animation.compare(CUBIC, {"GD": trajectory.run(rules.SGD(lr=0.1), CUBIC,
                                                                 CUBIC.start, 5)},
                                  dpi=30, density=1, description="Gradient descent, 5 steps")
    assert 'aria-label="Gradient descent, 5 steps"' in described.to_html()
    with pytest.raises(TypeError, match=r"^`description` must be a non-empty string"):
        animation.explore(CUBIC, EXPLORER_RULES, steps=5, description="  ")


def test_every_control_is_named_by_its_visible_label_and_says_its_value(page_file, browser):
    page, _, _ = open_ready(browser, page_file)
    try:
        names, checked = {}, 0
        for root in page.locator(".adl-figure").all():
            labels = root.evaluate(LABELS)
            for control, label in zip(root.locator("input, select, button").all(), labels,
                                      strict=True):
                snapshot = control.aria_snapshot()
                role, name = re.match(r'- (\w+) "([^"]*)"', snapshot).groups()
                # Label in name: the name holds the visible label, so speech input reaches it.
                assert label["visible"] and label["visible"].lower() in name.lower(), (
                    snapshot, label)
                names.setdefault(role, []).append(name)
                if role == "slider":
                    assert re.fullmatch(r".+ \S+, \d+ of \d+|step \d+ of \d+",
                                        label["valuetext"]), label
                checked += 1
        assert names["button"] == ["Play"] and names["combobox"] == ["speed", "function", "start"]
        assert names["checkbox"] == ["Momentum", "Adam"]
        assert names["slider"] == ["step", "β, β₁", "β₂", "Momentum lr", "Adam lr",
                                   "learning rate"]
        assert checked == 12
    finally:
        page.close()


def expected_sentence(label, words, traj, k):
    if traj.diverged and k > int(traj.stopped):
        return f"{label} ({words}): diverged at step {int(traj.stopped) + 1}"
    k = min(k, int(traj.stopped))
    return f"{label} ({words}): f = {traj.values[k]:.4g} after {k} steps"


def test_the_player_works_from_the_keyboard_and_says_what_it_shows(figures, page_file,
                                                                       browser):
    player = figures["player"]
    runs = {label: trajectory.run(rule, CUBIC, CUBIC.start, 60)
            for label, rule in PLAYER_RUNS.items()}
    words = {"SGD": "learning rate 0.01", "Momentum": "learning rate 0.01, momentum 0.9",
             "Adam": "learning rate 0.1, β₁ 0.9, β₂ 0.99"}
    page, errors, refused = open_ready(browser, page_file)
    try:
        root = page.locator(".adalearn-player")
        # The play button is the first stop of the Tab key on the page.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "adl-play"
        page.keyboard.press("Space")
        assert root.locator(".adl-play-label").text_content() == "Pause"
        page.wait_for_function("parseInt(document.querySelector('.adl-step').textContent) > 3")
        page.keyboard.press("Enter")
        assert root.locator(".adl-play-label").text_content() == "Play"
        paused = int(root.locator(".adl-step").text_content().split()[0])
        expect(root.locator(".adl-readout")).to_have_text(
            re.compile(rf"^step {paused} of {player.steps}\. SGD \(learning rate 0\.01\)"))
        # The slider, by arrow keys: one step at a time, told in words.
        page.keyboard.press("Tab")
        page.keyboard.press("End")
        page.keyboard.press("ArrowLeft")
        slider = root.locator(".adl-slider")
        assert slider.get_attribute("aria-valuetext") == "step 59 of 60"
        expected = ["step 59 of 60."] + [
            expected_sentence(label, words[label], runs[label], 59) + "." for label in runs]
        expect(root.locator(".adl-readout")).to_have_text(" ".join(expected))
        assert "diverged at step" in expected[2]
    finally:
        page.close()
    assert errors == [] and refused == []


def test_the_explorer_and_the_basin_map_say_what_they_show(figures, page_file, browser):
    explorer, basins = figures["explorer"], figures["basins"]
    page, errors, refused = open_ready(browser, page_file)
    try:
        root = page.locator(".adalearn-explorer")
        slider = root.get_by_role("slider", name="Adam lr", exact=True)
        slider.focus()
        i = explorer.lr_index["Adam"]
        page.keyboard.press("ArrowRight")
        lr = explorer.lrs["Adam"][i + 1]
        assert slider.get_attribute("aria-valuetext") == f"learning rate {lr:.4g}, {i + 2} of 21"
        traj = trajectory.run(rules.Adam(lr=lr, betas=(0.9, 0.99)), CUBIC, (2.0, 3.0), STEPS)
        words = f"learning rate {lr:.4g}, β₁ 0.9, β₂ 0.99"
        expect(root.locator(".adl-readout")).to_have_text(
            expected_sentence("Adam", words, traj, STEPS) + ".")
        # A shared slider changes both rules, and the readout says both.
        beta = root.get_by_role("slider", name="β, β₁", exact=True)
        beta.focus()
        page.keyboard.press("Home")
        assert beta.get_attribute("aria-valuetext") == "β, β₁ 0, 1 of 6"
        momentum = trajectory.run(rules.SGD(lr=0.02), CUBIC, (2.0, 3.0), STEPS)
        adam = trajectory.run(rules.Adam(lr=lr, betas=(0.0, 0.99)), CUBIC, (2.0, 3.0), STEPS)
        expect(root.locator(".adl-readout")).to_have_text(" ".join([
            expected_sentence("Momentum", "learning rate 0.02, momentum 0", momentum, STEPS)
            + ".", expected_sentence("Adam", f"learning rate {lr:.4g}, β₁ 0, β₂ 0.99", adam,
                                     STEPS) + "."]))
        root.get_by_role("checkbox", name="Adam").press("Space")
        expect(root.locator(".adl-readout")).to_have_text("Adam: hidden.")
        # The menus, from the keyboard too: the other function's picture is described.
        root.get_by_role("combobox", name="function").select_option("1")
        assert root.locator(".adl-stage img").get_attribute("alt").startswith(
            "Contours of the sphere function")

        root = page.locator(".adalearn-basins")
        slider = root.get_by_role("slider", name="learning rate", exact=True)
        slider.focus()
        page.keyboard.press("ArrowRight")
        shares = basins.shares(2)
        classes = ["reach (3, 2)", "reach (-2.81, 3.13)", "reach (-3.78, -3.28)",
                   "reach (3.58, -1.85)", "diverged", "still moving after 100 steps"]
        said = "learning rate 0.03: " + ", ".join(
            f"{100 * s:.1f} % {c}" for s, c in zip(shares, classes, strict=True))
        assert slider.get_attribute("aria-valuetext") == "learning rate 0.03, 3 of 3"
        expect(root.locator(".adl-readout")).to_have_text(said + ".")
        assert root.get_by_role("img", name=said, exact=True).count() == 1
    finally:
        page.close()
    assert errors == [] and refused == []


@pytest.mark.parametrize("motion", ["reduce", "no-preference"])
def test_nothing_moves_until_play_is_pressed(page_file, browser, motion):
    page, errors, refused = open_ready(browser, page_file, reduced_motion=motion)
    try:
        root = page.locator(".adalearn-player")
        paths = root.locator(".adl-path")
        before = [paths.nth(j).get_attribute("d") for j in range(paths.count())]
        page.wait_for_timeout(800)
        assert root.locator(".adl-step").text_content() == "60 / 60"
        assert [paths.nth(j).get_attribute("d") for j in range(paths.count())] == before
        root.locator(".adl-play").click()
        page.wait_for_function("parseInt(document.querySelector('.adl-step').textContent) > 0")
    finally:
        page.close()
    assert errors == [] and refused == []


def test_the_checks_know_a_real_text_alternative():
    assert real_text_alternative("Paths of GD, momentum and Nesterov on the quadratic")
    for name in (None, "", "   ", "../_images/29211e0c7b3f.png", "_images/plot.png",
                 "29211e0c7b3f4a5d6e7f8a9b", "<Figure size 640x480 with 1 Axes>", "image",
                 "data:image/png;base64,iVBOR", "https://example.org/a.png"):
        assert not real_text_alternative(name), name


FIGURE_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title>
</head><body><main><article><h1>Chapter</h1>
<img src="{png}" alt="Paths of GD, momentum and Nesterov on the quadratic; Nesterov first">
<img src="{png}" {second}>
<figure><img src="{png}" alt="Loss against epochs for Adam and SGD"><figcaption>Losses
</figcaption></figure>
</article></main></body></html>"""
PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
       "DwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.mark.parametrize("second", [
    'alt="Accuracy of the two models on the test split"',
    "", 'alt=""', 'alt="../_images/29211e0c7b3f.png"', 'alt="29211e0c7b3f4a5d6e7f8a9b0c"',
])
def test_the_checks_find_a_figure_that_lost_its_text_alternative(tmp_path, browser, second):
    path = tmp_path / "chapter.html"
    path.write_text(FIGURE_PAGE.format(png=PNG, second=second), encoding="utf-8")
    page = browser.new_page()
    page.goto(path.as_uri())
    try:
        violations, missing = audit(page)
    finally:
        page.close()
    if second.startswith('alt="Accuracy'):
        assert missing == [] and blocking(violations) == []
        return
    alt = re.search(r'alt="(.*)"', second)
    (figure,) = missing
    assert figure == f"img {PNG[:80]} (text alternative {alt and alt.group(1)!r})"
    if not second:
        # No alt at all is axe's own critical violation too.
        (line,) = blocking(violations)
        assert line.startswith("image-alt (critical): ")
