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

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

__all__ = ["Trajectory", "run"]


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
    rule: object
    fn: object
    steps: int
    grad_evals: int
    batch_shape: tuple = field(init=False)

    def __post_init__(self):
        for key in ("xs", "values", "stopped", "diverged"):
            # A read-only view: the caller's array stays writable, this one cannot change.
            array = np.asarray(getattr(self, key)).view()
            array.flags.writeable = False
            object.__setattr__(self, key, array)
        object.__setattr__(self, "batch_shape", self.stopped.shape)

    @property
    def final(self):
        """The last valid iterate of each run, shape ``(*batch_shape, 2)``."""
        index = self.stopped[None, ..., None]
        return np.take_along_axis(self.xs, index, axis=0)[0]

    def __getitem__(self, key):
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

    def __len__(self):
        if not self.batch_shape:
            raise TypeError(
                "`len()` must be taken of a batch of runs; a single run has none (its "
                f"iterates are traj.xs). Received: batch_shape={self.batch_shape!r}"
            )
        return self.batch_shape[0]

    def __repr__(self):
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


def run(rule, fn, starts, steps, *, box=None):
    """Run ``rule`` on ``fn`` for ``steps`` steps from ``starts``, batched, and record the paths.

    Parameters
    ----------
    rule : update rule
        An object with ``init(x)``, ``step(x, g, state, grad_fn=...)``,
        ``broadcast_shape(shape)`` and ``evaluations``, such as :class:`adalearn.rules.Adam`.
        Hyperparameters given as arrays broadcast against the iterates, one run per entry.
    fn : test function
        An object with ``grad(x)``, ``__call__(x)`` and ``bounds``, such as those of
        :mod:`adalearn.functions`. ``fn.grad`` is passed to ``rule.step`` as ``grad_fn``.
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

    shape = tuple(rule.broadcast_shape(starts.shape))
    x = np.broadcast_to(starts, shape).copy()
    batch_shape = shape[:-1]
    xs = np.full((steps + 1, *shape), np.nan)
    xs[0] = x
    alive = np.ones(batch_shape, dtype=bool)
    stopped = np.full(batch_shape, steps)

    state = rule.init(x)
    # Overflow and NaN are expected in diverging runs; each is detected and stopped below.
    with np.errstate(all="ignore"):
        for k in range(1, steps + 1):
            x_new, state_new = rule.step(x, fn.grad(x), state, grad_fn=fn.grad)
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
