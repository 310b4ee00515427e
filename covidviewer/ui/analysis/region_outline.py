"""The analysed region's outline: a thin dashed rectangle over a SliceView where a model saw less
than the whole image (its lung box, or the centre square of a crop fit), so a map that stops at
the box's edge does not look like attention that stops there (issue 17.6).

The box comes from the result (``Explanation.analysed_box``, original pixels); it is drawn on
the plane and slice the map belongs to, through the view's plane geometry (rotation and mirror
included), as a scene item that follows zoom and pan. ``pane_image`` (export.py) draws the same
rectangle into exported PNGs via ``outline_of(view)``.
"""
from __future__ import annotations

import weakref

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

DASH_COLOUR = QColor(255, 235, 59)  # the orientation markers' yellow: visible on film and on maps
GAP_COLOUR = QColor(0, 0, 0, 170)
LINE_PX = 1.5

_outlines: "weakref.WeakKeyDictionary[object, RegionOutline]" = weakref.WeakKeyDictionary()


def outline_of(view) -> "RegionOutline | None":
    """The outline attached to ``view`` (a SliceView), if any."""
    return _outlines.get(view)


def display_rect(state, box: tuple[int, int, int, int] | None, slice_index: int | None = None) -> tuple[int, int, int, int] | None:
    """(row0, col0, row1, col1), end exclusive, of original-pixel ``box`` (y0, x0, y1, x1) on the
    displayed slice of ``state``; None when there is no box, or the view shows another plane or
    slice than the map's (``slice_index``: a CT-slice model's slice; None for a single image)."""
    geometry = state.geometry
    if box is None or geometry is None or state.volume is None or geometry.slice_axis != 0:
        return None
    z = 0 if slice_index is None else int(slice_index)
    if state.slice_index != z:
        return None
    y0, x0, y1, x1 = box
    _, ra, ca = geometry.from_voxel(z, y0, x0)
    _, rb, cb = geometry.from_voxel(z, y1 - 1, x1 - 1)
    return (int(min(ra, rb)), int(min(ca, cb)), int(max(ra, rb)) + 1, int(max(ca, cb)) + 1)


def paint_outline(painter: QPainter, rect: QRectF, width: float, cosmetic: bool = False) -> None:
    """A dark line under yellow dashes: seen on white film, black air and any colour map."""
    for colour, style in ((GAP_COLOUR, Qt.PenStyle.SolidLine), (DASH_COLOUR, Qt.PenStyle.DashLine)):
        pen = QPen(colour, width, style)
        pen.setCosmetic(cosmetic)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)


class _OutlineItem(QGraphicsItem):
    """Scene item drawing one rectangle (scene millimetres) with a cosmetic dashed pen."""

    def __init__(self) -> None:
        super().__init__()
        self.rect = QRectF()
        self.setZValue(10)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # drags on the line still window / pan / zoom

    def set_rect(self, rect: QRectF) -> None:
        self.prepareGeometryChange()
        self.rect = QRectF(rect)
        self.update()

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        paint_outline(painter, self.rect, LINE_PX, cosmetic=True)


class RegionOutline:
    """Dashed outline of a result's analysed box over ``view`` (a SliceView), kept in step with
    the view's slice, plane, rotation and overlay; hidden while the map is hidden."""

    def __init__(self, view) -> None:
        self.view = view
        self.box: tuple[int, int, int, int] | None = None
        self.slice_index: int | None = None
        self.label = ""
        self.item = _OutlineItem()
        self.item.setToolTip("")
        self.item.hide()
        view.canvas.scene().addItem(self.item)
        events = view.state.events
        for signal in (events.slice, events.plane, events.display, events.overlay):
            signal.connect(self._refresh)
        events.volume.connect(self._on_volume)
        _outlines[view] = self

    def set_region(self, box: tuple[int, int, int, int] | None, slice_index: int | None = None, label: str = "") -> None:
        """Outline original-pixel ``box`` (None: nothing) on axial slice ``slice_index`` (None: a single image)."""
        self.box, self.slice_index, self.label = box, slice_index, label
        self.item.setToolTip(f"analysed region: {label}" if label else "analysed region")
        self._refresh()

    def rect(self) -> tuple[int, int, int, int] | None:
        """(row0, col0, row1, col1) on the displayed slice while the outline is shown, else None."""
        state = self.view.state
        layer = state.overlay
        if self.box is None or layer is None or not layer.visible:
            return None
        return display_rect(state, self.box, self.slice_index)

    def _on_volume(self, _volume: object) -> None:
        self.set_region(None)  # the box belongs to the previous image

    def _refresh(self, *_args: object) -> None:
        if self.view.state.replacing_volume:
            return
        rect = self.rect()
        geometry = self.view.state.geometry
        if rect is None or geometry is None:
            self.item.hide()
            return
        r0, c0, r1, c1 = rect
        self.item.set_rect(QRectF(c0 * geometry.col_mm, r0 * geometry.row_mm,
                                  (c1 - c0) * geometry.col_mm, (r1 - r0) * geometry.row_mm))
        self.item.show()

    def detach(self) -> None:
        """Stop observing the view's state and remove the item."""
        events = self.view.state.events
        for signal in (events.slice, events.plane, events.display, events.overlay):
            signal.disconnect(self._refresh)
        events.volume.disconnect(self._on_volume)
        scene = self.item.scene()
        if scene is not None:
            scene.removeItem(self.item)
        _outlines.pop(self.view, None)


def map_note_text(model: str, result, state) -> str:
    """The note under the map choice: which slice a CT-slice model's map is on (numbered as the
    viewer numbers it) and, when the model saw less than the whole image, which region its map covers."""
    from covidviewer.ui.analysis.slice_strip import axial_slice_number

    lines = []
    if result.slice_index is not None and state.n_slices > 1:
        number = axial_slice_number(state, result.slice_index)
        lines.append(f"{model} reads one slice: its map is on axial slice {number} only.")
    explanation = result.explanation
    if explanation is not None and not explanation.covers_whole_image():
        lines.append(f"The map covers the analysed region only: {explanation.analysed_region} (dashed outline).")
    return "\n".join(lines)
