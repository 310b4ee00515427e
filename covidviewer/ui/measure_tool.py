"""The mouse side of measuring: while a tool is active it takes the left button of a SliceView.

Tools: "length" (two points), "angle" (three points, the vertex second), "lines" (two lines, four
points: the angle between them, as a Cobb angle), "ellipse" and "rectangle" (two opposite corners).
Each point is a click, or the end of a drag: press at one end and release at the other draws a
length, an ROI or one line in one gesture. Other buttons keep their gestures (pan, zoom, window),
and the wheel still scrolls, which drops a measurement in progress since it belongs to one slice.

The tool reads the canvas' viewport events through an event filter, so the canvas itself knows
nothing about measuring; finished measurements go to a ``MeasurementModel``.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal

from covidviewer.imaging.measurements import (
    Calibration,
    Measurement,
    Point,
    measure_angle,
    measure_length,
    measure_roi,
)
from covidviewer.viewer.measurement_model import MeasurementModel, scene_to_voxel

TOOLS = ("length", "angle", "lines", "ellipse", "rectangle")
POINTS_NEEDED = {"length": 2, "angle": 3, "lines": 4, "ellipse": 2, "rectangle": 2}
# A press and release further apart than this (screen pixels) is a drag that places the next point.
DRAG_MIN_PX = 4.0
_PRESS_EVENTS = (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick)


class MeasureTool(QObject):
    """Builds measurements from clicks and drags on ``view`` (a SliceView) into ``model``.

    ``calibration`` (set by the controller for each volume) turns voxels into millimetres.
    Signals: ``toolChanged(str | None)``; ``pendingChanged()`` when the measurement being drawn
    or the pointer's place in it moves (the overlay redraws its preview); ``clicked(x_mm, y_mm)``
    for a left click that is not a window/level drag while no tool is active.
    """

    toolChanged = Signal(object)
    pendingChanged = Signal()
    clicked = Signal(float, float)  # a left click without a tool (no drag): scene mm, to select a measurement

    def __init__(self, view, model: MeasurementModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.state = view.state
        self.model = model
        self.calibration: Calibration | None = None
        self._tool: str | None = None
        self._points: list[Point] = []
        self._hover: Point | None = None
        self._press_at: QPointF | None = None  # where the button went down, to tell a drag from a click
        self._slice: tuple[str, int] | None = None  # where the measurement in progress lies
        view.canvas.viewport().installEventFilter(self)
        events = self.state.events
        for signal in (events.slice, events.plane, events.display, events.volume):
            signal.connect(self._on_view_moved)

    # ------------------------------------------------------------------ public API
    @property
    def tool(self) -> str | None:
        return self._tool

    def set_tool(self, tool: str | None) -> None:
        """Activate a tool (it takes the left button) or None (left-drag windows again)."""
        if tool is not None and tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS} or None, got {tool!r}")
        self.cancel()
        if tool == self._tool:
            return
        self._tool = tool
        viewport = self.view.canvas.viewport()
        if tool is None:
            viewport.unsetCursor()
        else:
            viewport.setCursor(Qt.CursorShape.CrossCursor)
        self.toolChanged.emit(tool)

    @property
    def pending(self) -> list[Point]:
        """Points placed so far of the measurement being drawn (empty when none is)."""
        return list(self._points)

    @property
    def preview(self) -> list[Point]:
        """The pending points plus the pointer: what the overlay draws while measuring."""
        if not self._points:
            return []
        return self._points + ([self._hover] if self._hover is not None else [])

    def cancel(self) -> bool:
        """Drop the measurement in progress (Esc); False when none was in progress."""
        had = bool(self._points)
        self._points, self._press_at, self._slice = [], None, None
        if had:
            self.pendingChanged.emit()
        return had

    def place(self, x_mm: float, y_mm: float) -> Measurement | None:
        """Place the next point at scene (x_mm, y_mm) as a click would; the finished measurement, if any."""
        geometry = self.state.geometry
        if self._tool is None or geometry is None:
            return None
        if not self._points:
            self._slice = (self.state.plane, self.state.slice_index)
        self._points.append(scene_to_voxel(geometry, self.state.slice_index, x_mm, y_mm))
        self._hover = self._points[-1]
        if len(self._points) < POINTS_NEEDED[self._tool]:
            self.pendingChanged.emit()
            return None
        return self._finish()

    # ------------------------------------------------------------------ building
    def _finish(self) -> Measurement | None:
        points, (plane, index) = self._points, self._slice or (self.state.plane, self.state.slice_index)
        self._points, self._press_at, self._slice = [], None, None
        self.pendingChanged.emit()
        if _degenerate(points, self._tool):
            return None  # a double click on one spot measures nothing
        measurement = build_measurement(self._tool, self.state, plane, index, points, self.calibration)
        self.model.add(measurement)
        self.model.selected_id = measurement.id
        return measurement

    def _on_view_moved(self, *_args) -> None:
        # a measurement belongs to one slice of one plane (and one volume): another slice, plane,
        # turn or volume drops the one in progress
        self.cancel()

    # ------------------------------------------------------------------ mouse
    def eventFilter(self, watched, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.MouseMove:
            self._on_move(event)
            return False  # the canvas still reports the pointer (pixel readout)
        if self.state.geometry is None:
            return False
        if self._tool is None:
            self._watch_click(kind, event)
            return False  # the left button windows (or pans) as usual
        if kind in _PRESS_EVENTS and event.button() == Qt.MouseButton.LeftButton:
            self._press_at = event.position()
            self.place(*self._scene_xy(event))
            return True
        if kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            start, self._press_at = self._press_at, None
            if start is not None and self._points and _distance(start, event.position()) > DRAG_MIN_PX:
                self.place(*self._scene_xy(event))
            return True
        return False

    def _watch_click(self, kind, event) -> None:
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            self._press_at = event.position()
        elif kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            start, self._press_at = self._press_at, None
            if start is not None and _distance(start, event.position()) <= DRAG_MIN_PX:
                self.clicked.emit(*self._scene_xy(event))

    def _on_move(self, event) -> None:
        if not self._points or self.state.geometry is None:
            return
        x_mm, y_mm = self._scene_xy(event)
        self._hover = scene_to_voxel(self.state.geometry, self.state.slice_index, x_mm, y_mm)
        self.pendingChanged.emit()

    def _scene_xy(self, event) -> tuple[float, float]:
        scene = self.view.canvas.mapToScene(event.position().toPoint())
        return scene.x(), scene.y()


def build_measurement(tool: str, state, plane: str, index: int, points: list[Point],
                      calibration: Calibration | None) -> Measurement:
    """The measurement ``tool`` makes of ``points`` on slice ``index`` of ``plane`` of ``state``'s volume."""
    from covidviewer.imaging.measurements import calibration_of

    volume = state.volume
    calibration = calibration or calibration_of(volume)
    axis = state.geometry.slice_axis if state.plane == plane else _slice_axis(volume, plane)
    if tool == "length":
        return measure_length(plane, index, axis, points, calibration)
    if tool in ("angle", "lines"):
        return measure_angle(plane, index, axis, points, calibration)
    return measure_roi(volume, plane, index, axis, points, tool, calibration)


def _slice_axis(volume, plane: str) -> int:
    from covidviewer.imaging import plane_cut

    return plane_cut(volume, plane).slice_axis


def _degenerate(points: list[Point], tool: str | None) -> bool:
    if tool in ("angle", "lines"):
        return len({p for p in points}) < 2
    return points[0] == points[-1] or (tool in ("ellipse", "rectangle") and _flat(points[0], points[1]))


def _flat(p0: Point, p1: Point) -> bool:
    """An ROI whose corners share a row or a column has no area."""
    return sum(1 for a, b in zip(p0, p1) if a == b) > 1


def _distance(a: QPointF, b: QPointF) -> float:
    delta = a - b
    return (delta.x() ** 2 + delta.y() ** 2) ** 0.5
