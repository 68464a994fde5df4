"""A player as a looping GIF, for slides and posts: :meth:`Player.save_gif` writes it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from adalearn import plotting
from adalearn.animation._stage import marker_sizes

if TYPE_CHECKING:
    from PIL import Image

    from adalearn.animation.player import Player

__all__ = ["Frames", "write_gif"]


def write_gif(
    player: Player,
    path: str | os.PathLike[str],
    steps: Iterable[int],
    *,
    fps: float,
    hold: float,
) -> int:
    """Write the frames of ``player`` at ``steps`` to ``path``; return how many were written.

    One palette, that of the last (fullest) frame, serves every frame; the last frame stays
    ``hold`` seconds.
    """
    from PIL import Image

    renderer = Frames(player)
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


class Frames:
    """Draws a player's frames with Pillow over its background, anti-aliased by 2× drawing."""

    scale = 2

    def __init__(self, player: Player) -> None:
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
        self.sizes = marker_sizes(player._stage.dpi)
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

    def frame(self, t: int) -> Image.Image:
        """The picture at step ``t``: every run drawn up to it, as a Pillow image."""
        player, s, sizes = self.player, self.scale, self.sizes
        x0, y0, x1, y1 = self.box
        overlay = self.Image.new("RGBA", ((x1 - x0) * s, (y1 - y0) * s), (0, 0, 0, 0))
        draw = self.ImageDraw.Draw(overlay)
        style = plotting.RUN_STYLE
        outline = style["outline"]
        halo_color = (*(int(outline["color"][i:i + 2], 16) for i in (1, 3, 5)),
                      round(255 * outline["alpha"]))
        for width, halo in ((sizes["halo"], True), (sizes["line"], False)):
            for run in player.runs:
                k = min(t, run["stopped"])
                for segment in self._points(run["pixels"][: k + 1]):
                    if len(segment) > 1:
                        draw.line(segment, fill=halo_color if halo else run["color"],
                                  width=round(width * s), joint="curve")
        for run in player.runs:
            for ((x, y),) in self._points(run["pixels"][:1]):
                r = sizes["start"] * s
                draw.ellipse((x - r, y - r, x + r, y + r), fill=style["start"]["face"],
                             outline=run["color"], width=round(sizes["start_edge"] * s))
        gone = []
        for run in player.runs:
            k = min(t, run["stopped"])
            if run["diverged"] and t > run["stopped"]:
                gone.append(run)
                continue
            head = self._points(run["pixels"][k : k + 1])
            if head:
                (x, y), r = head[0][0], sizes["end"] * s
                draw.ellipse((x - r, y - r, x + r, y + r), fill=run["color"],
                             outline=style["end"]["edge"], width=round(sizes["end_edge"] * s))
        small = overlay.resize((x1 - x0, y1 - y0), self.Image.Resampling.BOX)
        frame = self.base.copy()
        frame.paste(small, (x0, y0), small)
        draw = self.ImageDraw.Draw(frame)
        # Crosses sit on the window's edge, so they are drawn unclipped on the whole frame.
        for run in gone:
            (ex, ey), r = run["exit"], sizes["arm"]
            width = round(sizes["cross"])
            draw.line(((ex - r, ey - r), (ex + r, ey + r)), fill=run["color"], width=width)
            draw.line(((ex - r, ey + r), (ex + r, ey - r)), fill=run["color"], width=width)
        draw.text(self.counter_at, f"step {t} / {player.steps}", fill="#1a1a1a", font=self.font)
        return frame
