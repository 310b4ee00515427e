"""Ablations are listed under a closed fold beneath their paper's model and start unticked."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QToolButton, QWidget

from covidviewer.analysis.catalogue import ModelChoice
from covidviewer.ui.analysis.picker import ModelPicker

pytestmark = pytest.mark.gui


def _choice(name: str, available: bool = True, ablation_of: str = "") -> ModelChoice:
    return ModelChoice(name=name, version="1", modality="CT_SLICE", description=name, applicable=True, refusal="",
                       available=available, reason="" if available else "no trained weights installed",
                       trainer_command="" if available else f"python -m trainer fit {name} --data X --out runs/{name}",
                       ablation_of=ablation_of)


def test_ablations_sit_in_a_closed_fold_and_start_unticked(qtbot) -> None:
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.show()
    picker.set_choices([_choice("dresunet"), _choice("resunet", ablation_of="dresunet"),
                        _choice("resunet_fprm", available=False, ablation_of="dresunet")])
    fold = picker.findChild(QToolButton, "ablations_dresunet")
    body = picker.findChild(QWidget, "ablationsBody_dresunet")
    assert fold.text() == "Ablations of dresunet (2, 1 trained)" and not body.isVisible()
    assert picker.selected() == ["dresunet"]
    fold.click()
    assert body.isVisible() and picker.boxes["resunet"].isVisible() and not picker.boxes["resunet_fprm"].isEnabled()
    picker.boxes["resunet"].setChecked(True)
    assert picker.selected() == ["dresunet", "resunet"]
    picker.set_choices([_choice("dresunet"), _choice("resunet", ablation_of="dresunet")])  # the next image
    assert picker.selected() == ["dresunet", "resunet"]
    assert picker.findChild(QWidget, "ablationsBody_dresunet").isVisible()  # the fold stays open


def test_registered_ablations_name_their_paper_model() -> None:
    from covidviewer.models import get_spec, list_models

    ablations = {n: get_spec(n).ablation_of for n in list_models() if get_spec(n).ablation_of}
    assert ablations == {"resunet": "dresunet", "resunet_ecsa": "dresunet", "resunet_fprm": "dresunet",
                         "darnet_no_ca": "darnet", "darnet_no_da": "darnet", "darnet_plain": "darnet"}
