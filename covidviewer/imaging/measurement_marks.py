"""What is drawn of a measurement, and where its label goes, in a target's own (x, y) units: numpy-free
and Qt-free, so the view (scene millimetres) and an exported PNG (output pixels) draw the same shapes.

A caller maps the measurement's voxel points to its target first (the view through its plane
geometry, rotation and mirror included); ``measurement_marks`` then says which lines, ROI box, end
marks and label anchor to draw, and ``place_labels`` keeps label boxes inside the target, off each
other and off the corner text.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

XY = tuple[float, float]
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1)
ROI_DRAWN_SHAPES = ("ellipse", "rectangle")
DRAWN_SHAPES = ("length", "angle", "lines") + ROI_DRAWN_SHAPES
LABEL_OFFSET = (10.0, 6.0)  # a label box's top-left corner from its anchor, beside the shape's end


@dataclass(frozen=True)
class MeasurementMarks:
    """The drawing of one measurement.

    lines: open polylines (a length: one of 2 points; an angle: one of 3, vertex in the middle;
        two lines: two of 2). Empty for an ROI.
    box: (x0, y0, x1, y1) of an ROI's ellipse or rectangle, x0 <= x1 and y0 <= y1; None otherwise.
    shape: one of ``DRAWN_SHAPES``.
    ends: the points that get a small end mark (every point of a line; none for an ROI).
    anchor: where the label box hangs from (an angle's vertex, a line's last point, an ROI's
        lower-right corner).
    """

    shape: str
    lines: tuple[tuple[XY, ...], ...]
    box: tuple[float, float, float, float] | None
    ends: tuple[XY, ...]
    anchor: XY

    @property
    def top(self) -> float:
        """The smallest y drawn: a label with no room below its anchor goes above this, off the shape."""
        ys = [y for line in self.lines for _x, y in line] + ([self.box[1]] if self.box is not None else [])
        return min(ys)


def drawn_shape(kind: str, n_points: int, roi_shape: str | None = None) -> str:
    """The ``DRAWN_SHAPES`` name of a measurement: its ROI shape, "lines" for an angle of 4 points
    (between two lines), else its kind ("length", "angle")."""
    if kind == "roi":
        if roi_shape not in ROI_DRAWN_SHAPES:
            raise ValueError(f"ROI shape must be one of {ROI_DRAWN_SHAPES}, got {roi_shape!r}")
        return str(roi_shape)
    if kind == "angle" and n_points == 4:
        return "lines"
    if kind not in DRAWN_SHAPES:
        raise ValueError(f"cannot draw a measurement of kind {kind!r}")
    return kind


def measurement_marks(shape: str, points: Sequence[XY]) -> MeasurementMarks:
    """The lines, ROI box, end marks and label anchor of ``shape`` through ``points`` (already in
    the target's (x, y)). Also draws a measurement in progress: a line of fewer points than its
    tool needs, an angle of two, two lines of three."""
    if shape not in DRAWN_SHAPES:
        raise ValueError(f"shape must be one of {DRAWN_SHAPES}, got {shape!r}")
    xy = tuple((float(x), float(y)) for x, y in points)
    if not xy:
        raise ValueError("a measurement needs at least one point")
    if shape in ROI_DRAWN_SHAPES:
        (xa, ya), (xb, yb) = xy[0], xy[-1]
        box = (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))
        return MeasurementMarks(shape, (), box, (), (box[2], box[3]))
    lines = (xy[0:2], xy[2:4]) if shape == "lines" else (xy,)
    anchor = xy[1] if shape == "angle" and len(xy) == 3 else xy[-1]
    return MeasurementMarks(shape, tuple(line for line in lines if line), None, xy, anchor)


def place_labels(anchors: Sequence[XY], sizes: Sequence[XY], bounds: Box, offset: XY = LABEL_OFFSET,
                 gap: float = 2.0, tops: Sequence[float] | None = None, avoid: Sequence[Box] = ()) -> list[XY]:
    """Top-left corners of label boxes hung from ``anchors``, in order.

    sizes: (width, height) of each box; bounds: (left, top, right, bottom) of the target. A box sits
    ``offset`` right of and below its anchor, sliding left at the right edge (it stays under its
    shape). Where that leaves the target or covers a box placed before it or one of ``avoid`` (corner
    text), it goes above its shape (``tops``: each shape's smallest y; else above the anchor). Where
    neither place is free, the box that fits is moved down past the labels placed before it.
    """
    left, top, right, bottom = bounds
    placed: list[Box] = []
    corners: list[XY] = []
    for i, ((ax, ay), (width, height)) in enumerate(zip(anchors, sizes)):
        x0 = ax + max(min(offset[0], right - gap - width - ax), left + gap - ax)
        shape_top = ay if tops is None else tops[i]
        below, above = ay + offset[1], shape_top - offset[1] - height
        inside = [y for y in (below, above) if top <= y and y + height <= bottom] or [max(above, top)]
        free = [y for y in inside if not any(_overlap(b, (x0, y, x0 + width, y + height)) for b in [*placed, *avoid])]
        y0 = free[0] if free else inside[0]
        if not free:
            for _ in range(len(placed)):
                clash = next((p for p in placed if _overlap(p, (x0, y0, x0 + width, y0 + height))), None)
                if clash is None:
                    break
                y0 = clash[3] + gap
        placed.append((x0, y0, x0 + width, y0 + height))
        corners.append((x0, y0))
    return corners


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
