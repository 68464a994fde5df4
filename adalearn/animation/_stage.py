"""The landscape a figure is drawn on, and the runs drawn over it as SVG.

The players, explorers and basin maps share :class:`Stage`: the figure (contours from above,
or the surface from a fixed camera) drawn once by matplotlib into an image, and the map from
the function's coordinates to the image's CSS pixels. Runs are drawn over it as
:data:`adalearn.plotting.RUN_STYLE` describes, by :func:`run_svg` (HTML) and
:mod:`adalearn.animation.gif` (GIF), both sized by :func:`marker_sizes`.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from adalearn import plotting
from adalearn.animation._figure import check_image_format, check_positive, check_view, fill

if TYPE_CHECKING:
    from mpl_toolkits.mplot3d import Axes3D

    from adalearn.functions import Function

# Pixel coordinates further out than this are pulled in: they are off the picture anyway, and
# browsers and Pillow draw huge coordinates slowly or wrongly.
_FAR = 1e6


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


class Stage:
    """A landscape drawn once into an image, and the map from its coordinates to CSS pixels.

    The figure is drawn by matplotlib at ``dpi * density`` pixels per inch and cropped to its
    ink; points map to the picture's CSS pixels (origin top-left) with the same transform that
    drew the landscape.
    """

    def __init__(
        self,
        fn: Function,
        view: str = "2d",
        *,
        figsize: tuple[float, float] | None = None,
        dpi: float = 100,
        density: float = 2,
        elev: float = 32,
        azim: float = -62,
        title: str | None = None,
        image_format: str = "auto",
        minima: bool = True,
    ) -> None:
        check_view(view)
        check_positive("dpi", dpi)
        check_positive("density", density)
        check_image_format(image_format)
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

    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.image).decode('ascii')}"

    def pixels(self, xs: npt.ArrayLike, values: npt.ArrayLike | None = None) -> np.ndarray:
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
            px, py, _ = proj3d.proj_transform(xs[:, 0], xs[:, 1], values, cast("Axes3D", self.ax).M)
            display = self.ax.transData.transform(np.column_stack([px, py]))
            display[~inside] = np.nan
        return np.clip(self.css(display), -_FAR, _FAR)

    def css(self, display: np.ndarray) -> np.ndarray:
        """Matplotlib display coordinates (origin bottom-left) to the picture's CSS pixels."""
        left, top, full_height = self.offset
        return np.column_stack(
            [(display[:, 0] - left) / self.density, (full_height - display[:, 1] - top)
             / self.density]
        )

    def template_fields(self) -> dict[str, str]:
        """The stage's placeholders of a figure's template: size, image and clip box."""
        cx, cy, cw, ch = self.clip
        return {"width": f"{self.width:.1f}", "height": f"{self.height:.1f}",
                "image": self.data_uri(), "clip_x": f"{cx:.2f}", "clip_y": f"{cy:.2f}",
                "clip_width": f"{cw:.2f}", "clip_height": f"{ch:.2f}"}


def marker_sizes(dpi: float) -> dict[str, float]:
    """Sizes in CSS pixels, at ``dpi`` CSS pixels per inch, of what RUN_STYLE gives in points.

    Returns a dict: ``line`` and ``halo`` (stroke widths of the path and its outline),
    ``start`` and ``end`` (radii of the circles) with ``start_edge`` and ``end_edge`` (their
    stroke widths), ``arm`` (how far the cross reaches from its centre along each diagonal)
    and ``cross`` (its stroke width).
    """
    px = dpi / 72
    style = plotting.RUN_STYLE
    diverged = style["diverged"]
    return {
        "line": style["linewidth"] * px,
        "halo": style["outline"]["linewidth"] * px,
        "start": style["start"]["size"] * px / 2,
        "start_edge": style["start"]["edgewidth"] * px,
        "end": style["end"]["size"] * px / 2,
        "end_edge": style["end"]["edgewidth"] * px,
        "arm": diverged["size"] * diverged["arm"] * px,
        "cross": diverged["size"] * diverged["stroke"] * px,
    }


def _tenths(value):
    """An integer number of tenths as the shortest decimal: 3 -> ".3", -12 -> "-1.2"."""
    whole, tenth = divmod(abs(value), 10)
    text = (str(whole) if whole else "") + (f".{tenth}" if tenth else "")
    return ("-" if value < 0 else "") + (text or "0")


def svg_path(pixels: Iterable[Sequence[float]] | np.ndarray) -> str:
    """SVG path data through the finite points of ``pixels``, to a tenth of a pixel; the pen
    lifts at NaN.

    Each stretch starts at an absolute point (``M``) and goes on by relative steps (``l``),
    which are short numbers: a path weighs about half as much as with absolute points.
    """
    stretches: list[tuple[str, list[str]]] = []
    numbers: list[str] = []
    last: tuple[int, int] | None = None
    for x, y in pixels:
        if not (np.isfinite(x) and np.isfinite(y)):
            last = None
            continue
        now = (round(x * 10), round(y * 10))
        if last is None:
            numbers = []
            stretches.append((f"M{_tenths(now[0])} {_tenths(now[1])}", numbers))
        else:
            numbers += [_tenths(now[0] - last[0]), _tenths(now[1] - last[1])]
        last = now
    parts = []
    for start, steps in stretches:
        parts.append(start)
        if steps:
            # A number needs a separator unless it starts with a minus sign.
            parts.append("l" + steps[0] + "".join(
                n if n[0] == "-" else " " + n for n in steps[1:]))
    return "".join(parts)


def _visibility(shown):
    return "visible" if shown else "hidden"


def run_svg(
    color: str,
    sizes: dict[str, float],
    *,
    d: str,
    start: Sequence[float] | np.ndarray | None = None,
    end: Sequence[float] | np.ndarray | None = None,
    cross: Sequence[float] | np.ndarray | None = None,
    digits: int = 1,
) -> tuple[str, str, str, str]:
    """The SVG of one run, as RUN_STYLE draws it: (line and outline, start, end, cross).

    ``d`` is the path data; ``start`` and ``end`` are the circles' centres and ``cross`` that
    of a diverged run's cross, each None when not shown (the element is then hidden, for a
    script to show). ``sizes`` are :func:`marker_sizes` (the circles' radii and the cross's
    reach); coordinates get ``digits`` decimals. Line widths and the colours all runs share
    are the overlay's (:func:`overlay`).
    Returned apart, so a figure can clip the lines and circles to its axes box but not the
    cross, which sits on the window's edge.
    """
    color = html.escape(color)

    def at(point):
        x, y = (0.0, 0.0) if point is None else point
        return f"{x:.{digits}f}", f"{y:.{digits}f}"

    line = f'<path class="adl-halo" d="{d}"/><path class="adl-path" d="{d}" stroke="{color}"/>'
    x, y = at(start)
    first = (f'<circle class="adl-start" cx="{x}" cy="{y}" r="{sizes["start"]:.2f}" '
             f'stroke="{color}" '
             f'visibility="{_visibility(start is not None)}"/>')
    x, y = at(end)
    last = (f'<circle class="adl-head" cx="{x}" cy="{y}" r="{sizes["end"]:.2f}" fill="{color}" '
            f'visibility="{_visibility(end is not None)}"/>')
    x, y = at(cross)
    arm = sizes["arm"]
    mark = (
        f'<path class="adl-cross" transform="translate({x} {y})" '
        f'd="M{-arm:.2f} {-arm:.2f}L{arm:.2f} {arm:.2f}M{-arm:.2f} {arm:.2f}L{arm:.2f} {-arm:.2f}" '
        f'stroke="{color}" visibility="{_visibility(cross is not None)}"/>'
    )
    return line, first, last, mark


def overlay(stage: Stage, uid: str, lines: Iterable[str], marks: Iterable[str]) -> str:
    """The SVG overlay of a player or an explorer: ``lines`` clipped to the axes box,
    ``marks`` (the crosses) not, with RUN_STYLE's line widths and shared colours."""
    style = plotting.RUN_STYLE
    sizes = marker_sizes(stage.dpi)
    return fill(
        "overlay.html", uid=uid, **stage.template_fields(), overlay="".join(lines),
        marks="".join(marks), line=f"{sizes['line']:.2f}", halo=f"{sizes['halo']:.2f}",
        halo_color=style["outline"]["color"], halo_alpha=style["outline"]["alpha"],
        start_face=style["start"]["face"], start_edge=f"{sizes['start_edge']:.2f}",
        end_edge_color=style["end"]["edge"], end_edge=f"{sizes['end_edge']:.2f}",
        cross=f"{sizes['cross']:.2f}",
    )


def swatch(color: str) -> str:
    """A legend's colour sample."""
    return fill("swatch.html", color=html.escape(color))
