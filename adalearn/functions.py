"""Two-dimensional test functions for watching optimizers move.

Each function is a small immutable object that knows its value, its analytic gradient and the
landmarks a picture needs::

    >>> from adalearn import functions
    >>> f = functions.get("rosenbrock")
    >>> f([1.0, 1.0]), f.grad([[0.0, 0.0], [-1.0, 1.0]]).tolist()
    (np.float64(0.0), [[-2.0, 0.0], [-4.0, 0.0]])
    >>> f.minima
    (Minimum(x=(1.0, 1.0), value=0.0),)

``f(x)`` and ``f.grad(x)`` take points of shape ``(..., 2)`` and are batched over every leading
dimension: a grid of shape ``(ny, nx, 2)`` gives values of shape ``(ny, nx)``. They accept numpy
arrays, Python sequences (read as float arrays) and torch tensors; a tensor stays a tensor, so
``torch.autograd`` can differentiate ``f(x)`` (the tests check every ``grad`` against it).

Every function has

- ``name``: its registry name, e.g. ``"rosenbrock"``;
- ``bounds``: ``((x1_min, x1_max), (x2_min, x2_max))``, the window a picture should show;
- ``minima``: a tuple of :class:`Minimum` ``(x, value)``; local minima are included where the
  docstring says so, and the tuple is empty when there is no minimum;
- ``saddles``: a tuple of saddle points ``(x1, x2)`` worth marking (not always all of them);
- ``start``: a start point that shows the function's difficulty.

The registry builds them by name: ``get("quadratic", condition=100)``; ``names()`` lists them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from adalearn._array import namespace

if TYPE_CHECKING:
    import torch

#: Points of the plane: an array_like of shape (..., 2), or a torch tensor of that shape.
Points: TypeAlias = "npt.ArrayLike | torch.Tensor"
#: The window ``((x1_min, x1_max), (x2_min, x2_max))``.
Bounds: TypeAlias = tuple[tuple[float, float], tuple[float, float]]

__all__ = [
    "Function",
    "Minimum",
    "Sphere",
    "Cubic",
    "Saddle",
    "Quadratic",
    "Rosenbrock",
    "Beale",
    "Himmelblau",
    "Rastrigin",
    "get",
    "names",
]


class Minimum(NamedTuple):
    """A minimum of a test function: its location ``x = (x1, x2)`` and the value ``f(x)``."""

    x: tuple[float, float]
    value: float


def _points(x):
    """``x`` as an array of points of shape (..., 2) and its array module."""
    xp = namespace(x)
    if xp is np:
        x = np.asarray(x, dtype=float)
    if x.ndim == 0 or x.shape[-1] != 2:
        raise ValueError(f"`x` must have shape (..., 2). Received: x.shape={tuple(x.shape)}")
    return x, xp


def _number(name, value, *, minimum=None, strict=False):
    """``value`` as a float after checking it is a finite real number (above ``minimum``)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number. Received: {name}={value!r}")
    value = float(value)
    too_small = minimum is not None and (value <= minimum if strict else value < minimum)
    if not math.isfinite(value) or too_small:
        bound = "" if minimum is None else f" and {'>' if strict else '>='} {minimum:g}"
        raise ValueError(f"`{name}` must be finite{bound}. Received: {name}={value!r}")
    return value


class Function:
    """Base class of the 2-D test functions: batching, input checks, repr and equality.

    To add a function, subclass and define

    - ``name`` (class attribute), ``bounds``, ``minima``, ``saddles`` and ``start`` (class
      attributes, or properties when they depend on parameters);
    - ``_value(x1, x2, xp)`` returning f at arrays ``x1``, ``x2`` of equal shape, and
      ``_grad(x1, x2, xp)`` returning the pair ``(df/dx1, df/dx2)``. Write them with operators
      and the functions numpy and torch share (``xp.cos``, ``xp.sin``, ...), where ``xp`` is
      the array module of the input, so the same code runs on arrays and tensors;
    - ``__init__`` storing validated parameters with ``self._set(name=value, ...)``; they
      become read-only attributes and appear in ``repr``.

    Example
    -------
    >>> class Bowl(Function):
    ...     name = "bowl"
    ...     bounds = ((-2.0, 2.0), (-2.0, 2.0))
    ...     minima = (Minimum((0.0, 0.0), 0.0),)
    ...     saddles = ()
    ...     start = (1.5, 1.0)
    ...     def _value(self, x1, x2, xp):
    ...         return x1**2 + x2**2
    ...     def _grad(self, x1, x2, xp):
    ...         return 2 * x1, 2 * x2
    >>> Bowl().grad([1.0, -0.5]).tolist()
    [2.0, -1.0]
    """

    name: ClassVar[str] = "function"
    bounds: Bounds = ((-1.0, 1.0), (-1.0, 1.0))
    minima: tuple[Minimum, ...] = ()
    saddles: tuple[tuple[float, float], ...] = ()
    start: tuple[float, float] = (0.0, 0.0)
    _params: dict[str, Any]

    def __init__(self) -> None:
        self._set()

    def _set(self, **params: Any) -> None:
        object.__setattr__(self, "_params", params)
        for key, value in params.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(
            f"`{key}` must not be set: a {type(self).__name__} is immutable; build a new one, "
            f"e.g. functions.get({self.name!r}, ...). Received: {key}={value!r}"
        )

    def __call__(self, x: Points) -> Any:
        """The function's value at points ``x`` of shape (..., 2); result of shape (...)."""
        points, xp = _points(x)
        return self._value(points[..., 0], points[..., 1], xp)

    def grad(self, x: Points) -> Any:
        """The analytic gradient at points ``x`` of shape (..., 2); result of shape (..., 2)."""
        points, xp = _points(x)
        g1, g2 = self._grad(points[..., 0], points[..., 1], xp)
        return xp.stack([g1, g2], axis=-1)

    def _value(self, x1, x2, xp):
        raise NotImplementedError

    def _grad(self, x1, x2, xp):
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self._params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Function) or type(other) is not type(self):
            return NotImplemented
        return self._params == other._params

    def __hash__(self) -> int:
        return hash((type(self), tuple(self._params.items())))


class Sphere(Function):
    r"""The weighted sphere, a convex bowl stretched along one axis.

    .. math::

        f(x) = w_1 x_1^2 + w_2 x_2^2,\qquad \nabla f(x) = (2 w_1 x_1,\; 2 w_2 x_2).

    With the default ``weights=(0.2, 2)`` the curvature along :math:`x_2` is ten times that
    along :math:`x_1`. The book starts every optimizer from ``(3, 4)`` on it: gradient descent
    must pick one learning rate for both directions, so it either crawls along :math:`x_1` or
    oscillates along :math:`x_2`, which is the problem per-coordinate step sizes (AdaGrad,
    RMSProp, Adam) solve. Gradient descent with learning rate :math:`\eta` multiplies
    :math:`x_i` by :math:`1 - 2\eta w_i` each step, and diverges once :math:`\eta > 1/w_i`.

    Parameters
    ----------
    weights : pair of float, default (0.2, 2.0)
        The positive weights :math:`(w_1, w_2)`.
    """

    name = "sphere"
    bounds = ((-5.0, 5.0), (-5.0, 5.0))
    minima = (Minimum((0.0, 0.0), 0.0),)
    start = (3.0, 4.0)

    weights: tuple[float, float]

    def __init__(self, weights: Sequence[float] | npt.NDArray[np.floating] = (0.2, 2.0)) -> None:
        if isinstance(weights, str) or not isinstance(weights, (Sequence, np.ndarray)):
            raise TypeError(f"`weights` must be a pair of numbers. Received: weights={weights!r}")
        if len(weights) != 2:
            raise ValueError(f"`weights` must be a pair of numbers. Received: weights={weights!r}")
        w1, w2 = (
            _number(f"weights[{i}]", w, minimum=0.0, strict=True) for i, w in enumerate(weights)
        )
        self._set(weights=(w1, w2))

    def _value(self, x1, x2, xp):
        w1, w2 = self.weights
        return w1 * x1**2 + w2 * x2**2

    def _grad(self, x1, x2, xp):
        w1, w2 = self.weights
        return 2 * w1 * x1, 2 * w2 * x2


class Cubic(Function):
    r"""A quadratic bowl bent by a cubic term: one local minimum next to a saddle.

    .. math::

        f(x) = x_1^2 + x_2^2 + x_2^3 + x_1 x_2,\qquad
        \nabla f(x) = (2 x_1 + x_2,\; 2 x_2 + 3 x_2^2 + x_1).

    The origin is a local minimum with value 0 and :math:`(1/4, -1/2)` is a saddle with value
    :math:`1/16`. The function is **unbounded below** (:math:`f \to -\infty` as
    :math:`x_2 \to -\infty`), so the origin is not a global minimum: a method that takes a step
    too large, or is carried past the saddle by momentum, leaves the basin and never comes back,
    and :func:`adalearn.trajectory.run` reports it as diverged. From the book's start
    ``(2, 3)`` it shows which methods settle in the basin and which overshoot.
    """

    name = "cubic"
    bounds = ((-3.0, 3.0), (-3.0, 3.0))
    minima = (Minimum((0.0, 0.0), 0.0),)
    saddles = ((0.25, -0.5),)
    start = (2.0, 3.0)

    def _value(self, x1, x2, xp):
        return x1**2 + x2**2 + x2 * x2 * x2 + x1 * x2

    def _grad(self, x1, x2, xp):
        return 2 * x1 + x2, 2 * x2 + 3 * x2**2 + x1


class Saddle(Function):
    r"""The saddle :math:`f(x) = -x_1^2/2 + x_2^2`: no minimum, one saddle at the origin.

    .. math::

        f(x) = -\tfrac{1}{2} x_1^2 + x_2^2,\qquad \nabla f(x) = (-x_1,\; 2 x_2).

    Started at ``(1e-5, 0.5)``, almost on the ridge :math:`x_1 = 0`, the gradient along the
    escape direction :math:`x_1` is tiny: gradient descent slides to the saddle and lingers
    there, growing :math:`x_1` only by the factor :math:`1 + \eta` per step, while methods
    that rescale small gradients (RMSProp, Adam) escape at once. There is no minimum, so every
    run eventually leaves any box.
    """

    name = "saddle"
    bounds = ((-2.0, 2.0), (-1.0, 1.0))
    saddles = ((0.0, 0.0),)
    start = (1e-5, 0.5)

    def _value(self, x1, x2, xp):
        return -0.5 * x1**2 + x2**2

    def _grad(self, x1, x2, xp):
        return -x1, 2 * x2


class Quadratic(Function):
    r"""An ill-conditioned convex quadratic with a chosen condition number and axes.

    .. math::

        f(x) = \tfrac{1}{2}\left(u^2 + \kappa\, v^2\right),\qquad
        u = x_1\cos\theta + x_2\sin\theta,\quad v = -x_1\sin\theta + x_2\cos\theta,

    so the Hessian is :math:`H = R_\theta^\top \mathrm{diag}(1, \kappa) R_\theta` with
    eigenvalues 1 and :math:`\kappa` (``condition``, its condition number) along the axes
    turned by :math:`\theta` (``angle``, in radians). With the default ``angle=0`` it is
    :math:`\tfrac{1}{2}(x_1^2 + \kappa x_2^2)` with :math:`\nabla f = (x_1, \kappa x_2)`.
    Gradient descent is stable only for :math:`\eta < 2/\kappa`, and then shrinks the error
    along the flat direction by no more than :math:`1 - 2/\kappa` per step, whatever the
    angle: the classic picture of why ill-conditioning makes plain gradient descent slow. A
    nonzero angle takes away what a diagonal (per-coordinate) preconditioner can exploit.
    ``condition=1`` is the round bowl.

    Parameters
    ----------
    condition : float, default 10.0
        The condition number :math:`\kappa \ge 1`.
    angle : float, default 0.0
        The angle :math:`\theta` in radians between the x₁ axis and the Hessian's eigenvector
        of eigenvalue 1.
    """

    name = "quadratic"
    bounds = ((-5.0, 5.0), (-3.0, 3.0))
    minima = (Minimum((0.0, 0.0), 0.0),)
    start = (-4.0, 2.0)

    condition: float
    angle: float

    def __init__(self, condition: float = 10.0, angle: float = 0.0) -> None:
        self._set(
            condition=_number("condition", condition, minimum=1.0),
            angle=_number("angle", angle),
        )

    def _turned(self, x1, x2):
        if self.angle == 0.0:
            return x1, x2
        c, s = math.cos(self.angle), math.sin(self.angle)
        return c * x1 + s * x2, c * x2 - s * x1

    def _value(self, x1, x2, xp):
        u, v = self._turned(x1, x2)
        return 0.5 * (u**2 + self.condition * v**2)

    def _grad(self, x1, x2, xp):
        u, v = self._turned(x1, x2)
        du, dv = u, self.condition * v
        if self.angle == 0.0:
            return du, dv
        c, s = math.cos(self.angle), math.sin(self.angle)
        return c * du - s * dv, s * du + c * dv


class Rosenbrock(Function):
    r"""Rosenbrock's banana function: a curved, narrow valley with a flat floor.

    .. math::

        f(x) = (a - x_1)^2 + b\,(x_2 - x_1^2)^2,\qquad
        \nabla f(x) = \left(-2(a - x_1) - 4 b\, x_1 (x_2 - x_1^2),\; 2 b\,(x_2 - x_1^2)\right).

    The only minimum is :math:`(a, a^2)` with value 0. Reaching the valley is easy; following
    its parabolic floor is not, because the steep walls (curvature about :math:`8 b x_1^2`)
    force small steps while the floor barely slopes. It tests whether an optimizer can keep
    making progress along a curved direction of low curvature. The classic start is
    :math:`(-1.2, 1)`.

    Parameters
    ----------
    a : float, default 1.0
        The minimum's first coordinate.
    b : float, default 100.0
        The positive weight of the valley term; larger means a narrower valley.

    References
    ----------
    H. H. Rosenbrock, "An automatic method for finding the greatest or least value of a
    function", The Computer Journal 3(3), 175-184 (1960).
    """

    name = "rosenbrock"
    a: float
    b: float

    def __init__(self, a: float = 1.0, b: float = 100.0) -> None:
        self._set(a=_number("a", a), b=_number("b", b, minimum=0.0, strict=True))
        # The window, the minimum and the start follow a; they are fixed once a is.
        s = max(1.0, abs(self.a))
        object.__setattr__(self, "bounds", ((-2.0 * s, 2.0 * s), (-s, 3.0 * s * s)))
        object.__setattr__(self, "minima", (Minimum((self.a, self.a**2), 0.0),))
        object.__setattr__(self, "start", (-1.2 * s, s))

    def _value(self, x1, x2, xp):
        return (self.a - x1) ** 2 + self.b * (x2 - x1**2) ** 2

    def _grad(self, x1, x2, xp):
        valley = x2 - x1**2
        return -2 * (self.a - x1) - 4 * self.b * x1 * valley, 2 * self.b * valley


class Beale(Function):
    r"""Beale's function: a flat plateau between sharp ridges, with steep corners.

    .. math::

        f(x) = (1.5 - x_1 + x_1 x_2)^2 + (2.25 - x_1 + x_1 x_2^2)^2
             + (2.625 - x_1 + x_1 x_2^3)^2.

    The global minimum is :math:`(3, 0.5)` with value 0; :math:`(0, 1)` is a saddle with value
    :math:`14.203125`. Gradients span many orders of magnitude: nearly zero on the central
    plateau and huge near the corners of the window. It tests how an optimizer copes with
    gradient scale, the case where Adam's normalised steps and plain gradient descent differ
    most.

    References
    ----------
    E. M. L. Beale, "On an iterative method for finding a local minimum of a function of more
    than one variable", Technical Report 25, Statistical Techniques Research Group, Princeton
    University (1958).
    """

    name = "beale"
    bounds = ((-4.5, 4.5), (-4.5, 4.5))
    minima = (Minimum((3.0, 0.5), 0.0),)
    saddles = ((0.0, 1.0),)
    start = (1.0, 1.5)

    def _value(self, x1, x2, xp):
        x2_2 = x2 * x2
        t1 = 1.5 - x1 + x1 * x2
        t2 = 2.25 - x1 + x1 * x2_2
        t3 = 2.625 - x1 + x1 * x2_2 * x2
        return t1**2 + t2**2 + t3**2

    def _grad(self, x1, x2, xp):
        x2_2 = x2 * x2
        x2_3 = x2_2 * x2
        t1 = 1.5 - x1 + x1 * x2
        t2 = 2.25 - x1 + x1 * x2_2
        t3 = 2.625 - x1 + x1 * x2_3
        g1 = 2 * (t1 * (x2 - 1) + t2 * (x2_2 - 1) + t3 * (x2_3 - 1))
        g2 = 2 * x1 * (t1 + 2 * t2 * x2 + 3 * t3 * x2_2)
        return g1, g2


class Himmelblau(Function):
    r"""Himmelblau's function: four global minima of equal value 0.

    .. math::

        f(x) = (x_1^2 + x_2 - 11)^2 + (x_1 + x_2^2 - 7)^2.

    The minima are :math:`(3, 2)` and three irrational points (given here to full double
    precision, found by Newton's method in high precision arithmetic); the four saddles lie
    between them and a local maximum sits near :math:`(-0.2708, -0.9230)`. Which minimum a run
    reaches depends on the start and on the optimizer's path, so it tests how methods pick a
    basin, not only how fast they descend.

    References
    ----------
    D. M. Himmelblau, *Applied Nonlinear Programming*, McGraw-Hill (1972).
    """

    name = "himmelblau"
    bounds = ((-5.0, 5.0), (-5.0, 5.0))
    minima = (
        Minimum((3.0, 2.0), 0.0),
        Minimum((-2.805118086952745, 3.131312518250573), 0.0),
        Minimum((-3.779310253377747, -3.2831859912861696), 0.0),
        Minimum((3.5844283403304917, -1.8481265269644036), 0.0),
    )
    saddles = (
        (0.08667750455539636, 2.884254701174776),
        (-3.0730257507643897, -0.08135304428796751),
        (3.385154183607021, 0.07385187983774928),
        (-0.12796134673068008, -1.9537149802445763),
    )
    start = (0.0, 0.0)

    def _value(self, x1, x2, xp):
        return (x1**2 + x2 - 11) ** 2 + (x1 + x2**2 - 7) ** 2

    def _grad(self, x1, x2, xp):
        a = x1**2 + x2 - 11
        b = x1 + x2**2 - 7
        return 4 * x1 * a + 2 * b, 2 * a + 4 * x2 * b


class Rastrigin(Function):
    r"""Rastrigin's function: a bowl covered by a regular grid of local minima.

    .. math::

        f(x) = 2A + \sum_{i=1}^{2} \left(x_i^2 - A\cos(2\pi x_i)\right),\qquad
        \frac{\partial f}{\partial x_i} = 2 x_i + 2\pi A \sin(2\pi x_i).

    The global minimum is the origin with value 0 (the only one listed); near every integer
    point there is a local minimum, and saddles in between. It tests whether an optimizer gets
    trapped by the first dip it meets: gradient descent stops at the nearest local minimum,
    while large steps or momentum can carry a run over the bumps.

    Parameters
    ----------
    A : float, default 10.0
        The non-negative amplitude of the cosine bumps; ``A=0`` leaves the bowl.

    References
    ----------
    L. A. Rastrigin, *Systems of Extremal Control*, Nauka, Moscow (1974).
    """

    name = "rastrigin"
    bounds = ((-5.12, 5.12), (-5.12, 5.12))
    minima = (Minimum((0.0, 0.0), 0.0),)
    start = (2.2, 3.3)

    A: float

    def __init__(self, A: float = 10.0) -> None:
        self._set(A=_number("A", A, minimum=0.0))

    def _value(self, x1, x2, xp):
        two_pi = 2 * math.pi
        bumps1 = x1**2 - self.A * xp.cos(two_pi * x1)
        bumps2 = x2**2 - self.A * xp.cos(two_pi * x2)
        return bumps1 + bumps2 + 2 * self.A

    def _grad(self, x1, x2, xp):
        two_pi = 2 * math.pi
        scale = two_pi * self.A
        return 2 * x1 + scale * xp.sin(two_pi * x1), 2 * x2 + scale * xp.sin(two_pi * x2)


_REGISTRY: dict[str, type[Function]] = {
    cls.name: cls
    for cls in (Sphere, Cubic, Saddle, Quadratic, Rosenbrock, Beale, Himmelblau, Rastrigin)
}


def names() -> tuple[str, ...]:
    """The registry names of the test functions, in the order the book introduces them."""
    return tuple(_REGISTRY)


def get(name: str, **params: Any) -> Function:
    """Build the test function registered as ``name`` with the given parameters.

    Parameters
    ----------
    name : str
        One of :func:`names` (case-insensitive), e.g. ``"rosenbrock"``.
    **params
        The function's parameters, e.g. ``get("quadratic", condition=100)``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string. Received: name={name!r}")
    cls = _REGISTRY.get(name.lower())
    if cls is None:
        raise ValueError(f"`name` must be one of {', '.join(names())}. Received: name={name!r}")
    return cls(**params)
