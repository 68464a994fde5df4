"""A Player page in headless Chromium: play advances the paths, the slider jumps, no errors.

Every non-local request is refused; the page must make none.
"""

import pytest
from _browser import refuse_network

from adalearn import animation, functions, rules, trajectory

pytestmark = pytest.mark.browser

STATE = """() => Array.from(document.querySelectorAll(".adalearn-player")).map(root => ({
    step: root.querySelector(".adl-step").textContent,
    slider: root.querySelector(".adl-slider").value,
    points: Array.from(root.querySelectorAll(".adl-path")).map(
        p => (p.getAttribute("d").match(/[ML]/g) || []).length),
    heads: Array.from(root.querySelectorAll(".adl-head")).map(
        h => h.getAttribute("visibility")),
    crosses: Array.from(root.querySelectorAll(".adl-cross")).map(
        c => c.getAttribute("visibility")),
}))"""


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    fn = functions.get("cubic")
    runs = {
        "SGD": trajectory.run(rules.SGD(lr=0.01), fn, fn.start, 60),
        "Momentum": trajectory.run(rules.SGD(lr=0.01, momentum=0.9), fn, fn.start, 60),
        "Adam": trajectory.run(rules.Adam(lr=0.1, betas=(0.9, 0.99)), fn, fn.start, 40),
    }
    assert bool(runs["Momentum"].diverged)
    two_d = animation.compare(fn, runs, dpi=60, density=1, fps=30)
    three_d = animation.compare(fn, runs, view="3d", dpi=50, density=1, fps=30)
    # Two players on one page: their ids must not collide.
    page = two_d.to_html(full_page=True).replace("</body>", three_d.to_html() + "</body>")
    path = tmp_path_factory.mktemp("player") / "player.html"
    path.write_text(page, encoding="utf-8")
    return path, runs


def test_player_plays_and_jumps_in_chromium(page_file, browser):
    path, runs = page_file
    momentum_stop = int(runs["Momentum"].stopped)
    errors = []
    page = browser.new_page()
    refused = refuse_network(page)
    try:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_function(
            "document.querySelectorAll('[data-state=ready]').length == 2")
        start = page.evaluate(STATE)
        # Before play both players show the whole runs: 61 and 41 points, Momentum cut.
        assert start[0]["step"] == "60 / 60"
        assert start[0]["points"] == [61, momentum_stop + 1, 41]
        assert start[0]["crosses"] == ["hidden", "visible", "hidden"]

        page.locator(".adl-play").first.click()
        page.wait_for_function("parseInt(document.querySelector('.adl-slider').value) >= 3")
        early = page.evaluate(STATE)[0]
        page.wait_for_timeout(400)
        later = page.evaluate(STATE)[0]
        early_step = int(early["step"].split()[0])
        later_step = int(later["step"].split()[0])
        assert 0 < early_step < later_step
        assert later["points"][0] > early["points"][0]
        assert early["points"][0] == early_step + 1
        # The second player did not move.
        assert page.evaluate(STATE)[1]["step"] == "60 / 60"

        slider = page.locator(".adl-slider").first
        slider.evaluate(
            "(s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }", 25)
        jumped = page.evaluate(STATE)[0]
        assert jumped["step"] == "25 / 60" and jumped["slider"] == "25"
        assert jumped["points"] == [26, min(25, momentum_stop) + 1, 26]
        assert jumped["crosses"][1] == ("visible" if 25 > momentum_stop else "hidden")
        page.wait_for_timeout(200)
        assert page.evaluate(STATE)[0]["step"] == "25 / 60"

        # The Adam run has 40 steps: past them its path and marker stay at its end.
        slider.evaluate(
            "(s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }", 55)
        ended = page.evaluate(STATE)[0]
        assert ended["points"][2] == 41 and ended["heads"][2] == "visible"
        assert ended["heads"][1] == "hidden" and ended["crosses"][1] == "visible"

        page.locator(".adl-play").nth(1).click()
        page.wait_for_timeout(300)
        assert int(page.evaluate(STATE)[1]["step"].split()[0]) > 0
    finally:
        page.close()
    assert errors == [] and refused == []
