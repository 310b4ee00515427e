"""One warning under a model's answer. A long one shows its name and what it means for the answer, with its figures
behind a "why?" link and in the tooltip (covidviewer.analysis.warning_text); a short one is shown whole."""
from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from covidviewer.analysis.warning_text import split_warning

WARNING_STYLE = "color: #b35900; font-size: small"
MORE, LESS = "why", "less"


class WarningNote(QLabel):
    """``warning`` as a label; ``expanded`` when its figures show (a click on "why?" or "less" toggles)."""

    def __init__(self, warning: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.warning, self.parts, self.expanded = warning, split_warning(warning), False
        self.setObjectName("warning")
        self.setWordWrap(True)
        self.setStyleSheet(WARNING_STYLE)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse)
        if self.parts.split:
            self.setToolTip(warning)
        self.linkActivated.connect(self.toggle)
        self._show()

    def toggle(self, _link: str = "") -> None:
        self.expanded = not self.expanded
        self._show()

    def _show(self) -> None:
        parts = self.parts
        if not parts.split:
            self.setText(f"\u26a0 {escape(parts.conclusion)}")
        elif self.expanded:
            self.setText(f"\u26a0 <b>{escape(parts.name)}</b>: {escape(parts.evidence)}; {escape(parts.conclusion)} "
                         f"<a href='{LESS}'>less</a>")
        else:
            self.setText(f"\u26a0 <b>{escape(parts.name)}</b>: {escape(parts.conclusion)} <a href='{MORE}'>why?</a>")
