"""The compact storage of an explorer's runs: what the page carries and ``runs.js`` reads back.

Layout of the bytes before deflation: per run one LEB128 code (0: not run; else
2·(k+1) + diverged, k its last valid step); the final values of the runs that ran,
little-endian float64; the crosses of the diverged runs, two zigzag LEB128 numbers each; the
iterates of the runs that ran, as zigzag LEB128 differences from the previous iterate (the
first from 0), x then y. Coordinates are CSS pixels times the figure's resolution, rounded.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt


def zigzag(values: npt.ArrayLike) -> np.ndarray:
    """Signed integers to unsigned ones, small magnitudes to small numbers: 0, -1, 1 → 0, 1, 2."""
    v = np.asarray(values, dtype=np.int64)
    return ((v << np.int64(1)) ^ (v >> np.int64(63))).astype(np.uint64)


def varints(values: npt.ArrayLike) -> bytes:
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


class Block:
    """The runs of one rule on one function over its grid, ready to be stored.

    Attributes: ``shape`` (lr, knobs..., starts), and per run (C order of ``shape``)
    ``valid``, ``stopped``, ``diverged``, ``final`` (f at the last valid iterate), ``points``
    (a list of int arrays (k+1, 2): the quantised CSS pixels of the valid iterates),
    ``exit`` (the quantised pixel of a diverged run's cross, else None) and ``rejected`` (per
    hyperparameter axis of the grid, ``{index: message}`` of the values the rule refused).
    """

    def __init__(self, shape: Iterable[int]) -> None:
        self.shape = tuple(shape)
        size = int(np.prod(self.shape))
        self.valid = np.zeros(size, dtype=bool)
        self.stopped = np.zeros(size, dtype=np.int64)
        self.diverged = np.zeros(size, dtype=bool)
        self.final = np.full(size, np.nan)
        self.points: list[np.ndarray | None] = [None] * size
        self.exit: list[np.ndarray | None] = [None] * size
        self.rejected: list[dict[int, str]] = []


def pack(blocks: Sequence[Block]) -> tuple[bytes, list[int], int]:
    """All runs of ``blocks`` as one deflated byte string, and where each block's runs start.

    Returns ``(bytes, offsets, total)``: ``offsets[i]`` is the index of block i's first run
    among all ``total`` runs.
    """
    offsets: list[int] = []
    total = 0
    codes: list[np.ndarray] = []
    finals: list[np.ndarray] = []
    exits: list[np.ndarray] = []
    deltas: list[np.ndarray] = []
    for block in blocks:
        offsets.append(total)
        total += block.valid.size
        codes.append(np.where(block.valid, 2 * (block.stopped + 1) + block.diverged, 0))
        finals.append(block.final[block.valid])
        for r in np.flatnonzero(block.valid):
            cross, points = block.exit[r], block.points[r]
            if cross is not None:
                exits.append(cross)
            assert points is not None, "a run that ran has its points"
            deltas.append(np.diff(points, axis=0, prepend=np.zeros((1, 2), np.int64)))
    blob = b"".join([
        varints(np.concatenate(codes)),
        np.concatenate(finals).astype("<f8").tobytes(),
        varints(zigzag(np.concatenate(exits).ravel())) if exits else b"",
        varints(zigzag(np.concatenate(deltas).ravel())) if deltas else b"",
    ])
    return zlib.compress(blob, 9), offsets, total
