"""Playgrounds: tick optimizers, move sliders, watch the paths change.

:func:`playground` builds an ipywidgets panel around one landscape: a function menu, one row per
optimizer (tick box, log-scale learning-rate slider, current value or divergence), shared
momentum, β₂ and α/ρ sliders, the number of steps and the start point. Every change reruns the
optimizers (one vectorized :func:`adalearn.trajectory.run` each) and redraws only the paths
over a cached landscape, so the picture follows the sliders::

    from adalearn import widgets
    widgets.playground("cubic")                   # last line of a cell

It needs a running kernel to react. In the static book it shows its first picture and its
controls, and says in one line that it is live on Binder, Colab or a local Jupyter.
ipywidgets is imported only when a playground is built (``pip install adalearn[widgets]``).
"""

import base64
import html
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from adalearn import functions, plotting, trajectory
from adalearn import rules as update_rules

__all__ = ["Playground", "default_rules", "playground"]

LIVE_NOTE = (
    "Live on Binder, Colab or a local Jupyter: there the picture follows the controls; "
    "in the static page they do not redraw."
)


def default_rules():
    """The seed lab's five optimizers on the cubic function, by label.

    The lab adds its epsilon inside the square root, hence ``eps=0, eps_root=1e-7``.
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


def _check_rules(rule_set):
    if rule_set is None:
        return default_rules()
    if isinstance(rule_set, dict):
        named = {str(k): v for k, v in rule_set.items()}
    elif isinstance(rule_set, (list, tuple)):
        named = {}
        for rule in rule_set:
            label, n = rule.name, 2
            while label in named:
                label, n = f"{rule.name} ({n})", n + 1
            named[label] = rule
    else:
        raise TypeError(
            f"rules must be a dict {{label: rule}} or a list of rules; got {rule_set!r}"
        )
    if not named:
        raise ValueError("rules must not be empty")
    for label, rule in named.items():
        if not isinstance(rule, update_rules.Rule):
            raise TypeError(f"rules[{label!r}] must be an adalearn rule; got {rule!r}")
    return named


# The shared sliders: which hyperparameter each one sets, read from a rule's fields.
_SHARED = {
    # SGD's momentum (only in rules that use momentum: plain SGD stays plain) and Adam's β₁.
    "momentum": lambda h: h["betas"][0] if "betas" in h else (
        h["momentum"] if np.any(np.asarray(h.get("momentum", 0)) != 0) else None),
    # The decay of the squared-gradient average: Adam's β₂ ...
    "beta2": lambda h: h["betas"][1] if "betas" in h else None,
    # ... and RMSprop's α, AdaDelta's ρ.
    "decay": lambda h: h.get("alpha", h.get("rho")),
}


def _inner(rule):
    """The rule that holds the hyperparameters (SoftBatch wraps another rule)."""
    inner = rule.hyperparameters().get("rule")
    return _inner(inner) if isinstance(inner, update_rules.Rule) else rule


def _tune(rule, lr, momentum, beta2, decay):
    """``rule`` with the playground's sliders applied to the hyperparameters it has."""
    fields = rule.hyperparameters()
    if isinstance(fields.get("rule"), update_rules.Rule):
        return rule.replace(rule=_tune(fields["rule"], lr, momentum, beta2, decay))
    changes = {}
    if "lr" in fields:
        changes["lr"] = lr
    if _SHARED["momentum"](fields) is not None and "momentum" in fields:
        changes["momentum"] = momentum
    if "betas" in fields:
        changes["betas"] = (momentum, beta2)
    for name in ("alpha", "rho"):
        if name in fields:
            changes[name] = decay
    return rule.replace(**changes)


def _initial(rule_set, key, default):
    """A shared slider starts at the value of the first rule that has its hyperparameter."""
    for rule in rule_set.values():
        value = _SHARED[key](_inner(rule).hyperparameters())
        if value is not None:
            return float(np.max(value))
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
        The input widgets by name: ``"function"``, ``"momentum"``, ``"beta2"``, ``"decay"``,
        ``"steps"``,
        ``"x1"``, ``"x2"``, and per optimizer ``("use", label)`` and ``("lr", label)``.
    """

    def __init__(self, fn=None, rules=None, *, steps=150, start=None, figsize=(5.6, 4.6), dpi=96):
        ipywidgets = _import_ipywidgets()
        self._functions = {name: functions.get(name) for name in functions.names()}
        if fn is None:
            fn = self._functions["cubic"]
        elif isinstance(fn, str):
            fn = functions.get(fn)
        elif not callable(getattr(fn, "grad", None)) or not hasattr(fn, "bounds"):
            raise TypeError(f"fn must be a function name or a test function; got {fn!r}")
        self._functions[fn.name] = fn
        self.rules = _check_rules(rules)
        self.colors = plotting.colors(self.rules)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 2000:
            raise ValueError(f"steps must be an int in [1, 2000]; got steps={steps!r}")

        w = ipywidgets
        wide = {"description_width": "5em"}
        self.controls = {
            "function": w.Dropdown(options=sorted(self._functions), value=fn.name,
                                   description="function", style=wide),
            "momentum": w.FloatSlider(
                value=_initial(self.rules, "momentum", 0.9), min=0.0, max=0.99, step=0.01,
                description="μ, β₁", style=wide, readout_format=".2f"),
            "beta2": w.FloatSlider(
                value=_initial(self.rules, "beta2", 0.999), min=0.5, max=0.999, step=0.001,
                description="β₂", style=wide, readout_format=".3f"),
            "decay": w.FloatSlider(
                value=_initial(self.rules, "decay", 0.9), min=0.5, max=0.999, step=0.001,
                description="α, ρ", style=wide, readout_format=".3f"),
            "steps": w.IntSlider(value=steps, min=1, max=max(500, steps), step=1,
                                 description="steps", style=wide),
            "x1": w.FloatSlider(description="start x₁", style=wide, readout_format=".2f"),
            "x2": w.FloatSlider(description="start x₂", style=wide, readout_format=".2f"),
        }
        rows = []
        self._status = {}
        for label, rule in self.rules.items():
            lr = float(np.max(rule.hyperparameters().get("lr", 0.01)))
            use = w.Checkbox(value=True, description=label, indent=False,
                             layout=w.Layout(width="8em"))
            rate = w.FloatLogSlider(value=lr, base=10, min=-4, max=1, step=0.05,
                                    description="lr", readout_format=".3g",
                                    style={"description_width": "2em"})
            self.controls[("use", label)] = use
            self.controls[("lr", label)] = rate
            swatch = w.HTML(f'<span style="display:inline-block;width:1.8em;height:.35em;'
                            f'border-radius:.2em;background:{self.colors[label]}"></span>')
            self._status[label] = w.HTML()
            rows.append(w.HBox([swatch, use, rate, self._status[label]]))
        self._message = w.HTML()
        self.note = w.HTML(f"<small><em>{html.escape(LIVE_NOTE)}</em></small>")

        self.figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        self._canvas = FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_subplot()
        self.lines, self.heads, self.trajectories, self._cache = {}, {}, {}, {}
        self.image = w.Image(format="jpeg")
        self._fn = None
        self._set_function(fn, start)

        settings = w.VBox([self.controls["function"], self.controls["x1"], self.controls["x2"],
                           self.controls["steps"], self.controls["momentum"],
                           self.controls["beta2"], self.controls["decay"]])
        self.widget = w.VBox([
            w.HBox([self.image, settings]), *rows, self._message, self.note,
        ])
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
        for label in self.rules:
            color = self.colors[label]
            (self.lines[label],) = self.ax.plot(
                [], [], color=color, linewidth=1.8, path_effects=plotting.PATH_OUTLINE,
                animated=True)
            (self.heads[label],) = self.ax.plot(
                [], [], linestyle="none", marker="o", markersize=6, color=color,
                markeredgecolor="white", animated=True, clip_on=False)
        (self._starts,) = self.ax.plot([], [], linestyle="none", marker="o", markersize=7,
                                       markerfacecolor="white", markeredgecolor="#1a1a1a",
                                       animated=True)
        self._canvas.draw()
        self._background = self._canvas.copy_from_bbox(self.figure.bbox)
        self.update()

    def _on_function(self, change):
        self._set_function(self._functions[change["new"]])

    def _on_change(self, change):
        if not self._updating:
            self.update()

    def update(self):
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
            try:
                tuned = _tune(rule, c[("lr", label)].value, c["momentum"].value,
                              c["beta2"].value, c["decay"].value)
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
            if part["diverged"]:
                head.set_data(*plotting.window_exit(part["xs"], fn.bounds)[:, None])
                head.set_marker("X")
                status.value = f"diverged at step {part['stopped'] + 1}"
            else:
                head.set_data(part["xs"][-1:, 0], part["xs"][-1:, 1])
                head.set_marker("o")
                status.value = f"f = {part['values'][-1]:.4g}"
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

    def jpeg(self):
        """The current picture as JPEG bytes (what the panel shows)."""
        from PIL import Image

        rgba = np.asarray(self._canvas.buffer_rgba())
        buffer = io.BytesIO()
        # JPEG encodes this picture three times faster than PNG, which matters at every slider
        # move; at this quality the thin paths keep clean edges.
        Image.fromarray(rgba[..., :3]).save(buffer, format="JPEG", quality=92)
        return buffer.getvalue()

    # --- display -----------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        image = base64.b64encode(self.jpeg()).decode("ascii")
        # Where no widget manager runs (a plain HTML export, a repository viewer), the picture
        # and the note still show.
        bundle["text/html"] = (
            f'<div><img alt="optimizer playground" src="data:image/jpeg;base64,{image}">'
            f"<p><small><em>{html.escape(LIVE_NOTE)}</em></small></p></div>"
        )
        return bundle


def playground(fn=None, rules=None, *, steps=150, start=None):
    """An ipywidgets panel to compare optimizers on a landscape while moving the sliders.

    Parameters
    ----------
    fn : str or test function, optional
        The first landscape (the menu offers every registered function); "cubic" by default.
    rules : dict {label: rule} or list of rules, optional
        The optimizers, each with its own tick box and learning-rate slider; the seed lab's
        five (:func:`default_rules`) by default. Three shared sliders set, in every rule that
        has it, the momentum μ (rules that use momentum) and Adam's β₁; β₂; and RMSprop's α
        and AdaDelta's ρ. Each starts at the value of the first rule that has it, so rules
        that disagree on, say, β₂ are drawn with the first one's.
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
    """
    return Playground(fn, rules, steps=steps, start=start)
