"""Explorers and basin maps in headless Chromium, with every non-local request refused.

For a sample of grid values the controls are moved as a reader moves them (``input`` and
``change`` events), and what the page then shows (the path data of each run, its readouts,
the pixels of the basin map) is compared with single :func:`adalearn.trajectory.run` calls
for the same hyperparameters: the iterates within the quantisation step, mapped to pixels by
the linear map of the function's window onto the axes box.
"""

import re

import numpy as np
import pytest
from _browser import refuse_network

from adalearn import animation, functions, rules, trajectory

pytestmark = pytest.mark.browser

CUBIC, SPHERE = functions.get("cubic"), functions.get("sphere")
STEPS = 40
STARTS = [(2.0, 3.0), (-1.5, 2.0)]
RULES = {
    "Momentum": rules.SGD(lr=0.02, momentum=0.9),
    "RMSprop": rules.RMSprop(lr=0.05, alpha=0.9),
    "Adam": rules.Adam(lr=0.1, betas=(0.9, 0.99)),
}

SHOWN = """root => Array.from(root.querySelectorAll(".adl-rule")).map((row, j) => ({
    d: root.querySelectorAll(".adl-path")[j].getAttribute("d"),
    head: root.querySelectorAll(".adl-head")[j].getAttribute("visibility"),
    cross: root.querySelectorAll(".adl-cross")[j].getAttribute("visibility"),
    status: row.querySelector(".adl-status").textContent,
    lr: row.querySelector(".adl-lr-value") && row.querySelector(".adl-lr-value").textContent,
}))"""
MOVE = """(el, v) => { el.value = String(v);
    el.dispatchEvent(new Event(el.tagName === "SELECT" ? "change" : "input", {bubbles: true})); }"""


def points(d):
    return np.array([[float(x), float(y)] for x, y in re.findall(r"[ML](\S+) (\S+?)(?=[ML]|$)", d)])


def window_pixels(xs, fn, clip):
    (x1_lo, x1_hi), (x2_lo, x2_hi) = fn.bounds
    left, top, width, height = clip
    return np.column_stack([
        left + (xs[:, 0] - x1_lo) / (x1_hi - x1_lo) * width,
        top + (x2_hi - xs[:, 1]) / (x2_hi - x2_lo) * height,
    ])


def expected_status(traj):
    if traj.diverged:
        return f"diverged at step {int(traj.stopped) + 1}"
    return f"f = {traj.values[-1]:.4g}"


def open_ready(browser, path, selector):
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    refused = refuse_network(page)
    page.goto(path.as_uri())
    page.wait_for_function(
        f"[...document.querySelectorAll('{selector}')].every("
        "e => e.getAttribute('data-state') === 'ready')")
    return page, errors, refused


@pytest.fixture(scope="module")
def explorer_page(tmp_path_factory):
    explorer = animation.explore([CUBIC, SPHERE], RULES, steps=STEPS, starts=STARTS)
    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    # Two explorers on one page: their ids and scripts must not collide.
    page = explorer.to_html(full_page=True).replace("</body>", explorer.to_html() + "</body>")
    path.write_text(page, encoding="utf-8")
    return explorer, path


def test_the_run_shown_is_trajectory_runs_for_a_sample_of_the_grid(explorer_page, browser):
    explorer, path = explorer_page
    page, errors, refused = open_ready(browser, path, ".adalearn-explorer")
    try:
        root = page.locator(".adalearn-explorer").first
        clips = [stage.clip for stage in explorer._stages]
        q = explorer.resolution
        momenta, beta2s, decays = (k["values"] for k in explorer.knobs)
        assert [k["kind"] for k in explorer.knobs] == ["momentum", "beta2", "decay"]
        knob_inputs = root.locator(".adl-knob-input")
        lr_inputs = root.locator(".adl-lr")
        rng = np.random.default_rng(3)
        checked = diverged = 0
        for trial in range(10):
            f, s = trial % 2, int(rng.integers(2))
            fn = (CUBIC, SPHERE)[f]
            lr_at = rng.integers(21, size=3)
            at = [int(rng.integers(len(v))) for v in (momenta, beta2s, decays)]
            root.locator(".adl-fn").evaluate(MOVE, f)
            root.locator(".adl-start-menu").evaluate(MOVE, s)
            for a in range(3):
                knob_inputs.nth(a).evaluate(MOVE, at[a])
            for j in range(3):
                lr_inputs.nth(j).evaluate(MOVE, int(lr_at[j]))
            shown = root.evaluate(SHOWN)
            lrs = [explorer.lrs[label][i] for label, i in zip(RULES, lr_at, strict=True)]
            reference = {
                "Momentum": rules.SGD(lr=lrs[0], momentum=momenta[at[0]]),
                "RMSprop": rules.RMSprop(lr=lrs[1], alpha=decays[at[2]]),
                "Adam": rules.Adam(lr=lrs[2], betas=(momenta[at[0]], beta2s[at[1]])),
            }
            for j, rule in enumerate(reference.values()):
                traj = trajectory.run(rule, fn, STARTS[s], STEPS)
                k = int(traj.stopped)
                expected = window_pixels(traj.xs[: k + 1], fn, clips[f])
                got = points(shown[j]["d"])
                assert got.shape == expected.shape, (trial, j)
                near = np.all(np.abs(expected) < 1e5, axis=1)
                np.testing.assert_allclose(got[near], expected[near], rtol=0,
                                           atol=0.5 / q + 0.02)
                assert shown[j]["status"] == expected_status(traj)
                assert shown[j]["lr"] == f"{lrs[j]:.4g}"
                assert (shown[j]["head"], shown[j]["cross"]) == (
                    ("hidden", "visible") if traj.diverged else ("visible", "hidden"))
                checked += 1
                diverged += int(traj.diverged)
        assert checked == 30 and 0 < diverged < 30
        # The readouts say that the sliders snap to a grid.
        places = root.locator(".adl-grid").all_text_contents()
        assert all(re.fullmatch(r"\d+ of \d+", p) for p in places) and len(places) == 6

        # A tick box hides its run; the second explorer did not move.
        root.locator(".adl-use").nth(2).uncheck()
        assert root.evaluate(SHOWN)[2]["d"] == ""
        second = page.locator(".adalearn-explorer").nth(1).evaluate(SHOWN)
        initial = explorer._blocks[("Adam", 0)].points[explorer._initial_run("Adam")] / q
        np.testing.assert_allclose(points(second[2]["d"]), initial)
    finally:
        page.close()
    assert errors == [] and refused == []


@pytest.fixture(scope="module")
def basins_page(tmp_path_factory):
    fn = functions.get("himmelblau")
    basins = animation.basins(fn, rules.SGD(lr=0.01), lr=[0.005, 0.0175, 0.03], resolution=30,
                              steps=100)
    path = tmp_path_factory.mktemp("basins") / "basins.html"
    basins.save_html(path)
    return fn, basins, path


CANVAS_COLORS = """root => { const c = root.querySelector("canvas");
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    const out = [];
    for (let i = 0; i < data.length; i += 4) out.push([data[i], data[i+1], data[i+2]]);
    return {n: c.width, colors: out,
            shares: [...root.querySelectorAll(".adl-share")].map(s => s.textContent),
            lr: root.querySelector(".adl-lr-value").textContent}; }"""


def test_the_basin_map_shown_is_where_single_runs_end(basins_page, browser):
    fn, basins, path = basins_page
    minima = np.array([m.x for m in fn.minima])
    tol = 0.02 * np.hypot(10, 10)
    palette = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#3b3b3b", "#ffffff"]
    rgb = [tuple(int(c[k:k + 2], 16) for k in (1, 3, 5)) for c in palette]
    page, errors, refused = open_ready(browser, path, ".adalearn-basins")
    try:
        root = page.locator(".adalearn-basins")
        rng = np.random.default_rng(4)
        for index, lr in enumerate(basins.lrs):
            root.locator(".adl-lr").evaluate(MOVE, index)
            shown = root.evaluate(CANVAS_COLORS)
            assert shown["n"] == 30 and shown["lr"] == f"{lr:.4g}"
            classes = np.array([rgb.index(tuple(c)) for c in shown["colors"]]).reshape(30, 30)
            for _ in range(15):
                row, col = rng.integers(30), rng.integers(30)
                start = (-5 + (col + 0.5) / 3, 5 - (row + 0.5) / 3)
                traj = trajectory.run(rules.SGD(lr=lr), fn, start, 100)
                distance = np.linalg.norm(minima - traj.final, axis=1)
                steps = np.diff(traj.xs[-6:], axis=0)
                settled = np.linalg.norm(steps, axis=1).max() <= tol / 20
                expected = (4 if traj.diverged else int(np.argmin(distance))
                            if distance.min() <= tol and settled else 5)
                assert classes[row, col] == expected, (lr, start)
            counts = np.bincount(classes.ravel(), minlength=6)
            assert shown["shares"] == [f"{100 * c / 900:.1f} %" for c in counts]
    finally:
        page.close()
    assert errors == [] and refused == []


def test_the_checks_see_a_refused_request(tmp_path, browser):
    path = tmp_path / "cdn.html"
    path.write_text('<!DOCTYPE html><html><body><script src="https://cdn.invalid/x.js"></script>'
                    "</body></html>", encoding="utf-8")
    page = browser.new_page()
    refused = refuse_network(page)
    page.goto(path.as_uri())
    page.close()
    assert refused == ["https://cdn.invalid/x.js"]
