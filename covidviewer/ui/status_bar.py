"""The main window's status bar: the voxel under the mouse, the slice and window shown, progress
with Cancel, the count of errors and the research notice.

It observes the window's ``ViewerState`` for its labels; an error stays in the message area for
its full time, so the notices that follow it do not hide it before it can be read.
"""
from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

from covidviewer import RESEARCH_NOTICE
from covidviewer.viewer.status_text import cursor_text
from covidviewer.viewer.viewer_state import ViewerState

LEVEL_PREFIX = {"info": "", "warning": "Warning: ", "error": "Error: "}
ERROR_TIME_FACTOR = 3  # an error stays this many times longer than a notice


class ViewerStatusBar(QStatusBar):
    """Status bar of one viewer window.

    Public widgets: ``pixel_label`` (voxel, value and position under the mouse), ``slice_label``,
    ``window_label``, ``errors_label``, ``progress_bar`` and ``cancel_button`` (the controller
    connects it to cancelling every task).
    """

    def __init__(self, state: ViewerState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.pixel_label = QLabel()
        self.pixel_label.setObjectName("pixelLabel")
        self.slice_label = QLabel()
        self.slice_label.setObjectName("sliceLabel")
        self.window_label = QLabel()
        self.window_label.setObjectName("windowLabel")
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(260)
        self.progress_bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.errors_label = QLabel()
        self.errors_label.setObjectName("errorsLabel")
        self.errors_label.setStyleSheet("color: #c62828")
        self.errors_label.hide()
        self._error_shown_until = 0.0
        notice = QLabel(RESEARCH_NOTICE)
        notice.setObjectName("researchNotice")
        notice.setStyleSheet("color: #c62828; font-weight: bold")
        for widget in (self.pixel_label, self.slice_label, self.window_label, self.errors_label,
                       self.progress_bar, self.cancel_button, notice):
            self.addPermanentWidget(widget)
        self.set_idle()
        events = state.events
        events.volume.connect(self._on_volume)
        events.plane.connect(lambda _plane: self._update_slice_label())
        events.slice.connect(lambda _index: self._update_slice_label())
        events.window.connect(self._on_window)
        events.cursor.connect(self._on_cursor)

    # ------------------------------------------------------------------ messages and progress
    def report(self, text: str, level: str = "info", status_ms: int = 8000, errors: int = 0) -> None:
        """Show the first line of ``text`` (errors ``ERROR_TIME_FACTOR`` times longer, and not hidden
        by later notices); ``errors``: how many errors the log holds, shown while there are any."""
        if level == "error":
            self.errors_label.setText(f"\u26a0 {errors} error{'s' if errors > 1 else ''} (see Messages)")
            self.errors_label.show()
        now = time.monotonic()
        if level != "error" and now < self._error_shown_until:
            return  # an error stays in the status bar for its full time; the log has the rest
        duration_ms = status_ms * (ERROR_TIME_FACTOR if level == "error" else 1)
        if level == "error":
            self._error_shown_until = now + duration_ms / 1000.0
        self.showMessage(LEVEL_PREFIX[level] + text.splitlines()[0], duration_ms)

    def set_busy(self, message: str, done: int = 0, total: int = 0) -> None:
        """Show progress with a Cancel button; ``total`` 0 gives a busy indicator."""
        self.progress_bar.setVisible(True)
        self.cancel_button.setVisible(True)
        self.progress_bar.setRange(0, max(total, 0))
        self.progress_bar.setValue(done)
        self.progress_bar.setFormat(f"{message} %v/%m" if total else message)

    def set_idle(self) -> None:
        """Hide the progress bar and its Cancel button."""
        self.progress_bar.setVisible(False)
        self.cancel_button.setVisible(False)

    # ------------------------------------------------------------------ state -> labels
    def _on_volume(self, volume) -> None:
        self.pixel_label.clear()
        if volume is None:
            self.slice_label.clear()
            self.window_label.clear()

    def _update_slice_label(self) -> None:
        if self.state.volume is not None:
            self.slice_label.setText(self.state.position_text)

    def _on_window(self, window) -> None:
        center, width = window
        self.window_label.setText(f"W {width:.0f} / L {center:.0f}")

    def _on_cursor(self, voxel) -> None:
        self.pixel_label.setText(cursor_text(self.state, voxel))
