"""The cascade is audited on the shared 4-class split with its own class order and names."""
from __future__ import annotations

from pathlib import Path

from covidviewer.models import get_spec
from covidviewer.models.cascade import CLASSES
from trainer.audit_cascade import _in_cascade_classes
from trainer.data.labels import Row


def test_rows_are_reindexed_to_the_cascade_classes_sets_included() -> None:
    reference = get_spec("dpn92_se").classes
    covid = Row(Path("a"), "COVID-19", 0, "p", targets=(0,))
    viral = Row(Path("b"), "viral pneumonia", 3, "q", targets=(3,))
    pneumonia = Row(Path("c"), "pneumonia", 2, "r", targets=(2, 3))
    assert _in_cascade_classes(covid, reference, CLASSES).targets == (CLASSES.index("COVID-19"),)
    mapped = _in_cascade_classes(viral, reference, CLASSES)
    assert CLASSES[mapped.target] == "viral pneumonia (non-COVID)" and mapped.label == CLASSES[mapped.target]
    coarse = _in_cascade_classes(pneumonia, reference, CLASSES)
    assert {CLASSES[t] for t in coarse.targets} == {"bacterial pneumonia", "viral pneumonia (non-COVID)"} and coarse.label == "pneumonia"
