"""ImageCanvas: a plain QGraphicsView that draws one uint8 image with zoom, pan and mouse gestures.

Kept deliberately small and free of pyqtgraph: importing pyqtgraph costs 0.7-1 s (it loads every
plot item and probes CUDA), which alone would eat half of the 2 s start-up budget. The canvas
knows nothing about volumes or windows; it reports gestures through Qt signals and the SliceView
turns them into ViewerState changes.

Scene coordinates are millimetres: the image item covers (0, 0, width_mm, height_mm), so pixels
with anisotropic spacing are drawn with their true aspect. Zoom and pan are kept as a scale
(screen pixels per mm) and a scene centre, applied with ``setTransform`` + ``centerOn``.

Mouse buttons follow ``mouse_map``: "weasis" (the default, as Weasis and OHIF: left-drag window /
level, middle-drag pan, right-drag zoom) or "classic" (left pan, middle zoom, right window / level).
Corner text and orientation markers are painted over the viewport (``set_annotations``).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QTransform
from PySide6.QtWidgets import QFrame, QGraphicsItem, QGraphicsScene, QGraphicsView

from covidviewer.imaging.orientation import EdgeLabels
from covidviewer.imaging.view_annotations import CornerText
from covidviewer.ui.annotation_painter import paint_annotations

WHEEL_NOTCH = 120
ZOOM_PER_NOTCH = 1.15
# Drag zoom: 2x per 200 screen pixels (it was 4x per 100 px, too fast to stop where wanted).
DRAG_ZOOM_DOUBLING_PX = 200.0
ANNOTATION_FONT_PX = 13
_BUTTONS = {"left": Qt.MouseButton.LeftButton, "middle": Qt.MouseButton.MiddleButton, "right": Qt.MouseButton.RightButton}
# button -> gesture; "weasis" is Weasis' and OHIF's map, "classic" this viewer's first one.
MOUSE_MAPS: dict[str, dict[str, str]] = {
    "weasis": {"left": "window", "middle": "pan", "right": "zoom"},
    "classic": {"left": "pan", "middle": "zoom", "right": "window"},
}
MIN_SCALE, MAX_SCALE = 1e-3, 1e3
# The scene rect must contain every centre the user can pan to (QGraphicsView clamps centerOn).
PAN_MARGIN = 20.0


def qimage_from_array(array: np.ndarray) -> QImage:
    """A QImage viewing ``array`` ((h, w) or (h, w, 3) uint8, C-contiguous) without copying.

    The caller must keep ``array`` alive as long as the QImage is used.
    """
    if array.dtype != np.uint8 or not array.flags.c_contiguous:
        raise ValueError("expected a C-contiguous uint8 array")
    height, width = array.shape[:2]
    if array.ndim == 2:
        return QImage(array.data, width, height, width, QImage.Format.Format_Grayscale8)
    if array.ndim == 3 and array.shape[2] == 3:
        return QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    raise ValueError(f"expected (h, w) or (h, w, 3), got {array.shape}")


def array_from_qimage(image: QImage) -> np.ndarray:
    """(h, w, 4) uint8 RGBA copy of a QImage (for tests and exports)."""
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    height, width = image.height(), image.width()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    return buffer.reshape(height, image.bytesPerLine())[:, : 4 * width].reshape(height, width, 4).copy()


class ImageItem(QGraphicsItem):
    """Draws a uint8 array stretched over a rectangle in scene (mm) coordinates."""

    def __init__(self) -> None:
        super().__init__()
        self.array: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._rect = QRectF()

    def set_array(self, array: np.ndarray | None) -> None:
        self.array = None if array is None else np.ascontiguousarray(array)
        self._qimage = None if self.array is None else qimage_from_array(self.array)
        self.update()

    def set_rect(self, rect: QRectF) -> None:
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QRectF(rect)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._qimage is not None:
            painter.drawImage(self._rect, self._qimage)


class ImageCanvas(QGraphicsView):
    """Shows an ``ImageItem``; wheel, drags and hover are reported, zoom/pan handled here.

    Signals: wheelSteps(int) (+1 per notch towards the user), windowDrag(dx, dy) (the window /
    level drag, in screen pixels), userViewChanged() (the user zoomed or panned), hovered(QPointF |
    None) (scene position under the mouse, None when it leaves), scaleChanged(float) (screen
    pixels per mm, after any zoom, fit or resize).
    """

    wheelSteps = Signal(int)
    windowDrag = Signal(float, float)
    userViewChanged = Signal()
    hovered = Signal(object)
    scaleChanged = Signal(float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.image = ImageItem()
        self.scene().addItem(self.image)
        self.setBackgroundBrush(QColor("black"))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setMouseTracking(True)
        # Corner text stays put while the image pans: repaint the whole viewport, never scroll it.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.mouse_map = "weasis"
        self._corners: CornerText | None = None
        self._markers: EdgeLabels | None = None
        # Clicking the image gives it focus; keys are left to the parent view (see keyPressEvent).
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._scale = 1.0
        self._center = QPointF()
        self._target: QRectF | None = None  # rect kept visible on resize until the user zooms/pans
        self._drag_button = Qt.MouseButton.NoButton
        self._last_pos = QPointF()

    # ------------------------------------------------------------------ annotations
    def set_annotations(self, corners: CornerText | None, markers: EdgeLabels | None) -> None:
        """Corner text and edge markers drawn over the viewport (None: nothing)."""
        if corners != self._corners or markers != self._markers:
            self._corners, self._markers = corners, markers
            self.viewport().update()

    def annotations(self) -> tuple[CornerText | None, EdgeLabels | None]:
        return self._corners, self._markers

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if self._corners is None and not self._markers:
            return
        painter.save()
        painter.resetTransform()  # viewport pixels, not scene millimetres
        paint_annotations(painter, QRectF(self.viewport().rect()), self._corners, self._markers, ANNOTATION_FONT_PX)
        painter.restore()

    def gesture_of(self, button: Qt.MouseButton) -> str | None:
        """"window", "pan" or "zoom": what dragging with ``button`` does under the current mouse map."""
        for name, gesture in MOUSE_MAPS[self.mouse_map].items():
            if _BUTTONS[name] == button:
                return gesture
        return None

    # ------------------------------------------------------------------ image and view
    def set_image(self, array: np.ndarray | None, rect: QRectF | None = None) -> None:
        """Show ``array`` (uint8) over ``rect`` (mm); keeps the current zoom and pan."""
        if rect is not None and rect != self.image.boundingRect():
            self.image.set_rect(rect)
            margin = PAN_MARGIN * max(rect.width(), rect.height(), 1.0)
            self.scene().setSceneRect(rect.adjusted(-margin, -margin, margin, margin))
        self.image.set_array(array)

    def show_rect(self, rect: QRectF) -> None:
        """Zoom and centre so that ``rect`` (scene mm) just fits the viewport, aspect kept."""
        if rect.width() <= 0 or rect.height() <= 0:
            return
        self._target = QRectF(rect)
        size = self.viewport().size()
        scale = min(max(size.width(), 1) / rect.width(), max(size.height(), 1) / rect.height())
        self._apply(scale, rect.center())

    def visible_rect(self) -> QRectF:
        """The scene rectangle (mm) currently covered by the viewport."""
        size = self.viewport().size()
        half_w, half_h = size.width() / (2 * self._scale), size.height() / (2 * self._scale)
        return QRectF(self._center.x() - half_w, self._center.y() - half_h, 2 * half_w, 2 * half_h)

    def zoom_by(self, factor: float, anchor_view: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the scene point under ``anchor_view`` (default: centre) fixed."""
        viewport_centre = QPointF(self.viewport().width() / 2, self.viewport().height() / 2)
        anchor_view = viewport_centre if anchor_view is None else anchor_view
        offset = anchor_view - viewport_centre
        anchor_scene = self._center + offset / self._scale
        scale = min(max(self._scale * factor, MIN_SCALE), MAX_SCALE)
        self._target = None
        self._apply(scale, anchor_scene - offset / scale)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by (dx, dy) screen pixels."""
        self._target = None
        self._apply(self._scale, self._center - QPointF(dx, dy) / self._scale)

    @property
    def scale_factor(self) -> float:
        """Screen pixels per millimetre."""
        return self._scale

    def _apply(self, scale: float, center: QPointF) -> None:
        changed = scale != self._scale
        self._scale, self._center = scale, QPointF(center)
        self.setTransform(QTransform.fromScale(scale, scale))
        self.centerOn(self._center)
        if changed:
            self.scaleChanged.emit(scale)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._target is not None:
            self.show_rect(self._target)
        else:
            self._apply(self._scale, self._center)

    # ------------------------------------------------------------------ mouse
    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta == 0:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(ZOOM_PER_NOTCH ** (delta / WHEEL_NOTCH), event.position())
            self.userViewChanged.emit()
        else:
            notches = delta / WHEEL_NOTCH
            # A trackpad sends many small deltas; any movement moves at least one slice.
            steps = int(round(notches)) or (1 if notches > 0 else -1)
            self.wheelSteps.emit(-steps)  # wheel towards the user = next slice
        event.accept()

    def mousePressEvent(self, event) -> None:
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton):
            self._drag_button = event.button()
            self._last_pos = event.position()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        self.hovered.emit(self.mapToScene(pos.toPoint()))
        if self._drag_button == Qt.MouseButton.NoButton:
            return
        delta = pos - self._last_pos
        self._last_pos = pos
        gesture = self.gesture_of(self._drag_button)
        if gesture == "window":
            self.windowDrag.emit(delta.x(), delta.y())
        elif gesture == "zoom":
            self.zoom_by(2.0 ** (-delta.y() / DRAG_ZOOM_DOUBLING_PX))  # drag up = zoom in
            self.userViewChanged.emit()
        elif gesture == "pan":
            self.pan_by(delta.x(), delta.y())
            self.userViewChanged.emit()
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == self._drag_button:
            self._drag_button = Qt.MouseButton.NoButton
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:
        # QGraphicsView would scroll on arrows/PgUp/PgDn; here they belong to the slice view.
        event.ignore()

    def contextMenuEvent(self, event) -> None:
        event.accept()  # the right button drags (zoom or window/level), never opens a menu

    def leaveEvent(self, event) -> None:
        self.hovered.emit(None)
        super().leaveEvent(event)
