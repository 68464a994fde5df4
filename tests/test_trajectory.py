"""Tests for adalearn.trajectory.run: closed forms, batching, divergence, input checks."""

import math
import warnings

import numpy as np
import pytest

from adalearn import functions, rules
from adalearn.trajectory import Trajectory, run


def starts(fn, n, seed=0):
    """``n`` random start points inside the function's window."""
    rng = np.random.default_rng(seed)
    (lo1, hi1), (lo2, hi2) = fn.bounds
    return np.stack([rng.uniform(lo1, hi1, n), rng.uniform(lo2, hi2, n)], axis=-1)


def assert_same_run(batch, single):
    """Two trajectories of one run hold bit-for-bit the same record."""
    np.testing.assert_array_equal(batch.xs, single.xs, strict=True)
    np.testing.assert_array_equal(batch.values, single.values, strict=True)
    assert batch.stopped == single.stopped
    assert batch.diverged == single.diverged


class CountingGrad:
    """A test function that counts how often its gradient is evaluated, point by point."""

    def __init__(self, fn):
        self.fn, self.bounds, self.calls = fn, fn.bounds, 0

    def __call__(self, x):
        return self.fn(x)

    def grad(self, x):
        self.calls += 1
        return self.fn.grad(x)


# ------------------------------------------------------------------------------ closed forms


def test_gradient_descent_on_the_sphere_is_the_closed_form():
    # x_k = (1 - 2 lr w)^k x_0 coordinate by coordinate, f = 0.2 x1^2 + 2 x2^2.
    lr, steps = 0.1, 40
    traj = run(rules.SGD(lr=lr), functions.Sphere(), (3.0, 4.0), steps)
    k = np.arange(steps + 1)
    expected = np.stack([0.96**k * 3.0, 0.6**k * 4.0], axis=-1)
    assert traj.xs.shape == (steps + 1, 2) and traj.values.shape == (steps + 1,)
    np.testing.assert_allclose(traj.xs, expected, rtol=1e-12, atol=0)
    expected_values = 0.2 * expected[:, 0] ** 2 + 2 * expected[:, 1] ** 2
    np.testing.assert_allclose(traj.values, expected_values, rtol=1e-12, atol=0)
    assert traj.stopped == steps and not traj.diverged
    assert traj.batch_shape == () and traj.steps == steps and traj.grad_evals == steps
    np.testing.assert_array_equal(traj.final, traj.xs[-1])


def test_heun_takes_two_gradient_evaluations_per_step():
    # On f = w1 x1^2 + w2 x2^2 one Heun step multiplies x_i by 1 - h + h^2 / 2, h = 2 lr w_i.
    lr, steps = 0.3, 25
    fn = CountingGrad(functions.Sphere())
    traj = run(rules.Heun(lr=lr), fn, (3.0, 4.0), steps)
    assert traj.grad_evals == 2 * steps
    assert fn.calls == 2 * steps
    h = 2 * lr * np.array([0.2, 2.0])
    factor = 1 - h + h**2 / 2
    expected = factor ** np.arange(steps + 1)[:, None] * np.array([3.0, 4.0])
    np.testing.assert_allclose(traj.xs, expected, rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------ batching


@pytest.mark.parametrize(
    ("rule", "name"),
    [
        (rules.Adam(lr=0.05), "rosenbrock"),
        (rules.Adam(lr=0.1, betas=(0.8, 0.99)), "rastrigin"),
        (rules.SGD(lr=0.01, momentum=0.9), "beale"),
        (rules.RMSprop(lr=0.05), "himmelblau"),
        (rules.SGD(lr=2e-3), "rosenbrock"),
    ],
    ids=repr,
)
def test_a_batch_equals_its_runs_one_by_one(rule, name):
    fn = functions.get(name)
    x0 = starts(fn, 12)
    batch = run(rule, fn, x0, 150)
    assert batch.batch_shape == (12,) and batch.xs.shape == (151, 12, 2)
    for i in range(12):
        assert_same_run(batch[i], run(rule, fn, x0[i], 150))


def test_diverging_runs_leave_the_others_untouched():
    # Gradient descent with lr 2e-3 on Rosenbrock diverges from the steep corners only.
    fn, rule = functions.Rosenbrock(), rules.SGD(lr=2e-3)
    x0 = starts(fn, 40, seed=3)
    batch = run(rule, fn, x0, 100)
    assert batch.diverged.any() and not batch.diverged.all()
    for i in np.flatnonzero(~batch.diverged):
        assert_same_run(batch[i], run(rule, fn, x0[i], 100))


def test_learning_rate_array_equals_separate_runs():
    fn, lrs = functions.Sphere(), np.array([0.01, 0.1, 0.5, 0.9, 2.0])
    for make in (lambda lr: rules.SGD(lr=lr), lambda lr: rules.Adam(lr=lr)):
        sweep = run(make(lrs[:, None]), fn, fn.start, 60)
        assert sweep.batch_shape == (5,)
        for i, lr in enumerate(lrs):
            assert_same_run(sweep[i], run(make(float(lr)), fn, fn.start, 60))


def test_starts_and_learning_rates_broadcast_to_a_grid():
    fn, lrs = functions.Cubic(), np.array([[0.01], [0.05], [0.2]])
    x0 = starts(fn, 4, seed=5)
    grid = run(rules.Adam(lr=lrs), fn, x0[:, None, :], 30)
    assert grid.batch_shape == (4, 3) and grid.xs.shape == (31, 4, 3, 2)
    for i in range(4):
        for j in range(3):
            assert_same_run(grid[i, j], run(rules.Adam(lr=lrs[j, 0]), fn, x0[i], 30))


# ------------------------------------------------------------------------------ divergence


def test_gradient_descent_leaving_the_box_is_stopped_without_warnings():
    # With lr 2 on the sphere x2 is multiplied by 1 - 2 * 2 * 2 = -7 per step: 4, -28, 196,
    # -1372. The default box is the window [-5, 5]^2 enlarged 100 times, so x_3 is outside.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traj = run(rules.SGD(lr=2.0), functions.Sphere(), (3.0, 4.0), 10)
    assert traj.diverged and traj.stopped == 2
    np.testing.assert_allclose(traj.xs[:3], [[3.0, 4.0], [0.6, -28.0], [0.12, 196.0]])
    assert np.isnan(traj.xs[3:]).all() and np.isnan(traj.values[3:]).all()
    assert np.isfinite(traj.values[:3]).all()
    np.testing.assert_allclose(traj.final, [0.12, 196.0])


def test_overflow_is_stopped_without_warnings():
    # With an infinite box only a non-finite iterate stops the run. The reference repeats
    # the rule's arithmetic x - lr * (2 w x) in Python floats, whose overflow gives inf.
    x2, last_finite = 4.0, 0
    while True:
        x2 = x2 - 2.0 * (2 * 2.0 * x2)
        if not math.isfinite(x2):
            break
        last_finite += 1
    box = ((-np.inf, np.inf), (-np.inf, np.inf))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traj = run(rules.SGD(lr=2.0), functions.Sphere(), (3.0, 4.0), 400, box=box)
    assert traj.diverged and traj.stopped == last_finite
    assert np.isfinite(traj.xs[: last_finite + 1]).all()
    assert np.isnan(traj.xs[last_finite + 1 :]).all()


def test_stopped_runs_in_a_batch():
    box = ((-10.0, 10.0), (-10.0, 10.0))
    lrs = np.array([[0.1], [2.0], [0.6], [1.1]])
    traj = run(rules.SGD(lr=lrs), functions.Sphere(), (3.0, 4.0), 20, box=box)
    # x2 factors 1 - 4 lr: 0.6, -7, -1.4, -3.4; |4 f^k| > 10 first at k = -, 1, 3, 1.
    np.testing.assert_array_equal(traj.stopped, [20, 0, 2, 0])
    np.testing.assert_array_equal(traj.diverged, [False, True, True, True])
    np.testing.assert_array_equal(traj.final[1], [3.0, 4.0])
    assert np.isnan(traj.xs[3:, 2]).all() and np.isfinite(traj.xs[:3, 2]).all()


def test_the_cubic_escapes_past_its_saddle():
    # Unbounded below: lr 0.3 from (2, 3) overshoots the basin. By hand, grad = (2 x1 + x2,
    # 2 x2 + 3 x2^2 + x1): (7, 35) -> x_1 = (-0.1, -7.5); (-7.7, 153.65) -> x_2 = (2.21,
    # -53.595); then x2 drops below -2600, out of the default box [-300, 300]^2.
    traj = run(rules.SGD(lr=0.3), functions.Cubic(), (2.0, 3.0), 100)
    assert traj.diverged and traj.stopped == 2
    np.testing.assert_allclose(traj.xs[:3], [[2.0, 3.0], [-0.1, -7.5], [2.21, -53.595]])


# ------------------------------------------------------------------------------ the record


def test_indexing_final_and_read_only_arrays():
    fn = functions.Rosenbrock()
    x0 = starts(fn, 6, seed=7).reshape(2, 3, 2)
    traj = run(rules.Adam(lr=0.02), fn, x0, 10)
    assert isinstance(traj[1], Trajectory) and traj[1].batch_shape == (3,)
    assert traj[1, 2].batch_shape == () and traj[:, 0].batch_shape == (2,)
    np.testing.assert_array_equal(traj[1, 2].xs, traj.xs[:, 1, 2])
    np.testing.assert_array_equal(traj[..., 1].xs, traj.xs[:, :, 1])
    np.testing.assert_array_equal(traj[traj.stopped == 10].xs[:, 0], traj.xs[:, 0, 0])
    np.testing.assert_array_equal(traj.final, traj.xs[-1])
    assert len(traj) == 2 and traj[0, 0].rule is traj.rule and traj[0, 0].fn is fn
    with pytest.raises(ValueError, match="read-only"):
        traj.xs[0, 0, 0] = 1.0
    with pytest.raises(IndexError):
        traj[0, 0][0]
    assert "batch_shape=(2, 3)" in repr(traj) and "Rosenbrock" in repr(traj)


def test_zero_steps_records_the_start():
    traj = run(rules.Adam(), functions.Beale(), (1.0, 1.5), 0)
    np.testing.assert_array_equal(traj.xs, [[1.0, 1.5]])
    assert traj.values.tolist() == [41.25] and traj.stopped == 0 and not traj.diverged


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"steps": -1}, ValueError, "steps=-1"),
        ({"steps": 2.5}, TypeError, "steps=2.5"),
        ({"steps": True}, TypeError, "steps=True"),
        ({"starts": (1.0, 2.0, 3.0)}, ValueError,
         r"`starts` must have shape .*Received: starts.shape=\(3,\)"),
        ({"starts": 1.0}, ValueError, r"`starts` must have shape .*Received: starts.shape=\(\)"),
        ({"starts": [[1.0, np.nan]]}, ValueError, "`starts` must be finite. Received: starts="),
        ({"starts": (1e4, 0.0)}, ValueError, "`starts` must lie inside box"),
        ({"box": (-1.0, 1.0)}, ValueError, r"`box` must have shape \(2, 2\).*of shape \(2,\)"),
        ({"box": ((1.0, -1.0), (-1.0, 1.0))}, ValueError, "min < max"),
        ({"box": ((0.0, 1.0), (np.nan, 1.0))}, ValueError, "min < max"),
        ({"box": "everywhere"}, TypeError, "`box` must be.*Received: box='everywhere'"),
    ],
)
def test_bad_input_raises(kwargs, error, message):
    arguments = {"starts": (0.5, 0.5), "steps": 5} | kwargs
    with pytest.raises(error, match=message):
        run(rules.SGD(lr=0.1), functions.Sphere(), **arguments)
