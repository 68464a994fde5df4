"""Figures that move in any browser, kernel or not: players, explorers and basin maps.

Three kinds of figure, each a self-contained piece of HTML (its image, styles, data and a small
script; nothing loaded from anywhere) that plays in the static book, JupyterLab, Colab, VS Code
or a saved ``.html`` file:

- :func:`compare` returns a :class:`Player`: finished trajectories moving together over a
  landscape, with play/pause and a step slider.
- :func:`explore` returns an :class:`Explorer`: the rules run over a whole grid of
  hyperparameters (a log-spaced learning rate per rule, momentum or β₁, β₂, α or ρ, a few
  start points and functions) at build time, in one batched :func:`adalearn.trajectory.run`
  per rule and function; the page stores every run, quantised to the picture's pixels, and
  its sliders show the run of the chosen values at once. Python stays the one implementation
  of the math; the browser only looks runs up.
- :func:`basins` returns a :class:`Basins` map: thousands of starts coloured by the minimum
  each reaches, or by divergence, with a learning-rate slider.

The landscape (contours, or the surface seen from a fixed camera) is drawn once by matplotlib
into one small image; the paths are a vector overlay whose points were mapped to the image's
pixels in Python, so the browser only draws lines. A five-optimizer, 150-step comparison weighs
tens of kilobytes instead of the megabytes of a frame-by-frame movie::

    from adalearn import animation, functions, rules, trajectory

    fn = functions.get("cubic")
    runs = {name: trajectory.run(rule, fn, fn.start, steps=150) for name, rule in {
        "SGD": rules.SGD(lr=0.01), "Adam": rules.Adam(lr=0.1, betas=(0.9, 0.99))}.items()}
    animation.compare(fn, runs, view="3d")        # last line of a cell: the player shows
    animation.explore(fn, {"Adam": rules.Adam(lr=0.1, betas=(0.9, 0.99))})

Every figure draws a run the way :data:`adalearn.plotting.RUN_STYLE` describes, and says what
:func:`adalearn.plotting.run_status` says about it. ``Player.save_gif`` writes an animation as
a GIF for slides and posts.
"""

import base64
import html
import io
import json
import numbers
import uuid
import zlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from adalearn import plotting, trajectory
from adalearn import rules as update_rules

__all__ = ["KNOBS", "Basins", "Explorer", "Player", "basins", "compare", "explore", "lr_grid"]

# Pixel coordinates further out than this are pulled in: they are off the picture anyway, and
# browsers and Pillow draw huge coordinates slowly or wrongly.
_FAR = 1e6
_SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)

# What the note under an explorer or a basin map says about its sliders.
_EXPLORER_NOTE = (
    "Precomputed when this page was built: each slider steps through the grid of values that "
    "were run, and the readouts give the values shown. Open the notebook on Binder, Colab or "
    "a local Jupyter to run any value in the playground."
)


def compare(fn, trajectories, view="2d", **options):
    """Animate several optimizers moving together on one landscape.

    The arguments come in the order of :func:`adalearn.plotting.compare`, which draws the
    same comparison as a still figure.

    Parameters
    ----------
    fn : test function
        The landscape, usually the one the trajectories ran on.
    trajectories : dict
        ``{name: Trajectory}`` (see :func:`adalearn.trajectory.run`); a batched trajectory
        contributes one path per run. Runs may have different lengths and may diverge: each
        path stops where its run stopped.
    view : {"2d", "3d"}
        Contours from above, or the paths moving on the surface seen from a fixed camera.
    **options
        Passed to :class:`Player` (``fps``, ``figsize``, ``dpi``, ``elev``, ``azim``, ``title``,
        ``image_format``).

    Returns
    -------
    Player
    """
    return Player(trajectories, fn, view=view, **options)


def _encode_image(rgb, image_format):
    """The background as (mime type, bytes): the lighter of palette PNG and JPEG for "auto"."""
    from PIL import Image

    image = Image.fromarray(rgb)
    candidates = {}
    if image_format in ("auto", "png"):
        buffer = io.BytesIO()
        quantized = image.quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        quantized.save(buffer, format="PNG", optimize=True)
        candidates["image/png"] = buffer.getvalue()
    if image_format in ("auto", "jpeg"):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85, optimize=True)
        candidates["image/jpeg"] = buffer.getvalue()
    return min(candidates.items(), key=lambda item: len(item[1]))


def _check_view(view):
    if view not in ("2d", "3d"):
        raise ValueError(f"`view` must be '2d' or '3d'. Received: view={view!r}")


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")


def _check_count(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not (
        low <= value <= high
    ):
        raise ValueError(
            f"`{name}` must be an integer in [{low}, {high}]. Received: {name}={value!r}"
        )
    return int(value)


def _check_image_format(image_format):
    if image_format not in ("auto", "png", "jpeg"):
        raise ValueError(
            "`image_format` must be 'auto', 'png' or 'jpeg'. "
            f"Received: image_format={image_format!r}"
        )


def _check_function(fn, name="fn"):
    if not callable(getattr(fn, "grad", None)) or not hasattr(fn, "bounds"):
        raise TypeError(f"`{name}` must be a test function (with grad and bounds). "
                        f"Received: {name}={fn!r}")
    return fn


class _Stage:
    """A landscape drawn once into an image, and the map from its coordinates to CSS pixels.

    The players and explorers share it: the figure (contours from above, or the surface from a
    fixed camera) is drawn by matplotlib at ``dpi * density`` pixels per inch and cropped to
    its ink; points map to the picture's CSS pixels (origin top-left) with the same transform
    that drew the landscape.
    """

    def __init__(self, fn, view="2d", *, figsize=None, dpi=100, density=2, elev=32, azim=-62,
                 title=None, image_format="auto", minima=True):
        _check_view(view)
        _check_positive("dpi", dpi)
        _check_positive("density", density)
        _check_image_format(image_format)
        self.fn, self.view, self.dpi, self.density = fn, view, float(dpi), float(density)
        fig = Figure(
            figsize=figsize or ((6.0, 4.8) if view == "2d" else (6.4, 5.0)), dpi=dpi * density
        )
        canvas = FigureCanvasAgg(fig)
        if view == "2d":
            fig.subplots_adjust(left=0.11, right=0.97, bottom=0.11, top=0.93)
            ax = fig.add_subplot()
            plotting.contour(ax, fn, minima=minima)
        else:
            fig.subplots_adjust(left=0.0, right=0.94, bottom=0.02, top=0.98)
            ax = fig.add_subplot(projection="3d")
            plotting.surface(ax, fn, elev=elev, azim=azim, minima=minima)
        if title is not None:
            ax.set_title(title)
        canvas.draw()
        self.ax = ax
        image = np.asarray(canvas.buffer_rgba())[..., :3]
        # Crop the white margins the way bbox_inches="tight" would, keeping a few pixels.
        ink = np.argwhere(np.any(image < 250, axis=-1))
        pad = round(6 * density)
        top, left = np.maximum(ink.min(axis=0) - pad, 0)
        bottom, right = np.minimum(ink.max(axis=0) + 1 + pad, image.shape[:2])
        self.offset = (left, top, image.shape[0])
        self.background = image[top:bottom, left:right].copy()
        self.height = self.background.shape[0] / density
        self.width = self.background.shape[1] / density
        x0, y0, x1, y1 = ax.bbox.extents
        cx, cy = self.css(np.array([[x0, y1]]))[0]
        self.clip = (float(cx), float(cy), (x1 - x0) / density, (y1 - y0) / density)
        self.mime, self.image = _encode_image(self.background, image_format)

    def data_uri(self):
        return f"data:{self.mime};base64,{base64.b64encode(self.image).decode('ascii')}"

    def pixels(self, xs, values=None):
        """CSS pixel coordinates (origin top-left) of iterates, on the surface in 3-D."""
        xs = np.asarray(xs, dtype=float).reshape(-1, 2)
        if self.view == "2d":
            display = self.ax.transData.transform(xs)
        else:
            from mpl_toolkits.mplot3d import proj3d

            (x1_lo, x1_hi), (x2_lo, x2_hi) = self.fn.bounds
            inside = (
                (xs[:, 0] >= x1_lo) & (xs[:, 0] <= x1_hi)
                & (xs[:, 1] >= x2_lo) & (xs[:, 1] <= x2_hi)
            )
            # The same camera matrix that drew the surface; points off the surface's window
            # are left out, as plotting.path leaves them out of a 3-D line.
            values = np.asarray(values, dtype=float).reshape(-1)
            px, py, _ = proj3d.proj_transform(xs[:, 0], xs[:, 1], values, self.ax.M)
            display = self.ax.transData.transform(np.column_stack([px, py]))
            display[~inside] = np.nan
        return np.clip(self.css(display), -_FAR, _FAR)

    def css(self, display):
        """Matplotlib display coordinates (origin bottom-left) to the picture's CSS pixels."""
        left, top, full_height = self.offset
        return np.column_stack(
            [(display[:, 0] - left) / self.density, (full_height - display[:, 1] - top)
             / self.density]
        )


def _run_css(root, dpi):
    """The CSS of a run's line and markers, from :data:`adalearn.plotting.RUN_STYLE`.

    Sizes in points become CSS pixels at ``dpi`` (the picture's CSS pixels per inch).
    """
    px = dpi / 72
    style = plotting.RUN_STYLE
    outline, start, end = style["outline"], style["start"], style["end"]
    return (
        f"{root} .adl-halo{{fill:none;stroke:{outline['color']};"
        f"stroke-opacity:{outline['alpha']};stroke-width:{outline['linewidth'] * px:.2f};"
        "stroke-linejoin:round;stroke-linecap:round}"
        f"{root} .adl-path{{fill:none;stroke-width:{style['linewidth'] * px:.2f};"
        "stroke-linejoin:round;stroke-linecap:round}"
        f"{root} .adl-start{{fill:{start['face']};stroke-width:{start['edgewidth'] * px:.2f}}}"
        f"{root} .adl-head{{stroke:{end['edge']};stroke-width:{end['edgewidth'] * px:.2f}}}"
        f"{root} .adl-cross{{fill:none;stroke-linecap:round;"
        f"stroke-width:{style['diverged']['size'] * px * 0.19:.2f}}}"
    )


def _marker_radii(dpi):
    """Radii in CSS pixels of the start and end circles and the half-width of the cross."""
    px = dpi / 72
    style = plotting.RUN_STYLE
    return (style["start"]["size"] * px / 2, style["end"]["size"] * px / 2,
            style["diverged"]["size"] * px / 2 * 0.7)


class Player:
    """A self-contained HTML/JS player of optimizer paths over a pre-drawn landscape.

    Parameters
    ----------
    trajectories : dict
        ``{name: Trajectory}``; names label the legend and pick the book colours
        (:func:`adalearn.plotting.colors`). A batched trajectory becomes one path per run,
        named ``"name [i]"``.
    fn : test function
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

    Attributes
    ----------
    steps : int
        The longest run's number of steps; the slider goes from 0 to ``steps``.
    width, height : int
        The player's picture size in CSS pixels (the background is cropped to its drawing).
    background : uint8 array (height · density, width · density, 3)
        The landscape image.
    runs : list of dict
        Per path: ``label``, ``color``, ``pixels`` (float array (k+1, 2) of picture coordinates
        in CSS pixels, origin top-left, NaN where a 3-D path leaves the surface's window),
        ``values``,
        ``stopped``, ``diverged`` and ``exit`` (pixel coordinates of the cross of a diverged
        run, else None).
    clip : (x, y, width, height)
        The axes' box in CSS pixels, to which the paths are clipped.

    Notes
    -----
    Display it as a cell's last line (``_repr_html_``), or write it with :meth:`to_html`,
    :meth:`save_html` or :meth:`save_gif`. Each HTML rendering gets fresh element ids, so any
    number of players can share a page.
    """

    def __init__(
        self,
        trajectories,
        fn,
        view="2d",
        *,
        fps=15,
        figsize=None,
        dpi=100,
        density=2,
        elev=32,
        azim=-62,
        title=None,
        image_format="auto",
    ):
        _check_view(view)
        _check_positive("fps", fps)
        _check_positive("density", density)
        _check_image_format(image_format)
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
            for i, part in enumerate(parts):
                paths.append((name if len(parts) == 1 else f"{name} [{i}]", part))
        palette = plotting.colors([label for label, _ in paths])

        stage = _Stage(fn, view, figsize=figsize, dpi=dpi, density=density, elev=elev,
                       azim=azim, title=title, image_format=image_format)
        self._stage = stage
        self.density = stage.density
        self._offset = stage.offset
        self.background = stage.background
        self.height, self.width, self.clip = stage.height, stage.width, stage.clip

        self.runs = []
        for label, part in paths:
            marks = plotting.run_marks(part, fn.bounds)
            run = {
                "label": label,
                "color": palette[label],
                "pixels": stage.pixels(part["xs"], part["values"]),
                "values": part["values"],
                "stopped": part["stopped"],
                "diverged": part["diverged"],
                "status": marks["status"],
                "exit": None,
            }
            if marks["cross"] is not None:
                exit_point = marks["cross"][None, :]
                run["exit"] = stage.pixels(exit_point, fn(exit_point))[0]
            self.runs.append(run)
        self.steps = max(run["stopped"] for run in self.runs)
        self._image_mime, self._image = stage.mime, stage.image

    # --- HTML --------------------------------------------------------------------------------

    def _data(self):
        def tenths(points):
            return [None if not np.isfinite(v) else round(float(v) * 10) for v in points.ravel()]

        return {
            "steps": self.steps,
            "fps": self.fps,
            "runs": [
                {
                    "label": run["label"],
                    "color": run["color"],
                    "p": tenths(run["pixels"]),
                    "v": [float(f"{v:.4g}") for v in run["values"]],
                    "stop": run["stopped"],
                    "div": run["diverged"],
                }
                for run in self.runs
            ],
        }

    def to_html(self, *, full_page=False):
        """The player as HTML: a fragment for notebooks, or a whole page with ``full_page``.

        The fragment carries its own image, styles, data and script (no external resources)
        and fresh element ids. Without JavaScript it still shows the complete paths.
        """
        uid = f"adl-{uuid.uuid4().hex[:10]}"
        w, h = f"{self.width:.1f}", f"{self.height:.1f}"
        cx, cy, cw, ch = self.clip
        r_start, r_end, arm = _marker_radii(self._stage.dpi)
        image = base64.b64encode(self._image).decode("ascii")
        overlay, marks = [], []
        for run in self.runs:
            final = _svg_path(run["pixels"])
            color = html.escape(run["color"])
            overlay.append(
                f'<path class="adl-halo" d="{final}"/>'
                f'<path class="adl-path" d="{final}" stroke="{color}"/>'
            )
        for run in self.runs:
            start = run["pixels"][0]
            if np.all(np.isfinite(start)):
                overlay.append(
                    f'<circle class="adl-start" cx="{start[0]:.1f}" cy="{start[1]:.1f}" '
                    f'r="{r_start:.2f}" stroke="{html.escape(run["color"])}"/>'
                )
        for run in self.runs:
            color = html.escape(run["color"])
            last = run["pixels"][-1]
            shown = not run["diverged"] and np.all(np.isfinite(last))
            x, y = (last if shown else (0.0, 0.0))
            overlay.append(
                f'<circle class="adl-head" cx="{x:.1f}" cy="{y:.1f}" r="{r_end:.2f}" '
                f'fill="{color}" visibility="{"visible" if shown else "hidden"}"/>'
            )
            ex, ey = run["exit"] if run["exit"] is not None else (0.0, 0.0)
            # Crosses sit on the window's edge: outside the clip, so they are not cut in half.
            marks.append(
                f'<path class="adl-cross" transform="translate({ex:.1f} {ey:.1f})" '
                f'd="{_cross(arm)}" stroke="{color}" '
                f'visibility="{"visible" if run["diverged"] else "hidden"}"/>'
            )
        legend = []
        for run in self.runs:
            legend.append(
                f'<span class="adl-item"><span class="adl-swatch" '
                f'style="background:{html.escape(run["color"])}"></span>'
                f'{html.escape(run["label"])} <span class="adl-value">'
                f'{html.escape(run["status"])}</span></span>'
            )
        speeds = "".join(
            f'<option value="{s:g}"{" selected" if s == 1 else ""}>{s:g}×</option>'
            for s in _SPEEDS
        )
        data = _json_script(self._data())
        fragment = _PLAYER_TEMPLATE.format(
            uid=uid, w=w, h=h, mime=self._image_mime, image=image, cx=f"{cx:.1f}",
            cy=f"{cy:.1f}", cw=f"{cw:.1f}", ch=f"{ch:.1f}", overlay="".join(overlay),
            marks="".join(marks),
            steps=self.steps, speeds=speeds, legend="".join(legend), data=data,
            style=_PLAYER_STYLE + _run_css(".adalearn-player", self._stage.dpi),
            script=_PLAYER_SCRIPT.replace("__UID__", uid).replace("__FORMAT__", _FORMAT_JS),
        )
        return _page(fragment, "adalearn player") if full_page else fragment

    def _repr_html_(self):
        return self.to_html()

    def save_html(self, path):
        """Write the player as a standalone HTML page to ``path``."""
        with open(path, "w", encoding="utf-8") as file:
            file.write(self.to_html(full_page=True))

    # --- GIF ---------------------------------------------------------------------------------

    def frame_steps(self, every=1):
        """The steps a GIF shows: 0, every, 2·every, ... and always the last step."""
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        steps = list(range(0, self.steps + 1, int(every)))
        if steps[-1] != self.steps:
            steps.append(self.steps)
        return steps

    def save_gif(self, path, *, fps=None, every=1, hold=1.5):
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
        from PIL import Image

        fps = self.fps if fps is None else fps
        _check_positive("fps", fps)
        steps = self.frame_steps(every)
        renderer = _GifFrames(self)
        frames = [renderer.frame(t) for t in steps]
        palette = frames[-1].quantize(colors=255, method=Image.Quantize.MEDIANCUT)
        indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
        durations = [round(1000 / fps)] * len(indexed)
        durations[-1] = max(durations[-1], round(1000 * hold))
        indexed[0].save(
            path, format="GIF", save_all=True, append_images=indexed[1:], duration=durations,
            loop=0, optimize=False, disposal=1,
        )
        return len(indexed)


def _svg_path(pixels):
    """SVG path data through the finite points of ``pixels``; the pen lifts at NaN."""
    parts, pen_up = [], True
    for x, y in pixels:
        if not (np.isfinite(x) and np.isfinite(y)):
            pen_up = True
            continue
        parts.append(f"{'M' if pen_up else 'L'}{x:.1f} {y:.1f}")
        pen_up = False
    return "".join(parts)


def _cross(arm):
    return f"M{-arm:.2f} {-arm:.2f}L{arm:.2f} {arm:.2f}M{-arm:.2f} {arm:.2f}L{arm:.2f} {-arm:.2f}"


def _json_script(data):
    """JSON for a ``<script type="application/json">``: no ``</`` can end the script early."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def _page(fragment, title):
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body>{fragment}</body></html>\n"
    )


# --- the hyperparameters that sliders set ------------------------------------------------------

#: The shared controls of explorers and playgrounds beside each rule's learning rate, with
#: the label of each and the values an explorer runs by default. ``momentum`` is SGD's and
#: RMSprop's momentum (only in rules that use one, so plain SGD stays plain) and β₁ of the
#: Adam family; ``beta2`` is their β₂; ``decay`` is RMSprop's α and AdaDelta's ρ.
KNOBS = {
    "momentum": ("β, β₁", (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)),
    "beta2": ("β₂", (0.8, 0.9, 0.95, 0.99, 0.999)),
    "decay": ("α, ρ", (0.5, 0.8, 0.9, 0.95, 0.99)),
}


def _inner(rule):
    """The rule that holds the hyperparameters (SoftBatch wraps another rule)."""
    inner = rule.hyperparameters().get("rule")
    return _inner(inner) if isinstance(inner, update_rules.Rule) else rule


def _knobs(rule):
    """``{"lr": ..., kind: ...}``: the values of the hyperparameters the controls set in ``rule``.

    Only the hyperparameters the rule has (inside a SoftBatch, the wrapped rule's) appear.
    """
    fields = _inner(rule).hyperparameters()
    found = {}
    if "lr" in fields:
        found["lr"] = fields["lr"]
    if "betas" in fields:
        found["momentum"], found["beta2"] = fields["betas"]
    elif "momentum" in fields and np.any(np.asarray(fields["momentum"]) != 0):
        found["momentum"] = fields["momentum"]
    for name in ("alpha", "rho"):
        if name in fields:
            found["decay"] = fields[name]
            break
    return found


def _tune(rule, **values):
    """``rule`` with the given controls (``lr`` and the kinds of :data:`KNOBS`) applied.

    Values may be arrays that broadcast against the iterates; a control the rule does not
    have is ignored.
    """
    fields = rule.hyperparameters()
    if isinstance(fields.get("rule"), update_rules.Rule):
        return rule.replace(rule=_tune(fields["rule"], **values))
    present = _knobs(rule)
    changes = {}
    if "lr" in values and "lr" in present:
        changes["lr"] = values["lr"]
    if "betas" in fields and ("momentum" in values or "beta2" in values):
        beta1, beta2 = fields["betas"]
        changes["betas"] = (values.get("momentum", beta1), values.get("beta2", beta2))
    elif "momentum" in values and "momentum" in present:
        changes["momentum"] = values["momentum"]
    if "decay" in values and "decay" in present:
        changes["alpha" if "alpha" in fields else "rho"] = values["decay"]
    return rule.replace(**changes) if changes else rule


def _named_rules(rule_set, name="rules"):
    """``rule_set`` as ``{label: rule}``: a dict is kept, a list is labelled by rule names."""
    if isinstance(rule_set, dict):
        named = {str(k): v for k, v in rule_set.items()}
    elif isinstance(rule_set, (list, tuple)):
        named = {}
        for rule in rule_set:
            base = getattr(rule, "name", type(rule).__name__)
            label, n = base, 2
            while label in named:
                label, n = f"{base} ({n})", n + 1
            named[label] = rule
    else:
        raise TypeError(
            f"`{name}` must be a dict {{label: rule}} or a list of rules. "
            f"Received: {name}={rule_set!r}"
        )
    if not named:
        raise ValueError(f"`{name}` must hold at least one rule. Received: {name}={rule_set!r}")
    for label, rule in named.items():
        if not isinstance(rule, update_rules.Rule):
            raise TypeError(
                f"`{name}[{label!r}]` must be an adalearn rule. "
                f"Received: {name}[{label!r}]={rule!r}"
            )
    return named


def _scalar_knobs(label, rule, name="rules"):
    """The rule's control values, each checked to be one number (a slider shows one value)."""
    found = _knobs(rule)
    for kind, value in found.items():
        if np.ndim(value) != 0:
            field = {"momentum": "momentum or betas[0]", "beta2": "betas[1]",
                     "decay": "alpha or rho"}.get(kind, kind)
            raise ValueError(
                f"`{name}[{label!r}].{field}` must be a single number: a slider sets it. "
                f"Received: {kind}={value!r}"
            )
        found[kind] = float(value)
    if tuple(rule.broadcast_shape((2,))) != (2,):
        raise ValueError(
            f"`{name}[{label!r}]` must describe one run (every hyperparameter a number). "
            f"Received: {name}[{label!r}]={rule!r}"
        )
    return found


def lr_grid(lr, *, below=1.5, above=1.0, per_decade=8):
    """A log-spaced grid of learning rates around ``lr``, which is one of its values.

    Parameters
    ----------
    lr : float
        The centre of the grid.
    below, above : float
        How many decades the grid reaches below and above ``lr``.
    per_decade : int
        Values per decade.

    Returns
    -------
    ndarray
        ``lr * 10 ** (k / per_decade)`` for the integers k from ``-below * per_decade`` to
        ``above * per_decade``: 21 values by default, from lr/31.6 to 10·lr.
    """
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (
        np.isfinite(lr) and lr > 0
    ):
        raise ValueError(f"`lr` must be a positive number. Received: lr={lr!r}")
    per_decade = _check_count("per_decade", per_decade, 1, 100)
    for name, value in (("below", below), ("above", above)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
            raise ValueError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")
    k = np.arange(-round(below * per_decade), round(above * per_decade) + 1)
    return float(lr) * 10.0 ** (k / per_decade)


# --- compact storage of many runs ---------------------------------------------------------------


def _zigzag(values):
    """Signed integers to unsigned ones, small magnitudes to small numbers: 0, -1, 1 → 0, 1, 2."""
    v = np.asarray(values, dtype=np.int64)
    return ((v << np.int64(1)) ^ (v >> np.int64(63))).astype(np.uint64)


def _varints(values):
    """Unsigned integers as LEB128 bytes: seven bits per byte, the high bit says "more"."""
    values = np.asarray(values, dtype=np.uint64).ravel()
    if values.size == 0:
        return b""
    n = np.ones(values.size, dtype=np.int64)
    rest = values >> np.uint64(7)
    while rest.any():
        n += rest > 0
        rest >>= np.uint64(7)
    ends = np.cumsum(n)
    out = np.zeros(int(ends[-1]), dtype=np.uint8)
    starts = ends - n
    for b in range(int(n.max())):
        chosen = n > b
        low = (values[chosen] >> np.uint64(7 * b)) & np.uint64(0x7F)
        more = (n[chosen] > b + 1).astype(np.uint64) << np.uint64(7)
        out[starts[chosen] + b] = (low | more).astype(np.uint8)
    return out.tobytes()


class _Block:
    """The runs of one rule on one function over its grid, ready to be stored.

    Attributes: ``shape`` (lr, knobs..., starts), and per run (C order of ``shape``)
    ``valid``, ``stopped``, ``diverged``, ``final`` (f at the last valid iterate), ``points``
    (a list of int arrays (k+1, 2): the quantised CSS pixels of the valid iterates) and
    ``exit`` (the quantised pixel of a diverged run's cross, else None).
    """

    def __init__(self, shape):
        self.shape = tuple(shape)
        size = int(np.prod(self.shape))
        self.valid = np.zeros(size, dtype=bool)
        self.stopped = np.zeros(size, dtype=np.int64)
        self.diverged = np.zeros(size, dtype=bool)
        self.final = np.full(size, np.nan)
        self.points = [None] * size
        self.exit = [None] * size


class Explorer:
    """Precomputed runs over a grid of hyperparameters, shown as the controls move.

    Every rule runs over its grid in one batched :func:`adalearn.trajectory.run` per function:
    its learning rates (log-spaced around its own, 21 by default) times the values of the
    shared controls it has (:data:`KNOBS`: momentum or β₁, β₂, α or ρ; five or six each)
    times the start points. The page stores every run: its iterates as CSS pixels of the
    picture, quantised to ``1 / resolution`` of a pixel, delta-coded and deflated; its final
    value and its divergence step. A small script inflates them once and, as a slider moves,
    draws the stored run of the values chosen. Sliders snap to grid values; each readout gives
    the value shown and its place in the grid.

    Parameters
    ----------
    fn : test function or list of test functions
        The landscape; with several, a menu switches between them (each gets its background).
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
        The learning-rate grid, for all rules or per label; default :func:`lr_grid` around
        each rule's own learning rate.
    grid : dict {kind: array_like}, optional
        The values of the shared controls (``"momentum"``, ``"beta2"``, ``"decay"``); default
        those of :data:`KNOBS`, with the first rule's own value added. Each control starts at
        the first rule's value that has it, as in the playground.
    figsize, dpi, density, title, image_format
        As in :class:`Player`.
    resolution : int
        Quantisation steps per CSS pixel: a stored iterate is within ``0.5 / resolution`` pixel
        of the true one.

    Attributes
    ----------
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
    JavaScript, is the runs of the initial values.
    """

    def __init__(self, fn, rules, *, steps=150, starts=None, lr=None, grid=None, figsize=None,
                 dpi=100, density=2, resolution=4, title=None, image_format="auto"):
        import time

        functions = list(fn) if isinstance(fn, (list, tuple)) else [fn]
        if not functions:
            raise ValueError(f"`fn` must hold at least one test function. Received: fn={fn!r}")
        self.functions = [_check_function(f) for f in functions]
        self.rules = _named_rules(rules)
        self.steps = _check_count("steps", steps, 1, 5000)
        self.resolution = _check_count("resolution", resolution, 1, 64)
        _check_positive("dpi", dpi)
        self.knob_values = {label: _scalar_knobs(label, rule)
                            for label, rule in self.rules.items()}
        self._starts = self._check_starts(starts)
        self.lrs, self.lr_index = self._lr_grids(lr)
        self.knobs = self._knob_grids(grid)

        self._stages = [
            _Stage(f, "2d", figsize=figsize, dpi=dpi, density=density, title=title,
                   image_format=image_format)
            for f in self.functions
        ]
        start_time = time.perf_counter()
        self._blocks = {(label, i): self._run_block(label, i)
                        for i in range(len(self.functions)) for label in self.rules}
        self.seconds = time.perf_counter() - start_time
        self.runs = sum(int(np.prod(b.shape)) for b in self._blocks.values())

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

    def _lr_grids(self, lr):
        grids, index = {}, {}
        for label in self.rules:
            own = self.knob_values[label].get("lr")
            if own is None:
                grids[label], index[label] = None, 0
                continue
            chosen = lr.get(label) if isinstance(lr, dict) else lr
            if chosen is None:
                values = lr_grid(own)
            else:
                values = np.unique(np.asarray(chosen, dtype=float).ravel())
                if not values.size or not np.all(np.isfinite(values)) or np.any(values <= 0):
                    raise ValueError(
                        f"`lr` must hold positive learning rates. Received: lr={chosen!r}"
                    )
            grids[label] = values
            index[label] = int(np.argmin(np.abs(np.log(values) - np.log(own)))) if own > 0 else 0
        return grids, index

    def _knob_grids(self, grid):
        grid = {} if grid is None else dict(grid)
        unknown = sorted(set(grid) - set(KNOBS))
        if unknown:
            raise ValueError(
                f"`grid` must have keys among {sorted(KNOBS)}. Received: keys={unknown!r}"
            )
        knobs = []
        for kind, (label, default) in KNOBS.items():
            owners = [v[kind] for v in self.knob_values.values() if kind in v]
            if not owners:
                continue
            first = owners[0]
            if kind in grid:
                values = np.unique(np.asarray(grid[kind], dtype=float).ravel())
                if not values.size or not np.all(np.isfinite(values)):
                    raise ValueError(
                        f"`grid[{kind!r}]` must hold finite numbers. "
                        f"Received: grid[{kind!r}]={grid[kind]!r}"
                    )
            else:
                values = np.asarray(default, dtype=float)
                if not np.any(np.isclose(values, first, rtol=0, atol=1e-12)):
                    values = np.sort(np.append(values, first))
            knobs.append({"kind": kind, "label": label, "values": values,
                          "index": int(np.argmin(np.abs(values - first)))})
        return knobs

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
        block = _Block(shape)

        # Grid values the rule rejects are replaced by its own value and marked not run.
        own = self.knob_values[label]
        usable, rejected = [], []
        for kind, values in axes:
            values = values.copy()
            bad = {}
            if kind != "lr" or lrs is not None:
                for j, value in enumerate(values):
                    try:
                        _tune(rule, **{kind: float(value)})
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
            runs = trajectory.run(_tune(rule, **settings), fn, starts, self.steps)
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
                index = [slice(None)] * ndim
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
            runs = trajectory.run(_tune(rule, **settings), fn, starts, self.steps)
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

    def _pack(self):
        """All runs as one deflated byte string, and each block's first run in it.

        Layout: per run one LEB128 code (0: not run; else 2·(k+1) + diverged, k its last valid
        step); the final values of the runs that ran, little-endian float64; the crosses of the
        diverged runs, two zigzag LEB128 numbers each; the iterates of the runs that ran, as
        zigzag LEB128 differences from the previous iterate (the first from 0), x then y.
        """
        order = [(label, i) for i in range(len(self.functions)) for label in self.rules]
        offsets, total = {}, 0
        codes, finals, exits, deltas = [], [], [], []
        for key in order:
            block = self._blocks[key]
            offsets[key] = total
            total += block.valid.size
            code = np.where(block.valid, 2 * (block.stopped + 1) + block.diverged, 0)
            codes.append(code)
            finals.append(block.final[block.valid])
            for r in np.flatnonzero(block.valid):
                if block.exit[r] is not None:
                    exits.append(block.exit[r])
                points = block.points[r]
                deltas.append(np.diff(points, axis=0, prepend=np.zeros((1, 2), np.int64)))
        blob = b"".join([
            _varints(np.concatenate(codes)),
            np.concatenate(finals).astype("<f8").tobytes(),
            _varints(_zigzag(np.concatenate(exits).ravel())) if exits else b"",
            _varints(_zigzag(np.concatenate(deltas).ravel())) if deltas else b"",
        ])
        return zlib.compress(blob, 9), offsets, total

    def _status(self, label, block, r, axes_index):
        if not block.valid[r]:
            for axis, bad in enumerate(block.rejected):
                if axes_index[axis] in bad:
                    return f"not run: {bad[axes_index[axis]]}"
        part = {"values": np.array([block.final[r]]), "stopped": int(block.stopped[r]),
                "diverged": bool(block.diverged[r])}
        return plotting.run_status(part)

    def _data(self):
        blob, offsets, total = self._pack()
        data = {
            "q": self.resolution,
            "n": total,
            "fns": [
                {"name": getattr(f, "name", f"function {i + 1}"),
                 "img": None if i == 0 else stage.data_uri(),
                 "size": [round(stage.width, 1), round(stage.height, 1)],
                 "clip": [round(v, 2) for v in stage.clip]}
                for i, (f, stage) in enumerate(zip(self.functions, self._stages, strict=True))
            ],
            "starts": len(self._starts[0]),
            "knobs": [{"label": k["label"], "values": [float(v) for v in k["values"]],
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
                "lr": None if lrs is None else [float(v) for v in lrs],
                "lr0": self.lr_index[label],
                "knobs": self._rule_knobs(label),
                "shape": list(block.shape),
                "offsets": [offsets[(label, i)] for i in range(len(self.functions))],
                "notes": [[axis, j, message] for axis, bad in enumerate(block.rejected)
                          for j, message in bad.items()],
            })
        return data

    def to_html(self, *, full_page=False):
        """The explorer as HTML: a fragment for notebooks, or a whole page with ``full_page``.

        The fragment carries its image, styles, data and script (no external resources) and
        fresh element ids, so several explorers can share a page.
        """
        uid = f"adl-{uuid.uuid4().hex[:10]}"
        stage = self._stages[0]
        w, h = f"{stage.width:.1f}", f"{stage.height:.1f}"
        cx, cy, cw, ch = stage.clip
        q = self.resolution
        r_start, r_end, arm = _marker_radii(stage.dpi)
        palette = plotting.colors(self.rules)
        lines, starts, heads, crosses, rows = [], [], [], [], []
        for label in self.rules:
            color = html.escape(palette[label])
            block = self._blocks[(label, 0)]
            r = self._initial_run(label)
            points = block.points[r] / q if block.valid[r] else np.empty((0, 2))
            d = _svg_path(points)
            lines.append(f'<path class="adl-halo" d="{d}"/>'
                         f'<path class="adl-path" d="{d}" stroke="{color}"/>')
            x, y = points[0] if len(points) else (0.0, 0.0)
            starts.append(f'<circle class="adl-start" cx="{x:.2f}" cy="{y:.2f}" '
                          f'r="{r_start:.2f}" stroke="{color}" '
                          f'visibility="{"visible" if len(points) else "hidden"}"/>')
            shown = len(points) and not block.diverged[r]
            x, y = points[-1] if shown else (0.0, 0.0)
            heads.append(f'<circle class="adl-head" cx="{x:.2f}" cy="{y:.2f}" r="{r_end:.2f}" '
                         f'fill="{color}" visibility="{"visible" if shown else "hidden"}"/>')
            crossed = block.valid[r] and block.diverged[r]
            ex, ey = block.exit[r] / q if crossed else (0.0, 0.0)
            crosses.append(f'<path class="adl-cross" transform="translate({ex:.2f} {ey:.2f})" '
                           f'd="{_cross(arm)}" stroke="{color}" '
                           f'visibility="{"visible" if crossed else "hidden"}"/>')
            axes_index = np.unravel_index(r, block.shape)
            status = html.escape(self._status(label, block, r, axes_index))
            name = (f'<span class="adl-swatch" style="background:{color}"></span>'
                    f"{html.escape(label)}")
            if len(self.rules) > 1:
                name = (f'<input type="checkbox" class="adl-use" checked '
                        f'aria-label="show {html.escape(label)}">{name}')
            lrs = self.lrs[label]
            if lrs is None:
                rate = '<span class="adl-lr-none">no learning rate</span>'
            else:
                i = self.lr_index[label]
                rate = (
                    f'<label class="adl-lr-label">lr <input type="range" class="adl-lr" '
                    f'min="0" max="{len(lrs) - 1}" step="1" value="{i}" '
                    f'aria-label="{html.escape(label)} learning rate"></label>'
                    f'<output class="adl-lr-value">{lrs[i]:.4g}</output>'
                    f'<span class="adl-grid">{i + 1} of {len(lrs)}</span>'
                )
            rows.append(f'<div class="adl-rule"><label class="adl-name">{name}</label>{rate}'
                        f'<span class="adl-status">{status}</span></div>')
        controls = []
        if len(self.functions) > 1:
            options = "".join(
                f'<option value="{i}">{html.escape(getattr(f, "name", str(i)))}</option>'
                for i, f in enumerate(self.functions))
            controls.append('<label>function <select class="adl-fn" aria-label="function">'
                            f"{options}</select></label>")
        if len(self._starts[0]) > 1:
            options = "".join(
                f'<option value="{i}">({p[0]:.4g}, {p[1]:.4g})</option>'
                for i, p in enumerate(self._starts[0]))
            controls.append('<label>start <select class="adl-start-menu" aria-label="start">'
                            f"{options}</select></label>")
        for position, knob in enumerate(self.knobs):
            i, values = knob["index"], knob["values"]
            controls.append(
                f'<span class="adl-knob"><label>{html.escape(knob["label"])} '
                f'<input type="range" class="adl-knob-input" data-knob="{position}" min="0" '
                f'max="{len(values) - 1}" step="1" value="{i}" '
                f'aria-label="{html.escape(knob["label"])}"></label>'
                f'<output class="adl-knob-value">{values[i]:.4g}</output>'
                f'<span class="adl-grid">{i + 1} of {len(values)}</span></span>'
            )
        fragment = _EXPLORER_TEMPLATE.format(
            uid=uid, w=w, h=h, image=stage.data_uri(), cx=f"{cx:.2f}", cy=f"{cy:.2f}",
            cw=f"{cw:.2f}", ch=f"{ch:.2f}",
            overlay="".join(lines + starts + heads), marks="".join(crosses),
            controls="".join(controls), rules="".join(rows),
            note=html.escape(_EXPLORER_NOTE), data=_json_script(self._data()),
            style=_EXPLORER_STYLE + _run_css(".adalearn-explorer", stage.dpi),
            script=_EXPLORER_SCRIPT.replace("__UID__", uid).replace("__FORMAT__", _FORMAT_JS),
        )
        return _page(fragment, "adalearn explorer") if full_page else fragment

    def _repr_html_(self):
        return self.to_html()

    def save_html(self, path):
        """Write the explorer as a standalone HTML page to ``path``."""
        with open(path, "w", encoding="utf-8") as file:
            file.write(self.to_html(full_page=True))


def explore(fn, rules, **options):
    """An :class:`Explorer`: a rule set run over a hyperparameter grid, shown by sliders.

    Parameters
    ----------
    fn : test function or list of test functions
    rules : dict {label: rule} or list of rules
    **options
        Passed to :class:`Explorer` (``steps``, ``starts``, ``lr``, ``grid``, ``figsize``,
        ``dpi``, ``resolution``, ``title``).

    Returns
    -------
    Explorer
        Displays as the explorer (last line of a cell).

    Examples
    --------
    >>> from adalearn import animation, functions, rules
    >>> explorer = animation.explore(functions.get("sphere"), {"GD": rules.SGD(lr=0.2)},
    ...                              steps=40)
    >>> explorer.lrs["GD"].size, explorer.runs
    (21, 21)
    """
    return Explorer(fn, rules, **options)


#: The colours of the minima on a basin map, in the order of ``fn.minima``; divergence is dark,
#: a run still moving at the end is light.
_BASIN_COLORS = ("#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442",
                 "#882255")
_DIVERGED_COLOR, _MOVING_COLOR = "#3b3b3b", "#ffffff"

# A run has reached a minimum when its last _SETTLE_STEPS steps are all short.
_SETTLE_STEPS = 5
# Memory a batched run of a basin map may hold for its iterates, in bytes.
_BASIN_CHUNK_BYTES = 48e6


class Basins:
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
    fn : test function
        With ``minima`` inside its window.
    rule : rule
        With a learning rate; a SoftBatch's wrapped rule's is used.
    lr : array_like, optional
        The learning-rate grid; by default 13 values from half a decade below the rule's own
        to half a decade above (:func:`lr_grid`).
    resolution : int
        Starts per side: ``resolution ** 2`` runs per learning rate (10⁴ by default).
    steps : int
    tol : float, optional
        How close to a minimum a run must end to count as reaching it; 2 % of the window's
        diagonal by default.
    figsize, dpi, density, title, image_format
        As in :class:`Player`.

    Attributes
    ----------
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

    def __init__(self, fn, rule, *, lr=None, resolution=100, steps=120, tol=None, figsize=None,
                 dpi=100, density=2, title=None, image_format="auto"):
        import time

        self.fn = _check_function(fn)
        (self.rule,) = _named_rules([rule], name="rule").values()
        own = _scalar_knobs("rule", self.rule, name="rule").get("lr")
        if own is None:
            raise ValueError(f"`rule` must have a learning rate. Received: rule={rule!r}")
        self.resolution = _check_count("resolution", resolution, 2, 400)
        self.steps = _check_count("steps", steps, 1, 5000)
        (x1_lo, x1_hi), (x2_lo, x2_hi) = fn.bounds
        diagonal = float(np.hypot(x1_hi - x1_lo, x2_hi - x2_lo))
        self.tol = 0.02 * diagonal if tol is None else float(tol)
        _check_positive("tol", self.tol)
        self.minima = [tuple(map(float, m.x)) for m in getattr(fn, "minima", ())
                       if x1_lo <= m.x[0] <= x1_hi and x2_lo <= m.x[1] <= x2_hi]
        if not self.minima:
            raise ValueError(f"`fn` must have a minimum inside its window. Received: fn={fn!r}")
        if lr is None:
            self.lrs = lr_grid(own, below=0.5, above=0.5, per_decade=12)
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
        self._stage = _Stage(fn, "2d", figsize=figsize, dpi=dpi, density=density, title=title,
                             image_format=image_format, minima=False)

    def _classify(self):
        n, m = self.resolution, len(self.minima)
        starts = self.starts.reshape(-1, 2)
        minima = np.asarray(self.minima)
        per_lr = (self.steps + 1) * len(starts) * 2 * 8 * 1.5
        chunk = max(1, int(_BASIN_CHUNK_BYTES // per_lr))
        classes = np.empty((len(self.lrs), n * n), dtype=np.uint8)
        for first in range(0, len(self.lrs), chunk):
            lrs = self.lrs[first:first + chunk]
            tuned = _tune(self.rule, lr=lrs.reshape(-1, 1, 1))
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

    def shares(self, index):
        """The share of starts in each class at learning rate ``lrs[index]``."""
        counts = np.bincount(self.classes[index].ravel(), minlength=len(self.minima) + 2)
        return counts / counts.sum()

    def _legend(self):
        labels = [f"({x:.3g}, {y:.3g})" for x, y in self.minima]
        colors = [_BASIN_COLORS[i % len(_BASIN_COLORS)] for i in range(len(self.minima))]
        labels += ["diverged", f"still moving after {self.steps} steps"]
        colors += [_DIVERGED_COLOR, _MOVING_COLOR]
        return labels, colors

    def to_html(self, *, full_page=False):
        """The map as HTML: a fragment for notebooks, or a whole page with ``full_page``."""
        uid = f"adl-{uuid.uuid4().hex[:10]}"
        stage = self._stage
        w, h = f"{stage.width:.1f}", f"{stage.height:.1f}"
        cx, cy, cw, ch = stage.clip
        labels, colors = self._legend()
        i = self.lr_index
        shares = self.shares(i)
        legend = "".join(
            f'<span class="adl-item"><span class="adl-swatch" style="background:{c}"></span>'
            f'{html.escape(label)} <span class="adl-share">{100 * s:.1f} %</span></span>'
            for label, c, s in zip(labels, colors, shares, strict=True)
        )
        stars = []
        for (x, y), color in zip(self.minima, colors, strict=False):
            px, py = stage.pixels(np.array([[x, y]]))[0]
            stars.append(f'<path class="adl-star" transform="translate({px:.2f} {py:.2f})" '
                         f'd="{_STAR}" fill="{color}"/>')
        data = {
            "n": self.resolution,
            "lr": [float(v) for v in self.lrs],
            "colors": colors,
            "blob": base64.b64encode(zlib.compress(self.classes.tobytes(), 9)).decode("ascii"),
        }
        # The map of the first learning rate, for the page before (or without) its script.
        from PIL import Image

        rgb = np.array([[int(c[k:k + 2], 16) for k in (1, 3, 5)] for c in colors], np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(rgb[self.classes[i]]).save(buffer, format="PNG", optimize=True)
        first = base64.b64encode(buffer.getvalue()).decode("ascii")
        fragment = _BASINS_TEMPLATE.format(
            uid=uid, w=w, h=h, image=stage.data_uri(), n=self.resolution,
            left=f"{100 * cx / stage.width:.3f}", top=f"{100 * cy / stage.height:.3f}",
            width=f"{100 * cw / stage.width:.3f}", height=f"{100 * ch / stage.height:.3f}",
            first=first, stars="".join(stars), max=len(self.lrs) - 1, index=i,
            lr=f"{self.lrs[i]:.4g}", place=f"{i + 1} of {len(self.lrs)}",
            rule=html.escape(getattr(self.rule, "name", type(self.rule).__name__)),
            legend=legend, note=html.escape(_EXPLORER_NOTE), data=_json_script(data),
            style=_BASINS_STYLE,
            script=_BASINS_SCRIPT.replace("__UID__", uid).replace("__FORMAT__", _FORMAT_JS),
        )
        return _page(fragment, "adalearn basins") if full_page else fragment

    def _repr_html_(self):
        return self.to_html()

    def save_html(self, path):
        """Write the map as a standalone HTML page to ``path``."""
        with open(path, "w", encoding="utf-8") as file:
            file.write(self.to_html(full_page=True))


def basins(fn, rule, **options):
    """A :class:`Basins` map: the minimum each start reaches, with a learning-rate slider.

    Parameters
    ----------
    fn : test function
    rule : rule
    **options
        Passed to :class:`Basins` (``lr``, ``resolution``, ``steps``, ``tol``, ``figsize``,
        ``dpi``, ``title``).

    Returns
    -------
    Basins
        Displays as the map (last line of a cell).
    """
    return Basins(fn, rule, **options)


_STAR = ("M0 -7.5L1.76 -2.43L7.13 -2.32L2.85 0.93L4.41 6.07L0 3L-4.41 6.07L-2.85 0.93"
         "L-7.13 -2.32L-1.76 -2.43Z")


class _GifFrames:
    """Draws a player's frames with Pillow over its background, anti-aliased by 2× drawing."""

    scale = 2

    def __init__(self, player):
        from PIL import Image, ImageDraw, ImageFont

        self.player = player
        self.font = ImageFont.load_default(size=13)
        row = 20
        columns = 3
        rows = -(-len(player.runs) // columns)
        strip = 10 + row * (rows + 1)
        width, height = round(player.width), round(player.height)
        base = Image.new("RGB", (width, height + strip), "white")
        landscape = Image.fromarray(player.background)
        base.paste(landscape.resize((width, height), Image.Resampling.LANCZOS), (0, 0))
        draw = ImageDraw.Draw(base)
        column_width = width // columns
        for i, run in enumerate(player.runs):
            x = 12 + (i % columns) * column_width
            y = height + 8 + (i // columns) * row
            draw.rounded_rectangle((x, y + 6, x + 22, y + 10), radius=2, fill=run["color"])
            draw.text((x + 28, y), run["label"], fill="#1a1a1a", font=self.font)
        self.base = base
        self.counter_at = (12, height + 8 + rows * row)
        cx, cy, cw, ch = player.clip
        self.box = (int(np.floor(cx)), int(np.floor(cy)), int(np.ceil(cx + cw)),
                    int(np.ceil(cy + ch)))
        self.Image, self.ImageDraw = Image, ImageDraw

    def _points(self, pixels):
        """Runs of consecutive finite points, in the 2×-scaled coordinates of the axes box."""
        s, (bx, by) = self.scale, self.box[:2]
        segments, current = [], []
        for x, y in pixels:
            if np.isfinite(x) and np.isfinite(y):
                current.append(((x - bx) * s, (y - by) * s))
            elif current:
                segments.append(current)
                current = []
        if current:
            segments.append(current)
        return segments

    def frame(self, t):
        player, s = self.player, self.scale
        x0, y0, x1, y1 = self.box
        overlay = self.Image.new("RGBA", ((x1 - x0) * s, (y1 - y0) * s), (0, 0, 0, 0))
        draw = self.ImageDraw.Draw(overlay)
        # Sizes from plotting.RUN_STYLE, in the player's CSS pixels.
        style, px = plotting.RUN_STYLE, player._stage.dpi / 72
        r_start, r_end, arm = _marker_radii(player._stage.dpi)
        outline = style["outline"]
        halo_color = (*(int(outline["color"][i:i + 2], 16) for i in (1, 3, 5)),
                      round(255 * outline["alpha"]))
        for width, halo in ((outline["linewidth"] * px, True), (style["linewidth"] * px, False)):
            for run in player.runs:
                k = min(t, run["stopped"])
                for segment in self._points(run["pixels"][: k + 1]):
                    if len(segment) > 1:
                        draw.line(segment, fill=halo_color if halo else run["color"],
                                  width=round(width * s), joint="curve")
        for run in player.runs:
            for ((x, y),) in self._points(run["pixels"][:1]):
                r = r_start * s
                draw.ellipse((x - r, y - r, x + r, y + r), fill=style["start"]["face"],
                             outline=run["color"],
                             width=round(style["start"]["edgewidth"] * px * s))
        gone = []
        for run in player.runs:
            k = min(t, run["stopped"])
            if run["diverged"] and t > run["stopped"]:
                gone.append(run)
                continue
            head = self._points(run["pixels"][k : k + 1])
            if head:
                (x, y), r = head[0][0], r_end * s
                draw.ellipse((x - r, y - r, x + r, y + r), fill=run["color"],
                             outline=style["end"]["edge"],
                             width=round(style["end"]["edgewidth"] * px * s))
        small = overlay.resize((x1 - x0, y1 - y0), self.Image.Resampling.BOX)
        frame = self.base.copy()
        frame.paste(small, (x0, y0), small)
        draw = self.ImageDraw.Draw(frame)
        # Crosses sit on the window's edge, so they are drawn unclipped on the whole frame.
        for run in gone:
            (ex, ey), r = run["exit"], arm
            width = round(style["diverged"]["size"] * px * 0.19)
            draw.line(((ex - r, ey - r), (ex + r, ey + r)), fill=run["color"], width=width)
            draw.line(((ex - r, ey + r), (ex + r, ey - r)), fill=run["color"], width=width)
        draw.text(self.counter_at, f"step {t} / {player.steps}", fill="#1a1a1a", font=self.font)
        return frame


# --- styles and scripts ---------------------------------------------------------------------------

# Python's format(v, ".4g") in JavaScript, so that a readout says what plotting.run_status says.
_FORMAT_JS = r"""
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (v !== v) return "nan";
    if (!isFinite(v)) return v > 0 ? "inf" : "-inf";
    if (v === 0) return 1 / v < 0 ? "-0" : "0";
    var parts = v.toExponential(3).split("e"), e = parseInt(parts[1], 10);
    if (e < -4 || e >= 4) {
      var a = Math.abs(e);
      return parts[0].replace(/\.?0+$/, "") + "e" + (e < 0 ? "-" : "+") + (a < 10 ? "0" : "") + a;
    }
    return v.toFixed(3 - e).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
  }
"""

_COMMON_STYLE = """
{root}{{font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  max-width:100%;margin:.5em 0}}
{root} .adl-stage{{position:relative}}
{root} .adl-stage img{{display:block;width:100%;height:auto;margin:0}}
{root} svg{{position:absolute;left:0;top:0;width:100%;height:100%}}
{root} .adl-swatch{{display:inline-block;width:1.6em;height:.32em;border-radius:.16em;
  vertical-align:middle;margin-right:.4em}}
{root} input[type=range]{{vertical-align:middle}}
{root} output,{root} .adl-value,{root} .adl-status,{root} .adl-share{{
  font-variant-numeric:tabular-nums}}
"""

_PLAYER_STYLE = _COMMON_STYLE.format(root=".adalearn-player") + """
.adalearn-player .adl-controls{display:flex;align-items:center;gap:.6em;flex-wrap:wrap;
  margin:.35em 0}
.adalearn-player .adl-play{min-width:5.5em;cursor:pointer}
.adalearn-player .adl-slider{flex:1;min-width:8em}
.adalearn-player .adl-step{font-variant-numeric:tabular-nums;min-width:7.5em}
.adalearn-player .adl-legend{display:flex;flex-wrap:wrap;gap:.15em 1.3em}
.adalearn-player .adl-value{opacity:.75}
"""

_PLAYER_SCRIPT = r"""
(function () {
  var script = document.currentScript;
__FORMAT__
  function start() {
    var root = (script && script.closest && script.closest(".adalearn-player")) ||
      document.getElementById("__UID__");
    if (!root || root.getAttribute("data-ready")) return;
    root.setAttribute("data-ready", "1");
    var data = JSON.parse(root.querySelector(".adl-data").textContent);
    var T = data.steps, runs = data.runs;
    function all(sel) { return root.querySelectorAll(sel); }
    var button = root.querySelector(".adl-play"), slider = root.querySelector(".adl-slider"),
      speed = root.querySelector(".adl-speed"), counter = root.querySelector(".adl-step");
    var paths = all(".adl-path"), halos = all(".adl-halo"), heads = all(".adl-head"),
      crosses = all(".adl-cross"), values = all(".adl-value");
    function pathData(r, k) {
      var out = [], up = true;
      for (var i = 0; i <= k; i++) {
        var x = r.p[2 * i], y = r.p[2 * i + 1];
        if (x === null || y === null) { up = true; continue; }
        out.push((up ? "M" : "L") + x / 10 + " " + y / 10);
        up = false;
      }
      return out.join("");
    }
    var step = T, playing = false, last = null, carry = 0;
    function show(t) {
      step = t;
      slider.value = t;
      counter.textContent = "step " + t + " / " + T;
      for (var j = 0; j < runs.length; j++) {
        var r = runs[j], k = Math.min(t, r.stop), d = pathData(r, k);
        paths[j].setAttribute("d", d);
        halos[j].setAttribute("d", d);
        var x = r.p[2 * k], y = r.p[2 * k + 1], gone = r.div && t > r.stop;
        if (x === null || y === null || gone) {
          heads[j].setAttribute("visibility", "hidden");
        } else {
          heads[j].setAttribute("cx", x / 10);
          heads[j].setAttribute("cy", y / 10);
          heads[j].setAttribute("visibility", "visible");
        }
        crosses[j].setAttribute("visibility", gone ? "visible" : "hidden");
        values[j].textContent = gone ? "diverged at step " + (r.stop + 1) :
          "f = " + fmt(r.v[k]) + (t > r.stop ? " (ended at step " + r.stop + ")" : "");
      }
    }
    function pause() {
      playing = false;
      button.textContent = "\u25B6 Play";
      button.setAttribute("aria-pressed", "false");
    }
    function frame(now) {
      if (!playing) return;
      if (last !== null) carry += (now - last) / 1000 * data.fps * parseFloat(speed.value);
      last = now;
      var n = Math.floor(carry);
      if (n > 0) { carry -= n; show(Math.min(step + n, T)); }
      if (step >= T) { pause(); return; }
      window.requestAnimationFrame(frame);
    }
    function play() {
      if (step >= T) show(0);
      playing = true;
      last = null;
      carry = 0;
      button.textContent = "\u275A\u275A Pause";
      button.setAttribute("aria-pressed", "true");
      window.requestAnimationFrame(frame);
    }
    button.addEventListener("click", function () { if (playing) pause(); else play(); });
    slider.addEventListener("input", function () { pause(); show(parseInt(slider.value, 10)); });
    show(T);
  }
  if (script && script.closest && script.closest(".adalearn-player")) start();
  else window.setTimeout(start, 0);
})();
"""

_PLAYER_TEMPLATE = (
    '<div class="adalearn-player" id="{uid}" style="width:{w}px">'
    "<style>{style}</style>"
    '<div class="adl-stage"><img alt="landscape" width="{w}" height="{h}" '
    'src="data:{mime};base64,{image}">'
    '<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
    '<defs><clipPath id="{uid}-clip"><rect x="{cx}" y="{cy}" width="{cw}" height="{ch}"/>'
    '</clipPath></defs><g clip-path="url(#{uid}-clip)">{overlay}</g>{marks}</svg></div>'
    '<div class="adl-controls">'
    '<button type="button" class="adl-play" aria-pressed="false">&#9654; Play</button>'
    '<input class="adl-slider" type="range" min="0" max="{steps}" step="1" value="{steps}" '
    'aria-label="step">'
    '<label>speed <select class="adl-speed" aria-label="speed">{speeds}</select></label>'
    '<span class="adl-step">step {steps} / {steps}</span></div>'
    '<div class="adl-legend">{legend}</div>'
    '<script type="application/json" class="adl-data">{data}</script>'
    "<script>{script}</script></div>"
)

_EXPLORER_STYLE = _COMMON_STYLE.format(root=".adalearn-explorer") + """
.adalearn-explorer .adl-controls{display:flex;align-items:center;gap:.3em 1.2em;
  flex-wrap:wrap;margin:.35em 0}
.adalearn-explorer .adl-rules{display:grid;align-items:center;gap:.1em .6em;
  grid-template-columns:max-content max-content max-content max-content minmax(8em,1fr);
  overflow-x:auto}
.adalearn-explorer .adl-rule{display:contents}
.adalearn-explorer .adl-lr-none{grid-column:span 3;opacity:.6}
.adalearn-explorer output{display:inline-block;min-width:3.4em;text-align:right}
.adalearn-explorer .adl-grid{opacity:.6;font-size:.85em;margin-left:.35em;white-space:nowrap}
.adalearn-explorer .adl-knob{white-space:nowrap}
.adalearn-explorer .adl-status{opacity:.8}
.adalearn-explorer .adl-stage{max-width:100%}
.adalearn-explorer .adl-note{font-size:.85em;opacity:.75;margin:.3em 0 0;max-width:46em}
.adalearn-explorer .adl-off{opacity:.45}
"""

_EXPLORER_SCRIPT = r"""
(function () {
  var script = document.currentScript;
__FORMAT__
  function inflate(text) {
    var raw = atob(text), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (b) { return new Uint8Array(b); });
  }
  function decode(data, u8) {
    var N = data.n, q = data.q, pos = 0, i, k;
    function unsigned() {
      var x = 0, m = 1, b;
      do { b = u8[pos++]; x += (b & 127) * m; m *= 128; } while (b & 128);
      return x;
    }
    function signed() { var v = unsigned(); return v % 2 ? -(v + 1) / 2 : v / 2; }
    var count = new Int32Array(N), div = new Uint8Array(N), ran = new Uint8Array(N);
    for (i = 0; i < N; i++) {
      var c = unsigned();
      if (c) { ran[i] = 1; div[i] = c % 2; count[i] = (c - div[i]) / 2; }
    }
    var view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
    var final = new Float64Array(N);
    for (i = 0; i < N; i++) if (ran[i]) { final[i] = view.getFloat64(pos, true); pos += 8; }
    var exit = new Float64Array(2 * N);
    for (i = 0; i < N; i++) {
      if (div[i]) { exit[2 * i] = signed() / q; exit[2 * i + 1] = signed() / q; }
    }
    var first = new Int32Array(N + 1), total = 0;
    for (i = 0; i < N; i++) { first[i] = total; total += count[i]; }
    first[N] = total;
    var xy = new Float64Array(2 * total), p = 0;
    for (i = 0; i < N; i++) {
      var x = 0, y = 0;
      for (k = 0; k < count[i]; k++) {
        x += signed(); y += signed();
        xy[2 * p] = x / q; xy[2 * p + 1] = y / q; p++;
      }
    }
    return {ran: ran, div: div, count: count, final: final, exit: exit, first: first, xy: xy};
  }
  function start() {
    var root = (script && script.closest && script.closest(".adalearn-explorer")) ||
      document.getElementById("__UID__");
    if (!root || root.getAttribute("data-state")) return;
    root.setAttribute("data-state", "loading");
    var data = JSON.parse(root.querySelector(".adl-data").textContent);
    var inputs = root.querySelectorAll("input, select");
    for (var i = 0; i < inputs.length; i++) inputs[i].disabled = true;
    if (typeof DecompressionStream === "undefined") {
      root.querySelector(".adl-note").textContent =
        "This browser cannot unpack the stored runs (it lacks DecompressionStream); " +
        "the picture shows the first values.";
      return;
    }
    inflate(data.blob).then(function (u8) { run(root, data, decode(data, u8), inputs); });
  }
  function run(root, data, runs, inputs) {
    function all(sel) { return root.querySelectorAll(sel); }
    var stage = root.querySelector(".adl-stage"), img = stage.querySelector("img"),
      svg = root.querySelector("svg"),
      clip = root.querySelector("clipPath rect");
    var paths = all(".adl-path"), halos = all(".adl-halo"), starts = all(".adl-start"),
      heads = all(".adl-head"), crosses = all(".adl-cross"), rows = all(".adl-rule");
    var knobInputs = all(".adl-knob-input"), knobValues = all(".adl-knob-value"),
      knobPlaces = all(".adl-knob .adl-grid");
    var fnMenu = root.querySelector(".adl-fn"), startMenu = root.querySelector(".adl-start-menu");
    var firstImage = img.getAttribute("src");
    var state = {fn: 0, start: 0, knobs: data.knobs.map(function (k) { return k.index; }),
      lr: data.rules.map(function (r) { return r.lr0; }),
      use: data.rules.map(function () { return true; })};
    function index(j) {
      var rule = data.rules[j], at = [state.lr[j]];
      for (var a = 0; a < rule.knobs.length; a++) at.push(state.knobs[rule.knobs[a]]);
      at.push(state.start);
      var flat = 0;
      for (var d = 0; d < at.length; d++) flat = flat * rule.shape[d] + at[d];
      return {run: rule.offsets[state.fn] + flat, at: at};
    }
    function pathData(i) {
      var out = [], s = runs.first[i], e = s + runs.count[i];
      for (var k = s; k < e; k++) {
        out.push((k === s ? "M" : "L") + runs.xy[2 * k] + " " + runs.xy[2 * k + 1]);
      }
      return out.join("");
    }
    function status(j, found) {
      var i = found.run;
      if (!runs.ran[i]) {
        var notes = data.rules[j].notes;
        for (var n = 0; n < notes.length; n++) {
          if (found.at[notes[n][0]] === notes[n][1]) return "not run: " + notes[n][2];
        }
        return "not run";
      }
      if (runs.div[i]) return "diverged at step " + runs.count[i];
      return "f = " + fmt(runs.final[i]);
    }
    function draw(j) {
      var row = rows[j], found = index(j), i = found.run, shown = state.use[j] && runs.ran[i];
      var d = shown ? pathData(i) : "";
      paths[j].setAttribute("d", d);
      halos[j].setAttribute("d", d);
      var s = runs.first[i], e = s + runs.count[i] - 1;
      if (shown) {
        starts[j].setAttribute("cx", runs.xy[2 * s]);
        starts[j].setAttribute("cy", runs.xy[2 * s + 1]);
      }
      starts[j].setAttribute("visibility", shown ? "visible" : "hidden");
      if (shown && !runs.div[i]) {
        heads[j].setAttribute("cx", runs.xy[2 * e]);
        heads[j].setAttribute("cy", runs.xy[2 * e + 1]);
        heads[j].setAttribute("visibility", "visible");
      } else {
        heads[j].setAttribute("visibility", "hidden");
      }
      if (shown && runs.div[i]) {
        crosses[j].setAttribute("transform",
          "translate(" + runs.exit[2 * i] + " " + runs.exit[2 * i + 1] + ")");
        crosses[j].setAttribute("visibility", "visible");
      } else {
        crosses[j].setAttribute("visibility", "hidden");
      }
      var rule = data.rules[j];
      if (rule.lr) {
        row.querySelector(".adl-lr-value").textContent = fmt(rule.lr[state.lr[j]]);
        row.querySelector(".adl-grid").textContent =
          (state.lr[j] + 1) + " of " + rule.lr.length;
      }
      row.querySelector(".adl-status").textContent = state.use[j] ? status(j, found) : "";
      row.classList.toggle("adl-off", !state.use[j]);
    }
    function drawAll() { for (var j = 0; j < data.rules.length; j++) draw(j); }
    function showKnob(a) {
      var knob = data.knobs[a];
      knobValues[a].textContent = fmt(knob.values[state.knobs[a]]);
      knobPlaces[a].textContent = (state.knobs[a] + 1) + " of " + knob.values.length;
    }
    function setFunction(f) {
      state.fn = f;
      var spec = data.fns[f], w = spec.size[0], h = spec.size[1];
      img.setAttribute("src", spec.img || firstImage);
      img.setAttribute("width", w);
      img.setAttribute("height", h);
      stage.style.width = w + "px";
      svg.setAttribute("viewBox", "0 0 " + w + " " + h);
      clip.setAttribute("x", spec.clip[0]);
      clip.setAttribute("y", spec.clip[1]);
      clip.setAttribute("width", spec.clip[2]);
      clip.setAttribute("height", spec.clip[3]);
    }
    rows.forEach(function (row, j) {
      var lr = row.querySelector(".adl-lr"), use = row.querySelector(".adl-use");
      if (lr) lr.addEventListener("input", function () {
        state.lr[j] = parseInt(lr.value, 10);
        draw(j);
      });
      if (use) use.addEventListener("change", function () { state.use[j] = use.checked; draw(j); });
    });
    knobInputs.forEach(function (input) {
      var a = parseInt(input.getAttribute("data-knob"), 10);
      input.addEventListener("input", function () {
        state.knobs[a] = parseInt(input.value, 10);
        showKnob(a);
        for (var j = 0; j < data.rules.length; j++) {
          if (data.rules[j].knobs.indexOf(a) >= 0) draw(j);
        }
      });
    });
    if (fnMenu) fnMenu.addEventListener("change", function () {
      setFunction(parseInt(fnMenu.value, 10));
      drawAll();
    });
    if (startMenu) startMenu.addEventListener("change", function () {
      state.start = parseInt(startMenu.value, 10);
      drawAll();
    });
    // The controls may have moved while the runs were unpacked (a reload keeps form values).
    rows.forEach(function (row, j) {
      var lr = row.querySelector(".adl-lr"), use = row.querySelector(".adl-use");
      if (lr) state.lr[j] = parseInt(lr.value, 10);
      if (use) state.use[j] = use.checked;
    });
    knobInputs.forEach(function (input, a) {
      state.knobs[a] = parseInt(input.value, 10);
      showKnob(a);
    });
    if (startMenu) state.start = parseInt(startMenu.value, 10);
    setFunction(fnMenu ? parseInt(fnMenu.value, 10) : 0);
    drawAll();
    for (var n = 0; n < inputs.length; n++) inputs[n].disabled = false;
    root.setAttribute("data-state", "ready");
  }
  if (script && script.closest && script.closest(".adalearn-explorer")) start();
  else window.setTimeout(start, 0);
})();
"""

_EXPLORER_TEMPLATE = (
    '<div class="adalearn-explorer" id="{uid}">'
    "<style>{style}</style>"
    '<div class="adl-stage" style="width:{w}px">'
    '<img alt="landscape" width="{w}" height="{h}" src="{image}">'
    '<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
    '<defs><clipPath id="{uid}-clip"><rect x="{cx}" y="{cy}" width="{cw}" height="{ch}"/>'
    '</clipPath></defs><g clip-path="url(#{uid}-clip)">{overlay}</g>{marks}</svg></div>'
    '<div class="adl-controls">{controls}</div>'
    '<div class="adl-rules">{rules}</div>'
    '<p class="adl-note">{note}</p>'
    '<script type="application/json" class="adl-data">{data}</script>'
    "<script>{script}</script></div>"
)

_BASINS_STYLE = _COMMON_STYLE.format(root=".adalearn-basins") + """
.adalearn-basins canvas,.adalearn-basins .adl-map{position:absolute;
  image-rendering:pixelated;image-rendering:crisp-edges;opacity:.62;margin:0}
.adalearn-basins .adl-star{stroke:#1a1a1a;stroke-width:1}
.adalearn-basins .adl-controls{display:flex;align-items:center;gap:.6em;flex-wrap:wrap;
  margin:.35em 0}
.adalearn-basins .adl-lr{flex:1;min-width:8em}
.adalearn-basins .adl-grid{opacity:.6;font-size:.85em}
.adalearn-basins .adl-legend{display:flex;flex-wrap:wrap;gap:.15em 1.3em}
.adalearn-basins .adl-swatch{height:.8em;width:.8em;border:1px solid #888}
.adalearn-basins .adl-share{opacity:.75}
.adalearn-basins .adl-note{font-size:.85em;opacity:.75;margin:.3em 0 0}
"""

_BASINS_SCRIPT = r"""
(function () {
  var script = document.currentScript;
__FORMAT__
  function start() {
    var root = (script && script.closest && script.closest(".adalearn-basins")) ||
      document.getElementById("__UID__");
    if (!root || root.getAttribute("data-state")) return;
    root.setAttribute("data-state", "loading");
    var data = JSON.parse(root.querySelector(".adl-data").textContent);
    var slider = root.querySelector(".adl-lr");
    slider.disabled = true;
    if (typeof DecompressionStream === "undefined") return;
    var raw = atob(data.blob), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    new Response(stream).arrayBuffer().then(function (b) { run(root, data, new Uint8Array(b)); });
  }
  function run(root, data, classes) {
    var n = data.n, cells = n * n, K = data.colors.length;
    var slider = root.querySelector(".adl-lr"), value = root.querySelector(".adl-lr-value"),
      place = root.querySelector(".adl-grid"), shares = root.querySelectorAll(".adl-share");
    var image = root.querySelector(".adl-map"), canvas = document.createElement("canvas");
    canvas.width = n; canvas.height = n;
    canvas.className = "adl-map-live";
    canvas.setAttribute("style", image.getAttribute("style"));
    image.parentNode.replaceChild(canvas, image);
    var context = canvas.getContext("2d"), pixels = context.createImageData(n, n);
    var rgb = data.colors.map(function (c) {
      return [1, 3, 5].map(function (k) { return parseInt(c.slice(k, k + 2), 16); });
    });
    function show(l) {
      var counts = new Array(K).fill(0), offset = l * cells;
      for (var i = 0; i < cells; i++) {
        var c = classes[offset + i], color = rgb[c];
        counts[c]++;
        pixels.data[4 * i] = color[0];
        pixels.data[4 * i + 1] = color[1];
        pixels.data[4 * i + 2] = color[2];
        pixels.data[4 * i + 3] = 255;
      }
      context.putImageData(pixels, 0, 0);
      value.textContent = fmt(data.lr[l]);
      place.textContent = (l + 1) + " of " + data.lr.length;
      for (var k = 0; k < K; k++) {
        shares[k].textContent = (100 * counts[k] / cells).toFixed(1) + " %";
      }
      root.setAttribute("data-lr", String(l));
    }
    slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });
    show(parseInt(slider.value, 10));
    slider.disabled = false;
    root.setAttribute("data-state", "ready");
  }
  if (script && script.closest && script.closest(".adalearn-basins")) start();
  else window.setTimeout(start, 0);
})();
"""

_BASINS_TEMPLATE = (
    '<div class="adalearn-basins" id="{uid}" style="width:{w}px">'
    "<style>{style}</style>"
    '<div class="adl-stage"><img alt="landscape" width="{w}" height="{h}" src="{image}">'
    '<img class="adl-map" alt="basins of attraction" width="{n}" height="{n}" '
    'src="data:image/png;base64,{first}" '
    'style="left:{left}%;top:{top}%;width:{width}%;height:{height}%">'
    '<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
    "{stars}</svg></div>"
    '<div class="adl-controls"><span>{rule}</span><label>lr <input type="range" class="adl-lr" '
    'min="0" max="{max}" step="1" value="{index}" aria-label="learning rate"></label>'
    '<output class="adl-lr-value">{lr}</output><span class="adl-grid">{place}</span></div>'
    '<div class="adl-legend">{legend}</div>'
    '<p class="adl-note">{note}</p>'
    '<script type="application/json" class="adl-data">{data}</script>'
    "<script>{script}</script></div>"
)
