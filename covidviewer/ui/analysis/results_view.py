"""Results panel: per model the decision, per-class probability bars, name + version + weights SHA,
and why a model gave no answer (refused input, no trained weights, error). A cascade shows both
stages. The research-use notice is always visible above the results.

Nothing here widens the dock: labels wrap, and a class name too long for its column puts the bar
on a line of its own ("viral pneumonia (non-COVID)" stays whole at 1024 px).
"""
from __future__ import annotations

from dataclasses import replace
from html import escape
from typing import Callable

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget

from covidviewer import RESEARCH_NOTICE
from covidviewer.analysis.methods import method_label
from covidviewer.analysis.run import AnalysisRun
from covidviewer.analysis.warning_text import grouped_warnings
from covidviewer.ui.analysis.warning_note import WarningNote

#: the link beside the image kind that shows the film as the models read it
HANG_LINK = "hang"

BAR_COLOUR = QColor(70, 130, 200)
DECISION_COLOUR = QColor(200, 80, 40)
REFUSED_STYLE = "color: #b35900; font-weight: bold"
ERROR_STYLE = "color: #c62828"
MUTED_STYLE = "color: palette(mid)"
UNLIKE_TRAINING = "unlike the images this model was trained on"  # as covidviewer.inference.calibrated
DIMMED_OPACITY = 0.35
NAME_SHARE = 0.5  # names wider than this share of the bars' width get a line of their own


def short_sha(sha: str) -> str:
    """The first 12 hex digits of a weights SHA-256 ("n/a" when unknown)."""
    return sha[:12] if sha else "n/a"


class ProbabilityBars(QWidget):
    """One row per class: name, a bar of its probability, the value in %; the decision in bold.
    When a name does not fit beside its bar every name gets its own line above the bar, so no
    name is cut (the height follows the width). ``dimmed``: drawn faint (an input unlike the
    model's training images)."""

    def __init__(self, probabilities: dict[str, float], decision: str = "", parent: QWidget | None = None, dimmed: bool = False):
        super().__init__(parent)
        self.setObjectName("probabilityBars")
        self.probabilities = dict(probabilities)
        self.decision = decision
        self.dimmed = dimmed
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumHeight(self.heightForWidth(0))
        self.setToolTip("\n".join(f"{name}: {p:.4f}" for name, p in self.probabilities.items()))

    def _bold_metrics(self) -> QFontMetrics:
        bold = QFont(self.font())
        bold.setBold(True)
        return QFontMetrics(bold)

    def _name_width(self) -> int:
        """Width of the longest name in bold (the decision's weight), plus a gap."""
        metrics = self._bold_metrics()
        return max((metrics.horizontalAdvance(n) for n in self.probabilities), default=0) + 8

    def stacked(self, width: int | None = None) -> bool:
        """True when names get their own line: the longest does not fit beside a bar at ``width``."""
        width = self.width() if width is None else width
        return self._name_width() > NAME_SHARE * width

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        row = self.fontMetrics().height() + 4
        lines = 2 if width > 0 and self.stacked(width) else 1
        return row * lines * len(self.probabilities) + 2

    def sizeHint(self):
        hint = super().sizeHint()
        hint.setHeight(self.heightForWidth(max(self.width(), hint.width())))
        return hint

    def resizeEvent(self, event) -> None:
        height = self.heightForWidth(event.size().width())
        if self.minimumHeight() != height:
            self.setMinimumHeight(height)  # the layout gives a stacked list its two lines per class
        super().resizeEvent(event)

    def elided_names(self) -> list[str]:
        """Names that are drawn shortened at the current width (none unless a single name is wider
        than the whole widget)."""
        metrics = self._bold_metrics()
        room = self.width() - 6 if self.stacked() else self._name_width()
        return [n for n in self.probabilities if metrics.horizontalAdvance(n) > room]

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        if self.dimmed:
            painter.setOpacity(DIMMED_OPACITY)
        metrics = painter.fontMetrics()
        row = metrics.height() + 4
        stacked = self.stacked()
        name_w = 0 if stacked else self._name_width()
        value_w = metrics.horizontalAdvance("100.0 %") + 6
        bar_w = max(self.width() - name_w - value_w, 10)
        bold = QFont(painter.font())
        bold.setBold(True)
        for i, (name, p) in enumerate(self.probabilities.items()):
            font = bold if name == self.decision else self.font()
            painter.setFont(font)
            painter.setPen(self.palette().text().color())
            if stacked:
                top = 2 * i * row + 1
                text = QFontMetrics(font).elidedText(name, Qt.TextElideMode.ElideRight, self.width() - 6)
                painter.drawText(QRectF(0, top, self.width(), row), Qt.AlignmentFlag.AlignVCenter, text)
                top += row
            else:
                top = i * row + 1
                painter.drawText(QRectF(0, top, name_w - 4, row), Qt.AlignmentFlag.AlignVCenter, name)
            track = QRectF(name_w, top + 3, bar_w, row - 6)
            painter.fillRect(track, self.palette().alternateBase())
            painter.fillRect(QRectF(track.left(), track.top(), bar_w * min(max(p, 0.0), 1.0), track.height()),
                             DECISION_COLOUR if name == self.decision else BAR_COLOUR)
            right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            painter.drawText(QRectF(name_w + bar_w, top, value_w, row), right, f"{100 * p:.1f} %")
        painter.end()


def _label(text: str, style: str = "", name: str = "", wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if style:
        label.setStyleSheet(style)
    if name:
        label.setObjectName(name)
    return label


class ResultCard(QFrame):
    """One model's answer (or the reason there is none). ``slice_number(index)`` names an analysed
    slice as the viewer counts it (reading order)."""

    def __init__(self, result, methods: list[str], parent: QWidget | None = None,
                 slice_number: Callable[[int], int] | None = None):
        super().__init__(parent)
        self.slice_number = slice_number or (lambda index: index + 1)
        self.setObjectName(f"result_{result.model}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.result = result
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        title = _label(f"<b>{result.model}</b>  v{result.version or '?'}", wrap=False)
        title.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(title)
        if result.status == "ok":
            self._answer(layout, result, methods)
        elif result.status == "refused":
            layout.addWidget(_label(result.reason or "not analysed", REFUSED_STYLE, "refusal"))
        elif result.status == "unavailable":
            text = f"unavailable: {result.reason}"
            if result.trainer_command:
                text += f"\nneeds training: {result.trainer_command}"
            layout.addWidget(_label(text, MUTED_STYLE, "unavailable"))
        else:
            layout.addWidget(_label(f"{result.status}: {result.reason}", ERROR_STYLE, "error"))
        for warnings in grouped_warnings(result.warnings):  # a long one: its name and conclusion, its figures on demand
            layout.addWidget(WarningNote(warnings))

    def _answer(self, layout: QVBoxLayout, result, methods: list[str]) -> None:
        p = result.probabilities.get(result.answer, 0.0)
        calibrated = ", calibrated" if result.calibrated else ""
        # "Decision" claimed more than a research score is (issue 17): this is what the model answered
        decision = _label(f"Model's answer: {result.answer} ({100 * p:.0f} %{calibrated})", "font-weight: bold", "decision")
        layout.addWidget(decision)
        if result.threshold:
            layout.addWidget(_label(f"answered by {result.threshold}", "font-size: small", "threshold"))
        if result.ood_flag:
            layout.addWidget(_label(f"\u26a0 {UNLIKE_TRAINING} (OOD score {result.ood_score:.1f}): "
                                    "treat these probabilities with care", REFUSED_STYLE, "oodFlag"))
        layout.addWidget(ProbabilityBars(result.probabilities, result.answer, dimmed=result.ood_flag))
        for number, stage in enumerate(result.stages, start=1):
            stage_p = stage.probabilities.get(stage.label, 0.0)
            layout.addWidget(_label(f"Stage {number}: {stage.model} v{stage.version} \u2192 {stage.label} ({100 * stage_p:.0f} %)",
                                    "font-style: italic", f"stage{number}"))
            layout.addWidget(ProbabilityBars(stage.probabilities, stage.label, dimmed=stage.ood_flag))
        maps = ", ".join(method_label(m) for m in methods) or "none"
        total = result.timings.get("total_s")
        if result.from_cache:
            timing = "  \u00b7  cached"
        else:
            timing = f"  \u00b7  {total:.1f} s" if total is not None else ""
        details = f"weights {short_sha(result.weights_sha256)}  \u00b7  {result.device or '?'}{timing}  \u00b7  maps: {maps}"
        layout.addWidget(_label(details, "font-size: small", "details"))
        if result.slice_index is not None:
            layout.addWidget(_label(f"analysed slice {self.slice_number(result.slice_index)}", "font-size: small", "analysedSlice"))
        region = map_region_note(result)
        if region:
            layout.addWidget(_label(region, "font-size: small", "analysedRegion"))
        where = attention_note(result)
        if where:
            layout.addWidget(_label(where, "font-size: small", "attentionInLungs"))


def map_region_note(result) -> str:
    """"map covers the analysed region: lung box + 8%" when the model saw less than the whole image
    (``Explanation.analysed_box``), else ""."""
    explanation = getattr(result, "explanation", None)
    if explanation is None or explanation.covers_whole_image():
        return ""
    return f"map covers the analysed region: {explanation.analysed_region} (dashed outline)"


def attention_note(result) -> str:  # type: ignore[no-untyped-def]
    """"map: 27% of its attention inside the lungs, which cover 20% of the region it covers" where the run weighed the
    map by the lungs (``analysis.map_lungs``; the compare grid gives the same figure), else ""."""
    explanation = getattr(result, "explanation", None)
    figure = {} if explanation is None else explanation.details.get("attention_in_lungs") or {}
    if "share" not in figure:
        return ""
    return (f"map: {figure['share']:.0%} of its attention inside the lungs, which cover {figure['lungs_cover']:.0%} "
            "of the region it covers")


def consensus_box(consensus) -> QFrame:  # type: ignore[no-untyped-def]
    """The consensus answer (covidviewer.inference.consensus) above the models' cards, its figures as the answer's
    tooltip, and its notes under it as a model's warnings are shown (name and meaning first, figures behind "why?")."""
    box = QFrame()
    box.setObjectName("consensus")
    box.setStyleSheet("QFrame#consensus { border: 1px solid #888; }")
    layout = QVBoxLayout(box)
    layout.setContentsMargins(3, 3, 3, 3)
    label = _label(f"Consensus of {' + '.join(consensus.members)}: {consensus.answer} (mean p(COVID-19) "
                   f"{100 * consensus.p_covid:.0f} %, threshold {100 * consensus.threshold:.0f} %)",
                   "font-weight: bold", "consensusAnswer")
    label.setToolTip("\n".join(consensus.figures))
    layout.addWidget(label)
    for notes in grouped_warnings(list(consensus.notes)):
        layout.addWidget(WarningNote(notes))
    return box


class ResultsView(QWidget):
    """The research notice, a one-line summary, and one ``ResultCard`` per model of the last run.

    ``slice_number(index)``: how the viewer numbers axial slices (the controller sets the state's
    reading-order numbering; ``index + 1`` without one). ``hangAsRead(hanging)``: the reader asked to see the film
    as the models read it (turned, mirrored, inverted back; ``covidviewer.imaging.hanging.Hanging``)."""

    hangAsRead = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slice_number: Callable[[int], int] | None = None
        self._hanging = None
        self.notice = _label(RESEARCH_NOTICE, "color: #c62828; font-weight: bold", "analysisNotice")
        self.summary = _label("Press Analyse to run the models on the shown image.", name="resultsSummary")
        self.image_kind = _label("", "font-size: small", "imageKind")
        self.image_kind.setTextFormat(Qt.TextFormat.RichText)
        self.image_kind.setTextInteractionFlags(self.image_kind.textInteractionFlags() | Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.image_kind.linkActivated.connect(lambda _link: self._hanging is not None and self.hangAsRead.emit(self._hanging))
        self.cards_box = QVBoxLayout()
        self.cards_box.setContentsMargins(0, 0, 0, 0)
        self.cards: list[ResultCard] = []
        self._notes: list[QLabel] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.notice)
        layout.addWidget(self.summary)
        layout.addWidget(self.image_kind)
        layout.addLayout(self.cards_box)

    def clear(self, message: str = "") -> None:
        """Remove the cards; ``message`` replaces the summary when given."""
        for widget in [*self.cards, *self._notes]:
            widget.setParent(None)
            widget.deleteLater()
        self.cards, self._notes = [], []
        self.image_kind.setText("")
        self._hanging = None
        if message:
            self.summary.setText(message)
            self.summary.setStyleSheet("")

    def show_error(self, text: str) -> None:
        """Show ``text`` as an error in the summary line."""
        self.summary.setText(text)
        self.summary.setStyleSheet(ERROR_STYLE)

    def show_run(self, run: AnalysisRun) -> None:
        """One card per model; the summary says what happened overall."""
        self.clear()
        if run.status == "ok":
            answered = sum(1 for r in run.model_results() if r.ok)
            self.summary.setText(f"{answered} model(s) answered.")
            self.summary.setStyleSheet("")
        elif run.status == "refused":
            self.summary.setText(run.reason or "not analysed")
            self.summary.setStyleSheet(REFUSED_STYLE)
        else:
            self.show_error(run.reason or run.status)
        kind = run.image_kind
        if kind is None:
            text = ""
        elif kind.ct_overruled:  # the gate overruled the model: say both
            text = f"Image kind: {kind.verdict} ({kind.overruled})"
        else:
            text = f"Image kind: {kind.kind} (image-kind model {kind.score:.2f})"
        if text and run.hanging is not None and run.hanging.summary():
            text += f"; {run.hanging.summary()}"
        # the viewer keeps a colour film's colours: a film read only as grey has nothing to show otherwise
        shown = replace(run.hanging.hanging, grey=False) if run.hanging is not None else None
        self._hanging = shown if shown else None
        link = f" <a href='{HANG_LINK}'>show it so</a>" if text and self._hanging is not None else ""
        self.image_kind.setText(escape(text) + link)
        if run.consensus is not None:
            self._notes.append(consensus_box(run.consensus))
            self.cards_box.addWidget(self._notes[-1])
        for result in run.model_results():
            card = ResultCard(result, [m for m in run.methods_of(result.model) if result.ok], slice_number=self.slice_number)
            self.cards.append(card)
            self.cards_box.addWidget(card)
        for warning in run.warnings:  # run-level: device fallback, no lung mask, ...
            note = _label(f"\u26a0 {warning}", "color: #b35900", "runWarning")
            self.cards_box.addWidget(note)
            self._notes.append(note)

    def card(self, model: str) -> ResultCard | None:
        """The card of ``model`` in the last run, or None."""
        return next((c for c in self.cards if c.result.model == model), None)
