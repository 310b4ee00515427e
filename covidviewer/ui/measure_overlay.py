"""Draws the measurements of the shown slice, and the one being drawn, over a SliceView's image.

Shapes are scene items in millimetres (they zoom and pan with the image) drawn with cosmetic pens
(a constant width on screen); labels and end marks ignore the zoom so they stay readable. Only
the measurements of the shown plane and slice are drawn; the selected one is highlighted.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from covidviewer.imaging.measurement_marks import drawn_shape, measurement_marks, place_labels
from covidviewer.imaging.measurements import Measurement, Point
from covidviewer.ui.annotation_painter import LABEL_BACKGROUND, MEASUREMENT_COLOUR, marks_path
from covidviewer.ui.measure_tool import MeasureTool, build_measurement
from covidviewer.viewer.measurement_model import MeasurementModel, voxel_to_scene

COLOUR = MEASUREMENT_COLOUR
SELECTED_COLOUR = QColor(80, 200, 255)
LINE_PX, SELECTED_LINE_PX = 1.6, 2.6
LABEL_FONT_PX = 13
END_MARK_PX = 4.0
LABEL_OFFSET_PX = QPointF(10.0, 6.0)
Z_VALUE = 10.0


class LabelItem(QGraphicsItem):
    """Text on a dark box, a fixed size on screen, its top-left corner offset from its scene anchor."""

    def __init__(self, text: str, colour: QColor) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.lines = text.splitlines() or [""]
        self.colour = colour
        self.font = QFont()
        self.font.setPixelSize(LABEL_FONT_PX)
        metrics = QFontMetricsF(self.font)
        self._line = metrics.height()
        self._ascent = metrics.ascent()
        width = max(metrics.horizontalAdvance(line) for line in self.lines)
        self._size = (width + 8, self._line * len(self.lines) + 4)
        self._rect = QRectF(LABEL_OFFSET_PX.x(), LABEL_OFFSET_PX.y(), *self._size)
        self.shape_top = 0.0  # scene y of the top of the shape it labels (set by the overlay)

    def set_offset(self, dx: float, dy: float) -> None:
        """Place the box's top-left corner (dx, dy) screen pixels from the anchor."""
        self.prepareGeometryChange()
        self._rect = QRectF(dx, dy, *self._size)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(LABEL_BACKGROUND)
        painter.drawRoundedRect(self._rect, 3, 3)
        painter.setFont(self.font)
        painter.setPen(self.colour)
        for i, line in enumerate(self.lines):
            painter.drawText(QPointF(self._rect.left() + 4, self._rect.top() + 2 + i * self._line + self._ascent), line)


class EndMark(QGraphicsItem):
    """A small square of fixed screen size marking a point."""

    def __init__(self, colour: QColor) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.colour = colour

    def boundingRect(self) -> QRectF:
        return QRectF(-END_MARK_PX, -END_MARK_PX, 2 * END_MARK_PX, 2 * END_MARK_PX)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setPen(QPen(self.colour, 1.2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(-END_MARK_PX / 2, -END_MARK_PX / 2, END_MARK_PX, END_MARK_PX))


class MeasurementOverlay:
    """Keeps the scene items of ``view`` in step with ``model`` and the tool's measurement in progress.

    ``items_for(id)`` gives the items drawn for one measurement (tests read labels and shapes there).
    """

    def __init__(self, view, model: MeasurementModel, tool: MeasureTool) -> None:
        self.view = view
        self.state = view.state
        self.model = model
        self.tool = tool
        self.scene = view.canvas.scene()
        self._drawn: dict[str, list[QGraphicsItem]] = {}
        self._preview: list[QGraphicsItem] = []
        view.canvas.scaleChanged.connect(lambda _scale: self.layout_labels())
        view.canvas.userViewChanged.connect(self.layout_labels)
        model.events.changed.connect(lambda _items: self.refresh())
        model.events.selected.connect(lambda _id: self.refresh())
        events = self.state.events
        for signal in (events.slice, events.plane, events.display, events.volume):
            signal.connect(self._on_view_changed)
        tool.pendingChanged.connect(self.refresh_preview)
        # exports of the view burn in what is drawn here (covidviewer.ui.view_image)
        view.shown_measurements = lambda: self.model.on_slice(self.state.plane, self.state.slice_index)

    def items_for(self, measurement_id: str) -> list[QGraphicsItem]:
        return list(self._drawn.get(measurement_id, []))

    @property
    def drawn_ids(self) -> list[str]:
        return list(self._drawn)

    def label_of(self, measurement_id: str) -> str | None:
        labels = [i for i in self._drawn.get(measurement_id, []) if isinstance(i, LabelItem)]
        return labels[0].text if labels else None

    def measurement_at(self, x_mm: float, y_mm: float, tolerance_px: float = 6.0) -> str | None:
        """The id of the measurement drawn at scene point (x_mm, y_mm): on or near its line or outline,
        or inside an ROI; the latest drawn wins. None when there is none."""
        scale = max(self.view.canvas.scale_factor, 1e-6)
        stroker = QPainterPathStroker()
        stroker.setWidth(2 * tolerance_px / scale)
        point = QPointF(x_mm, y_mm)
        for measurement_id, items in reversed(list(self._drawn.items())):
            path = items[0].path() if isinstance(items[0], QGraphicsPathItem) else QPainterPath()
            inside = self.model.get(measurement_id) is not None and self.model.get(measurement_id).kind == "roi"
            if stroker.createStroke(path).contains(point) or (inside and path.contains(point)):
                return measurement_id
        return None

    def _on_view_changed(self, *_args) -> None:
        if not self.state.replacing_volume:
            self.refresh()

    def refresh(self) -> None:
        """Redraw the measurements of the shown slice."""
        for items in self._drawn.values():
            self._remove(items)
        self._drawn = {}
        geometry = self.state.geometry
        if geometry is not None:
            selected = self.model.selected_id
            for measurement in self.model.on_slice(self.state.plane, self.state.slice_index):
                colour = SELECTED_COLOUR if measurement.id == selected else COLOUR
                width = SELECTED_LINE_PX if measurement.id == selected else LINE_PX
                self._drawn[measurement.id] = self._draw(measurement, list(measurement.points), colour, width)
        self.refresh_preview()

    def refresh_preview(self) -> None:
        """Redraw the measurement in progress (dashed) with its value so far."""
        self._remove(self._preview)
        self._preview = self._draw_preview()
        self.layout_labels()

    def _draw_preview(self) -> list[QGraphicsItem]:
        points = self.tool.preview
        if len(points) < 2 or self.state.geometry is None or self.tool.tool is None:
            return [self._mark(points[0], COLOUR)] if points and self.state.geometry is not None else []
        measurement = None
        needed_for_value = {"angle": 3, "lines": 4}.get(self.tool.tool, 2)
        if len(points) >= needed_for_value and len(set(points)) > 1:
            try:
                measurement = build_measurement(self.tool.tool, self.state, self.state.plane, self.state.slice_index,
                                                points, self.tool.calibration)
            except ValueError:
                measurement = None
        return self._draw(measurement, points, COLOUR, LINE_PX, dashed=True, tool=self.tool.tool)

    def layout_labels(self) -> None:
        """Keep labels inside the view (slid left at the right edge, above their shape at the bottom) and
        off each other (``covidviewer.imaging.measurement_marks.place_labels``)."""
        canvas = self.view.canvas
        bounds = QRectF(canvas.viewport().rect())
        labels = [i for items in list(self._drawn.values()) + [self._preview] for i in items if isinstance(i, LabelItem)]
        anchors = [QPointF(canvas.mapFromScene(label.pos())) for label in labels]
        tops = [canvas.mapFromScene(QPointF(label.pos().x(), label.shape_top)).y() for label in labels]
        corners = place_labels(
            [(a.x(), a.y()) for a in anchors],
            [(label.boundingRect().width(), label.boundingRect().height()) for label in labels],
            (bounds.left(), bounds.top(), bounds.right(), bounds.bottom()), (LABEL_OFFSET_PX.x(), LABEL_OFFSET_PX.y()),
            tops=tops)
        for label, anchor, (left, top) in zip(labels, anchors, corners):
            label.set_offset(left - anchor.x(), top - anchor.y())

    # ------------------------------------------------------------------ drawing
    def _draw(self, measurement: Measurement | None, points: list[Point], colour: QColor, width: float,
              dashed: bool = False, tool: str | None = None) -> list[QGraphicsItem]:
        geometry = self.state.geometry
        scene = [voxel_to_scene(geometry, p) for p in points]
        shape = tool if measurement is None else drawn_shape(measurement.kind, len(points), getattr(measurement, "shape", None))
        marks = measurement_marks(shape, scene)
        path = marks_path(marks)
        pen = QPen(colour, width)
        pen.setCosmetic(True)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        outline = QGraphicsPathItem(path)
        outline.setPen(pen)
        outline.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        items: list[QGraphicsItem] = [outline]
        if marks.ends:
            items += [self._mark(p, colour) for p in points]
        if measurement is not None:
            label = LabelItem(measurement.label(), colour)
            label.setPos(QPointF(*marks.anchor))
            label.shape_top = marks.top  # scene y: a label with no room below goes above its shape
            items.append(label)
        for item in items:
            item.setZValue(Z_VALUE)
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            if item.scene() is None:
                self.scene.addItem(item)
        return items

    def _mark(self, point: Point, colour: QColor) -> QGraphicsItem:
        mark = EndMark(colour)
        mark.setPos(QPointF(*voxel_to_scene(self.state.geometry, point)))
        mark.setZValue(Z_VALUE)
        self.scene.addItem(mark)
        return mark

    def _remove(self, items: list[QGraphicsItem]) -> None:
        for item in items:
            if item.scene() is self.scene:
                self.scene.removeItem(item)
