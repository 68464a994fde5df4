"""The playground, driven without a browser, redraws the trajectories of its controls."""

import sys

import numpy as np
import pytest

from adalearn import functions, rules, trajectory, widgets

pytest.importorskip("ipywidgets")


@pytest.fixture
def pg():
    return widgets.playground("cubic", steps=60)


def drawn(line):
    return np.asarray(line.get_xydata())


def expected(rule, fn, start, steps):
    traj = trajectory.run(rule, fn, start, steps)
    return traj.xs[: int(traj.stopped) + 1]


def test_initial_picture_is_the_seed_labs_five_runs(pg):
    fn = functions.get("cubic")
    assert list(pg.lines) == ["SGD", "Momentum", "AdaGrad", "RMSprop", "Adam"]
    for label, rule in widgets.default_rules().items():
        np.testing.assert_array_equal(drawn(pg.lines[label]), expected(rule, fn, (2, 3), 60))
    assert pg.image.value[:2] == b"\xff\xd8"  # a JPEG


def test_moving_a_learning_rate_slider_redraws_that_optimizer(pg):
    fn = functions.get("cubic")
    before = drawn(pg.lines["Adam"]).copy()
    pg.controls[("lr", "Adam")].value = 0.02
    lr = pg.controls[("lr", "Adam")].value
    assert lr == pytest.approx(0.02, rel=0.06)  # the log slider snaps to its step
    new = expected(rules.Adam(lr=lr, betas=(0.9, 0.99), eps=0, eps_root=1e-7), fn, (2, 3), 60)
    np.testing.assert_array_equal(drawn(pg.lines["Adam"]), new)
    assert not np.array_equal(before, new)


def test_shared_sliders_steps_and_start(pg):
    fn = functions.get("cubic")
    pg.controls["momentum"].value = 0.5
    pg.controls["beta2"].value = 0.95
    pg.controls["decay"].value = 0.8
    pg.controls["steps"].value = 30
    pg.controls["x1"].value = -1.0
    start = (-1.0, pg.controls["x2"].value)
    checks = {
        "Momentum": rules.SGD(lr=0.01, momentum=0.5),
        "RMSprop": rules.RMSprop(lr=0.1, alpha=0.8, eps=0, eps_root=1e-7),
        "Adam": rules.Adam(lr=0.1, betas=(0.5, 0.95), eps=0, eps_root=1e-7),
        "SGD": rules.SGD(lr=0.01),
    }
    for label, rule in checks.items():
        np.testing.assert_array_equal(drawn(pg.lines[label]), expected(rule, fn, start, 30))


def test_unticking_hides_a_path_and_bad_settings_are_reported(pg):
    pg.controls[("use", "SGD")].value = False
    assert drawn(pg.lines["SGD"]).size == 0 and "SGD" not in pg.trajectories
    nesterov = widgets.playground("sphere", rules=[rules.SGD(lr=0.05, momentum=0.9,
                                                             nesterov=True)], steps=10)
    nesterov.controls["momentum"].value = 0.0
    assert "Nesterov momentum requires a momentum" in nesterov._message.value
    assert drawn(nesterov.lines["Nesterov"]).size == 0


def test_changing_the_function_moves_the_start_into_its_window(pg):
    pg.controls["function"].value = "rosenbrock"
    fn = functions.get("rosenbrock")
    assert (pg.controls["x1"].min, pg.controls["x1"].max) == fn.bounds[0]
    assert (pg.controls["x1"].value, pg.controls["x2"].value) == pytest.approx(fn.start)
    np.testing.assert_array_equal(
        drawn(pg.lines["AdaGrad"]),
        expected(rules.Adagrad(lr=0.5, eps=0, eps_root=1e-7), fn, fn.start, 60),
    )


def test_a_diverged_run_gets_a_cross_at_the_window_edge(pg):
    # Momentum leaves the cubic's basin from (2, 3) and runs off to x2 → −∞.
    head = pg.heads["Momentum"]
    assert pg.trajectories["Momentum"].diverged
    assert head.get_marker() == "X" and head.get_xydata()[0, 1] == pytest.approx(-3.0)
    assert "diverged at step" in pg._status["Momentum"].value


def test_static_display_is_the_explorer_of_the_same_settings(pg):
    bundle = pg._repr_mimebundle_()
    # A live Jupyter draws the widget; a page without a kernel shows the explorer.
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page = bundle["text/html"]
    assert page.startswith('<div class="adalearn-explorer ')
    explorer = pg.explorer()
    assert list(explorer.rules) == list(pg.rules) and explorer.steps == 60
    for label, rule in pg.rules.items():
        # Each learning-rate grid holds the playground's first value, where its slider starts.
        lrs = explorer.lrs[label]
        assert lrs[explorer.lr_index[label]] == pytest.approx(rule.lr, rel=1e-12)
        assert len(lrs) >= 20 and np.all(np.diff(np.log(lrs)) > 0)
    assert pg.explorer() is explorer  # built once


@pytest.mark.parametrize("rule_set", [
    {"GD": rules.SGD(lr=0.1), "Momentum": rules.SGD(lr=0.01, momentum=0.9)},
    {"GD": rules.SGD(lr=0.1), "RMSprop": rules.RMSprop(lr=0.01, alpha=0.9)},
    {"Momentum": rules.SGD(lr=0.01, momentum=0.9), "RMSprop": rules.RMSprop(lr=0.01, alpha=0.9)},
    # 21 + 21 + 21·5 = 147 runs: α has five grid values, not the six of β.
    {"GD": rules.SGD(lr=0.1), "GD, lr 0.2": rules.SGD(lr=0.2),
     "RMSprop": rules.RMSprop(lr=0.01, alpha=0.9)},
])
def test_the_start_menu_is_offered_exactly_when_the_grid_is_small(rule_set):
    # Mirrored starts when the explorer stores at most 150 runs per start: counted from its
    # own grids, so the count is the explorer's.
    explorer = widgets.playground("cubic", rule_set, steps=5).explorer()
    starts = explorer._starts[0]
    assert explorer.runs % len(starts) == 0
    assert (len(starts) == 3) == (explorer.runs // len(starts) <= 150), explorer.runs


class _NoRate(rules.Rule):
    """A rule without a learning rate: a fixed step of 0.1 against the gradient's sign."""

    def init(self, x):
        return {}

    def step(self, x, g, state, grad_fn=None):
        return x - 0.1 * np.sign(g), state


def test_a_soft_batch_gets_the_slider_of_the_rule_it_wraps():
    fn = functions.get("sphere")
    soft = rules.SoftBatch(rules.Adam(lr=0.1, betas=(0.8, 0.99)), every=2)
    pg = widgets.playground("sphere", {"soft": soft}, steps=30)
    assert pg.controls[("lr", "soft")].value == pytest.approx(0.1)
    assert pg.controls["momentum"].value == pytest.approx(0.8)
    assert pg.controls["beta2"].value == pytest.approx(0.99)
    np.testing.assert_array_equal(drawn(pg.lines["soft"]), expected(soft, fn, fn.start, 30))
    pg.controls[("lr", "soft")].value = 0.05
    lr = pg.controls[("lr", "soft")].value
    moved = rules.SoftBatch(rules.Adam(lr=lr, betas=(0.8, 0.99)), every=2)
    np.testing.assert_array_equal(drawn(pg.lines["soft"]), expected(moved, fn, fn.start, 30))


def test_a_rule_without_learning_rate_gets_no_slider_and_unused_sliders_are_left_out():
    fn = functions.get("sphere")
    pg = widgets.playground("sphere", {"sign": _NoRate(), "GD": rules.SGD(lr=0.2)}, steps=20)
    assert ("lr", "sign") not in pg.controls and ("lr", "GD") in pg.controls
    # Neither rule has a momentum, a beta2 or a decay: no shared slider that does nothing.
    assert not {"momentum", "beta2", "decay"} & set(pg.controls)
    np.testing.assert_array_equal(drawn(pg.lines["sign"]), expected(_NoRate(), fn, fn.start, 20))


def test_an_array_hyperparameter_is_refused_not_reduced():
    with pytest.raises(ValueError, match=r"`rules\['GD'\]\.lr` must be a single number"):
        widgets.playground("sphere", {"GD": rules.SGD(lr=np.array([0.1, 0.3]))})
    with pytest.raises(ValueError, match="must be a single number"):
        widgets.playground("sphere", [rules.Adam(betas=(np.array([0.5, 0.9]), 0.99))])
    with pytest.raises(ValueError, match="must describe one run"):
        widgets.playground("sphere", [rules.SGD(lr=0.1, weight_decay=np.array([[0.0], [0.1]]))])


def test_missing_ipywidgets_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(ImportError, match="pip install"):
        widgets.playground()


def test_input_checks():
    with pytest.raises(TypeError, match=r"^`rules` must be a dict .* Received: rules='Adam'$"):
        widgets.playground(rules="Adam")
    with pytest.raises(TypeError, match=r"^`rules\['x'\]` must be an adalearn rule\."):
        widgets.playground(rules={"x": object()})
    with pytest.raises(ValueError, match=r"^`steps` must be .* Received: steps=0$"):
        widgets.playground(steps=0)
    with pytest.raises(TypeError, match=r"^`fn` must be .* Received: fn=3$"):
        widgets.playground(fn=3)


def test_a_learning_rate_slider_reruns_only_its_optimizer(pg):
    before = dict(pg.trajectories)
    pg.controls[("lr", "RMSprop")].value = 0.05
    assert pg.trajectories["RMSprop"] is not before["RMSprop"]
    assert all(pg.trajectories[k] is before[k] for k in before if k != "RMSprop")
    pg.controls["steps"].value = 61
    assert all(pg.trajectories[k] is not before[k] for k in before)


def test_every_message_to_the_front_end_is_valid_json(monkeypatch):
    """A kernel sends each trait change as JSON; a NaN or an infinity there is an error that
    jupyter_client prints to stderr (and the book build fails on stderr)."""
    import json

    from ipywidgets import Widget

    sent = []
    original = Widget._send

    def record(self, msg, buffers=None):
        sent.append(msg)
        return original(self, msg, buffers)

    monkeypatch.setattr(Widget, "_send", record)
    pg = widgets.playground("cubic", steps=20)
    for name in ("rosenbrock", "saddle", "sphere", "beale", "cubic"):
        pg.controls["function"].value = name
    assert sent, "no state was sent: the check would pass vacuously"
    for msg in sent:
        json.dumps(msg, allow_nan=False)
