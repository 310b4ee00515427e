"""How a 2D film as stored becomes the film the models read (hung as read), and how what they make on it (maps,
boxes, lung masks) goes back onto the film as stored. Numpy only.

A ``Hanging`` is a number of quarter turns (counter-clockwise, as ``np.rot90``), then a left-right mirror, then
grey levels inverted about the film's window centre (the window the models read it with maps onto itself); a dim or
flat film is also read with a window stretched over its own grey levels (``covidviewer.inference.film_hanging``
sets it). The identity reads the film as stored. ``covidviewer.inference.film_hanging`` decides which one a film needs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # (y0, x0, y1, x1), end exclusive, as ``Grid2D.box``

#: how a film stored turned by that many quarter turns clockwise is described (it is read turned back)
TURNS = {1: "turned 90\u00b0 clockwise", 2: "upside down (turned 180\u00b0)", 3: "turned 90\u00b0 counter-clockwise"}


@dataclass(frozen=True)
class Hanging:
    """quarter_turns: counter-clockwise quarter turns from the film as stored to the film as read (so the film
    is stored turned that many quarter turns clockwise); mirrored: then mirrored left-right; inverted: grey
    levels inverted; stretched: read with a window over its own grey levels (no pixel changes)."""

    quarter_turns: int = 0
    mirrored: bool = False
    inverted: bool = False
    stretched: bool = False

    def __bool__(self) -> bool:
        return bool(self.quarter_turns % 4 or self.mirrored or self.inverted or self.stretched)

    def read(self, pixels: np.ndarray, window_centre: float) -> np.ndarray:
        """(z, H, W) pixels as stored -> as read (a new array)."""
        out = np.rot90(pixels, self.quarter_turns % 4, axes=(-2, -1))
        if self.mirrored:
            out = out[..., ::-1]
        if self.inverted:
            out = 2.0 * np.float32(window_centre) - out
        return np.ascontiguousarray(out, dtype=pixels.dtype)

    def back(self, array: np.ndarray) -> np.ndarray:
        """(..., H', W') on the film as read -> on the film as stored (grey levels are not touched)."""
        out = array[..., ::-1] if self.mirrored else array
        return np.ascontiguousarray(np.rot90(out, -(self.quarter_turns % 4), axes=(-2, -1)))

    def box_back(self, box: Box | None, read_shape: tuple[int, int]) -> Box | None:
        """A box on the film as read -> the box of the same pixels on the film as stored."""
        if box is None:
            return None
        inside = np.zeros(read_shape, dtype=bool)
        y0, x0, y1, x1 = box
        inside[y0:y1, x0:x1] = True
        rows, cols = np.nonzero(self.back(inside).any(axis=1))[0], np.nonzero(self.back(inside).any(axis=0))[0]
        if rows.size == 0 or cols.size == 0:
            return None
        return (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)

    def display(self) -> tuple[int, bool, bool]:
        """The viewer's display that shows the film as read: (rotation in degrees clockwise, mirrored, inverted),
        as ``ViewerState.set_display`` takes it (shown = mirror(rotate(image)), the order ``read`` turns in)."""
        return (90 * ((4 - self.quarter_turns) % 4), self.mirrored, self.inverted)

    def words(self) -> str:
        """How the film is stored, against how it is read: "turned 90° clockwise, grey levels inverted"."""
        parts = [TURNS[self.quarter_turns % 4]] if self.quarter_turns % 4 else []
        parts += ["mirrored"] * self.mirrored + ["grey levels inverted (air white)"] * self.inverted
        parts += ["dim or flat (read with its window stretched over its own grey levels)"] * self.stretched
        return ", ".join(parts) or "as read"
