"""Per-slice importance strip: DARNet's depth attention on the original slices, with the current
slice marked, click-to-go, and a "jump to peak slice" button.

The strip reads a result's ``slice_importance`` / ``peak_slice`` (covidviewer.inference) and drives
a ``ViewerState``'s axial slice; it redraws its marker when the state's slice changes.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from covidviewer.viewer.planes import plane_geometry, reading_sign
from covidviewer.viewer.viewer_state import ViewerState

BAR_COLOUR = QColor(230, 120, 30)
PEAK_COLOUR = QColor(200, 30, 30)
CURRENT_COLOUR = QColor(30, 110, 220)


def axial_slice_number(state: ViewerState, index: int) -> int:
    """The number the viewer gives axial slice ``index`` (reading order: 1 = the head end of an axial
    CT read towards the feet), whichever plane is shown now."""
    if state.plane == "axial" or state.volume is None:
        return state.slice_number_of(index)
    geometry = plane_geometry(state.volume, "axial")
    sign = reading_sign(state.volume, geometry) if state.scroll_toward_feet else 1
    return int(index) + 1 if sign > 0 else geometry.n_slices - int(index)


class ImportanceBars(QWidget):
    """One bar per original slice (height = importance in [0, 1]); click a bar -> ``sliceClicked(index)``.

    ``reversed``: slice index 0 on the right, so the bars run in reading order like the slider."""

    sliceClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sliceImportanceBars")
        self.values = np.zeros(0, dtype=np.float32)
        self.peak: int | None = None
        self.current: int | None = None
        self.reversed = False
        self.setMinimumHeight(44)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_values(self, values: np.ndarray | None, peak: int | None) -> None:
        """Show ``values`` (one per slice, 0..1) with ``peak`` highlighted."""
        self.values = np.zeros(0, dtype=np.float32) if values is None else np.asarray(values, dtype=np.float32)
        self.peak = peak
        self.update()

    def set_current(self, index: int | None) -> None:
        """Mark the shown slice (None: not on the axial plane)."""
        if index != self.current:
            self.current = index
            self.update()

    def index_at(self, x: float) -> int | None:
        """Slice under x (widget pixels), or None without values."""
        n = len(self.values)
        if n == 0 or self.width() <= 0:
            return None
        position = int(min(max(x / self.width() * n, 0), n - 1))
        return n - 1 - position if self.reversed else position

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        n = len(self.values)
        if n:
            step = self.width() / n
            height = self.height() - 2
            for i, value in enumerate(self.values):
                colour = PEAK_COLOUR if i == self.peak else BAR_COLOUR
                bar_h = max(float(value) * height, 1.0)
                painter.fillRect(QRectF(self._position(i) * step, self.height() - bar_h, max(step - (1 if step > 3 else 0), 1.0), bar_h), colour)
            if self.current is not None and 0 <= self.current < n:
                painter.setPen(QPen(CURRENT_COLOUR, 2))
                x = (self._position(self.current) + 0.5) * step
                painter.drawLine(int(x), 0, int(x), self.height())
        painter.setPen(QPen(self.palette().mid().color()))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()

    def _position(self, index: int) -> int:
        return len(self.values) - 1 - index if self.reversed else index

    def mousePressEvent(self, event) -> None:
        index = self.index_at(event.position().x())
        if index is not None:
            self.sliceClicked.emit(index)
        event.accept()


class SliceImportanceStrip(QWidget):
    """Title, bars and "Jump to peak slice", bound to a viewer state (axial slices)."""

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.title = QLabel("Slice importance (depth attention)")
        self.bars = ImportanceBars()
        self.jump_button = QPushButton("Jump to peak slice")
        self.jump_button.setObjectName("jumpToPeak")
        self.peak_label = QLabel()
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.title, 1)
        header.addWidget(self.peak_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.bars)
        layout.addWidget(self.jump_button)
        self.bars.sliceClicked.connect(self.go_to)
        self.jump_button.clicked.connect(self.jump_to_peak)
        state.events.slice.connect(self._on_slice)
        state.events.plane.connect(self._on_slice)

    def show_importance(self, values: np.ndarray | None, peak: int | None, title: str = "") -> None:
        """Show ``values`` (one per original slice) or hide the strip when None."""
        self.bars.reversed = values is not None and len(values) > 1 and axial_slice_number(self.state, 0) != 1
        self.bars.set_values(values, peak)
        self.setVisible(values is not None and len(values) > 1)
        if title:
            self.title.setText(title)
        self.peak_label.setText("" if peak is None else f"peak: slice {axial_slice_number(self.state, peak)}")
        self._on_slice()

    def axial_number(self, index: int) -> int:
        """The number the viewer shows for axial slice ``index`` (reading order)."""
        return axial_slice_number(self.state, index)

    def go_to(self, index: int) -> None:
        """Show axial slice ``index`` of the viewer."""
        if self.state.volume is None:
            return
        self.state.plane = "axial"
        self.state.slice_index = index

    def jump_to_peak(self) -> None:
        """Show the slice with the highest depth attention."""
        if self.bars.peak is not None:
            self.go_to(self.bars.peak)

    def _on_slice(self, *_args: object) -> None:
        self.bars.set_current(self.state.slice_index if self.state.plane == "axial" else None)

    def detach(self) -> None:
        """Stop observing the state."""
        self.state.events.slice.disconnect(self._on_slice)
        self.state.events.plane.disconnect(self._on_slice)
