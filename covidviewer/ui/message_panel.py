"""Message log: every load error, warning and notice the user must be able to read again."""
from __future__ import annotations

import logging
import time

from PySide6.QtGui import QColor, QTextCharFormat
from PySide6.QtWidgets import QPlainTextEdit

log = logging.getLogger("covidviewer.ui")

LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_COLOURS = {"info": None, "warning": QColor("#b36b00"), "error": QColor("#c62828")}


class MessagePanel(QPlainTextEdit):
    """Read-only, timestamped log; messages also go to the ``covidviewer.ui`` Python logger."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("messagePanel")
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.counts = {level: 0 for level in LEVELS}
        self.messages: list[tuple[str, str]] = []

    def add_message(self, text: str, level: str = "info") -> None:
        if level not in LEVELS:
            raise ValueError(f"message level {level!r} not in {tuple(LEVELS)}")
        self.counts[level] += 1
        self.messages.append((level, text))
        log.log(LEVELS[level], text)
        fmt = QTextCharFormat()
        if _COLOURS[level] is not None:
            fmt.setForeground(_COLOURS[level])
        prefix = "" if level == "info" else f"{level.upper()}: "
        cursor = self.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        if not self.document().isEmpty():
            cursor.insertBlock()
        cursor.insertText(f"[{time.strftime('%H:%M:%S')}] {prefix}{text}", fmt)
        self.ensureCursorVisible()
