"""Tests for adalearn.functions: analytic gradients against torch autograd, landmarks, checks."""

import math
import pickle

import numpy as np
import pytest
import torch

from adalearn import functions
from adalearn.functions import Minimum

# Defaults plus non-default parameters, so parameters really enter value and gradient.
CASES = [functions.get(name) for name in functions.names()] + [
    functions.Sphere(weights=(1.5, 0.25)),
    functions.Quadratic(condition=250.0),
    functions.Quadratic(condition=30.0, angle=0.6),
    functions.Rosenbrock(a=-1.5, b=7.0),
    functions.Rastrigin(A=2.5),
]
IDS = [repr(f) for f in CASES]


def sample_points(fn, n=1000, seed=0):
    """Points spread over the function's window enlarged 1.5 times: inside and around it."""
    rng = np.random.default_rng(seed)
    (lo1, hi1), (lo2, hi2) = fn.bounds
    centre = np.array([(lo1 + hi1) / 2, (lo2 + hi2) / 2])
    half = 1.5 * np.array([(hi1 - lo1) / 2, (hi2 - lo2) / 2])
    return centre + half * rng.uniform(-1.0, 1.0, size=(n, 2))


def autograd(fn, x):
    """The gradient of ``fn`` at the rows of ``x`` by torch autograd in float64."""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(fn(t).sum(), t)
    return g.numpy()


def hessian(fn, point):
    """The 2x2 Hessian of ``fn`` at ``point`` by torch autograd in float64."""
    t = torch.tensor(point, dtype=torch.float64)
    return torch.autograd.functional.hessian(fn, t).numpy()


# ------------------------------------------------------------------------------ gradients


@pytest.mark.parametrize("fn", CASES, ids=IDS)
def test_grad_equals_torch_autograd(fn):
    x = sample_points(fn)
    np.testing.assert_allclose(fn.grad(x), autograd(fn, x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fn", CASES, ids=IDS)
def test_numpy_and_torch_agree(fn):
    x = sample_points(fn, seed=1)
    t = torch.tensor(x, dtype=torch.float64)
    value, grad = fn(t), fn.grad(t)
    assert isinstance(value, torch.Tensor) and isinstance(grad, torch.Tensor)
    np.testing.assert_allclose(value.numpy(), fn(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(grad.numpy(), fn.grad(x), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("fn", CASES, ids=IDS)
def test_batched_over_leading_dimensions(fn):
    x = sample_points(fn, n=24, seed=2)
    grid = x.reshape(2, 3, 4, 2)
    assert fn(grid).shape == (2, 3, 4)
    assert fn.grad(grid).shape == (2, 3, 4, 2)
    for i, point in enumerate(x):
        assert fn(grid).reshape(-1)[i] == fn(point)
        np.testing.assert_array_equal(fn.grad(grid).reshape(-1, 2)[i], fn.grad(point))


# ------------------------------------------------------------------------------ values by hand


@pytest.mark.parametrize(
    ("fn", "point", "value"),
    [
        (functions.Sphere(), (3.0, 4.0), 0.2 * 9 + 2 * 16),
        (functions.Sphere(weights=(1, 3)), (2.0, -1.0), 4 + 3),
        (functions.Cubic(), (2.0, 3.0), 4 + 9 + 27 + 6),
        (functions.Cubic(), (0.25, -0.5), 1 / 16),
        (functions.Saddle(), (2.0, 1.0), -2 + 1),
        (functions.Quadratic(), (-4.0, 2.0), (16 + 10 * 4) / 2),
        (functions.Quadratic(condition=100), (1.0, 1.0), 50.5),
        (functions.Rosenbrock(), (-1.2, 1.0), 2.2**2 + 100 * 0.44**2),
        (functions.Rosenbrock(a=2, b=5), (0.0, 1.0), 4 + 5),
        (functions.Beale(), (1.0, 1.5), 2**2 + 3.5**2 + 5**2),
        (functions.Beale(), (0.0, 1.0), 1.5**2 + 2.25**2 + 2.625**2),
        (functions.Himmelblau(), (0.0, 0.0), 121 + 49),
        (functions.Rastrigin(), (0.5, 0.0), 0.25 + 10 + 0 - 10 + 20),
        (functions.Rastrigin(A=3), (1.0, -1.0), 1 - 3 + 1 - 3 + 6),
    ],
    ids=repr,
)
def test_values_computed_by_hand(fn, point, value):
    assert fn(point) == pytest.approx(value, rel=1e-14, abs=1e-14)


def test_sphere_gradient_by_hand():
    np.testing.assert_allclose(functions.Sphere().grad([3.0, 4.0]), [1.2, 16.0], rtol=1e-15)


# ------------------------------------------------------------------------------ landmarks


@pytest.mark.parametrize("fn", CASES, ids=IDS)
def test_minima_are_minima_with_their_stated_values(fn):
    for minimum in fn.minima:
        assert isinstance(minimum, Minimum) and len(minimum.x) == 2
        assert np.abs(fn.grad(minimum.x)).max() <= 1e-8
        assert fn(minimum.x) == pytest.approx(minimum.value, abs=1e-12)
        assert np.all(np.linalg.eigvalsh(hessian(fn, minimum.x)) > 0)


@pytest.mark.parametrize("fn", CASES, ids=IDS)
def test_saddles_are_saddles(fn):
    for saddle in fn.saddles:
        assert len(saddle) == 2
        assert np.abs(fn.grad(saddle)).max() <= 1e-8
        low, high = np.linalg.eigvalsh(hessian(fn, saddle))
        assert low < 0 < high


def test_himmelblau_points_are_correct_to_full_precision():
    # A Newton step from a correctly rounded root moves it by at most an ulp or so; a point
    # given to 6 digits would move by about 1e-6.
    fn = functions.Himmelblau()
    assert len(fn.minima) == 4
    assert len(fn.saddles) == 4
    for point in [m.x for m in fn.minima] + list(fn.saddles):
        point = np.array(point)
        newton = np.linalg.solve(hessian(fn, point), fn.grad(point))
        assert np.all(np.abs(newton) <= 4 * np.spacing(np.abs(point)))
        assert np.abs(fn.grad(point)).max() <= 1e-12
    for minimum in fn.minima:
        assert fn(minimum.x) <= 1e-24


@pytest.mark.parametrize(
    ("fn", "minima", "saddles"),
    [
        (functions.Sphere(), [(0, 0)], []),
        (functions.Cubic(), [(0, 0)], [(0.25, -0.5)]),
        (functions.Saddle(), [], [(0, 0)]),
        (functions.Quadratic(condition=3), [(0, 0)], []),
        (functions.Rosenbrock(a=-1.5, b=7), [(-1.5, 2.25)], []),
        (functions.Beale(), [(3, 0.5)], [(0, 1)]),
        (functions.Rastrigin(), [(0, 0)], []),
    ],
    ids=repr,
)
def test_landmarks_are_the_known_ones(fn, minima, saddles):
    assert [m.x for m in fn.minima] == minima
    assert [m.value for m in fn.minima] == [0.0] * len(minima)
    assert list(fn.saddles) == saddles


@pytest.mark.parametrize("fn", CASES, ids=IDS)
def test_window_holds_start_and_landmarks(fn):
    (lo1, hi1), (lo2, hi2) = fn.bounds
    assert lo1 < hi1 and lo2 < hi2
    for x1, x2 in [fn.start, *(m.x for m in fn.minima), *fn.saddles]:
        assert lo1 <= x1 <= hi1 and lo2 <= x2 <= hi2


def test_starts_of_the_course_lab():
    assert functions.get("sphere").start == (3.0, 4.0)
    assert functions.get("cubic").start == (2.0, 3.0)
    assert functions.get("saddle").start == (1e-5, 0.5)
    assert functions.get("rosenbrock").start == (-1.2, 1.0)


@pytest.mark.parametrize("fn", CASES, ids=IDS)
def test_docstring_gives_the_formula(fn):
    doc = type(fn).__doc__
    assert doc and ".. math::" in doc


# ------------------------------------------------------------------------------ inputs


@pytest.mark.parametrize("shape", [(3,), (2, 3), (), (4, 1)])
def test_points_must_end_in_two(shape):
    fn = functions.Sphere()
    message = f"`x` must have shape (..., 2). Received: x.shape={shape}"
    for x in (np.zeros(shape), torch.zeros(shape, dtype=torch.float64)):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            fn(x)
        with pytest.raises(ValueError, match=r"`x` must have shape \(\.\.\., 2\)"):
            fn.grad(x)


def test_sequences_and_integers_are_read_as_floats():
    fn = functions.Rosenbrock()
    assert fn([[1, 2], [0, 0]]).dtype == np.float64
    np.testing.assert_array_equal(fn([[1, 2], [0, 0]]), [100.0, 1.0])
    np.testing.assert_array_equal(fn.grad(np.array([0, 0])), [-2.0, 0.0])


def test_torch_float32_stays_float32():
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float32)
    assert functions.Beale()(x).dtype == torch.float32
    assert functions.Beale().grad(x).dtype == torch.float32


# ------------------------------------------------------------------------------ registry


def test_names_and_get():
    assert functions.names() == (
        "sphere",
        "cubic",
        "saddle",
        "quadratic",
        "rosenbrock",
        "beale",
        "himmelblau",
        "rastrigin",
    )
    for name in functions.names():
        fn = functions.get(name)
        assert fn.name == name
    assert functions.get("Rosenbrock", b=10) == functions.Rosenbrock(a=1, b=10)
    assert functions.get("quadratic", condition=100).condition == 100.0


def test_get_rejects_unknown_names_and_parameters():
    with pytest.raises(ValueError, match="sphere, cubic, saddle.*Received: name='booth'"):
        functions.get("booth")
    with pytest.raises(TypeError, match="`name` must be a string. Received: name="):
        functions.get(3)
    with pytest.raises(TypeError):
        functions.get("beale", a=1)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: functions.Quadratic(condition=0.5), ValueError, "condition=0.5"),
        (lambda: functions.Quadratic(condition=math.inf), ValueError, "condition=inf"),
        (lambda: functions.Quadratic(condition=math.nan), ValueError, "condition=nan"),
        (lambda: functions.Quadratic(condition="10"), TypeError, "condition='10'"),
        (lambda: functions.Rosenbrock(b=0), ValueError, "b=0.0"),
        (lambda: functions.Rosenbrock(a=math.inf), ValueError, "a=inf"),
        (lambda: functions.Rastrigin(A=-1), ValueError, "A=-1.0"),
        (lambda: functions.Sphere(weights=(1.0,)), ValueError, r"weights=\(1.0,\)"),
        (lambda: functions.Sphere(weights=(1.0, 0.0)), ValueError, r"weights\[1\]=0.0"),
        (lambda: functions.Sphere(weights=(1.0, -2)), ValueError, r"weights\[1\]=-2.0"),
        (lambda: functions.Sphere(weights="ab"), TypeError, "weights='ab'"),
        (lambda: functions.Sphere(weights=(True, 1.0)), TypeError, r"weights\[0\]=True"),
    ],
)
def test_invalid_parameters(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_condition_one_is_allowed():
    assert functions.Quadratic(condition=1)([3.0, 4.0]) == 12.5


def test_repr_equality_and_immutability():
    fn = functions.Rosenbrock(a=2, b=5)
    assert repr(fn) == "Rosenbrock(a=2.0, b=5.0)"
    assert repr(functions.Sphere()) == "Sphere(weights=(0.2, 2.0))"
    assert repr(functions.Beale()) == "Beale()"
    assert eval(repr(fn), vars(functions)) == fn
    assert fn != functions.Rosenbrock() and fn != functions.Beale()
    assert hash(fn) == hash(functions.Rosenbrock(a=2.0, b=5.0))
    assert pickle.loads(pickle.dumps(fn)) == fn
    with pytest.raises(AttributeError, match="immutable"):
        fn.b = 1.0


def test_turned_quadratic_has_the_rotated_hessian():
    # H = R^T diag(1, k) R: its eigenvalues are 1 and k, along the axes turned by the angle.
    f = functions.Quadratic(condition=40.0, angle=0.5)
    columns = [f.grad(np.eye(2)[i]) for i in range(2)]  # f is quadratic: grad(e_i) = H e_i
    hessian = np.column_stack(columns)
    c, s = np.cos(0.5), np.sin(0.5)
    rotation = np.array([[c, s], [-s, c]])
    np.testing.assert_allclose(hessian, rotation.T @ np.diag([1.0, 40.0]) @ rotation, atol=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(hessian), [1.0, 40.0], rtol=1e-13)
    x = np.array([0.7, -1.3])
    assert f(x) == pytest.approx(0.5 * x @ hessian @ x, rel=1e-14)
