"""The basin map: which minimum each of many starts reaches, as the learning rate changes."""

from __future__ import annotations

import base64
import html
import io
import time
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from adalearn import knobs, trajectory
from adalearn.animation._figure import (
    PRECOMPUTED_NOTE,
    HtmlFigure,
    as_function,
    check_count,
    check_positive,
    json_script,
    landscape,
    listing,
    point,
    readout,
    who,
)
from adalearn.animation._stage import Stage, swatch

if TYPE_CHECKING:
    from adalearn.functions import Function
    from adalearn.rules import Rule

__all__ = ["Basins", "basins"]

#: The colours of the minima on a basin map, in the order of ``fn.minima``; divergence is dark,
#: a run still moving at the end is light.
_BASIN_COLORS = ("#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442",
                 "#882255")
_DIVERGED_COLOR, _MOVING_COLOR = "#3b3b3b", "#ffffff"

# A run has reached a minimum when its last _SETTLE_STEPS steps are all short.
_SETTLE_STEPS = 5
# Memory a batched run of a basin map may hold for its iterates, in bytes.
_BASIN_CHUNK_BYTES = 48e6

_STAR = ("M0 -7.5L1.76 -2.43L7.13 -2.32L2.85 0.93L4.41 6.07L0 3L-4.41 6.07L-2.85 0.93"
         "L-7.13 -2.32L-1.76 -2.43Z")


def basins(fn: Function | str, rule: Rule, **options: Any) -> Basins:
    """A :class:`Basins` map: the minimum each start reaches, with a learning-rate slider.

    Parameters
    ----------
    fn : test function or str
    rule : rule
    **options
        Passed to :class:`Basins` (``lr``, ``resolution``, ``steps``, ``tol``, ``figsize``,
        ``dpi``, ``title``, ``description``).

    Returns
    -------
    Basins
        Displays as the map (last line of a cell).
    """
    return Basins(fn, rule, **options)


class Basins(HtmlFigure):
    """Which minimum each of many starts reaches, or whether it diverges, as the lr changes.

    The starts are the centres of a ``resolution × resolution`` grid over the function's
    window. For every learning rate of the grid the rule runs from all of them in batched
    :func:`adalearn.trajectory.run` calls (a few learning rates at a time, so the iterates fit
    in memory), and each start is classified by where its run ends: at minimum i of
    ``fn.minima`` (within ``tol`` of it, its last five steps shorter than ``tol / 20``), diverged,
    or still moving (anything else: far from every minimum, or circling one in steps too
    long to have settled, as gradient descent does once the learning rate exceeds
    :math:`2/L` there). The page stores one byte per
    start and learning rate, deflated; a slider shows the map of each learning rate over the
    contours, with the share of starts in each class.

    Parameters
    ----------
    fn : test function or str
        With ``minima`` inside its window; a name is looked up with
        :func:`adalearn.functions.get`.
    rule : rule
        With a learning rate; a SoftBatch's wrapped rule's is used.
    lr : array_like, optional
        The learning-rate grid; by default 13 values from half a decade below the rule's own
        to half a decade above (:func:`adalearn.knobs.lr_grid`).
    resolution : int
        Starts per side: ``resolution ** 2`` runs per learning rate (10⁴ by default).
    steps : int
    tol : float, optional
        How close to a minimum a run must end to count as reaching it; 2 % of the window's
        diagonal by default.
    figsize, dpi, density, title, image_format
        As in :class:`Player`.
    description : str, optional
        What the map shows, in words, for readers who do not see it (its accessible name); by
        default the rule and its hyperparameters, the function, its minima, the grid of
        starts and the learning rates.

    Attributes
    ----------
    description : str
    lrs : ndarray
    lr_index : int
        The grid value the slider starts at (the rule's own learning rate).
    classes : uint8 array (len(lrs), resolution, resolution)
        Per learning rate, the class of every start, in picture order (row 0 is the top of the
        window, the largest x₂): i for the i-th minimum inside the window, then
        ``len(minima)`` for diverged, ``len(minima) + 1`` for still moving.
    starts : ndarray (resolution, resolution, 2)
        The start points, in the same order.
    minima : list of (float, float)
        The minima inside the window, in class order.
    seconds : float
        The time the runs took.
    """

    kind = "basins"

    def __init__(
        self,
        fn: Function | str,
        rule: Rule,
        *,
        lr: npt.ArrayLike | None = None,
        resolution: int = 100,
        steps: int = 120,
        tol: float | None = None,
        figsize: tuple[float, float] | None = None,
        dpi: float = 100,
        density: float = 2,
        title: str | None = None,
        image_format: str = "auto",
        description: str | None = None,
    ) -> None:
        self.fn = fn = as_function(fn)
        (self.rule,) = knobs.named_rules([rule], name="rule").values()
        own = knobs.slider_values("rule", self.rule, name="rule").get("lr")
        if own is None:
            raise ValueError(f"`rule` must have a learning rate. Received: rule={rule!r}")
        self.resolution = check_count("resolution", resolution, 2, 400)
        self.steps = check_count("steps", steps, 1, 5000)
        (x1_lo, x1_hi), (x2_lo, x2_hi) = fn.bounds
        diagonal = float(np.hypot(x1_hi - x1_lo, x2_hi - x2_lo))
        self.tol = 0.02 * diagonal if tol is None else float(tol)
        check_positive("tol", self.tol)
        self.minima = [tuple(map(float, m.x)) for m in getattr(fn, "minima", ())
                       if x1_lo <= m.x[0] <= x1_hi and x2_lo <= m.x[1] <= x2_hi]
        if not self.minima:
            raise ValueError(f"`fn` must have a minimum inside its window. Received: fn={fn!r}")
        if lr is None:
            self.lrs = knobs.lr_grid(own, below=0.5, above=0.5, per_decade=12)
        else:
            self.lrs = np.unique(np.asarray(lr, dtype=float).ravel())
            if not self.lrs.size or not np.all(np.isfinite(self.lrs)) or np.any(self.lrs <= 0):
                raise ValueError(f"`lr` must hold positive learning rates. Received: lr={lr!r}")
        self.lr_index = int(np.argmin(np.abs(np.log(self.lrs) - np.log(own))))

        n = self.resolution
        x1 = x1_lo + (np.arange(n) + 0.5) * (x1_hi - x1_lo) / n
        x2 = x2_hi - (np.arange(n) + 0.5) * (x2_hi - x2_lo) / n
        self.starts = np.stack(np.meshgrid(x1, x2), axis=-1)
        start_time = time.perf_counter()
        self.classes = self._classify()
        self.seconds = time.perf_counter() - start_time
        self._stage = Stage(fn, "2d", figsize=figsize, dpi=dpi, density=density, title=title,
                            image_format=image_format, minima=False)
        self._set_description(description)

    def _describe(self):
        n = self.resolution
        name = getattr(self.rule, "name", type(self.rule).__name__)
        return (
            f"Basins of attraction of {who(name, self.rule)} on the "
            f"{getattr(self.fn, 'name', 'test')} function: each of {n * n} starts on a {n} × {n} "
            f"grid is coloured by the minimum its run reaches within {self.steps} steps "
            f"({listing(point(m) for m in self.minima)}, starred), dark where it diverges and "
            f"white where it is still moving. A slider sets the learning rate to one of "
            f"{len(self.lrs)} values from {self.lrs[0]:.4g} to {self.lrs[-1]:.4g}."
        )

    def _classify(self):
        n, m = self.resolution, len(self.minima)
        starts = self.starts.reshape(-1, 2)
        minima = np.asarray(self.minima)
        per_lr = (self.steps + 1) * len(starts) * 2 * 8 * 1.5
        chunk = max(1, int(_BASIN_CHUNK_BYTES // per_lr))
        classes = np.empty((len(self.lrs), n * n), dtype=np.uint8)
        for first in range(0, len(self.lrs), chunk):
            lrs = self.lrs[first:first + chunk]
            tuned = knobs.tune(self.rule, lr=lrs.reshape(-1, 1, 1))
            runs = trajectory.run(tuned, self.fn, starts, self.steps)
            final = runs.final
            distance = np.linalg.norm(final[..., None, :] - minima, axis=-1)
            nearest = np.argmin(distance, axis=-1)
            close = np.take_along_axis(distance, nearest[..., None], axis=-1)[..., 0] <= self.tol
            # A run that still takes long steps near a minimum (a cycle around it, or a chaotic
            # path passing by) has not reached it: its last five steps must all be short.
            # Diverged runs have NaN here; they are classed apart below.
            tail = runs.xs[-min(_SETTLE_STEPS, self.steps) - 1:]
            longest = np.linalg.norm(np.diff(tail, axis=0), axis=-1).max(axis=0)
            with np.errstate(invalid="ignore"):
                settled = longest <= self.tol / 20
            chosen = np.where(close & settled, nearest, m + 1)
            classes[first:first + len(lrs)] = np.where(runs.diverged, m, chosen)
        return classes.reshape(len(self.lrs), n, n)

    def shares(self, index: int) -> np.ndarray:
        """The share of starts in each class at learning rate ``lrs[index]``."""
        counts = np.bincount(self.classes[index].ravel(), minlength=len(self.minima) + 2)
        return counts / counts.sum()

    def _legend(self):
        """Per class: its legend label, its colour and what its starts do, in words."""
        labels = [f"({x:.3g}, {y:.3g})" for x, y in self.minima]
        colors = [_BASIN_COLORS[i % len(_BASIN_COLORS)] for i in range(len(self.minima))]
        words = [f"reach {label}" for label in labels]
        labels += ["diverged", f"still moving after {self.steps} steps"]
        colors += [_DIVERGED_COLOR, _MOVING_COLOR]
        words += labels[-2:]
        return labels, colors, words

    def _fields(self, uid):
        from PIL import Image

        stage = self._stage
        cx, cy, cw, ch = stage.clip
        labels, colors, words = self._legend()
        i = self.lr_index
        shares = self.shares(i)
        # What the map of the first learning rate shows; the script says the same of the others.
        map_alt = f"learning rate {self.lrs[i]:.4g}: " + ", ".join(
            f"{100 * s:.1f} % {word}" for s, word in zip(shares, words, strict=True))
        legend = "".join(
            f'<span class="adl-item">{swatch(c)}{html.escape(label)} '
            f'<span class="adl-share">{100 * s:.1f} %</span></span>'
            for label, c, s in zip(labels, colors, shares, strict=True)
        )
        stars = []
        for (x, y), color in zip(self.minima, colors, strict=False):
            px, py = stage.pixels(np.array([[x, y]]))[0]
            stars.append(f'<path class="adl-star" transform="translate({px:.2f} {py:.2f})" '
                         f'd="{_STAR}" fill="{color}"/>')
        data = {
            "n": self.resolution,
            "lr": readout(self.lrs),
            "colors": colors,
            "classes": words,
            "blob": base64.b64encode(zlib.compress(self.classes.tobytes(), 9)).decode("ascii"),
        }
        # The map of the first learning rate, for the page before (or without) its script.
        rgb = np.array([[int(c[k:k + 2], 16) for k in (1, 3, 5)] for c in colors], np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(rgb[self.classes[i]]).save(buffer, format="PNG", optimize=True)
        first = base64.b64encode(buffer.getvalue()).decode("ascii")
        return {
            **stage.template_fields(), "n": str(self.resolution),
            "alt": html.escape(landscape(self.fn)), "map_alt": html.escape(map_alt),
            "map": f"data:image/png;base64,{first}",
            "map_left": f"{100 * cx / stage.width:.3f}",
            "map_top": f"{100 * cy / stage.height:.3f}",
            "map_width": f"{100 * cw / stage.width:.3f}",
            "map_height": f"{100 * ch / stage.height:.3f}",
            "stars": "".join(stars), "last": str(len(self.lrs) - 1), "index": str(i),
            "lr": f"{self.lrs[i]:.4g}", "place": f"{i + 1} of {len(self.lrs)}",
            "rule": html.escape(getattr(self.rule, "name", type(self.rule).__name__)),
            "legend": legend, "note": html.escape(PRECOMPUTED_NOTE), "data": json_script(data),
        }
