"""Playgrounds: tick optimizers, move sliders, watch the paths change.

:func:`playground` builds an ipywidgets panel around one landscape: a function menu, one row per
optimizer (tick box, log-scale learning-rate slider when the rule has a learning rate, current
value or divergence), shared momentum, β₂ and α/ρ sliders, the number of steps and the start
point. Every change reruns the optimizers (one vectorized :func:`adalearn.trajectory.run`
each) and redraws only the paths over a cached landscape, so the picture follows the sliders::

    from adalearn import widgets
    widgets.playground("cubic")                   # last line of a cell

It needs a running kernel to react. Displayed, a playground also carries the
:class:`adalearn.animation.Explorer` of its first settings as HTML: a page without a kernel
(the published book, a notebook opened without one) shows that explorer, whose sliders step
through a precomputed grid of the same hyperparameters, while a live Jupyter shows the panel.
ipywidgets is imported only when a playground is built (``pip install adalearn[widgets]``).
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from adalearn import animation, functions, knobs, plotting, trajectory
from adalearn import rules as update_rules

if TYPE_CHECKING:
    from matplotlib.lines import Line2D

    from adalearn.functions import Function
    from adalearn.rules import Rule
    from adalearn.trajectory import Trajectory

__all__ = ["Playground", "default_rules", "playground"]


def default_rules() -> dict[str, Rule]:
    """Five optimizers of a classic classroom comparison on the cubic function, by label.

    The settings are those of section 7.3 of Qiu's *Neural Networks and Deep Learning* course,
    which adds its epsilon inside the square root, hence ``eps=0, eps_root=1e-7``.
    """
    return {
        "SGD": update_rules.SGD(lr=0.01),
        "Momentum": update_rules.SGD(lr=0.01, momentum=0.9),
        "AdaGrad": update_rules.Adagrad(lr=0.5, eps=0, eps_root=1e-7),
        "RMSprop": update_rules.RMSprop(lr=0.1, alpha=0.9, eps=0, eps_root=1e-7),
        "Adam": update_rules.Adam(lr=0.1, betas=(0.9, 0.99), eps=0, eps_root=1e-7),
    }


def _import_ipywidgets():
    try:
        import ipywidgets
    except ImportError as err:
        raise ImportError(
            "adalearn.widgets needs ipywidgets: pip install 'adalearn[widgets]' "
            "(or pip install ipywidgets)"
        ) from err
    return ipywidgets


def _initial(knob_values, key, default):
    """A shared slider starts at the value of the first rule that has its hyperparameter."""
    for values in knob_values.values():
        if key in values:
            return values[key]
    return default


class Playground:
    """An interactive comparison of optimizers on one landscape (see :func:`playground`).

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole panel; a Playground displays as it.
    figure : matplotlib.figure.Figure
        The picture, drawn with the Agg canvas; its JPEG is ``image.value``.
    ax : Axes
    lines : dict
        ``{label: Line2D}``: each optimizer's path, exactly the valid iterates of its run.
    heads : dict
        ``{label: Line2D}``: each path's end marker (a cross where a run left the window).
    trajectories : dict
        ``{label: Trajectory}`` of the last update (ticked optimizers only).
    controls : dict
        The input widgets by name: ``"function"``, ``"steps"``, ``"x1"``, ``"x2"``; the shared
        sliders ``"momentum"``, ``"beta2"`` and ``"decay"`` that at least one rule uses; per
        optimizer ``("use", label)`` and, when its rule has a learning rate, ``("lr", label)``.
    """

    def __init__(
        self,
        fn: Function | str | None = None,
        rules: Mapping[str, Rule] | Sequence[Rule] | None = None,
        *,
        steps: int = 150,
        start: Sequence[float] | None = None,
        figsize: tuple[float, float] = (5.6, 4.6),
        dpi: float = 96,
    ) -> None:
        ipywidgets = _import_ipywidgets()
        self._functions = {name: functions.get(name) for name in functions.names()}
        if fn is None:
            fn = self._functions["cubic"]
        elif isinstance(fn, str):
            fn = functions.get(fn)
        elif not callable(getattr(fn, "grad", None)) or not hasattr(fn, "bounds"):
            raise TypeError(
                f"`fn` must be a function name or a test function. Received: fn={fn!r}"
            )
        self._functions[fn.name] = fn
        self.rules = knobs.named_rules(default_rules() if rules is None else rules)
        # Every value a slider sets must be one number: a slider shows one value.
        self._knob_values = {label: knobs.slider_values(label, rule)
                             for label, rule in self.rules.items()}
        self.colors = plotting.colors(self.rules)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 2000:
            raise ValueError(
                f"`steps` must be an int in [1, 2000]. Received: steps={steps!r}"
            )
        self._first = (fn, steps, fn.start if start is None else tuple(start))
        self._explorer: animation.Explorer | None = None

        w = ipywidgets
        wide = {"description_width": "5em"}
        shared = {
            "momentum": dict(default=0.9, min=0.0, max=0.99, step=0.01, readout_format=".2f"),
            "beta2": dict(default=0.999, min=0.5, max=0.999, step=0.001, readout_format=".3f"),
            "decay": dict(default=0.9, min=0.5, max=0.999, step=0.001, readout_format=".3f"),
        }
        self.controls: dict[str | tuple[str, str], Any] = {
            "function": w.Dropdown(options=sorted(self._functions), value=fn.name,
                                   description="function", style=wide),
            "steps": w.IntSlider(value=steps, min=1, max=max(500, steps), step=1,
                                 description="steps", style=wide),
            "x1": w.FloatSlider(description="start x₁", style=wide, readout_format=".2f"),
            "x2": w.FloatSlider(description="start x₂", style=wide, readout_format=".2f"),
        }
        for kind, spec in shared.items():
            if any(kind in values for values in self._knob_values.values()):
                spec = dict(spec)
                value = _initial(self._knob_values, kind, spec.pop("default"))
                self.controls[kind] = w.FloatSlider(
                    value=value, description=knobs.KNOBS[kind][0], style=wide, **spec)
        rows = []
        self._status = {}
        for label in self.rules:
            use = w.Checkbox(value=True, description=label, indent=False,
                             layout=w.Layout(width="8em"))
            self.controls[("use", label)] = use
            lr = self._knob_values[label].get("lr")
            if lr is None:
                rate = w.HTML("<small>no learning rate</small>",
                              layout=w.Layout(width="16em"))
            else:
                rate = w.FloatLogSlider(value=lr, base=10, min=min(-4, np.log10(lr)),
                                        max=max(1, np.log10(lr)), step=0.05,
                                        description="lr", readout_format=".3g",
                                        style={"description_width": "2em"})
                self.controls[("lr", label)] = rate
            swatch = w.HTML(layout=w.Layout(width="1.8em", height=".35em", margin="auto 0"),
                            style={"background": self.colors[label]})
            self._status[label] = w.HTML()
            rows.append(w.HBox([swatch, use, rate, self._status[label]]))
        self._message = w.HTML()

        self.figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        self._canvas = FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_subplot()
        self.lines: dict[str, Line2D] = {}
        self.heads: dict[str, Line2D] = {}
        self.trajectories: dict[str, Trajectory] = {}
        self._cache: dict[str, tuple[tuple[Any, ...], Trajectory]] = {}
        self.image = w.Image(format="jpeg")
        self._fn: Function
        self._set_function(fn, start)

        settings = w.VBox([self.controls[key] for key in (
            "function", "x1", "x2", "steps", "momentum", "beta2", "decay")
            if key in self.controls])
        self.widget = w.VBox([w.HBox([self.image, settings]), *rows, self._message])
        self.controls["function"].observe(self._on_function, names="value")
        for key, control in self.controls.items():
            if key != "function":
                control.observe(self._on_change, names="value")

    # --- drawing -----------------------------------------------------------------------------

    def _set_function(self, fn, start=None):
        """Draw a new landscape once, cache it, and put the start sliders in its window."""
        self._fn = fn
        (x1_lo, x1_hi), (x2_lo, x2_hi) = fn.bounds
        start = fn.start if start is None else start
        self._updating = True
        try:
            for key, lo, hi, value in (("x1", x1_lo, x1_hi, start[0]),
                                       ("x2", x2_lo, x2_hi, start[1])):
                slider = self.controls[key]
                # Keep min <= max after every assignment (the new window may lie beyond the
                # old one) and never send a non-finite bound: the front end speaks JSON.
                if lo > slider.max:
                    slider.max, slider.min = hi, lo
                else:
                    slider.min, slider.max = lo, hi
                slider.step = (hi - lo) / 200
                slider.value = float(value)
        finally:
            self._updating = False
        self.ax.clear()
        plotting.contour(self.ax, fn, resolution=160)
        self.lines, self.heads = {}, {}
        style = plotting.RUN_STYLE
        for label in self.rules:
            color = self.colors[label]
            (self.lines[label],) = self.ax.plot(
                [], [], color=color, linewidth=style["linewidth"],
                path_effects=plotting.PATH_OUTLINE, animated=True)
            (self.heads[label],) = self.ax.plot(
                [], [], linestyle="none", marker=style["end"]["marker"],
                markersize=style["end"]["size"], color=color,
                markeredgecolor=style["end"]["edge"], markeredgewidth=style["end"]["edgewidth"],
                animated=True, clip_on=False)
        # One start for all runs: a hollow circle with a dark edge, not one per colour.
        start_style = style["start"]
        (self._starts,) = self.ax.plot(
            [], [], linestyle="none", marker=start_style["marker"],
            markersize=start_style["size"], markerfacecolor=start_style["face"],
            markeredgecolor="#1a1a1a", markeredgewidth=start_style["edgewidth"], animated=True)
        self._canvas.draw()
        self._background = self._canvas.copy_from_bbox(self.figure.bbox)
        self.update()

    def _on_function(self, change):
        self._set_function(self._functions[change["new"]])

    def _on_change(self, change):
        if not self._updating:
            self.update()

    def update(self) -> None:
        """Rerun the ticked optimizers with the controls' values and redraw their paths.

        This is what every control calls; call it directly to drive the playground from code
        (set a control's ``value`` first, or change ``rules``).
        """
        c = self.controls
        fn, steps = self._fn, c["steps"].value
        start = (c["x1"].value, c["x2"].value)
        messages, self.trajectories = [], {}
        for label, rule in self.rules.items():
            line, head, status = self.lines[label], self.heads[label], self._status[label]
            line.set_data([], [])
            head.set_data([], [])
            status.value = ""
            if not c[("use", label)].value:
                continue
            values: dict[str, float] = {
                key: c[key].value for key in ("momentum", "beta2", "decay") if key in c}
            if ("lr", label) in c:
                values["lr"] = c[("lr", label)].value
            try:
                tuned = knobs.tune(rule, **values)
            except ValueError as err:
                messages.append(f"{label}: {err}")
                continue
            # A slider that concerns one optimizer reruns only that one.
            key = (repr(tuned), repr(fn), start, steps)
            cached = self._cache.get(label)
            traj = cached[1] if cached and cached[0] == key else trajectory.run(
                tuned, fn, start, steps)
            self._cache[label] = (key, traj)
            self.trajectories[label] = traj
            (part,) = plotting.runs(traj)
            line.set_data(part["xs"][:, 0], part["xs"][:, 1])
            marks = plotting.run_marks(part, fn.bounds)
            style = plotting.RUN_STYLE["diverged" if part["diverged"] else "end"]
            head.set_data(*(marks["cross"] if part["diverged"] else marks["end"])[:, None])
            head.set_marker(style["marker"])
            head.set_markersize(style["size"])
            status.value = html.escape(marks["status"])
        self._starts.set_data([start[0]], [start[1]])
        self._message.value = "<br>".join(html.escape(m) for m in messages)
        self._redraw()

    def _redraw(self):
        self._canvas.restore_region(self._background)
        for label in self.rules:
            self.ax.draw_artist(self.lines[label])
        for label in self.rules:
            self.ax.draw_artist(self.heads[label])
        self.ax.draw_artist(self._starts)
        self.image.value = self.jpeg()

    def jpeg(self) -> bytes:
        """The current picture as JPEG bytes (what the panel shows)."""
        from PIL import Image

        rgba = np.asarray(self._canvas.buffer_rgba())
        buffer = io.BytesIO()
        # JPEG encodes this picture three times faster than PNG, which matters at every slider
        # move; at this quality the thin paths keep clean edges.
        Image.fromarray(rgba[..., :3]).save(buffer, format="JPEG", quality=92)
        return buffer.getvalue()

    # --- display -----------------------------------------------------------------------------

    def explorer(self) -> animation.Explorer:
        """The :class:`adalearn.animation.Explorer` of this playground's first settings.

        Its function, rules, steps and start are the playground's as built; its sliders step
        through each rule's learning-rate grid and the shared controls the rules have. When
        the grid is small (at most 150 runs per start), the start point's mirror images
        across the window's middle lines are offered too, as a start menu. Built once, on
        first use.
        """
        if self._explorer is None:
            fn, steps, start = self._first
            # The explorer's own grids, to count its runs per start before making them.
            lrs, _, shared = knobs.grids(self._knob_values)
            per_start = 0
            for label, values in self._knob_values.items():
                grid = lrs[label]
                count = 1 if grid is None else grid.size
                for knob in shared:
                    count *= knob["values"].size if knob["kind"] in values else 1
                per_start += count
            starts = [tuple(map(float, start))]
            if per_start <= 150:
                (x1_lo, x1_hi), (x2_lo, x2_hi) = fn.bounds
                for point in ((x1_lo + x1_hi - start[0], start[1]),
                              (start[0], x2_lo + x2_hi - start[1])):
                    if point not in starts:
                        starts.append(tuple(map(float, point)))
            self._explorer = animation.Explorer(fn, self.rules, steps=steps, starts=starts)
        return self._explorer

    def _repr_mimebundle_(self, **kwargs):
        # A live Jupyter draws the widget view; where no widget manager runs (the published
        # book, a notebook opened without a kernel, a repository viewer) the HTML shows: the
        # explorer, whose controls work without Python.
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/html"] = self.explorer().to_html()
        return bundle


def playground(
    fn: Function | str | None = None,
    rules: Mapping[str, Rule] | Sequence[Rule] | None = None,
    *,
    steps: int = 150,
    start: Sequence[float] | None = None,
) -> Playground:
    """An ipywidgets panel to compare optimizers on a landscape while moving the sliders.

    Parameters
    ----------
    fn : str or test function, optional
        The first landscape (the menu offers every registered function); "cubic" by default.
    rules : dict {label: rule} or list of rules, optional
        The optimizers, each with its own tick box and, when it has a learning rate (a
        ``SoftBatch``: the wrapped rule's), a learning-rate slider; the classroom comparison's five
        (:func:`default_rules`) by default. Shared sliders set, in every rule that has it,
        the momentum β (rules that use momentum) and Adam's β₁; β₂; and RMSprop's α and
        AdaDelta's ρ; a slider no rule uses is left out. Each starts at the value of the
        first rule that has it, so rules that disagree on, say, β₂ are drawn with the first
        one's. The hyperparameters the sliders set must be numbers, not arrays.
    steps : int
        Initial number of steps.
    start : (float, float), optional
        Initial start point; ``fn.start`` by default.

    Returns
    -------
    Playground
        Displays as the panel; ``.widget`` is the ipywidgets container, ``.update()`` the
        redraw callback, ``.figure`` and ``.lines`` the picture.

    Raises
    ------
    ImportError
        When ipywidgets is not installed.
    ValueError
        When a hyperparameter that a slider sets is an array (a slider shows one value).
    """
    return Playground(fn, rules, steps=steps, start=start)
