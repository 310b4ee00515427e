"""How a 2D film as stored becomes the film the models read (hung as read), and how what they make on it (maps,
boxes, lung masks) goes back onto the film as stored. Numpy only.

A ``Hanging`` is, for a grey film stored in colour with a mild cast, its luma (``covidviewer.io.colour``); then a
crop to the film inside a uniform frame, then a number of quarter turns (counter-clockwise, as
``np.rot90``), then a left-right mirror, then grey levels inverted about the film's window centre (the window the
models read it with maps onto itself); a dim or flat film is also read with a window stretched over its own grey
levels (``covidviewer.inference.film_hanging`` sets it). The identity reads the film as stored. ``covidviewer.inference.film_hanging`` decides which one a film needs.
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
    levels inverted; stretched: read with a window over its own grey levels (no pixel changes); crop: first, the
    box of the film inside its frame on the stored grid of ``stored_shape`` (rows, columns); grey: before all, a
    colour file's luma (``covidviewer.inference.film_hanging.read_volume`` takes it; no geometry changes)."""

    quarter_turns: int = 0
    mirrored: bool = False
    inverted: bool = False
    stretched: bool = False
    crop: Box | None = None
    stored_shape: tuple[int, int] | None = None
    grey: bool = False

    def __post_init__(self) -> None:
        if (self.crop is None) != (self.stored_shape is None):
            raise ValueError("a crop needs the stored film's shape (rows, columns)")

    def __bool__(self) -> bool:
        return bool(self.quarter_turns % 4 or self.mirrored or self.inverted or self.stretched or self.crop or self.grey)

    def read(self, pixels: np.ndarray, window_centre: float) -> np.ndarray:
        """(z, H, W) pixels as stored -> as read (a new array)."""
        if self.crop is not None:
            y0, x0, y1, x1 = self.crop
            pixels = pixels[..., y0:y1, x0:x1]
        out = np.rot90(pixels, self.quarter_turns % 4, axes=(-2, -1))
        if self.mirrored:
            out = out[..., ::-1]
        if self.inverted:
            out = 2.0 * np.float32(window_centre) - out
        return np.ascontiguousarray(out, dtype=pixels.dtype)

    def back(self, array: np.ndarray) -> np.ndarray:
        """(..., H', W') on the film as read -> on the film as stored (grey levels are not touched; nothing on the
        frame a crop left out)."""
        out = array[..., ::-1] if self.mirrored else array
        out = np.rot90(out, -(self.quarter_turns % 4), axes=(-2, -1))
        if self.crop is not None and self.stored_shape is not None:
            y0, x0, y1, x1 = self.crop
            whole = np.zeros((*out.shape[:-2], *self.stored_shape), dtype=out.dtype)
            whole[..., y0:y1, x0:x1] = out
            out = whole
        return np.ascontiguousarray(out)

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
        as ``ViewerState.set_display`` takes it (shown = mirror(rotate(image)), the order ``read`` turns in); a crop is
        not shown (the frame stays on screen)."""
        return (90 * ((4 - self.quarter_turns) % 4), self.mirrored, self.inverted)

    def words(self) -> str:
        """How the film is stored, against how it is read: "turned 90° clockwise, grey levels inverted"."""
        parts = ["in colour with a mild cast (read as grey, its luma)"] if self.grey else []
        parts += ["in a frame (read inside it)"] if self.crop is not None else []
        parts += [TURNS[self.quarter_turns % 4]] if self.quarter_turns % 4 else []
        parts += ["mirrored"] * self.mirrored + ["grey levels inverted (air white)"] * self.inverted
        parts += ["dim or flat (read with its window stretched over its own grey levels)"] * self.stretched
        return ", ".join(parts) or "as read"


def framed_box(plane: np.ndarray, min_side: int = 64, tolerance: float = 0.02, most: float = 0.8) -> Box | None:
    """The box of a (H, W) image inside a uniform frame (a film pasted on a black or white page, a screenshot's
    margins): the rows and columns in which more than 2% of the pixels differ from the frame's grey (its border's
    median) by more than ``tolerance`` of the grey range. None when there is no such frame, when the box holds more
    than ``most`` of the image, or when a side of it is under ``min_side`` px."""
    plane = np.asarray(plane, dtype=np.float32)
    border = np.concatenate([plane[0], plane[-1], plane[:, 0], plane[:, -1]])
    span = float(plane.max() - plane.min())
    if span <= 0 or float(np.percentile(border, 95) - np.percentile(border, 5)) > tolerance * span:
        return None  # the border is not one grey: no frame to trim
    content = np.abs(plane - float(np.median(border))) > tolerance * span
    rows = np.nonzero(content.mean(axis=1) > 0.02)[0]
    cols = np.nonzero(content.mean(axis=0) > 0.02)[0]
    if rows.size == 0 or cols.size == 0:
        return None
    box = (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)
    height, width = box[2] - box[0], box[3] - box[1]
    if min(height, width) < min_side or height * width > most * plane.shape[0] * plane.shape[1]:
        return None
    return box
