"""The mouse wheel never changes a control the user did not click.

Scrolling a panel over a combo box, slider or spin box used to change it (jet -> turbo -> gray while
reading down the Analysis panel). ``guard_wheel`` gives such a control ``Qt.StrongFocus`` (a wheel
no longer focuses it) and passes the wheel on to the parent (which scrolls) until the control has
been clicked or tabbed to.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSlider, QAbstractSpinBox, QComboBox, QScrollBar, QWidget

GUARDED_TYPES = (QComboBox, QAbstractSlider, QAbstractSpinBox)


class _WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            event.ignore()  # ignored and filtered: Qt offers the wheel to the parent (the scroll area)
            return True
        return False


_GUARD: _WheelGuard | None = None


def guard_wheel(*widgets: QWidget) -> None:
    """Let ``widgets`` react to the wheel only while they have keyboard focus."""
    global _GUARD
    if _GUARD is None:
        _GUARD = _WheelGuard()
    for widget in widgets:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        widget.removeEventFilter(_GUARD)  # guarding twice is harmless
        widget.installEventFilter(_GUARD)


def guard_wheel_in(container: QWidget) -> int:
    """Guard every combo box, slider and spin box under ``container``; returns how many.

    Scroll bars are left alone: the wheel is what they are for, and they never take focus.
    """
    found = [w for w in container.findChildren(QWidget) + [container]
             if isinstance(w, GUARDED_TYPES) and not isinstance(w, QScrollBar)]
    guard_wheel(*found)
    return len(found)
