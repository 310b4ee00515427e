"""One warning under a model's answer. A long one shows its name and what it means for the answer, with its figures
behind a "why?" link and in the tooltip (covidviewer.analysis.warning_text); a short one is shown whole. Several with
the same name and conclusion show it once, with how many records say it and all their figures behind the link."""
from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from covidviewer.analysis.warning_text import split_warning

WARNING_STYLE = "color: #b35900; font-size: small"
MORE, LESS = "why", "less"


class WarningNote(QLabel):
    """``warnings`` (one, or several of one name and conclusion: analysis.warning_text.grouped_warnings) as a label;
    ``expanded`` when their figures show (a click on "why?" or "less" toggles)."""

    def __init__(self, warnings: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.warnings, self.parts, self.expanded = list(warnings), [split_warning(w) for w in warnings], False
        self.setObjectName("warning")
        self.setWordWrap(True)
        self.setStyleSheet(WARNING_STYLE)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse)
        if self.parts[0].split:
            self.setToolTip("\n\n".join(self.warnings))
        self.linkActivated.connect(self.toggle)
        self._show()

    def toggle(self, _link: str = "") -> None:
        self.expanded = not self.expanded
        self._show()

    def _show(self) -> None:
        first = self.parts[0]
        if not first.split:
            self.setText(f"\u26a0 {escape(first.conclusion)}")
            return
        records = f" ({len(self.parts)} records)" if len(self.parts) > 1 else ""
        head = f"\u26a0 <b>{escape(first.name)}</b>{records}: "
        if self.expanded:
            evidence = "".join(f"<br>\u2022 {escape(part.evidence)}" for part in self.parts) if records else escape(first.evidence)
            self.setText(f"{head}{evidence}{'<br>' if records else '; '}{escape(first.conclusion)} <a href='{LESS}'>less</a>")
        else:
            self.setText(f"{head}{escape(first.conclusion)} <a href='{MORE}'>why?</a>")
