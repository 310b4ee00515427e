"""Model and method pickers of the Analysis panel.

Models are listed for the shown image: a checkbox per applicable model, greyed with the reason
when it has no trained weights ("needs training: python -m trainer fit ..."), with the gate's
"not analysed: ..." when the image will be refused; ablations of a paper's model sit in a closed
fold beneath it ("Ablations of dresunet (3, 1 trained)") and start unticked; models for other kinds
of images are summed up in one line. The list arrives from a worker (listing models imports torch), so the picker
shows "loading models..." until then.
"""
from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from covidviewer.analysis.catalogue import ModelChoice
from covidviewer.analysis.methods import METHOD_LABELS, PAPER_MAP, method_label

PICKABLE_METHODS = tuple(m for m in METHOD_LABELS if m != "none")
NOTE_STYLE = "color: palette(mid); font-size: small"
REFUSAL_STYLE = "color: #b35900; font-size: small"


def _note(text: str, style: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.setObjectName(name)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setContentsMargins(22, 0, 0, 2)
    return label


def unavailable_text(choice: ModelChoice) -> str:
    """One short line: "needs training: python -m trainer fit NAME[, PART...]" (the full command,
    with its --data/--out options, is the tooltip); other reasons (invalid weights, no lung
    U-Net) are shown as they are."""
    names = re.findall(r"trainer fit (\S+)", choice.trainer_command)
    if choice.reason == "no trained weights installed" and names:
        return f"needs training: python -m trainer fit {', '.join(names)}"
    return f"{choice.reason} \u2014 needs training: python -m trainer fit {', '.join(names)}" if names else choice.reason


class ModelPicker(QWidget):
    """Checkboxes of the models for the shown image. Signal ``selectionChanged()``."""

    selectionChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choices: list[ModelChoice] = []
        self.boxes: dict[str, QCheckBox] = {}
        self._unchecked: set[str] = set()  # the user's unticks survive a change of image
        self._ticked: set[str] = set()  # ablations start unticked; the user's ticks survive too
        self._open_folds: set[str] = set()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(1)
        self.status = QLabel("Open an image to list the models.")
        self.status.setObjectName("modelsStatus")
        self.status.setWordWrap(True)
        self._layout.addWidget(self.status)
        self._rows: list[QWidget] = []

    def set_loading(self, text: str) -> None:
        """Replace the list by ``text`` (while the model list is being computed)."""
        self._clear_rows()
        self.status.setStyleSheet("")
        self.status.setText(text)
        self.status.show()

    def set_choices(self, choices: list[ModelChoice]) -> None:
        """List ``choices`` for the shown image (see the module docstring for the layout)."""
        self._clear_rows()
        self.choices = list(choices)
        applicable = [c for c in choices if c.applicable]
        others = [c for c in choices if not c.applicable]
        runnable = [c for c in applicable if c.available]
        refusals = {c.refusal for c in applicable}
        shared_refusal = refusals.pop() if len(refusals) == 1 else ""  # said once, not under every model
        self.status.setStyleSheet(REFUSAL_STYLE.replace("font-size: small", "font-weight: bold") if shared_refusal else "")
        if not applicable:
            self.status.setText("No model reads this kind of image.")
        elif shared_refusal:
            self.status.setText(shared_refusal)
        elif not runnable:
            self.status.setText("No trained weights are installed for these models yet; Analyse still checks the image.")
        else:
            self.status.setText("")
        self.status.setVisible(bool(self.status.text()))
        ablations = [c for c in applicable if c.ablation_of]
        for choice in applicable:
            if choice.ablation_of:
                continue
            self._add_choice(choice, shared_refusal, self._add)
            own = [c for c in ablations if c.ablation_of == choice.name]
            if own:
                self._add_fold(choice.name, own, shared_refusal)
        for choice in ablations:  # an ablation whose paper model is not listed stands on its own
            if choice.ablation_of not in {c.name for c in applicable}:
                self._add_choice(choice, shared_refusal, self._add)
        if others:
            names = ", ".join(c.name for c in others)
            note = _note(f"{len(others)} model(s) read other kinds of images: {names}", NOTE_STYLE, "otherModels")
            note.setContentsMargins(0, 4, 0, 0)
            note.setToolTip("\n".join(f"{c.name}: {c.refusal}" for c in others))
            self._add(note)
        self.selectionChanged.emit()

    def _add_choice(self, choice: ModelChoice, shared_refusal: str, add) -> None:  # type: ignore[no-untyped-def]
        """Checkbox (ticked when runnable; an ablation only when the user ticked it), why it cannot
        run, and the gate's refusal."""
        box = QCheckBox(f"{choice.name}  v{choice.version}")
        box.setObjectName(f"model_{choice.name}")
        box.setToolTip(choice.description or choice.name)
        box.setEnabled(choice.available)
        wanted = choice.name in self._ticked if choice.ablation_of else choice.name not in self._unchecked
        box.setChecked(choice.available and wanted)
        box.toggled.connect(lambda on, name=choice.name: self._on_toggled(name, on))
        self.boxes[choice.name] = box
        add(box)
        if not choice.available:
            note = _note(unavailable_text(choice), NOTE_STYLE, f"why_{choice.name}")
            note.setToolTip(f"{choice.reason}\n{choice.trainer_command}".strip())
            box.setToolTip(note.toolTip())
            add(note)
        if choice.refusal and not shared_refusal:
            add(_note(choice.refusal, REFUSAL_STYLE, f"refusal_{choice.name}"))

    def _add_fold(self, owner: str, ablations: list[ModelChoice], shared_refusal: str) -> None:
        """"Ablations of OWNER (n)": a fold, closed until opened (remembered while the app runs)."""
        trained = sum(c.available for c in ablations)
        toggle = QToolButton()
        toggle.setObjectName(f"ablations_{owner}")
        toggle.setText(f"Ablations of {owner} ({len(ablations)}, {trained} trained)")
        toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toggle.setAutoRaise(True)
        toggle.setCheckable(True)
        toggle.setToolTip("The paper's network with one module taken out, to see what each module adds")
        body = QWidget()
        body.setObjectName(f"ablationsBody_{owner}")
        inner = QVBoxLayout(body)
        inner.setContentsMargins(16, 0, 0, 0)
        inner.setSpacing(1)
        for choice in ablations:
            self._add_choice(choice, shared_refusal, inner.addWidget)

        def show(open_: bool) -> None:
            toggle.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
            body.setVisible(open_)
            (self._open_folds.add if open_ else self._open_folds.discard)(owner)

        self._add(toggle)
        self._add(body)  # in the layout before it is shown: a parentless widget would open as a window
        opened = owner in self._open_folds
        toggle.toggled.connect(show)
        toggle.setChecked(opened)
        show(opened)

    def selected(self) -> list[str]:
        """Checked models (enabled ones only)."""
        return [name for name, box in self.boxes.items() if box.isEnabled() and box.isChecked()]

    def applicable(self) -> list[str]:
        """Every model that reads this kind of image, runnable or not."""
        return [c.name for c in self.choices if c.applicable]

    def _on_toggled(self, name: str, on: bool) -> None:
        (self._unchecked.discard if on else self._unchecked.add)(name)
        (self._ticked.add if on else self._ticked.discard)(name)
        self.selectionChanged.emit()

    def _add(self, widget: QWidget) -> None:
        self._rows.append(widget)
        self._layout.addWidget(widget)

    def _clear_rows(self) -> None:
        for widget in self._rows:
            widget.setParent(None)
            widget.deleteLater()
        self._rows = []
        self.boxes = {}


class MethodPicker(QWidget):
    """Checkboxes of the explanation methods (several at once feed the compare grid); none = no map."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(1)
        self.boxes: dict[str, QCheckBox] = {}
        for i, method in enumerate(PICKABLE_METHODS):
            box = QCheckBox(method_label(method))
            box.setObjectName(f"method_{method}")
            box.setToolTip(METHOD_LABELS[method] + (" \u2014 slow: many forward passes" if method in ("lime", "scorecam") else ""))
            box.setChecked(method == PAPER_MAP)
            self.boxes[method] = box
            grid.addWidget(box, i // 3, i % 3)

    def selected(self) -> list[str]:
        """Ticked method ids (none ticked: probabilities only)."""
        return [m for m, box in self.boxes.items() if box.isChecked()]

    def set_selected(self, methods: list[str]) -> None:
        """Tick exactly ``methods``."""
        for method, box in self.boxes.items():
            box.setChecked(method in methods)
