"""The player: finished trajectories moving together over a landscape, with play and a slider."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from adalearn import plotting
from adalearn.animation._figure import (
    HtmlFigure,
    as_function,
    check_image_format,
    check_positive,
    check_view,
    json_script,
    landscape,
    point,
    readout,
    who,
)
from adalearn.animation._stage import Stage, marker_sizes, overlay, run_svg, svg_path, swatch

if TYPE_CHECKING:
    from adalearn.functions import Function
    from adalearn.trajectory import Trajectory

__all__ = ["Player", "compare"]

_SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)


def compare(
    fn: Function | str, trajectories: Mapping[str, Trajectory], view: str = "2d", **options: Any
) -> Player:
    """Animate several optimizers moving together on one landscape.

    The arguments come in the order of :func:`adalearn.plotting.compare`, which draws the
    same comparison as a still figure.

    Parameters
    ----------
    fn : test function or str
        The landscape, usually the one the trajectories ran on; a name is looked up with
        :func:`adalearn.functions.get`.
    trajectories : dict
        ``{name: Trajectory}`` (see :func:`adalearn.trajectory.run`); a batched trajectory
        contributes one path per run. Runs may have different lengths and may diverge: each
        path stops where its run stopped.
    view : {"2d", "3d"}
        Contours from above, or the paths moving on the surface seen from a fixed camera.
    **options
        Passed to :class:`Player` (``fps``, ``figsize``, ``dpi``, ``elev``, ``azim``, ``title``,
        ``image_format``, ``description``).

    Returns
    -------
    Player
    """
    return Player(fn, trajectories, view=view, **options)


class Player(HtmlFigure):
    """A self-contained HTML/JS player of optimizer paths over a pre-drawn landscape.

    Parameters
    ----------
    fn : test function or str
        The landscape; a name is looked up with :func:`adalearn.functions.get`.
    trajectories : dict
        ``{name: Trajectory}``; names label the legend and pick the book colours
        (:func:`adalearn.plotting.colors`). A batched trajectory becomes one path per run,
        named ``"name [i]"``.
    view : {"2d", "3d"}
    fps : float
        Steps per second at speed 1×.
    figsize : (float, float), optional
        Inches of the background figure.
    dpi : float
        CSS pixels per inch: the player is ``figsize * dpi`` pixels wide, at most (it shrinks
        to fit narrower pages).
    density : float
        Image pixels per CSS pixel, so the landscape stays sharp on high-density screens.
    elev, azim : float
        The 3-D camera, in degrees.
    title : str, optional
    image_format : {"auto", "png", "jpeg"}
        How the background is stored; "auto" keeps the lighter of a 256-colour PNG and a JPEG.
    description : str, optional
        What the player shows, in words, for readers who do not see it (its accessible name);
        by default the function, the start, the number of steps and each run's optimizer and
        hyperparameters.

    Attributes
    ----------
    description : str
    steps : int
        The longest run's number of steps; the slider goes from 0 to ``steps``.
    width, height : int
        The player's picture size in CSS pixels (the background is cropped to its drawing).
    background : uint8 array (height · density, width · density, 3)
        The landscape image.
    runs : list of dict
        Per path: ``label``, ``color``, ``pixels`` (float array (k+1, 2) of picture coordinates
        in CSS pixels, origin top-left, NaN where a 3-D path leaves the surface's window),
        ``values``, ``stopped``, ``diverged``, ``status`` (:func:`adalearn.plotting.run_status`)
        and ``exit`` (pixel coordinates of the cross of a diverged run, else None).
    clip : (x, y, width, height)
        The axes' box in CSS pixels, to which the paths are clipped.

    Notes
    -----
    Display it as a cell's last line (``_repr_html_``), or write it with :meth:`to_html`,
    :meth:`save_html` or :meth:`save_gif`. Each HTML rendering gets fresh element ids, so any
    number of players can share a page. The player never starts by itself; its controls work
    from the keyboard, and a screen reader hears the runs' values at the step shown whenever
    the slider moves or the animation stops.
    """

    kind = "player"

    def __init__(
        self,
        fn: Function | str,
        trajectories: Mapping[str, Trajectory],
        view: str = "2d",
        *,
        fps: float = 15,
        figsize: tuple[float, float] | None = None,
        dpi: float = 100,
        density: float = 2,
        elev: float = 32,
        azim: float = -62,
        title: str | None = None,
        image_format: str = "auto",
        description: str | None = None,
    ) -> None:
        fn = as_function(fn)
        check_view(view)
        check_positive("fps", fps)
        check_positive("density", density)
        check_image_format(image_format)
        if isinstance(trajectories, dict) and trajectories:
            named = {str(k): v for k, v in trajectories.items()}
        else:
            raise TypeError(
                "`trajectories` must be a non-empty dict {name: Trajectory}. "
                f"Received: trajectories={trajectories!r}"
            )
        self.view = view
        self.fps = float(fps)
        self.fn = fn
        paths = []
        for name, traj in named.items():
            parts = plotting.runs(traj)
            rule, batch = getattr(traj, "rule", None), np.shape(traj.stopped)
            for i, part in enumerate(parts):
                label = name if len(parts) == 1 else f"{name} [{i}]"
                paths.append((label, part, who(label, rule, (i, batch))))
        palette = plotting.colors([label for label, _, _ in paths])

        stage = Stage(fn, view, figsize=figsize, dpi=dpi, density=density, elev=elev,
                      azim=azim, title=title, image_format=image_format)
        self._stage = stage
        self.density = stage.density
        self._offset = stage.offset
        self.background = stage.background
        self.height, self.width, self.clip = stage.height, stage.width, stage.clip

        self.runs: list[dict[str, Any]] = []
        for label, part, words in paths:
            marks = plotting.run_marks(part, fn.bounds)
            run = {
                "label": label,
                "color": palette[label],
                "pixels": stage.pixels(part["xs"], part["values"]),
                "values": part["values"],
                "stopped": part["stopped"],
                "diverged": part["diverged"],
                "status": marks["status"],
                "who": words,
                "exit": None,
            }
            if marks["cross"] is not None:
                exit_point = marks["cross"][None, :]
                run["exit"] = stage.pixels(exit_point, fn(exit_point))[0]
            self.runs.append(run)
        self.steps = max(run["stopped"] for run in self.runs)
        self._image_mime, self._image = stage.mime, stage.image
        self._named = named
        self._set_description(description)

    def _describe(self):
        starts = {point(run["xs"][0]) for traj in self._named.values()
                  for run in plotting.runs(traj)}
        where = f"from {starts.pop()}" if len(starts) == 1 else f"from {len(starts)} starts"
        drawing = ("over the contours of" if self.view == "2d" else "on the surface of")
        runs = "; ".join(
            who(name, getattr(traj, "rule", None)) for name, traj in self._named.items())
        return (f"Animated optimizer paths {drawing} the {getattr(self.fn, 'name', 'test')} "
                f"function, {where}, up to {self.steps} steps: {runs}.")

    # --- HTML --------------------------------------------------------------------------------

    def _data(self):
        def tenths(points):
            """Tenths of a pixel, each point as its difference from the previous finite one
            (short numbers); a point off the surface's window is null."""
            out: list[int | None] = []
            previous = np.zeros(2)
            for xy in points:
                if not np.all(np.isfinite(xy)):
                    out += [None, None]
                    continue
                now = np.round(xy * 10)
                out += [int(v) for v in now - previous]
                previous = now
            return out

        return {
            "steps": self.steps,
            "fps": self.fps,
            "runs": [
                {
                    "label": run["label"],
                    "color": run["color"],
                    "p": tenths(run["pixels"]),
                    "v": readout(run["values"]),
                    "stop": run["stopped"],
                    "div": run["diverged"],
                    "who": run["who"],
                }
                for run in self.runs
            ],
        }

    def _fields(self, uid):
        sizes = marker_sizes(self._stage.dpi)
        lines, starts, heads, crosses, legend = [], [], [], [], []
        for run in self.runs:
            first, last = run["pixels"][0], run["pixels"][-1]
            line, start, head, cross = run_svg(
                run["color"], sizes, d=svg_path(run["pixels"]),
                start=first if np.all(np.isfinite(first)) else None,
                end=last if not run["diverged"] and np.all(np.isfinite(last)) else None,
                cross=run["exit"])
            lines.append(line)
            starts.append(start)
            heads.append(head)
            crosses.append(cross)
            legend.append(
                f'<span class="adl-item">{swatch(run["color"])}{html.escape(run["label"])} '
                f'<span class="adl-value">{html.escape(run["status"])}</span></span>'
            )
        speeds = "".join(
            f'<option value="{s:g}"{" selected" if s == 1 else ""}>{s:g}×</option>'
            for s in _SPEEDS
        )
        return {
            **self._stage.template_fields(), "alt": html.escape(landscape(self.fn, self.view)),
            "svg": overlay(self._stage, uid, lines + starts + heads, crosses),
            "steps": str(self.steps), "speeds": speeds, "legend": "".join(legend),
            "data": json_script(self._data()),
        }

    # --- GIF ---------------------------------------------------------------------------------

    def frame_steps(self, every: int = 1) -> list[int]:
        """The steps a GIF shows: 0, every, 2·every, ... and always the last step."""
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        steps = list(range(0, self.steps + 1, int(every)))
        if steps[-1] != self.steps:
            steps.append(self.steps)
        return steps

    def save_gif(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float | None = None,
        every: int = 1,
        hold: float = 1.5,
    ) -> int:
        """Write the animation as a looping GIF: background, paths, legend and step counter.

        Parameters
        ----------
        path : str or path-like
        fps : float, optional
            Frames per second; the player's ``fps`` by default.
        every : int
            Draw every ``every``-th step (and the last); see :meth:`frame_steps`.
        hold : float
            Seconds the last frame stays before the loop restarts.

        Returns
        -------
        int
            The number of frames written.
        """
        from adalearn.animation.gif import write_gif

        fps = self.fps if fps is None else fps
        check_positive("fps", fps)
        return write_gif(self, path, self.frame_steps(every), fps=fps, hold=hold)
