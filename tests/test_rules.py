"""The rules on numpy and torch, batched and unbatched, against closed forms and each other."""

import copy

import numpy as np
import pytest
import torch
from _cases import RULES as CASES
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adalearn import rules


def grad(x):
    """Gradient of f(x) = ½ xᵀAx + ¼ Σ xᵢ⁴, written for numpy and torch alike."""
    a = [[3.0, 0.5], [0.5, 1.0]]
    a = torch.tensor(a, dtype=x.dtype) if isinstance(x, torch.Tensor) else np.array(a)
    return x @ a + x**3


# The table's numpy configurations, and a soft batch of Adam.
RULES = {
    **{label: info.rule(**kwargs) for info in CASES for label, kwargs in info.numpy.items()},
    "SoftBatch": rules.SoftBatch(rules.Adam(lr=0.05), every=3),
}

STARTS = np.array([[1.0, -1.5], [0.3, 0.8], [-2.0, 0.1], [0.05, -0.02]])


def run(rule, x, steps):
    state = rule.init(x)
    for _ in range(steps):
        x, state = rule.step(x, grad(x), state, grad_fn=grad)
    return x


@pytest.mark.parametrize("name", RULES)
def test_numpy_and_torch_agree_over_200_steps(name):
    rule = RULES[name]
    ours = run(rule, STARTS, 200)
    theirs = run(rule, torch.tensor(STARTS), 200)
    assert isinstance(theirs, torch.Tensor) and theirs.dtype == torch.float64
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(theirs.numpy(), ours, rtol=0, atol=1e-12)
    assert not np.allclose(ours, STARTS), "the rule did not move"


@pytest.mark.parametrize("name", RULES)
def test_a_batch_equals_its_runs_one_by_one(name):
    rule = RULES[name]
    batch = run(rule, STARTS, 50)
    for start, end in zip(STARTS, batch, strict=True):
        assert np.array_equal(run(rule, start, 50), end)


def test_hyperparameter_arrays_sweep_in_one_run():
    lrs = np.array([0.01, 0.05, 0.2])[:, None]
    betas = (np.array([0.5, 0.9, 0.99])[:, None], 0.999)
    sweep = rules.Adam(lr=lrs, betas=betas)
    assert sweep.broadcast_shape((2,)) == (3, 2)
    x = np.broadcast_to(STARTS[0], sweep.broadcast_shape((2,)))
    swept = run(sweep, x, 100)
    for i in range(3):
        single = rules.Adam(lr=float(lrs[i, 0]), betas=(float(betas[0][i, 0]), 0.999))
        # beta ** t of an array and of a Python float may differ in the last place.
        np.testing.assert_allclose(run(single, STARTS[0], 100), swept[i], rtol=1e-13, atol=0)


def test_heun_on_a_quadratic_is_the_closed_form():
    a = np.array([[2.0, 0.7], [0.7, 1.0]])
    lr, steps = 0.3, 60
    x = np.array([1.5, -0.5])
    rule = rules.Heun(lr=lr)
    state = rule.init(x)
    for _ in range(steps):
        x, state = rule.step(x, a @ x, state, grad_fn=lambda y: a @ y)
    m = np.eye(2) - lr * a + lr**2 * a @ a / 2
    expected = np.linalg.matrix_power(m, steps) @ np.array([1.5, -0.5])
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12)


def test_heun_without_grad_fn_is_a_clear_error():
    rule = rules.Heun(lr=0.1)
    x = np.ones(2)
    with pytest.raises(TypeError, match="grad_fn"):
        rule.step(x, x, rule.init(x))


@pytest.mark.parametrize("inner", [rules.SGD(lr=0.1, momentum=0.9), rules.Adam(lr=0.05)])
def test_soft_batch_equals_one_step_on_the_large_batch(inner):
    """Least squares: k steps on k batches of b rows with every=k = one step on k·b rows."""
    rng = np.random.default_rng(3)
    k, b = 4, 8
    features = rng.normal(size=(k * b, 2))
    targets = features @ np.array([0.5, -1.0]) + 0.1 * rng.normal(size=k * b)

    def mean_grad(x, rows):
        residual = features[rows] @ x - targets[rows]
        return features[rows].T @ residual / len(residual)

    soft = rules.SoftBatch(inner, every=k)
    x_soft, state_soft = np.zeros(2), soft.init(np.zeros(2))
    x_large, state_large = np.zeros(2), inner.init(np.zeros(2))
    for _ in range(3):
        for i in range(k):
            before = x_soft
            rows = slice(i * b, (i + 1) * b)
            x_soft, state_soft = soft.step(x_soft, mean_grad(x_soft, rows), state_soft)
            if i < k - 1:
                assert np.array_equal(x_soft, before)
        x_large, state_large = inner.step(x_large, mean_grad(x_large, slice(None)), state_large)
        np.testing.assert_allclose(x_soft, x_large, rtol=0, atol=1e-12)


def test_sgd_first_buffer_is_the_gradient_itself_and_a_copy():
    rule = rules.SGD(lr=0.1, momentum=0.9, dampening=0.5)
    x, g = np.array([1.0, 2.0]), np.array([0.5, -0.25])
    _, state = rule.step(x, g, rule.init(x))
    assert np.array_equal(state["momentum_buffer"], g)
    assert not np.shares_memory(state["momentum_buffer"], g)


def test_hand_computed_first_adam_step():
    """At t = 1, m̂ = g and v̂ = g², so the step is lr·g/(|g| + eps): lr·sign(g) up to eps."""
    rule = rules.Adam(lr=0.1, eps=1e-8)
    x, g = np.array([1.0, -2.0]), np.array([4.0, -0.5])
    x1, state = rule.step(x, g, rule.init(x))
    np.testing.assert_allclose(x1, x - 0.1 * g / (np.abs(g) + 1e-8), rtol=0, atol=1e-15)
    assert state["step"] == 1


def test_eps_root_puts_epsilon_inside_the_root():
    rule = rules.RMSprop(lr=0.1, alpha=0.9, eps=0, eps_root=1e-7)
    x, g = np.array([3.0, 4.0]), np.array([1.2, 16.0])
    x1, _ = rule.step(x, g, rule.init(x))
    expected = x - 0.1 * g / np.sqrt(0.1 * g**2 + 1e-7)
    np.testing.assert_allclose(x1, expected, rtol=1e-15, atol=0)


# ---------------------------------------------------------------------------------------------
# Properties.

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
points = arrays(np.float64, st.tuples(st.integers(1, 6), st.just(2)), elements=finite)


def assert_same_state(state, expected):
    assert state.keys() == expected.keys()
    for key, value in state.items():
        if isinstance(value, dict):
            assert_same_state(value, expected[key])
        elif isinstance(value, np.ndarray):
            assert np.array_equal(value, expected[key], equal_nan=True), key
        else:
            assert value == expected[key], key


@settings(max_examples=40, deadline=None)
@given(x=points, seed=st.integers(0, 2**16), name=st.sampled_from(sorted(RULES)))
def test_rules_never_mutate_their_inputs(x, seed, name):
    rule = RULES[name]
    g = np.random.default_rng(seed).normal(size=x.shape)
    state = rule.init(x)
    for _ in range(2):  # a second step sees a state with buffers in it
        x_copy, g_copy, state_copy = x.copy(), g.copy(), copy.deepcopy(state)
        with np.errstate(all="ignore"):
            x_new, new_state = rule.step(x, g, state, grad_fn=grad)
        assert np.array_equal(x, x_copy, equal_nan=True)
        assert np.array_equal(g, g_copy)
        assert_same_state(state, state_copy)
        x, state = x_new, new_state


@settings(max_examples=40, deadline=None)
@given(x=points, split=st.integers(0, 6), name=st.sampled_from(sorted(RULES)))
def test_results_do_not_depend_on_how_a_batch_is_split(x, split, name):
    rule = RULES[name]
    split = min(split, len(x))
    with np.errstate(all="ignore"):  # large starts may overflow; NaN must then match too
        whole = run(rule, x, 5)
        parts = [run(rule, part, 5) for part in (x[:split], x[split:]) if len(part)]
    assert np.array_equal(np.concatenate(parts), whole, equal_nan=True)
