"""Run an update rule on a 2-D test function, for many starts and hyperparameters at once.

:func:`run` iterates ``x_{k+1} = rule.step(x_k, grad f(x_k))`` and records every iterate::

    >>> import numpy as np
    >>> from adalearn import functions, rules, trajectory
    >>> f = functions.get("sphere")
    >>> traj = trajectory.run(rules.SGD(lr=0.1), f, f.start, steps=50)
    >>> traj.xs.shape, traj.values.shape
    ((51, 2), (51,))

Everything is vectorized over a batch of runs. A batch comes from the start points (``starts``
of shape ``(N, 2)`` is N runs), from hyperparameter arrays (``SGD(lr=np.array([[0.1], [0.5]]))``
is two runs from one start), or from both broadcast together; the batch shape is
``rule.broadcast_shape(starts.shape)[:-1]``.

A run *diverges* when an iterate is not finite or leaves the ``box``. It stops there: its later
rows are NaN, ``diverged`` marks it and ``stopped`` holds the index of its last valid iterate.
No overflow or invalid-value warning is emitted, and the other runs of the batch are not
affected: a run that never diverges gives bit-for-bit the same iterates alone as in a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from adalearn import functions
from adalearn._array import is_tensor

__all__ = ["Trajectory", "run"]

if TYPE_CHECKING:
    from adalearn.functions import Function
    from adalearn.rules import Rule

_RULE_METHODS = ("init", "step", "broadcast_shape", "evaluations")


@dataclass(frozen=True, eq=False, repr=False)
class Trajectory:
    """The iterates of one run or a batch of runs of an update rule on a test function.

    Attributes
    ----------
    xs : ndarray, shape (steps + 1, *batch_shape, 2)
        The iterates, ``xs[0]`` being the start; NaN after a run stopped.
    values : ndarray, shape (steps + 1, *batch_shape)
        The function's value at ``xs``; NaN after a run stopped.
    stopped : ndarray of int, shape batch_shape
        Index of each run's last valid iterate; ``steps`` when it never diverged.
    diverged : ndarray of bool, shape batch_shape
        Whether each run left the box or produced a non-finite iterate.
    rule : Rule
        The update rule that was run.
    fn : Function
        The test function it ran on.
    steps : int
        The number of steps requested.
    batch_shape : tuple
        The shape of the batch of runs; ``()`` for a single run.
    grad_evals : int
        Gradient evaluations per run: ``steps * rule.evaluations``.

    Notes
    -----
    Indexing a trajectory indexes its batch: ``traj[3]`` is the fourth run and ``traj[:10]``
    the first ten, as trajectories of their own. The arrays are read-only.
    """

    xs: np.ndarray
    values: np.ndarray
    stopped: np.ndarray
    diverged: np.ndarray
    rule: Rule
    fn: Function
    steps: int
    grad_evals: int
    batch_shape: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        for key in ("xs", "values", "stopped", "diverged"):
            # A read-only view: the caller's array stays writable, this one cannot change.
            array = np.asarray(getattr(self, key)).view()
            array.flags.writeable = False
            object.__setattr__(self, key, array)
        object.__setattr__(self, "batch_shape", self.stopped.shape)

    @property
    def final(self) -> np.ndarray:
        """The last valid iterate of each run, shape ``(*batch_shape, 2)``."""
        index = self.stopped[None, ..., None]
        return np.take_along_axis(self.xs, index, axis=0)[0]

    def __getitem__(self, key: Any) -> Trajectory:
        if not self.batch_shape:
            raise IndexError(
                "`key` must index a batch of runs; this trajectory is a single run. "
                f"Received: key={key!r}"
            )
        runs = np.arange(self.stopped.size).reshape(self.batch_shape)[key]
        flat_xs = self.xs.reshape(self.steps + 1, -1, 2)
        flat_values = self.values.reshape(self.steps + 1, -1)
        return Trajectory(
            xs=flat_xs[:, runs],
            values=flat_values[:, runs],
            stopped=self.stopped.reshape(-1)[runs],
            diverged=self.diverged.reshape(-1)[runs],
            rule=self.rule,
            fn=self.fn,
            steps=self.steps,
            grad_evals=self.grad_evals,
        )

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError(
                "`len()` must be taken of a batch of runs; a single run has none (its "
                f"iterates are traj.xs). Received: batch_shape={self.batch_shape!r}"
            )
        return self.batch_shape[0]

    def __repr__(self) -> str:
        return (
            f"Trajectory(rule={self.rule!r}, fn={self.fn!r}, steps={self.steps}, "
            f"batch_shape={self.batch_shape}, diverged={int(self.diverged.sum())})"
        )


def _default_box(bounds):
    """``bounds`` enlarged 100 times around its centre."""
    bounds = np.asarray(bounds, dtype=float)
    centre = bounds.mean(axis=1, keepdims=True)
    return centre + 100.0 * (bounds - centre)


def _check_box(box):
    try:
        array = np.asarray(box, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"`box` must be ((x1_min, x1_max), (x2_min, x2_max)). Received: box={box!r}"
        ) from None
    if array.shape != (2, 2):
        raise ValueError(
            f"`box` must have shape (2, 2): ((x1_min, x1_max), (x2_min, x2_max)). "
            f"Received: box={box!r}, of shape {array.shape}"
        )
    if np.isnan(array).any() or not (array[:, 0] < array[:, 1]).all():
        raise ValueError(f"`box` must hold (min, max) pairs with min < max. Received: box={box!r}")
    return array


def _inside(x, box):
    """Whether each point of ``x`` (shape (..., 2)) is finite and inside ``box``."""
    inside = (x >= box[:, 0]) & (x <= box[:, 1])
    # NaN fails both comparisons and a finite limit stops an infinity; an infinite one does not.
    if np.isinf(box).any():
        inside &= np.isfinite(x)
    return inside.all(axis=-1)


def _freeze(new, old, alive):
    """``new`` where a run is alive, ``old`` where it stopped, through a state's nesting.

    Entries that are not per-run arrays (a step count, a buffer not yet created) take ``new``.
    """
    if isinstance(new, dict):
        return {key: _freeze(value, old[key], alive) for key, value in new.items()}
    if isinstance(new, (tuple, list)):
        return type(new)(_freeze(n, o, alive) for n, o in zip(new, old, strict=True))
    frozen_shape = (*alive.shape, 2)
    if (
        isinstance(new, np.ndarray)
        and isinstance(old, np.ndarray)
        and new.shape == old.shape == frozen_shape
    ):
        return np.where(alive[..., None], new, old)
    return new


def _check_rule(rule):
    """``rule`` itself, once it is an update rule with hyperparameters the numpy path can use."""
    if isinstance(rule, type):
        raise TypeError(
            f"`rule` must be a rule built from its class, such as {rule.__name__}() or "
            f"{rule.__name__}(lr=...), not the class itself. Received: rule={rule!r}"
        )
    missing = [name for name in _RULE_METHODS if not hasattr(rule, name)]
    if missing:
        raise TypeError(
            "`rule` must be an update rule such as rules.Adam(lr=0.1), with "
            f"{', '.join(_RULE_METHODS)}; it lacks {', '.join(missing)}. Received: rule={rule!r}"
        )
    for name, value in _hyperparameters(rule):
        if is_tensor(value):
            raise TypeError(
                f"`{name}` must be a number or a numpy array: trajectory.run computes with "
                f"numpy (convert it with {name}.numpy(), or build it with numpy, e.g. "
                f"np.logspace). Received: {name}={value!r}"
            )


def _hyperparameters(rule, prefix=""):
    """``(name, value)`` of every hyperparameter of ``rule``, through pairs and inner rules."""
    if not hasattr(rule, "hyperparameters"):
        return
    for name, value in rule.hyperparameters().items():
        if hasattr(value, "hyperparameters"):
            yield from _hyperparameters(value, f"{prefix}{name}.")
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                yield f"{prefix}{name}[{index}]", item
        else:
            yield f"{prefix}{name}", value


def _check_fn(fn):
    """The test function ``fn`` names or is."""
    if isinstance(fn, str):
        return functions.get(fn)
    if not all(hasattr(fn, name) for name in ("grad", "bounds")) or not callable(fn):
        raise TypeError(
            "`fn` must be a test function, such as functions.get('rosenbrock'), or the name of "
            f"one ({', '.join(functions.names())}). Received: fn={fn!r}"
        )
    return fn


def _batch_shape(rule, shape):
    """``rule.broadcast_shape(shape)``, with an error that names the hyperparameter at fault."""
    try:
        return tuple(rule.broadcast_shape(shape))
    except ValueError:
        pass
    for name, value in _hyperparameters(rule):
        value_shape = np.shape(value)
        try:
            np.broadcast_shapes(shape, value_shape)
        except ValueError:
            raise ValueError(
                f"`{name}` of shape {value_shape} does not broadcast against the start points, "
                f"of shape {shape}, whose last axis holds the two coordinates. For one run per "
                f"value, give it a trailing axis: {name}[:, None], of shape "
                f"{(*value_shape, 1)}. Received: {name}.shape={value_shape}"
            ) from None
    shapes = {name: np.shape(value) for name, value in _hyperparameters(rule) if np.ndim(value)}
    raise ValueError(
        "The array hyperparameters of `rule` must broadcast against each other and against the "
        f"start points (shape {shape}). Received: {shapes}"
    )


def _check_state(rule, state):
    if not isinstance(state, dict):
        raise TypeError(
            f"`{type(rule).__name__}.init` must return the state as a dict ({{}} for a rule "
            f"without state). Received: {type(state).__name__} {state!r}"
        )


def _check_step(rule, result, shape):
    """Check that a step returned ``(x, state)`` with ``x`` of ``shape``."""
    if isinstance(result, tuple) and len(result) == 2:
        x, state = result
        if np.shape(x) == shape and isinstance(state, dict):
            return
        received = f"({_describe(x)}, {_describe(state)})"
    else:
        received = _describe(result)
    raise TypeError(
        f"`{type(rule).__name__}.step` must return the pair (x, state): the new point, of shape "
        f"{shape} like x, and the new state, a dict. Received: {received}"
    )


def _describe(value):
    if isinstance(value, np.ndarray) or is_tensor(value):
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} items"
    return type(value).__name__


def run(
    rule: Rule,
    fn: Function | str,
    starts: npt.ArrayLike,
    steps: int,
    *,
    box: npt.ArrayLike | None = None,
) -> Trajectory:
    """Run ``rule`` on ``fn`` for ``steps`` steps from ``starts``, batched, and record the paths.

    Parameters
    ----------
    rule : update rule
        An object with ``init(x)``, ``step(x, g, state, grad_fn=...)``,
        ``broadcast_shape(shape)`` and ``evaluations``, such as :class:`adalearn.rules.Adam`.
        Hyperparameters given as arrays broadcast against the iterates, one run per entry.
    fn : test function or str
        An object with ``grad(x)``, ``__call__(x)`` and ``bounds``, such as those of
        :mod:`adalearn.functions`, or the name of one (``"rosenbrock"``: see
        :func:`adalearn.functions.get`). ``fn.grad`` is passed to ``rule.step`` as ``grad_fn``.
    starts : array_like, shape (2,) or (*batch, 2)
        The finite start point, or one per run, inside ``box``.
    steps : int
        The number of steps, at least 0.
    box : array_like, shape (2, 2), optional
        ``((x1_min, x1_max), (x2_min, x2_max))``: a run that leaves it is stopped as diverged.
        Infinite limits are allowed (then only non-finite iterates stop a run). Default:
        ``fn.bounds`` enlarged 100 times around its centre.

    Returns
    -------
    Trajectory
        With ``xs`` of shape ``(steps + 1, *batch_shape, 2)`` where
        ``batch_shape = rule.broadcast_shape(starts.shape)[:-1]``.
    """
    _check_rule(rule)
    fn = _check_fn(fn)
    if isinstance(steps, bool) or not isinstance(steps, Integral):
        raise TypeError(f"`steps` must be an int. Received: steps={steps!r}")
    if steps < 0:
        raise ValueError(f"`steps` must be >= 0. Received: steps={steps!r}")
    steps = int(steps)
    starts = np.asarray(starts, dtype=float)
    if starts.ndim == 0 or starts.shape[-1] != 2:
        raise ValueError(
            f"`starts` must have shape (2,) or (..., 2). Received: starts.shape={starts.shape}"
        )
    if not np.isfinite(starts).all():
        raise ValueError(f"`starts` must be finite. Received: starts={starts.tolist()!r}")
    box = _default_box(fn.bounds) if box is None else _check_box(box)
    if not _inside(starts, box).all():
        raise ValueError(
            f"`starts` must lie inside box={box.tolist()!r}. Received: starts={starts.tolist()!r}"
        )

    shape = _batch_shape(rule, starts.shape)
    x = np.broadcast_to(starts, shape).copy()
    batch_shape = shape[:-1]
    xs = np.full((steps + 1, *shape), np.nan)
    xs[0] = x
    alive = np.ones(batch_shape, dtype=bool)
    stopped = np.full(batch_shape, steps)

    state = rule.init(x)
    _check_state(rule, state)
    # Overflow and NaN are expected in diverging runs; each is detected and stopped below.
    with np.errstate(all="ignore"):
        for k in range(1, steps + 1):
            result = rule.step(x, fn.grad(x), state, grad_fn=fn.grad)
            if k == 1:
                _check_step(rule, result, shape)
            x_new, state_new = result
            ok = _inside(x_new, box)
            if not ok.all():
                newly = alive & ~ok
                stopped[newly] = k - 1
                alive &= ok
            if alive.all():
                x, state = x_new, state_new
                xs[k] = x
                continue
            # A stopped run keeps stepping from its last valid iterate and state: the batch
            # stays one vectorized computation, and no overflow in it can grow or spread.
            x = np.where(alive[..., None], x_new, x)
            state = _freeze(state_new, state, alive)
            xs[k] = np.where(alive[..., None], x, np.nan)
        values = fn(xs)

    return Trajectory(
        xs=xs,
        values=values,
        stopped=stopped,
        diverged=stopped < steps,
        rule=rule,
        fn=fn,
        steps=steps,
        grad_evals=steps * rule.evaluations,
    )
