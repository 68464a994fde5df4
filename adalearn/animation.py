"""Animated comparisons of optimizers that play in any browser, kernel or not.

:func:`compare` runs no optimizer itself: it takes finished trajectories and returns a
:class:`Player`, a self-contained HTML widget. The landscape (contours, or the surface seen from
a fixed camera) is drawn once by matplotlib into one small image; the paths are a vector overlay
whose points were mapped to the image's pixels in Python, so the browser only draws lines. A
page stays light (a five-optimizer, 150-step comparison weighs tens of kilobytes instead of the
megabytes of a frame-by-frame movie), and the player works wherever HTML does: the static book,
JupyterLab, Colab, VS Code, a saved ``.html`` file::

    from adalearn import animation, functions, rules, trajectory

    fn = functions.get("cubic")
    runs = {name: trajectory.run(rule, fn, fn.start, steps=150) for name, rule in {
        "SGD": rules.SGD(lr=0.01), "Adam": rules.Adam(lr=0.1, betas=(0.9, 0.99))}.items()}
    animation.compare(fn, runs, view="3d")        # last line of a cell: the player shows

The player has play/pause, a step slider, a speed menu, a step counter, and a legend with each
run's current value; ``save_gif`` writes the same animation as a GIF for slides and posts.
"""

import base64
import html
import io
import json
import uuid

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from adalearn import plotting

__all__ = ["Player", "compare"]

# Pixel coordinates further out than this are pulled in: they are off the picture anyway, and
# browsers and Pillow draw huge coordinates slowly or wrongly.
_FAR = 1e6
_SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)


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
        raise ValueError(f"view must be '2d' or '3d'; got {view!r}")


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
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
            raise ValueError(f"fps must be a positive number; got fps={fps!r}")
        if isinstance(density, bool) or not isinstance(density, (int, float)) or not density > 0:
            raise ValueError(f"density must be a positive number; got density={density!r}")
        if image_format not in ("auto", "png", "jpeg"):
            raise ValueError(
                f"image_format must be 'auto', 'png' or 'jpeg'; got image_format={image_format!r}"
            )
        if isinstance(trajectories, dict) and trajectories:
            named = {str(k): v for k, v in trajectories.items()}
        else:
            raise TypeError(
                f"trajectories must be a non-empty dict {{name: Trajectory}}; got {trajectories!r}"
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

        self.density = float(density)
        fig = Figure(
            figsize=figsize or ((6.0, 4.8) if view == "2d" else (6.4, 5.0)), dpi=dpi * density
        )
        canvas = FigureCanvasAgg(fig)
        if view == "2d":
            fig.subplots_adjust(left=0.11, right=0.97, bottom=0.11, top=0.93)
            ax = fig.add_subplot()
            plotting.contour(ax, fn)
        else:
            fig.subplots_adjust(left=0.0, right=0.94, bottom=0.02, top=0.98)
            ax = fig.add_subplot(projection="3d")
            plotting.surface(ax, fn, elev=elev, azim=azim)
        if title is not None:
            ax.set_title(title)
        canvas.draw()
        image = np.asarray(canvas.buffer_rgba())[..., :3]
        # Crop the white margins the way bbox_inches="tight" would, keeping a few pixels.
        ink = np.argwhere(np.any(image < 250, axis=-1))
        pad = round(6 * density)
        top, left = np.maximum(ink.min(axis=0) - pad, 0)
        bottom, right = np.minimum(ink.max(axis=0) + 1 + pad, image.shape[:2])
        self._offset = (left, top, image.shape[0])
        self.background = image[top:bottom, left:right].copy()
        self.height = self.background.shape[0] / density
        self.width = self.background.shape[1] / density
        x0, y0, x1, y1 = ax.bbox.extents
        cx, cy = self._css(np.array([[x0, y1]]))[0]
        self.clip = (cx, cy, (x1 - x0) / density, (y1 - y0) / density)

        self.runs = []
        for label, part in paths:
            xs = part["xs"]
            run = {
                "label": label,
                "color": palette[label],
                "pixels": self._to_pixels(ax, xs, part["values"]),
                "values": part["values"],
                "stopped": part["stopped"],
                "diverged": part["diverged"],
                "exit": None,
            }
            if part["diverged"]:
                exit_point = plotting.window_exit(xs, fn.bounds)[None, :]
                exit_value = np.asarray(fn(exit_point), dtype=float)
                run["exit"] = self._to_pixels(ax, exit_point, exit_value)[0]
            self.runs.append(run)
        self.steps = max(run["stopped"] for run in self.runs)
        self._image_mime, self._image = _encode_image(self.background, image_format)

    def _to_pixels(self, ax, xs, values):
        """Image pixel coordinates (origin top-left) of iterates, on the surface in 3-D."""
        if self.view == "2d":
            display = ax.transData.transform(xs)
        else:
            from mpl_toolkits.mplot3d import proj3d

            (x1_lo, x1_hi), (x2_lo, x2_hi) = self.fn.bounds
            inside = (
                (xs[:, 0] >= x1_lo) & (xs[:, 0] <= x1_hi)
                & (xs[:, 1] >= x2_lo) & (xs[:, 1] <= x2_hi)
            )
            # The same camera matrix that drew the surface; points off the surface's window
            # are left out, as plotting.path leaves them out of a 3-D line.
            px, py, _ = proj3d.proj_transform(xs[:, 0], xs[:, 1], values, ax.M)
            display = ax.transData.transform(np.column_stack([px, py]))
            display[~inside] = np.nan
        return np.clip(self._css(display), -_FAR, _FAR)

    def _css(self, display):
        """Matplotlib display coordinates (origin bottom-left) to the picture's CSS pixels."""
        left, top, full_height = self._offset
        return np.column_stack(
            [(display[:, 0] - left) / self.density, (full_height - display[:, 1] - top)
             / self.density]
        )

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

    @staticmethod
    def _svg_path(pixels):
        parts, pen_up = [], True
        for x, y in pixels:
            if not (np.isfinite(x) and np.isfinite(y)):
                pen_up = True
                continue
            parts.append(f"{'M' if pen_up else 'L'}{x:.1f} {y:.1f}")
            pen_up = False
        return "".join(parts)

    def to_html(self, *, full_page=False):
        """The player as HTML: a fragment for notebooks, or a whole page with ``full_page``.

        The fragment carries its own image, styles, data and script (no external resources)
        and fresh element ids. Without JavaScript it still shows the complete paths.
        """
        uid = f"adl-{uuid.uuid4().hex[:10]}"
        w, h = f"{self.width:.1f}", f"{self.height:.1f}"
        cx, cy, cw, ch = self.clip
        image = base64.b64encode(self._image).decode("ascii")
        overlay, marks = [], []
        for run in self.runs:
            final = self._svg_path(run["pixels"])
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
                    f'r="4" stroke="{html.escape(run["color"])}"/>'
                )
        for run in self.runs:
            color = html.escape(run["color"])
            last = run["pixels"][-1]
            shown = not run["diverged"] and np.all(np.isfinite(last))
            x, y = (last if shown else (0.0, 0.0))
            overlay.append(
                f'<circle class="adl-head" cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{color}" '
                f'visibility="{"visible" if shown else "hidden"}"/>'
            )
            ex, ey = run["exit"] if run["exit"] is not None else (0.0, 0.0)
            # Crosses sit on the window's edge: outside the clip, so they are not cut in half.
            marks.append(
                f'<path class="adl-cross" transform="translate({ex:.1f} {ey:.1f})" '
                f'd="M-5 -5L5 5M-5 5L5 -5" stroke="{color}" '
                f'visibility="{"visible" if run["diverged"] else "hidden"}"/>'
            )
        legend = []
        for run in self.runs:
            k = run["stopped"]
            status = (
                f"diverged at step {k + 1}" if run["diverged"] else f"f = {run['values'][k]:.4g}"
            )
            legend.append(
                f'<span class="adl-item"><span class="adl-swatch" '
                f'style="background:{html.escape(run["color"])}"></span>'
                f'{html.escape(run["label"])} <span class="adl-value">{html.escape(status)}'
                f"</span></span>"
            )
        speeds = "".join(
            f'<option value="{s:g}"{" selected" if s == 1 else ""}>{s:g}×</option>'
            for s in _SPEEDS
        )
        data = json.dumps(self._data(), separators=(",", ":")).replace("</", "<\\/")
        fragment = _TEMPLATE.format(
            uid=uid, w=w, h=h, mime=self._image_mime, image=image, cx=f"{cx:.1f}",
            cy=f"{cy:.1f}", cw=f"{cw:.1f}", ch=f"{ch:.1f}", overlay="".join(overlay),
            marks="".join(marks),
            steps=self.steps, speeds=speeds, legend="".join(legend), data=data,
            style=_STYLE, script=_SCRIPT.replace("__UID__", uid),
        )
        if not full_page:
            return fragment
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>adalearn player</title></head><body>{fragment}</body></html>\n"
        )

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
            raise ValueError(f"every must be a positive integer; got every={every!r}")
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
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
            raise ValueError(f"fps must be a positive number; got fps={fps!r}")
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
        for width, halo in ((4.2, True), (2.2, False)):
            for run in player.runs:
                k = min(t, run["stopped"])
                for segment in self._points(run["pixels"][: k + 1]):
                    if len(segment) > 1:
                        draw.line(segment, fill=(26, 26, 26, 150) if halo else run["color"],
                                  width=round(width * s), joint="curve")
        for run in player.runs:
            for ((x, y),) in self._points(run["pixels"][:1]):
                r = 4 * s
                draw.ellipse((x - r, y - r, x + r, y + r), fill="white", outline=run["color"],
                             width=round(1.6 * s))
        gone = []
        for run in player.runs:
            k = min(t, run["stopped"])
            if run["diverged"] and t > run["stopped"]:
                gone.append(run)
                continue
            head = self._points(run["pixels"][k : k + 1])
            if head:
                (x, y), r = head[0][0], 4.5 * s
                draw.ellipse((x - r, y - r, x + r, y + r), fill=run["color"], outline="white",
                             width=round(1.2 * s))
        small = overlay.resize((x1 - x0, y1 - y0), self.Image.Resampling.BOX)
        frame = self.base.copy()
        frame.paste(small, (x0, y0), small)
        draw = self.ImageDraw.Draw(frame)
        # Crosses sit on the window's edge, so they are drawn unclipped on the whole frame.
        for run in gone:
            (ex, ey), r = run["exit"], 5
            draw.line(((ex - r, ey - r), (ex + r, ey + r)), fill=run["color"], width=3)
            draw.line(((ex - r, ey + r), (ex + r, ey - r)), fill=run["color"], width=3)
        draw.text(self.counter_at, f"step {t} / {player.steps}", fill="#1a1a1a", font=self.font)
        return frame


_STYLE = """
.adalearn-player{font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  max-width:100%;margin:.5em 0}
.adalearn-player .adl-stage{position:relative}
.adalearn-player .adl-stage img{display:block;width:100%;height:auto;margin:0}
.adalearn-player svg{position:absolute;left:0;top:0;width:100%;height:100%}
.adalearn-player .adl-halo{fill:none;stroke:#1a1a1a;stroke-opacity:.55;stroke-width:4.2;
  stroke-linejoin:round;stroke-linecap:round}
.adalearn-player .adl-path{fill:none;stroke-width:2.2;stroke-linejoin:round;stroke-linecap:round}
.adalearn-player .adl-start{fill:#fff;stroke-width:1.6}
.adalearn-player .adl-head{stroke:#fff;stroke-width:1.2}
.adalearn-player .adl-cross{fill:none;stroke-width:2.6;stroke-linecap:round}
.adalearn-player .adl-controls{display:flex;align-items:center;gap:.6em;flex-wrap:wrap;
  margin:.35em 0}
.adalearn-player .adl-play{min-width:5.5em;cursor:pointer}
.adalearn-player .adl-slider{flex:1;min-width:8em}
.adalearn-player .adl-step{font-variant-numeric:tabular-nums;min-width:7.5em}
.adalearn-player .adl-legend{display:flex;flex-wrap:wrap;gap:.15em 1.3em}
.adalearn-player .adl-swatch{display:inline-block;width:1.6em;height:.32em;border-radius:.16em;
  vertical-align:middle;margin-right:.4em}
.adalearn-player .adl-value{opacity:.75;font-variant-numeric:tabular-nums}
"""

_SCRIPT = r"""
(function () {
  var script = document.currentScript;
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
    function fmt(v) {
      if (v === null) return "–";
      var a = Math.abs(v);
      return (a >= 1e4 || (a > 0 && a < 1e-3)) ? v.toExponential(2) : String(+v.toPrecision(4));
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

_TEMPLATE = (
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
