"""Explorers and basin maps store exactly the runs trajectory.run makes, and only those.

The stored runs are read back here with a decoder written from the format's description in
``Explorer._pack`` (LEB128 numbers, zigzag signs, deltas), not with the package's code, and
compared with single :func:`adalearn.trajectory.run` calls for the same hyperparameters,
mapped to pixels by the linear map of the function's window onto the axes box.
"""

import base64
import collections
import json
import re
import struct
import types
import zlib
from dataclasses import dataclass

import numpy as np
import pytest

from adalearn import animation, functions, knobs, rules, trajectory

SPHERE = functions.get("sphere")
CUBIC = functions.get("cubic")


def read_unsigned(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def read_signed(data, pos):
    value, pos = read_unsigned(data, pos)
    return (value >> 1) ^ -(value & 1), pos


def page_data(page, root="adalearn-explorer"):
    assert page.startswith(f'<div class="{root} ')
    return json.loads(re.search(r'class="adl-data">(.*?)</script>', page, re.S).group(1))


def decode(data):
    """Every stored run: None when not run, else (pixels (k+1, 2), k, diverged, final, cross)."""
    raw = zlib.decompress(base64.b64decode(data["blob"]))
    q, n, pos = data["q"], data["n"], 0
    codes = []
    for _ in range(n):
        code, pos = read_unsigned(raw, pos)
        codes.append(code)
    finals = {}
    for i, code in enumerate(codes):
        if code:
            (finals[i],) = struct.unpack_from("<d", raw, pos)
            pos += 8
    crosses = {}
    for i, code in enumerate(codes):
        if code and code % 2:
            x, pos = read_signed(raw, pos)
            y, pos = read_signed(raw, pos)
            crosses[i] = np.array([x, y]) / q
    runs = []
    for i, code in enumerate(codes):
        if not code:
            runs.append(None)
            continue
        count, diverged = code // 2, bool(code % 2)
        points, x, y = [], 0, 0
        for _ in range(count):
            dx, pos = read_signed(raw, pos)
            dy, pos = read_signed(raw, pos)
            x, y = x + dx, y + dy
            points.append((x / q, y / q))
        runs.append((np.array(points), count - 1, diverged, finals[i], crosses.get(i)))
    assert pos == len(raw), "bytes left over"
    return runs


def stored_run(data, runs, rule_index, at, fn_index=0):
    """The run of rule ``rule_index`` at grid position ``at`` (lr, knobs..., start)."""
    rule = data["rules"][rule_index]
    flat = int(np.ravel_multi_index(at, rule["shape"]))
    return runs[rule["offsets"][fn_index] + flat]


def window_pixels(xs, fn, clip):
    """Iterates as CSS pixels: the window fn.bounds mapped linearly onto the axes box."""
    (x1_lo, x1_hi), (x2_lo, x2_hi) = fn.bounds
    left, top, width, height = clip
    return np.column_stack([
        left + (xs[:, 0] - x1_lo) / (x1_hi - x1_lo) * width,
        top + (x2_hi - xs[:, 1]) / (x2_hi - x2_lo) * height,
    ])


def assert_same_run(stored, traj, fn, clip, q):
    points, k, diverged, final, cross = stored
    assert (k, diverged) == (int(traj.stopped), bool(traj.diverged))
    xs = traj.xs[: k + 1]
    expected = window_pixels(xs, fn, clip)
    inside = np.all(np.abs(expected) < 1e5, axis=1)
    # Within half a quantisation step (and the rounding of the clip box to 1/100 pixel).
    np.testing.assert_allclose(points[inside], expected[inside], rtol=0, atol=0.5 / q + 0.02)
    assert final == pytest.approx(float(traj.values[k]), rel=1e-12, abs=1e-300)
    assert (cross is not None) == diverged


@pytest.fixture(scope="module")
def adam_momentum():
    rule_set = {"Momentum": rules.SGD(lr=0.02, momentum=0.9),
                "Adam": rules.Adam(lr=0.1, betas=(0.9, 0.99))}
    explorer = animation.explore(CUBIC, rule_set, steps=50, starts=[(2.0, 3.0), (-1.0, 2.5)])
    data = page_data(explorer.to_html())
    return explorer, data, decode(data)


def test_the_grids_are_log_spaced_learning_rates_and_the_shared_knobs(adam_momentum):
    explorer, data, _ = adam_momentum
    for label, lr in (("Momentum", 0.02), ("Adam", 0.1)):
        lrs = explorer.lrs[label]
        assert len(lrs) >= 20
        np.testing.assert_allclose(np.diff(np.log10(lrs)), 1 / 8)
        assert lrs[explorer.lr_index[label]] == pytest.approx(lr)
    knobs = {k["kind"]: k for k in explorer.knobs}
    assert set(knobs) == {"momentum", "beta2"}
    assert len(knobs["momentum"]["values"]) >= 5 and len(knobs["beta2"]["values"]) >= 5
    # Each shared control starts at the first rule's value that has it.
    assert knobs["momentum"]["values"][knobs["momentum"]["index"]] == 0.9
    assert knobs["beta2"]["values"][knobs["beta2"]["index"]] == 0.99
    assert [r["shape"] for r in data["rules"]] == [[21, 6, 2], [21, 6, 5, 2]]
    assert explorer.runs == 21 * 6 * 2 + 21 * 6 * 5 * 2


def test_stored_runs_equal_single_runs_for_a_sample_of_the_grid(adam_momentum):
    explorer, data, runs = adam_momentum
    clip, q = data["fns"][0]["clip"], data["q"]
    momenta = explorer.knobs[0]["values"]
    beta2s = explorer.knobs[1]["values"]
    starts = [(2.0, 3.0), (-1.0, 2.5)]
    rng = np.random.default_rng(0)
    diverged = 0
    for _ in range(12):
        i, j, b, s = rng.integers(21), rng.integers(len(momenta)), rng.integers(5), rng.integers(2)
        lr = explorer.lrs["Momentum"][i]
        traj = trajectory.run(rules.SGD(lr=lr, momentum=momenta[j]), CUBIC, starts[s], 50)
        assert_same_run(stored_run(data, runs, 0, (i, j, s)), traj, CUBIC, clip, q)
        lr = explorer.lrs["Adam"][i]
        adam = rules.Adam(lr=lr, betas=(momenta[j], beta2s[b]))
        traj = trajectory.run(adam, CUBIC, starts[s], 50)
        assert_same_run(stored_run(data, runs, 1, (i, j, b, s)), traj, CUBIC, clip, q)
        diverged += int(traj.diverged)
    # The largest learning rates diverge: the cross of a diverged run is stored too.
    top = trajectory.run(rules.SGD(lr=explorer.lrs["Momentum"][-1], momentum=0.99), CUBIC,
                         starts[0], 50)
    stored = stored_run(data, runs, 0, (20, len(momenta) - 1, 0))
    assert top.diverged and stored[2]
    assert_same_run(stored, top, CUBIC, clip, q)


def test_one_batched_run_per_rule_and_function(monkeypatch):
    calls = []
    original = trajectory.run

    def counting(rule, fn, starts, steps, **kwargs):
        calls.append(rule.broadcast_shape(np.shape(starts)))
        return original(rule, fn, starts, steps, **kwargs)

    monkeypatch.setattr(trajectory, "run", counting)
    animation.explore([SPHERE, CUBIC], {"GD": rules.SGD(lr=0.1),
                                        "RMSprop": rules.RMSprop(lr=0.05, alpha=0.9)},
                      steps=5, starts=[(1.0, 1.0), (-1.0, 2.0)], dpi=30, density=1)
    assert calls == [(21, 2, 2), (21, 5, 2, 2), (21, 2, 2), (21, 5, 2, 2)]


def test_several_functions_and_starts_are_stored_apart():
    explorer = animation.explore([SPHERE, CUBIC], {"GD": rules.SGD(lr=0.05)}, steps=30,
                                 starts=[(1.0, 1.0), (-2.0, 0.5)], dpi=40, density=1)
    page = explorer.to_html()
    data = page_data(page)
    runs = decode(data)
    assert [f["name"] for f in data["fns"]] == ["sphere", "cubic"]
    assert data["fns"][0]["img"] is None and data["fns"][1]["img"].startswith("data:image/")
    assert '<select class="adl-fn"' in page and '<select class="adl-start-menu"' in page
    for f, fn in enumerate((SPHERE, CUBIC)):
        for s, start in enumerate([(1.0, 1.0), (-2.0, 0.5)]):
            lr = explorer.lrs["GD"][15]
            traj = trajectory.run(rules.SGD(lr=lr), fn, start, 30)
            assert_same_run(stored_run(data, runs, 0, (15, s), f), traj, fn,
                            data["fns"][f]["clip"], data["q"])


def test_any_sequence_of_functions_is_a_menu_as_a_list_is():
    gd = {"GD": rules.SGD(lr=0.1)}
    options = dict(steps=5, dpi=30, density=1)
    listed = animation.explore([SPHERE, "cubic"], gd, **options)
    sequence = animation.explore(collections.UserList([SPHERE, "cubic"]), gd, **options)
    assert sequence.functions == listed.functions == [SPHERE, CUBIC]
    assert page_data(sequence.to_html()) == page_data(listed.to_html())


def test_any_mapping_or_sequence_of_rules_is_a_rule_set_as_a_dict_or_list_is():
    options = dict(steps=5, dpi=30, density=1)
    adam = rules.Adam(lr=0.1)
    as_dict = animation.explore(SPHERE, {"Adam": adam}, **options)
    as_mapping = animation.explore(SPHERE, types.MappingProxyType({"Adam": adam}), **options)
    as_sequence = animation.explore(SPHERE, collections.UserList([adam]), **options)
    assert as_mapping.rules == as_sequence.rules == as_dict.rules == {"Adam": adam}
    assert page_data(as_mapping.to_html()) == page_data(as_dict.to_html())


def test_values_a_rule_rejects_are_not_run_and_say_why():
    explorer = animation.explore(SPHERE, {"Nesterov": rules.SGD(lr=0.1, momentum=0.5,
                                                                nesterov=True)}, steps=10)
    data = page_data(explorer.to_html())
    runs = decode(data)
    values = explorer.knobs[0]["values"]
    assert values[0] == 0.0
    assert all(stored_run(data, runs, 0, (i, 0, 0)) is None for i in range(21))
    assert stored_run(data, runs, 0, (0, 1, 0)) is not None
    ((axis, index, message),) = data["rules"][0]["notes"]
    assert (axis, index) == (1, 0)
    with pytest.raises(ValueError) as error:
        rules.SGD(lr=0.1, momentum=0.0, nesterov=True)
    assert message == str(error.value)


def test_a_soft_batch_is_explored_through_the_rule_it_wraps():
    soft = rules.SoftBatch(rules.Adam(lr=0.1, betas=(0.9, 0.99)), every=3)
    explorer = animation.explore(SPHERE, {"soft": soft}, steps=30, dpi=40, density=1)
    assert explorer.lrs["soft"][explorer.lr_index["soft"]] == pytest.approx(0.1)
    data = page_data(explorer.to_html())
    runs = decode(data)
    beta1s, beta2s = explorer.knobs[0]["values"], explorer.knobs[1]["values"]
    lr = explorer.lrs["soft"][5]
    expected = rules.SoftBatch(rules.Adam(lr=lr, betas=(beta1s[2], beta2s[1])), every=3)
    traj = trajectory.run(expected, SPHERE, SPHERE.start, 30)
    assert_same_run(stored_run(data, runs, 0, (5, 2, 1, 0)), traj, SPHERE,
                    data["fns"][0]["clip"], data["q"])


@dataclass(frozen=True)
class Sign(rules.Rule):
    """A reader's rule without a learning rate: steps of fixed size against the gradient's sign."""

    size: float = 0.1

    def init(self, x):
        return {}

    def step(self, x, g, state, grad_fn=None):
        return x - self.size * np.sign(g), state


@dataclass(frozen=True)
class ScalarGD(rules.Rule):
    """A reader's gradient descent that takes only a number as its learning rate."""

    lr: float = 0.1

    def init(self, x):
        return {}

    def step(self, x, g, state, grad_fn=None):
        return x - float(self.lr) * g, state


def test_a_rule_that_takes_no_arrays_is_run_point_by_point():
    explorer = animation.explore(SPHERE, {"GD": ScalarGD(lr=0.2)}, steps=15, dpi=40, density=1)
    data = page_data(explorer.to_html())
    runs = decode(data)
    for i in (0, 12, 20):
        traj = trajectory.run(ScalarGD(lr=explorer.lrs["GD"][i]), SPHERE, SPHERE.start, 15)
        assert_same_run(stored_run(data, runs, 0, (i, 0)), traj, SPHERE,
                        data["fns"][0]["clip"], data["q"])


def test_a_rule_without_learning_rate_has_no_slider():
    explorer = animation.explore(SPHERE, {"sign": Sign(), "GD": rules.SGD(lr=0.1)}, steps=12,
                                 dpi=40, density=1)
    page = explorer.to_html()
    assert explorer.lrs["sign"] is None
    assert page.count('class="adl-lr"') == 1 and "no learning rate" in page
    data = page_data(page)
    runs = decode(data)
    traj = trajectory.run(Sign(), SPHERE, SPHERE.start, 12)
    assert_same_run(stored_run(data, runs, 0, (0, 0)), traj, SPHERE, data["fns"][0]["clip"],
                    data["q"])


def test_the_page_is_self_contained_with_fresh_ids():
    explorer = animation.explore(SPHERE, {"GD": rules.SGD(lr=0.2)}, steps=10, dpi=40,
                                 density=1)
    first, second = explorer.to_html(), explorer._repr_html_()
    for page in (first, second):
        assert "<script src" not in page and "<link" not in page
        assert "https://" not in page
        assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    ids = re.findall(r'id="(adl-[0-9a-f]+)"', first)
    assert ids and set(ids).isdisjoint(re.findall(r'id="(adl-[0-9a-f]+)"', second))
    # Without a script the picture is the first values' run, with its readout.
    traj = trajectory.run(rules.SGD(lr=0.2), SPHERE, SPHERE.start, 10)
    assert f"f = {traj.values[-1]:.4g}" in first


def test_explorer_input_checks():
    gd = {"GD": rules.SGD(lr=0.1)}
    with pytest.raises(TypeError, match=r"^`rules` must be a dict"):
        animation.explore(SPHERE, "SGD")
    with pytest.raises(TypeError, match=r"^`fn` must be a test function.* Received: fn=3$"):
        animation.explore(3, gd)
    with pytest.raises(ValueError, match=r"^`steps` must be an integer .* Received: steps=0$"):
        animation.explore(SPHERE, gd, steps=0)
    with pytest.raises(ValueError, match=r"^`lr` must hold positive learning rates"):
        animation.explore(SPHERE, gd, lr=[0.1, -1.0])
    with pytest.raises(ValueError, match=r"^`grid` must have keys among"):
        animation.explore(SPHERE, gd, grid={"beta3": [0.5]})
    with pytest.raises(ValueError, match=r"^`rules\['GD'\]\.lr` must be a single number"):
        animation.explore(SPHERE, {"GD": rules.SGD(lr=np.array([0.1, 0.2]))})
    with pytest.raises(ValueError, match=r"^`starts` must be finite points"):
        animation.explore(SPHERE, gd, starts=[(1.0, np.nan)])
    with pytest.raises(ValueError, match=r"^`lr` must be a positive number\. Received: lr=0$"):
        knobs.lr_grid(0)


@pytest.fixture(scope="module")
def himmelblau_basins():
    fn = functions.get("himmelblau")
    lrs = np.array([0.005, 0.02, 0.03])
    return fn, lrs, animation.basins(fn, rules.SGD(lr=0.01), lr=lrs, resolution=40, steps=100)


def test_basins_classify_every_start_as_a_single_run_ends(himmelblau_basins):
    fn, lrs, basins = himmelblau_basins
    assert basins.classes.shape == (3, 40, 40)
    minima = np.array([m.x for m in fn.minima])
    tol = 0.02 * np.hypot(10, 10)
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(60):
        l, row, col = rng.integers(3), rng.integers(40), rng.integers(40)
        start = (-5 + (col + 0.5) * 10 / 40, 5 - (row + 0.5) * 10 / 40)
        traj = trajectory.run(rules.SGD(lr=lrs[l]), fn, start, 100)
        distance = np.linalg.norm(minima - traj.final, axis=1)
        last_step = np.linalg.norm(np.diff(traj.xs[-6:], axis=0), axis=1).max()
        if traj.diverged:
            expected = 4
        elif distance.min() <= tol and last_step <= tol / 20:
            expected = int(np.argmin(distance))
        else:
            expected = 5
        seen.add(expected)
        assert basins.classes[l, row, col] == expected, (lrs[l], start)
    assert len(seen) >= 4
    for l in range(3):
        assert basins.shares(l).sum() == pytest.approx(1.0)


def test_a_minimum_keeps_its_basin_only_below_two_over_its_curvature():
    """Gradient descent converges to a minimum only when lr < 2/L, L the largest eigenvalue of
    the Hessian there (the linearised step x - lr·H·x): above it the map has no start left."""
    fn = functions.get("himmelblau")
    curvature = []
    for m in fn.minima:
        x, h = np.array(m.x), 1e-5
        hessian = np.array([(fn.grad(x + h * e) - fn.grad(x - h * e)) / (2 * h)
                            for e in np.eye(2)])
        curvature.append(np.linalg.eigvalsh((hessian + hessian.T) / 2).max())
    bounds = 2 / np.array(curvature)
    lrs = np.sort(np.concatenate([bounds * 0.9, bounds * 1.1]))
    basins = animation.basins(fn, rules.SGD(lr=0.01), lr=lrs, resolution=40, steps=150)
    for index, lr in enumerate(lrs):
        shares = basins.shares(index)[:4]
        assert np.all((shares > 0) == (lr < bounds)), (lr, shares, bounds)


def test_basins_page_stores_the_classes_and_shows_the_first_map(himmelblau_basins):
    fn, lrs, basins = himmelblau_basins
    page = basins.to_html()
    data = page_data(page, "adalearn-basins")
    stored = np.frombuffer(zlib.decompress(base64.b64decode(data["blob"])), dtype=np.uint8)
    np.testing.assert_array_equal(stored.reshape(3, 40, 40), basins.classes)
    assert data["lr"] == list(lrs) and len(data["colors"]) == len(fn.minima) + 2
    assert "<script src" not in page and "https://" not in page
    assert "diverged" in page and "still moving after 100 steps" in page


def test_basins_input_checks():
    fn = functions.get("himmelblau")
    with pytest.raises(ValueError, match=r"^`rule` must have a learning rate"):
        animation.basins(fn, Sign())
    with pytest.raises(ValueError, match=r"^`resolution` must be an integer"):
        animation.basins(fn, rules.SGD(lr=0.01), resolution=1)
    with pytest.raises(ValueError, match=r"^`fn` must have a minimum inside its window"):
        animation.basins(functions.get("saddle"), rules.SGD(lr=0.01), resolution=4)
