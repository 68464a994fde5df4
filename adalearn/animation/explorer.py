"""The explorer: a rule set run over a grid of hyperparameters at build time, shown by sliders."""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from adalearn import knobs, plotting, trajectory
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
from adalearn.animation._stage import Stage, marker_sizes, overlay, run_svg, svg_path, swatch
from adalearn.animation._storage import Block, pack

if TYPE_CHECKING:
    from adalearn.functions import Function
    from adalearn.rules import Rule

__all__ = ["Explorer", "explore"]

def explore(
    fn: Function | str | Sequence[Function | str],
    rules: Mapping[str, Rule] | Sequence[Rule],
    **options: Any,
) -> Explorer:
    """An :class:`Explorer`: a rule set run over a hyperparameter grid, shown by sliders.

    Parameters
    ----------
    fn : test function, str, or list of them
    rules : dict {label: rule} or list of rules
    **options
        Passed to :class:`Explorer` (``steps``, ``starts``, ``lr``, ``grid``, ``figsize``,
        ``dpi``, ``resolution``, ``title``, ``description``).

    Returns
    -------
    Explorer
        Displays as the explorer (last line of a cell).

    Examples
    --------
    >>> from adalearn import animation, rules
    >>> explorer = animation.explore("sphere", {"GD": rules.SGD(lr=0.2)}, steps=40)
    >>> explorer.lrs["GD"].size, explorer.runs
    (21, 21)
    """
    return Explorer(fn, rules, **options)


class Explorer(HtmlFigure):
    """Precomputed runs over a grid of hyperparameters, shown as the controls move.

    Every rule runs over its grid in one batched :func:`adalearn.trajectory.run` per function:
    its learning rates (log-spaced around its own, 21 by default) times the values of the
    shared controls it has (:data:`adalearn.knobs.KNOBS`: momentum or β₁, β₂, α or ρ; five or
    six each) times the start points. The page stores every run: its iterates as CSS pixels of
    the picture, quantised to ``1 / resolution`` of a pixel, delta-coded and deflated; its
    final value and its divergence step. A small script inflates them once and, as a slider
    moves, draws the stored run of the values chosen. Sliders snap to grid values; each
    readout gives the value shown and its place in the grid.

    Parameters
    ----------
    fn : test function, str, or list of them
        The landscape (a name is looked up with :func:`adalearn.functions.get`); with
        several, a menu switches between them (each gets its background).
    rules : dict {label: rule} or list of rules
        Each rule gets a learning-rate slider (when it has a learning rate) and, with more
        than one rule, a tick box. Rules may wrap others (``SoftBatch``): the controls set the
        wrapped rule's hyperparameters.
    steps : int
        Steps of every run.
    starts : array_like (n, 2) or (2,), optional
        Start points, the same for every function; a menu when there are several. Default:
        each function's own ``start``.
    lr : array_like or dict {label: array_like}, optional
        The learning-rate grid, for all rules or per label; default
        :func:`adalearn.knobs.lr_grid` around each rule's own learning rate.
    grid : dict {kind: array_like}, optional
        The values of the shared controls (``"momentum"``, ``"beta2"``, ``"decay"``); default
        those of :data:`adalearn.knobs.KNOBS`, with the first rule's own value added. Each
        control starts at the first rule's value that has it, as in the playground.
    figsize, dpi, density, title, image_format
        As in :class:`Player`.
    resolution : int
        Quantisation steps per CSS pixel: a stored iterate is within ``0.5 / resolution`` pixel
        of the true one.
    description : str, optional
        What the explorer shows, in words, for readers who do not see it (its accessible
        name); by default the rules with their first values, the functions, the starts, the
        number of steps and the controls.

    Attributes
    ----------
    description : str
    rules : dict
    functions : list
    knobs : list of dict
        Per shared control: ``kind``, ``label``, ``values`` and the ``index`` it starts at.
    lrs : dict
        ``{label: array or None}``, the learning-rate grid of each rule.
    lr_index : dict
        ``{label: int}``, where each learning-rate slider starts.
    runs : int
        How many runs the page stores.
    seconds : float
        The time the runs took.

    Notes
    -----
    A grid value a rule rejects (Nesterov momentum 0, say) is not run; the readout then gives
    the rule's own error message. The picture before the script has run, and without
    JavaScript, is the runs of the initial values. Every control has the name of its visible
    label and says its value and its place in the grid to screen readers; after each change
    they hear the runs it changed, with their values.
    """

    kind = "explorer"

    def __init__(
        self,
        fn: Function | str | Sequence[Function | str],
        rules: Mapping[str, Rule] | Sequence[Rule],
        *,
        steps: int = 150,
        starts: npt.ArrayLike | None = None,
        lr: npt.ArrayLike | Mapping[str, npt.ArrayLike] | None = None,
        grid: Mapping[str, npt.ArrayLike] | None = None,
        figsize: tuple[float, float] | None = None,
        dpi: float = 100,
        density: float = 2,
        resolution: int = 4,
        title: str | None = None,
        image_format: str = "auto",
        description: str | None = None,
    ) -> None:
        functions = [fn] if isinstance(fn, str) or not isinstance(fn, Sequence) else list(fn)
        if not functions:
            raise ValueError(f"`fn` must hold at least one test function. Received: fn={fn!r}")
        self.functions = [as_function(f) for f in functions]
        self.rules = knobs.named_rules(rules)
        self.steps = check_count("steps", steps, 1, 5000)
        self.resolution = check_count("resolution", resolution, 1, 64)
        check_positive("dpi", dpi)
        self.knob_values = {label: knobs.slider_values(label, rule)
                            for label, rule in self.rules.items()}
        self._starts = self._check_starts(starts)
        self.lrs, self.lr_index, self.knobs = knobs.grids(self.knob_values, lr=lr, grid=grid)

        self._stages = [
            Stage(f, "2d", figsize=figsize, dpi=dpi, density=density, title=title,
                  image_format=image_format)
            for f in self.functions
        ]
        start_time = time.perf_counter()
        self._blocks = {(label, i): self._run_block(label, i)
                        for i in range(len(self.functions)) for label in self.rules}
        self.seconds = time.perf_counter() - start_time
        self.runs = sum(int(np.prod(b.shape)) for b in self._blocks.values())
        self._set_description(description)

    def _describe(self):
        names = [getattr(f, "name", "test") for f in self.functions]
        where = f"the {listing(names, 'or')} function" + (" (a menu)" if len(names) > 1 else "")
        starts = [point(p) for p in self._starts[0]]
        start = listing(starts, "or") + (" (a menu)" if len(starts) > 1 else "")
        controls = ["the learning rate of each rule"] if any(
            lrs is not None for lrs in self.lrs.values()) else []
        controls += [k["label"] for k in self.knobs]
        rules = "; ".join(who(label, rule) for label, rule in self.rules.items())
        sliders = (f" Sliders set {listing(controls)} to values precomputed when the page was "
                   "built.") if controls else ""
        return (f"Optimizer paths on {where} from {start}, {self.steps} steps: {rules}."
                f"{sliders}")

    # --- the grid ----------------------------------------------------------------------------

    def _check_starts(self, starts):
        if starts is None:
            return [np.asarray([f.start], dtype=float) for f in self.functions]
        array = np.asarray(starts, dtype=float)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != 2 or not len(array) or not np.isfinite(
            array
        ).all():
            raise ValueError(
                "`starts` must be finite points of shape (n, 2) or (2,). "
                f"Received: starts={starts!r}"
            )
        return [array for _ in self.functions]

    def _rule_knobs(self, label):
        """Positions in ``self.knobs`` of the controls this rule has."""
        return [i for i, k in enumerate(self.knobs) if k["kind"] in self.knob_values[label]]

    def _run_block(self, label, function_index):
        """Run one rule over its whole grid on one function and store the runs."""
        rule, fn = self.rules[label], self.functions[function_index]
        stage, starts = self._stages[function_index], self._starts[function_index]
        lrs = self.lrs[label]
        axes = [("lr", lrs if lrs is not None else np.array([np.nan]))]
        axes += [(self.knobs[i]["kind"], self.knobs[i]["values"]) for i in self._rule_knobs(label)]
        shape = (*(len(values) for _, values in axes), len(starts))
        block = Block(shape)

        # Grid values the rule rejects are replaced by its own value and marked not run.
        own = self.knob_values[label]
        usable, rejected = [], []
        for kind, values in axes:
            values = values.copy()
            bad = {}
            if kind != "lr" or lrs is not None:
                for j, value in enumerate(values):
                    try:
                        knobs.tune(rule, **{kind: float(value)})
                    except (TypeError, ValueError) as error:
                        bad[j] = str(error)
                        values[j] = own[kind]
            usable.append((kind, values))
            rejected.append(bad)
        ndim = len(shape)

        def column(values, axis):
            return np.asarray(values, dtype=float).reshape(
                [-1 if d == axis else 1 for d in range(ndim)] + [1])

        settings = {kind: column(values, axis) for axis, (kind, values) in enumerate(usable)
                    if not (kind == "lr" and lrs is None)}
        try:
            runs = trajectory.run(knobs.tune(rule, **settings), fn, starts, self.steps)
            xs, values = runs.xs, runs.values
            stopped, diverged = runs.stopped, runs.diverged
        except (TypeError, ValueError):
            # A reader's rule that cannot take arrays of hyperparameters: one run per point.
            xs, values, stopped, diverged = self._run_one_by_one(rule, fn, starts, usable, shape)
        xs = xs.reshape(self.steps + 1, -1, 2)
        values = values.reshape(self.steps + 1, -1)
        stopped, diverged = stopped.reshape(-1), diverged.reshape(-1)

        valid = np.ones(shape, dtype=bool)
        for axis, bad in enumerate(rejected):
            for j in bad:
                index: list[slice | int] = [slice(None)] * ndim
                index[axis] = j
                valid[tuple(index)] = False
        block.rejected = rejected
        block.valid = valid.reshape(-1)
        block.stopped = stopped.astype(np.int64)
        block.diverged = diverged.astype(bool)
        block.final = values[block.stopped, np.arange(values.shape[1])]
        pixels = stage.pixels(xs.reshape(-1, 2)).reshape(xs.shape)
        with np.errstate(invalid="ignore"):
            quantised = np.rint(pixels * self.resolution)
        for r in np.flatnonzero(block.valid):
            k = int(block.stopped[r])
            block.points[r] = quantised[: k + 1, r].astype(np.int64)
            if block.diverged[r]:
                cross = plotting.window_exit(xs[: k + 1, r], fn.bounds)
                block.exit[r] = np.rint(stage.pixels(cross) * self.resolution)[0].astype(np.int64)
        return block

    def _run_one_by_one(self, rule, fn, starts, usable, shape):
        xs = np.full((self.steps + 1, *shape, 2), np.nan)
        values = np.full((self.steps + 1, *shape), np.nan)
        stopped = np.zeros(shape, dtype=np.int64)
        diverged = np.zeros(shape, dtype=bool)
        for index in np.ndindex(*shape[:-1]):
            settings = {kind: float(vals[i]) for (kind, vals), i in zip(usable, index, strict=True)
                        if not np.isnan(vals[i])}
            runs = trajectory.run(knobs.tune(rule, **settings), fn, starts, self.steps)
            xs[(slice(None), *index)] = runs.xs
            values[(slice(None), *index)] = runs.values
            stopped[index], diverged[index] = runs.stopped, runs.diverged
        return xs, values, stopped, diverged

    # --- what the page stores ----------------------------------------------------------------

    def _initial_run(self, label):
        """Flat index, in its block, of the run a rule shows first."""
        index = [self.lr_index[label]] + [self.knobs[i]["index"] for i in self._rule_knobs(label)]
        block = self._blocks[(label, 0)]
        return int(np.ravel_multi_index((*index, 0), block.shape))

    def _status(self, block, r, axes_index):
        if not block.valid[r]:
            for axis, bad in enumerate(block.rejected):
                if axes_index[axis] in bad:
                    return f"not run: {bad[axes_index[axis]]}"
        part = {"values": np.array([block.final[r]]), "stopped": int(block.stopped[r]),
                "diverged": bool(block.diverged[r])}
        return plotting.run_status(part)

    def _data(self):
        order = [(label, i) for i in range(len(self.functions)) for label in self.rules]
        blob, offsets, total = pack([self._blocks[key] for key in order])
        offsets = dict(zip(order, offsets, strict=True))
        data: dict[str, Any] = {
            "q": self.resolution,
            "n": total,
            "fns": [
                {"name": getattr(f, "name", f"function {i + 1}"),
                 "alt": landscape(f),
                 "img": None if i == 0 else stage.data_uri(),
                 "size": [round(stage.width, 1), round(stage.height, 1)],
                 "clip": [round(v, 2) for v in stage.clip]}
                for i, (f, stage) in enumerate(zip(self.functions, self._stages, strict=True))
            ],
            "starts": len(self._starts[0]),
            "knobs": [{"label": k["label"], "values": readout(k["values"]),
                       "index": k["index"]} for k in self.knobs],
            "rules": [],
            "blob": base64.b64encode(blob).decode("ascii"),
        }
        palette = plotting.colors(self.rules)
        for label in self.rules:
            block = self._blocks[(label, 0)]
            lrs = self.lrs[label]
            data["rules"].append({
                "label": label,
                "color": palette[label],
                "lr": None if lrs is None else readout(lrs),
                "lr0": self.lr_index[label],
                "knobs": self._rule_knobs(label),
                "names": [knobs.knob_names(self.rules[label])[self.knobs[i]["kind"]]
                          for i in self._rule_knobs(label)],
                "shape": list(block.shape),
                "offsets": [offsets[(label, i)] for i in range(len(self.functions))],
                "notes": [[axis, j, message] for axis, bad in enumerate(block.rejected)
                          for j, message in bad.items()],
            })
        return data

    def _fields(self, uid):
        stage = self._stages[0]
        q = self.resolution
        sizes = marker_sizes(stage.dpi)
        palette = plotting.colors(self.rules)
        lines, starts, heads, crosses, rows = [], [], [], [], []
        for label in self.rules:
            block = self._blocks[(label, 0)]
            r = self._initial_run(label)
            points = block.points[r] / q if block.valid[r] else np.empty((0, 2))
            crossed = block.valid[r] and block.diverged[r]
            line, start, head, cross = run_svg(
                palette[label], sizes, d=svg_path(points), digits=2,
                start=points[0] if len(points) else None,
                end=points[-1] if len(points) and not block.diverged[r] else None,
                cross=block.exit[r] / q if crossed else None)
            lines.append(line)
            starts.append(start)
            heads.append(head)
            crosses.append(cross)
            rows.append(self._row(label, block, r))
        controls = []
        if len(self.functions) > 1:
            options = "".join(
                f'<option value="{i}">{html.escape(getattr(f, "name", str(i)))}</option>'
                for i, f in enumerate(self.functions))
            controls.append(f'<label>function <select class="adl-fn">{options}</select></label>')
        if len(self._starts[0]) > 1:
            options = "".join(f'<option value="{i}">{point(p)}</option>'
                              for i, p in enumerate(self._starts[0]))
            controls.append('<label>start <select class="adl-start-menu">'
                            f"{options}</select></label>")
        for position, knob in enumerate(self.knobs):
            i, values = knob["index"], knob["values"]
            label = html.escape(knob["label"])
            controls.append(
                f'<span class="adl-knob"><label>{label} '
                f'<input type="range" class="adl-knob-input" data-knob="{position}" min="0" '
                f'max="{len(values) - 1}" step="1" value="{i}" '
                f'aria-valuetext="{label} {values[i]:.4g}, {i + 1} of {len(values)}"></label>'
                f'<output class="adl-knob-value">{values[i]:.4g}</output>'
                f'<span class="adl-grid">{i + 1} of {len(values)}</span></span>'
            )
        return {
            **stage.template_fields(), "alt": html.escape(landscape(self.functions[0])),
            "svg": overlay(stage, uid, lines + starts + heads, crosses),
            "controls": "".join(controls), "rules": "".join(rows),
            "note": html.escape(PRECOMPUTED_NOTE), "data": json_script(self._data()),
        }

    def _row(self, label, block, r):
        """A rule's row: its tick box and name, learning-rate slider and readouts.

        The tick box is named by the rule's label; the slider by the label and its own,
        "Adam lr", and it tells its value in words ("learning rate 0.1, 14 of 21").
        """
        color = plotting.colors(self.rules)[label]
        status = html.escape(self._status(block, r, np.unravel_index(r, block.shape)))
        name = f"{swatch(color)}{html.escape(label)}"
        if len(self.rules) > 1:
            name = f'<input type="checkbox" class="adl-use" checked>{name}'
        lrs = self.lrs[label]
        if lrs is None:
            rate = '<span class="adl-lr-none">no learning rate</span>'
        else:
            i = self.lr_index[label]
            place = f"{i + 1} of {len(lrs)}"
            rate = (
                f'<label class="adl-lr-label">lr <input type="range" class="adl-lr" min="0" '
                f'max="{len(lrs) - 1}" step="1" value="{i}" aria-label="{html.escape(label)} lr" '
                f'aria-valuetext="learning rate {lrs[i]:.4g}, {place}"></label>'
                f'<output class="adl-lr-value">{lrs[i]:.4g}</output>'
                f'<span class="adl-grid">{place}</span>'
            )
        return (f'<div class="adl-rule"><label class="adl-name">{name}</label>{rate}'
                f'<span class="adl-status">{status}</span></div>')
