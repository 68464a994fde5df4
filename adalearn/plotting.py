"""Static pictures of test functions and optimizer trajectories.

Every helper takes the Axes to draw on and returns the artists it drew, so a figure is built
by composition and restyled afterwards; nothing here touches pyplot's implicit state::

    from matplotlib.figure import Figure
    from adalearn import functions, plotting, rules, trajectory

    fn = functions.get("cubic")
    traj = trajectory.run(rules.Adam(lr=0.1), fn, fn.start, steps=150)
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    plotting.contour(ax, fn)
    plotting.path(ax, traj)

or, for a labelled comparison in one call, ``plotting.compare(fn, {"Adam": traj, ...})``.

Each optimizer keeps one colour across the book: :func:`colors` maps the names the book uses
("SGD", "Momentum", "AdaGrad", "RMSprop", "Adam", ...) to a fixed colour-blind-safe palette
(Okabe and Ito, extended with Paul Tol's muted colours for names it does not know).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, Colormap, LinearSegmentedColormap
from matplotlib.figure import Figure, SubFigure
from matplotlib.typing import ColorType

if TYPE_CHECKING:
    from mpl_toolkits.mplot3d import Axes3D

    from adalearn.functions import Bounds, Function
    from adalearn.training import History
    from adalearn.trajectory import Trajectory

__all__ = [
    "BACKGROUND_CMAP",
    "OKABE_ITO",
    "PATH_OUTLINE",
    "RUN_STYLE",
    "NotebookFigure",
    "against_bound",
    "colors",
    "compare",
    "contour",
    "figure",
    "losses",
    "lr_sweep",
    "path",
    "run_marks",
    "run_status",
    "runs",
    "surface",
    "window_exit",
]

#: Okabe and Ito's eight colours, distinguishable under the common colour-vision deficiencies.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}

# Paul Tol's muted scheme, for optimizers beyond the eight above and for unknown names.
_TOL_MUTED = ("#882255", "#44AA99", "#332288", "#117733", "#999933", "#88CCEE", "#DDCC77")

# The first word of a label, lower-cased, decides its colour.
_BOOK_COLORS = {
    "gd": OKABE_ITO["black"],
    "sgd": OKABE_ITO["black"],
    "euler": OKABE_ITO["black"],
    "momentum": OKABE_ITO["orange"],
    "polyak": OKABE_ITO["orange"],
    "nesterov": OKABE_ITO["reddish purple"],
    "nag": OKABE_ITO["reddish purple"],
    "adagrad": OKABE_ITO["sky blue"],
    "rmsprop": OKABE_ITO["bluish green"],
    "adadelta": OKABE_ITO["yellow"],
    "adam": OKABE_ITO["vermillion"],
    "adamax": OKABE_ITO["blue"],
    "adamw": _TOL_MUTED[0],
    "heun": _TOL_MUTED[1],
}

# Names the book does not know take these in order, the muted ones first so that a figure
# without, say, Momentum does not lend Momentum's orange to a stranger before it must.
_SPARE_COLORS = (*_TOL_MUTED[2:], *_TOL_MUTED[:2], *OKABE_ITO.values())

#: The light grey ramp under every landscape, dark enough for level lines, light enough that
#: each palette colour (with its dark outline) stands out on it.
BACKGROUND_CMAP = LinearSegmentedColormap.from_list(
    "adalearn_background", ["#fbfbfb", "#e4e8ec", "#c9cfd6", "#aab2ba"]
)

#: How every picture draws a run, the one description shared by the still figures
#: (:func:`path`), the players and explorers of :mod:`adalearn.animation` (which turn it into
#: CSS) and the playground: line and outline widths and marker sizes in points. A run is its
#: line over a dark outline, a hollow circle at its start, a filled circle at its end, and,
#: when it diverged, a cross where it left the window instead of the end circle. Painters that
#: draw the cross with two strokes (the HTML figures, GIFs) give it matplotlib's "X": arms
#: reaching ``arm · size`` from its centre along each diagonal, ``stroke · size`` wide.
RUN_STYLE: dict[str, Any] = {
    "linewidth": 1.8,
    "outline": {"linewidth": 3.2, "color": "#1a1a1a", "alpha": 0.55},
    "start": {"marker": "o", "size": 6.0, "face": "#ffffff", "edgewidth": 1.4},
    "end": {"marker": "o", "size": 6.0, "edge": "#ffffff", "edgewidth": 0.9},
    "diverged": {"marker": "X", "size": 10.0, "edge": "#ffffff", "edgewidth": 0.9,
                 "arm": 0.35, "stroke": 0.19},
}

#: The dark outline under every path, so light colours (yellow) read on light backgrounds.
PATH_OUTLINE = [
    patheffects.withStroke(
        linewidth=RUN_STYLE["outline"]["linewidth"],
        foreground=RUN_STYLE["outline"]["color"],
        alpha=RUN_STYLE["outline"]["alpha"],
    )
]


class NotebookFigure(Figure):
    """A matplotlib Figure that shows itself in Jupyter even when pyplot was never imported.

    Jupyter draws plain Figures only once pyplot has installed its display hook; this one also
    answers IPython's ``_repr_png_``, so ``compare(...)`` as a cell's last line shows the
    picture in any kernel (the pyplot hook, when present, takes precedence: one image either
    way).
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def figure(
    *, view: str = "2d", figsize: tuple[float, float] | None = None, **kwargs: Any
) -> tuple[NotebookFigure, Axes]:
    """A new figure with one Axes (3-D for ``view="3d"``), for the helpers to draw on.

    Parameters
    ----------
    view : {"2d", "3d"}
    figsize : (float, float), optional
        Inches; a size suited to the view by default.
    **kwargs
        Passed to :class:`matplotlib.figure.Figure` (``dpi``, ``layout``, ...).

    Returns
    -------
    fig : NotebookFigure
    ax : Axes or Axes3D
    """
    if view not in ("2d", "3d"):
        raise ValueError(f"`view` must be '2d' or '3d'. Received: view={view!r}")
    if figsize is None:
        figsize = (6.4, 5.0) if view == "2d" else (7.0, 5.6)
    if view == "2d":
        # Constrained layout squeezes 3-D axes to nothing; they keep matplotlib's margins.
        kwargs.setdefault("layout", "constrained")
    fig = NotebookFigure(figsize=figsize, **kwargs)
    ax = fig.add_subplot(projection="3d" if view == "3d" else None)
    return fig, ax


def colors(names: Iterable[str]) -> dict[str, str]:
    """Map optimizer names to their fixed book colours, distinct within one figure.

    A name is known by its first word, case-insensitively ("Adam", "adam (lr=0.1)" and
    "Adam, β₂=0.99" are all Adam's vermillion). Unknown names, and known names whose colour an
    earlier name in ``names`` already took, receive the next free spare colour in a fixed order,
    so the result depends only on ``names``.

    Parameters
    ----------
    names : iterable of str

    Returns
    -------
    dict
        ``{name: "#rrggbb"}`` in the order of ``names``.

    Examples
    --------
    >>> colors(["Momentum", "Adam"])
    {'Momentum': '#E69F00', 'Adam': '#D55E00'}
    """
    names = list(names)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"`names` must be strings. Received: name={name!r}")
    result, used, pending = {}, set(), []
    for name in names:
        if name in result:
            continue
        word = re.split(r"[^a-z0-9]", name.strip().lower(), maxsplit=1)[0]
        color = _BOOK_COLORS.get(word)
        if color is None or color in used:
            pending.append(name)
        else:
            result[name] = color
            used.add(color)
    spare = [c for c in _SPARE_COLORS if c not in used] or list(_SPARE_COLORS)
    for i, name in enumerate(pending):
        result[name] = spare[i % len(spare)]
    return {name: result[name] for name in names}


def runs(traj: Trajectory) -> list[dict[str, Any]]:
    """Split a (possibly batched) trajectory into its single runs, dropping the NaN tails.

    Parameters
    ----------
    traj : adalearn.trajectory.Trajectory

    Returns
    -------
    list of dict
        One per run, in C order of ``traj.batch_shape``, with ``xs`` (k+1, 2) and ``values``
        (k+1,) up to and including the last valid iterate k, ``stopped`` (k, an int) and
        ``diverged`` (a bool).
    """
    for attr in ("xs", "values", "stopped", "diverged"):
        if not hasattr(traj, attr):
            raise TypeError(
                f"`traj` must be a Trajectory (it has no {attr!r}). Received: traj={traj!r}"
            )
    xs = np.asarray(traj.xs, dtype=float)
    if xs.ndim < 2 or xs.shape[-1] != 2:
        raise ValueError(
            f"`traj.xs` must have shape (steps+1, *batch, 2). Received: traj.xs.shape={xs.shape}"
        )
    n_rows = xs.shape[0]
    xs = xs.reshape(n_rows, -1, 2)
    values = np.asarray(traj.values, dtype=float).reshape(n_rows, -1)
    stopped = np.asarray(traj.stopped).reshape(-1)
    diverged = np.asarray(traj.diverged).reshape(-1)
    return [
        {
            "xs": xs[: int(k) + 1, i],
            "values": values[: int(k) + 1, i],
            "stopped": int(k),
            "diverged": bool(d),
        }
        for i, (k, d) in enumerate(zip(stopped, diverged, strict=True))
    ]


def window_exit(xs: npt.ArrayLike, bounds: Bounds) -> np.ndarray:
    """Where a path leaves the picture for good: the point to mark a diverged run at.

    Parameters
    ----------
    xs : array of shape (k+1, 2)
        The valid iterates of one run.
    bounds : ((x1_min, x1_max), (x2_min, x2_max))
        The window the picture shows.

    Returns
    -------
    ndarray of shape (2,)
        The last iterate when it lies in the window; otherwise the point where the segment
        from the last iterate inside the window to the next one crosses the window's edge;
        the last iterate itself when the run was never inside.
    """
    xs = np.asarray(xs, dtype=float)
    lo = np.array([bounds[0][0], bounds[1][0]], dtype=float)
    hi = np.array([bounds[0][1], bounds[1][1]], dtype=float)
    inside = np.all((xs >= lo) & (xs <= hi), axis=-1)
    if inside[-1] or not inside.any():
        return xs[-1].copy()
    i = np.flatnonzero(inside)[-1]
    a, b = xs[i], xs[i + 1]
    d = b - a
    # The largest fraction of the step that keeps every coordinate inside the window.
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hi = np.where(d > 0, (hi - a) / d, np.inf)
        t_lo = np.where(d < 0, (lo - a) / d, np.inf)
    t = float(np.clip(min(t_hi.min(), t_lo.min()), 0.0, 1.0))
    return a + t * d


def run_status(part: Mapping[str, Any]) -> str:
    """What a legend or a readout says about one run: its final value, or where it diverged.

    Parameters
    ----------
    part : dict
        One run as :func:`runs` returns it (``values``, ``stopped``, ``diverged``).

    Returns
    -------
    str
        ``"f = 0.01234"`` (four significant digits) or ``"diverged at step 13"``, the step
        counted from 1 whose iterate left the box.
    """
    if part["diverged"]:
        return f"diverged at step {part['stopped'] + 1}"
    return f"f = {part['values'][-1]:.4g}"


def run_marks(part: Mapping[str, Any], bounds: Bounds | None) -> dict[str, Any]:
    """Where the markers of one run go (see :data:`RUN_STYLE`), and what its legend says.

    Parameters
    ----------
    part : dict
        One run as :func:`runs` returns it.
    bounds : ((x1_min, x1_max), (x2_min, x2_max))
        The window the picture shows.

    Returns
    -------
    dict
        ``"start"`` (the first iterate), ``"end"`` (the last iterate, None for a diverged
        run), ``"cross"`` (where a diverged run left the window, see :func:`window_exit`;
        None otherwise) and ``"status"`` (:func:`run_status`).
    """
    xs = np.asarray(part["xs"], dtype=float)
    diverged = bool(part["diverged"])
    if diverged and bounds is None:
        raise ValueError(
            "`bounds` must be given to mark where a diverged run leaves the window. "
            "Received: bounds=None"
        )
    return {
        "start": xs[0].copy(),
        "end": None if diverged else xs[-1].copy(),
        "cross": window_exit(xs, bounds) if diverged and bounds is not None else None,
        "status": run_status(part),
    }


def _is_3d(ax):
    return getattr(ax, "name", "") == "3d"


def _grid(fn, bounds, resolution):
    (x1_lo, x1_hi), (x2_lo, x2_hi) = bounds
    x1, x2 = np.meshgrid(
        np.linspace(x1_lo, x1_hi, resolution), np.linspace(x2_lo, x2_hi, resolution)
    )
    z = np.asarray(fn(np.stack([x1, x2], axis=-1)), dtype=float)
    return x1, x2, z


def _inside(points, bounds):
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    (x1_lo, x1_hi), (x2_lo, x2_hi) = bounds
    return [
        p
        for p in points
        if x1_lo <= p[0] <= x1_hi and x2_lo <= p[1] <= x2_hi
    ]


def _reference_value(fn, bounds, z):
    """The value the levels crowd around: the lowest minimum (or saddle) inside the window."""
    values = [m.value for m in getattr(fn, "minima", ()) if _inside([m.x], bounds)]
    if not values:
        saddles = _inside(getattr(fn, "saddles", ()), bounds)
        if saddles:
            values = list(np.asarray(fn(np.array(saddles)), dtype=float))
    return float(min(values)) if values else float(np.nanmin(z))


def _levels(fn, bounds, z, n, spacing):
    finite = z[np.isfinite(z)]
    lo, hi = float(finite.min()), float(finite.max())
    if not hi > lo:
        return np.array([lo - 0.5, lo + 0.5])
    if spacing == "linear":
        return np.linspace(lo, hi, n)
    # The true minimum, not the grid's lowest sample, so levels hug it however coarse the grid.
    ref = min(_reference_value(fn, bounds, z), hi)
    up, down = hi - ref, max(ref - lo, 0.0)
    # Geometric spacing away from the reference value shows the valleys near a minimum as
    # clearly as the steep walls; the same number of levels per decade on both sides.
    small = 1e-3 * max(up, down)
    decades_up = np.log10(up / small) if up > small else 0.0
    decades_down = np.log10(down / small) if down > small else 0.0
    n_up = max(2, round(n * decades_up / (decades_up + decades_down))) if decades_up else 0
    n_down = max(2, n - n_up) if decades_down else 0
    above = ref + np.geomspace(small, up, n_up) if n_up else np.empty(0)
    below = ref - np.geomspace(small, down, n_down)[::-1] if n_down else np.empty(0)
    return np.concatenate([below, above])


def _check_resolution(resolution):
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise TypeError(f"`resolution` must be an int. Received: resolution={resolution!r}")
    if resolution < 2:
        raise ValueError(f"`resolution` must be at least 2. Received: resolution={resolution!r}")


def _level_norm(fn, bounds, z, levels, spacing, cmap):
    if spacing not in ("log", "linear"):
        raise ValueError(f"`spacing` must be 'log' or 'linear'. Received: spacing={spacing!r}")
    if isinstance(levels, (int, np.integer)) and not isinstance(levels, bool):
        if levels < 2:
            raise ValueError(f"`levels` must be at least 2. Received: levels={levels!r}")
        levels = _levels(fn, bounds, z, int(levels), spacing)
    else:
        levels = np.asarray(levels, dtype=float)
        if levels.ndim != 1 or levels.size < 2 or np.any(np.diff(levels) <= 0):
            raise ValueError(
                f"`levels` must be an int or an increasing sequence. Received: levels={levels!r}"
            )
    # Colour by level index, so geometric levels spread over the whole colour ramp.
    return levels, BoundaryNorm(levels, cmap.N, extend="both")


def contour(
    ax: Axes,
    fn: Function,
    *,
    levels: int | Sequence[float] = 24,
    spacing: str = "log",
    resolution: int = 200,
    bounds: Bounds | None = None,
    cmap: str | Colormap | None = None,
    lines: bool = True,
    minima: bool = True,
) -> dict[str, Any]:
    """Draw a function's landscape as filled contours over its window, minima starred.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    fn : test function
        Any object with ``__call__`` on arrays of shape (..., 2), ``bounds`` and ``minima``
        (see :mod:`adalearn.functions`).
    levels : int or increasing sequence of float
        How many levels to choose, or the levels themselves.
    spacing : {"log", "linear"}
        ``"log"`` spaces levels geometrically away from the lowest minimum in the window (or
        saddle, for functions without minima), on both sides for functions that fall below it.
    resolution : int
        Grid points per axis.
    bounds : ((x1_min, x1_max), (x2_min, x2_max)), optional
        The window; ``fn.bounds`` by default.
    cmap : matplotlib colormap, optional
        :data:`BACKGROUND_CMAP` by default.
    lines, minima : bool
        Whether to draw thin level lines, and mark the minima inside the window.

    Returns
    -------
    dict
        ``"fill"`` (the filled ContourSet), ``"lines"`` (ContourSet or None) and ``"minima"``
        (Line2D or None).

    Notes
    -----
    The axes get the window as limits and an equal aspect (when the window is no more than
    four times wider than high, or the reverse), because only then do gradients look
    perpendicular to the level lines.
    """
    _check_resolution(resolution)
    bounds = fn.bounds if bounds is None else bounds
    cmap = BACKGROUND_CMAP if cmap is None else cmap
    x1, x2, z = _grid(fn, bounds, resolution)
    levels, norm = _level_norm(fn, bounds, z, levels, spacing, cmap)
    fill = ax.contourf(x1, x2, z, levels=levels, cmap=cmap, norm=norm, extend="both")
    drawn: dict[str, Any] = {"fill": fill, "lines": None, "minima": None}
    if lines:
        drawn["lines"] = ax.contour(
            x1, x2, z, levels=levels, colors="#3c4650", linewidths=0.45, alpha=0.5
        )
    inside = _inside([m.x for m in getattr(fn, "minima", ())], bounds)
    if minima and inside:
        pts = np.array(inside)
        (drawn["minima"],) = ax.plot(
            pts[:, 0], pts[:, 1], linestyle="none", marker="*", markersize=13,
            color="white", markeredgecolor="#1a1a1a", markeredgewidth=0.9, zorder=4,
            label="minimum",
        )
    ax.set_xlim(bounds[0])
    ax.set_ylim(bounds[1])
    ratio = (bounds[0][1] - bounds[0][0]) / (bounds[1][1] - bounds[1][0])
    if 0.25 <= ratio <= 4:
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return drawn


def surface(
    ax3d: Axes3D,
    fn: Function,
    *,
    levels: int | Sequence[float] = 24,
    spacing: str = "log",
    resolution: int = 60,
    bounds: Bounds | None = None,
    cmap: Colormap | None = None,
    elev: float = 32,
    azim: float = -62,
    minima: bool = True,
) -> dict[str, Any]:
    """Draw a function as a 3-D surface over its window, coloured like :func:`contour`.

    Parameters
    ----------
    ax3d : mpl_toolkits.mplot3d.Axes3D
        Made with ``fig.add_subplot(projection="3d")``.
    fn : test function
    levels, spacing, bounds, cmap
        As in :func:`contour`; the surface's colour bands are the contour plot's.
    resolution : int
        Grid points per axis.
    elev, azim : float
        The camera, in degrees.
    minima : bool
        Whether to star the minima inside the window, on the surface.

    Returns
    -------
    dict
        ``"surface"`` (Poly3DCollection) and ``"minima"`` (Line3D or None).

    Notes
    -----
    The axes stop sorting artists by depth (``computed_zorder = False``), so paths drawn after
    the surface lie on it instead of disappearing behind its facets.
    """
    if not _is_3d(ax3d):
        raise TypeError(
            f"`ax3d` must be a 3-D Axes (projection='3d'). Received: ax3d={ax3d!r}"
        )
    _check_resolution(resolution)
    bounds = fn.bounds if bounds is None else bounds
    cmap = BACKGROUND_CMAP if cmap is None else cmap
    x1, x2, z = _grid(fn, bounds, resolution)
    levels, norm = _level_norm(fn, bounds, z, levels, spacing, cmap)
    ax3d.computed_zorder = False
    surf = ax3d.plot_surface(
        x1, x2, z, facecolors=cmap(norm(z)), rstride=1, cstride=1, linewidth=0.15,
        edgecolor=(0.24, 0.27, 0.31, 0.12), antialiased=True, shade=False,
    )
    drawn = {"surface": surf, "minima": None}
    inside = _inside([m.x for m in getattr(fn, "minima", ())], bounds)
    if minima and inside:
        pts = np.array(inside)
        (drawn["minima"],) = ax3d.plot(
            pts[:, 0], pts[:, 1], np.asarray(fn(pts), dtype=float), linestyle="none",
            marker="*", markersize=13, color="white", markeredgecolor="#1a1a1a",
            markeredgewidth=0.9, label="minimum",
        )
    finite = z[np.isfinite(z)]
    ax3d.set_xlim(bounds[0])
    ax3d.set_ylim(bounds[1])
    ax3d.set_zlim(float(finite.min()), float(finite.max()))
    ax3d.view_init(elev=elev, azim=azim)
    ax3d.set_xlabel("$x_1$")
    ax3d.set_ylabel("$x_2$")
    ax3d.set_zlabel("$f(x)$")
    return drawn


def _default_label(traj):
    rule = getattr(traj, "rule", None)
    return getattr(rule, "name", None) or type(rule).__name__


def path(
    ax: Axes,
    traj: Trajectory,
    *,
    label: str | None = None,
    color: ColorType | None = None,
    linewidth: float | None = None,
    markers: bool = True,
    fn: Function | None = None,
) -> dict[str, Any]:
    """Draw a trajectory: its iterates joined, start and end marked, a divergence crossed.

    Parameters
    ----------
    ax : matplotlib.axes.Axes or Axes3D
        On 3-D axes the path lies on the surface: its height is ``traj.values``, f at each
        iterate, and points outside the window are not drawn (like the surface).
    traj : adalearn.trajectory.Trajectory
        One run or a batch; each run of a batch is drawn alike.
    label : str, optional
        For the legend; ``traj.rule.name`` by default. A single diverged run's label says at
        which step it diverged.
    color : color, optional
        The book colour of ``label`` by default (see :func:`colors`).
    linewidth : float, optional
        In points; :data:`RUN_STYLE`'s by default.
    markers : bool
        Whether to mark the starts (hollow circles), the ends of the runs that did not diverge
        (filled circles) and where the diverged runs left the window (crosses).
    fn : test function, optional
        Whose window (``bounds``) and values place the crosses; ``traj.fn`` by default.

    Returns
    -------
    dict
        ``"lines"`` (a list with one Line2D per run: exactly the valid iterates, in order),
        ``"start"``, ``"end"`` and ``"diverged"`` (Line2D of markers, or None when there is
        nothing to mark).
    """
    three_d = _is_3d(ax)
    fn = getattr(traj, "fn", None) if fn is None else fn
    label = _default_label(traj) if label is None else str(label)
    color = colors([label])[label] if color is None else color
    parts = runs(traj)
    if len(parts) == 1 and parts[0]["diverged"]:
        label = f"{label} ({run_status(parts[0])})"
    drawn: dict[str, Any] = {"lines": [], "start": None, "end": None, "diverged": None}
    linewidth = RUN_STYLE["linewidth"] if linewidth is None else linewidth
    style: dict[str, Any] = {
        "color": color, "linewidth": linewidth, "path_effects": PATH_OUTLINE, "zorder": 5
    }
    for i, run in enumerate(parts):
        xs = run["xs"]
        coords = (xs[:, 0], xs[:, 1], run["values"]) if three_d else (xs[:, 0], xs[:, 1])
        extra: dict[str, Any] = {"axlim_clip": True} if three_d else {}
        (line,) = ax.plot(*coords, label=label if i == 0 else None, **style, **extra)
        drawn["lines"].append(line)
    if not markers:
        return drawn
    if fn is None and (three_d or any(r["diverged"] for r in parts)):
        raise ValueError(
            "`fn` must be given (or be traj.fn) to mark where diverged runs leave the window "
            "and, on a 3-D Axes, to place the markers on the surface. Received: fn=None"
        )

    def mark(points, key, **kw):
        if not points:
            return
        pts = np.array(points, dtype=float)
        coords = [pts[:, 0], pts[:, 1]]
        if three_d and fn is not None:
            coords.append(np.asarray(fn(pts), dtype=float))
        (drawn[key],) = ax.plot(*coords, linestyle="none", color=color, zorder=6, **kw)

    marks = [run_marks(r, fn.bounds if fn is not None else None) for r in parts]
    start, end, cross = RUN_STYLE["start"], RUN_STYLE["end"], RUN_STYLE["diverged"]
    mark([m["start"] for m in marks], "start", marker=start["marker"],
         markersize=start["size"], markerfacecolor=start["face"],
         markeredgewidth=start["edgewidth"])
    mark([m["end"] for m in marks if m["end"] is not None], "end", marker=end["marker"],
         markersize=end["size"], markeredgecolor=end["edge"], markeredgewidth=end["edgewidth"])
    mark([m["cross"] for m in marks if m["cross"] is not None], "diverged",
         marker=cross["marker"], markersize=cross["size"], markeredgecolor=cross["edge"],
         markeredgewidth=cross["edgewidth"], clip_on=False)
    return drawn


def _history_curves(history):
    if isinstance(history, dict):
        try:
            return history["iteration"], history["epoch"]
        except KeyError as err:
            raise ValueError(
                "`history` must have the keys 'iteration' and 'epoch'. "
                f"Received: keys={sorted(history)!r}"
            ) from err
    try:
        return history.iteration, history.epoch
    except AttributeError as err:
        raise TypeError(
            "`history` must have .iteration and .epoch (or be a dict with those keys). "
            f"Received: history={history!r}"
        ) from err


def losses(
    ax: Axes,
    history: History | Mapping[str, Any] | Any,
    *,
    log: bool = False,
    color: ColorType = "#0072B2",
    label: str | None = None,
) -> dict[str, Any]:
    """Draw a training run's loss per iteration and per epoch on one iteration axis.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    history : adalearn.training.History, or any object or dict with ``iteration`` and ``epoch``
        The loss of every iteration (mini-batch), and the mean loss of every epoch.
    log : bool
        Logarithmic loss axis.
    color : color
        The per-epoch curve in this colour, the per-iteration one lighter behind it.
    label : str, optional
        Prefix of the legend entries (e.g. the optimizer's name).

    Returns
    -------
    dict
        ``"iteration"`` and ``"epoch"``: the two Line2D. Iteration i (counted from 1) is at
        x = i; epoch e at the iteration that ends it, x = e · n_iterations / n_epochs.
    """
    iteration, epoch = _history_curves(history)
    iteration = np.asarray(iteration, dtype=float).reshape(-1)
    epoch = np.asarray(epoch, dtype=float).reshape(-1)
    if iteration.size == 0 and epoch.size == 0:
        raise ValueError(
            "`history` must hold losses to draw (both its curves are empty). "
            f"Received: history={history!r}"
        )
    n_iter = iteration.size
    prefix = f"{label}, " if label else ""
    (it_line,) = ax.plot(
        np.arange(1, n_iter + 1), iteration, color=color, alpha=0.35, linewidth=0.9,
        label=f"{prefix}per iteration",
    )
    per_epoch = n_iter / epoch.size if epoch.size and n_iter else 1.0
    (ep_line,) = ax.plot(
        np.arange(1, epoch.size + 1) * per_epoch, epoch, color=color, linewidth=1.8,
        marker="o", markersize=3.5, label=f"{prefix}per epoch (mean)",
    )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    return {"iteration": it_line, "epoch": ep_line}


def _check_trajectories(trajectories):
    if not isinstance(trajectories, dict) or not trajectories:
        raise TypeError(
            "`trajectories` must be a non-empty dict {name: Trajectory}. "
            f"Received: trajectories={trajectories!r}"
        )
    return {str(name): traj for name, traj in trajectories.items()}


def compare(
    fn: Function,
    trajectories: Mapping[str, Trajectory],
    *,
    view: str = "2d",
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    legend: bool = True,
) -> Figure | SubFigure:
    """Draw several optimizers' trajectories on one landscape, labelled, in book colours.

    Parameters
    ----------
    fn : test function
    trajectories : dict
        ``{name: Trajectory}``; the names label the legend and choose the colours.
    view : {"2d", "3d"}
        Contours seen from above, or the surface from a fixed camera.
    ax : Axes, optional
        Draw into it (3-D axes for ``view="3d"``); a new Figure otherwise.
    title : str, optional
    figsize : (float, float), optional
    legend : bool

    Returns
    -------
    NotebookFigure
        The figure (``ax.figure`` when ``ax`` is given). For the artists themselves, build
        the figure from :func:`contour` (or :func:`surface`) and :func:`path`, as this does.
    """
    trajectories = _check_trajectories(trajectories)
    if view not in ("2d", "3d"):
        raise ValueError(f"`view` must be '2d' or '3d'. Received: view={view!r}")
    if ax is None:
        _, ax = figure(view=view, figsize=figsize)
    elif _is_3d(ax) != (view == "3d"):
        raise ValueError(f"`ax` must be {'a 3-D' if view == '3d' else 'a 2-D'} Axes for "
                         f"view={view!r}. Received: ax={ax!r}")
    if view == "3d":
        surface(ax, fn)
    else:
        contour(ax, fn)
    palette = colors(trajectories)
    for name, traj in trajectories.items():
        path(ax, traj, label=name, color=palette[name], fn=fn)
    if legend:
        ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
    if title is not None:
        ax.set_title(title)
    return ax.figure


def against_bound(
    ax: Axes,
    x: npt.ArrayLike,
    measured: npt.ArrayLike,
    bound: npt.ArrayLike,
    *,
    label: str,
    bound_label: str | None = None,
    color: ColorType | None = None,
    points: bool = False,
    log: bool = True,
) -> dict[str, Any]:
    """Draw a measured curve and the bound or prediction it is checked against, in one colour.

    The measurement is a solid line (dots with ``points=True``), the bound a dashed line of the
    same colour, so that several pairs share one Axes and each bound stays next to its data.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    x : array_like, shape (n,)
    measured, bound : array_like, shape (n,)
        Values that are not finite, and on a logarithmic axis values that are not positive,
        are left out of the drawn lines (as gaps).
    label : str
        Legend entry of the measurement.
    bound_label : str, optional
        Legend entry of the bound; ``f"{label}: bound"`` by default.
    color : color, optional
        The next colour of the Axes' cycle by default.
    points : bool
        Draw the measurement as dots rather than a line.
    log : bool
        Logarithmic y axis.

    Returns
    -------
    dict
        ``"measured"`` and ``"bound"``: the two Line2D.
    """
    x = np.asarray(x, dtype=float).reshape(-1)
    curves = {}
    for key, values in (("measured", measured), ("bound", bound)):
        values = np.asarray(values, dtype=float).reshape(-1)
        if values.shape != x.shape:
            raise ValueError(
                f"`{key}` must have the shape of `x`. Received: {key}.shape={values.shape}, "
                f"x.shape={x.shape}"
            )
        keep = np.isfinite(values) & (values > 0 if log else True)
        curves[key] = np.where(keep, values, np.nan)
    style: dict[str, Any] = (
        {"linestyle": "none", "marker": "o", "markersize": 3.5} if points else {}
    )
    (measured_line,) = ax.plot(x, curves["measured"], color=color, label=label, **style)
    color = measured_line.get_color()
    (bound_line,) = ax.plot(x, curves["bound"], color=color, linestyle="--", linewidth=1.2,
                            label=f"{label}: bound" if bound_label is None else bound_label)
    if log:
        ax.set_yscale("log")
    return {"measured": measured_line, "bound": bound_line}



def spread(
    ax: Axes,
    runs: npt.ArrayLike,
    *,
    x: npt.ArrayLike | None = None,
    label: str,
    color: ColorType | None = None,
    smooth: int = 1,
    log: bool = False,
) -> dict[str, Any]:
    """Draw the mean of several runs as a line and their spread (± one std) as a band around it.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    runs : array_like, shape (seeds, n)
        One curve per run (for example the training loss of each seed, step by step).
    x : array_like, shape (n,), optional
        The abscissa; ``1 … n`` (steps counted from 1) by default.
    label : str
        Legend entry of the mean.
    color : color, optional
        The next colour of the Axes' cycle by default.
    smooth : int, default 1
        Average each curve over a trailing window of this many points first (a noisy
        mini-batch loss reads better as a moving average); the first points average fewer.
    log : bool
        Logarithmic y axis.

    Returns
    -------
    dict
        ``"mean"``: the Line2D; ``"band"``: the PolyCollection between mean − std and mean + std
        (the standard deviation over runs, with one degree of freedom; no band for one run).
    """
    runs = np.asarray(runs, dtype=float)
    if runs.ndim != 2 or runs.shape[1] == 0:
        raise ValueError(
            f"`runs` must have shape (seeds, n) with n >= 1. Received: runs.shape={runs.shape}"
        )
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"`smooth` must be a positive integer. Received: smooth={smooth!r}")
    if smooth > 1:
        sums = np.cumsum(runs, axis=1)
        shifted = np.concatenate([np.zeros((len(runs), smooth)), sums[:, :-smooth]], axis=1)
        counts = np.minimum(np.arange(1, runs.shape[1] + 1), smooth)
        runs = (sums - shifted[:, : runs.shape[1]]) / counts
    x = np.arange(1, runs.shape[1] + 1) if x is None else np.asarray(x, dtype=float)
    if x.shape != (runs.shape[1],):
        raise ValueError(
            f"`x` must have one value per point. Received: x.shape={x.shape}, "
            f"runs.shape={runs.shape}"
        )
    mean = runs.mean(axis=0)
    std = runs.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros_like(mean)
    (line,) = ax.plot(x, mean, color=color, label=label)
    band = ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2,
                           linewidth=0)
    if log:
        ax.set_yscale("log")
    return {"mean": line, "band": band}


def lr_sweep(
    ax: Axes,
    lrs: npt.ArrayLike,
    results: npt.ArrayLike,
    *,
    label: str,
    color: ColorType | None = None,
    marked: int | None = None,
    best: int | None = None,
    center: str = "median",
    log: bool = True,
) -> dict[str, Any]:
    """Draw an optimizer's result against the learning rate over several seeds.

    The centre of the seeds (their median, or mean) is a line with a dot per learning rate,
    the range from the worst to the best seed a band around it. A hollow ring can mark one
    learning rate (a default, a published setting) and a star another (the tuned one).
    Learning rates at which some seed has no finite result (a diverged run) are left out.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    lrs : array_like, shape (n,)
        The learning rates, drawn on a logarithmic axis.
    results : array_like, shape (n, seeds)
        One result (a final loss, an accuracy) per learning rate and seed.
    label : str
        Legend entry of the centre line.
    color : color, optional
        The book colour of ``label`` by default (see :func:`colors`).
    marked, best : int, optional
        Indices into ``lrs`` of the learning rates to ring and to star.
    center : {"median", "mean"}
    log : bool
        Logarithmic y axis.

    Returns
    -------
    dict
        ``"center"`` (Line2D), ``"band"`` (PolyCollection), ``"marked"`` and ``"best"``
        (Line2D of one marker, or None when not asked for).
    """
    lrs = np.asarray(lrs, dtype=float).reshape(-1)
    results = np.asarray(results, dtype=float)
    if results.ndim != 2 or results.shape[0] != lrs.size or results.shape[1] == 0:
        raise ValueError(
            "`results` must have shape (len(lrs), seeds). "
            f"Received: results.shape={results.shape}, lrs.shape={lrs.shape}"
        )
    if center not in ("median", "mean"):
        raise ValueError(f"`center` must be 'median' or 'mean'. Received: center={center!r}")
    color = colors([label])[label] if color is None else color
    average = np.median if center == "median" else np.mean
    finite = np.all(np.isfinite(results), axis=1)
    middle = np.full(lrs.size, np.nan)
    middle[finite] = average(results[finite], axis=1)
    (line,) = ax.plot(lrs[finite], middle[finite], color=color, marker=".", label=label)
    band = ax.fill_between(lrs[finite], results[finite].min(axis=1), results[finite].max(axis=1),
                           color=color, alpha=0.15, linewidth=0)
    drawn: dict[str, Any] = {"center": line, "band": band, "marked": None, "best": None}
    marks: tuple[tuple[str, int | None, dict[str, Any]], ...] = (
        ("marked", marked, {"marker": "o", "markerfacecolor": "white", "markersize": 8}),
        ("best", best, {"marker": "*", "markeredgecolor": "black", "markersize": 12}),
    )
    for key, index, style in marks:
        if index is not None:
            (drawn[key],) = ax.plot([lrs[index]], [middle[index]], linestyle="none",
                                    color=color, zorder=6, **style)
    ax.set_xscale("log")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    return drawn
