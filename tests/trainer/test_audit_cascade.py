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


def test_the_cascade_report_states_a_threshold_for_080_sensitivity_beside_the_papers_rule() -> None:
    import numpy as np

    from trainer.audit_cascade import cascade_reports

    rsna, ieee = "RSNA Pneumonia Detection Challenge normals", "ieee8023/covid-chestxray-dataset"
    covid, normal = CLASSES.index("COVID-19"), CLASSES.index("normal")
    rows = [Row(Path(f"n{i}"), "normal", normal, f"n{i}", source=rsna, targets=(normal,)) for i in range(20)]
    rows += [Row(Path(f"c{i}"), "COVID-19", covid, f"c{i}", source=ieee, targets=(covid,)) for i in range(10)]
    p_covid = np.r_[np.linspace(0.01, 0.20, 20), np.linspace(0.10, 0.45, 10)]  # never the argmax
    prob = np.zeros((30, 4))
    prob[:, covid], prob[:, normal] = p_covid, 1 - p_covid
    report = cascade_reports(prob, prob.argmax(1), None, rows, n_boot=20)
    threshold = report["operating_point"]["threshold"]
    assert threshold is not None and np.mean(p_covid[20:] >= threshold) >= 0.8
    adult = report["soft"]["adult"]["point"]
    assert adult["covid_sensitivity"] == 0.0  # argmax: the paper's rule would find none
    assert adult["covid_sensitivity_at_threshold"] >= 0.8
    assert adult["normal_called_covid_at_threshold"] == np.mean(p_covid[:20] >= threshold)
    assert report["hard"]["adult"]["point"]["covid_sensitivity"] == 0.0


def test_given_a_threshold_the_cascade_report_audits_at_it_and_chooses_none() -> None:
    import numpy as np

    from trainer.audit_cascade import cascade_reports

    rsna, ieee = "RSNA Pneumonia Detection Challenge normals", "ieee8023/covid-chestxray-dataset"
    covid, normal = CLASSES.index("COVID-19"), CLASSES.index("normal")
    rows = [Row(Path(f"n{i}"), "normal", normal, f"n{i}", source=rsna, targets=(normal,)) for i in range(10)]
    rows += [Row(Path(f"c{i}"), "COVID-19", covid, f"c{i}", source=ieee, targets=(covid,)) for i in range(10)]
    p_covid = np.r_[np.full(10, 0.1), np.full(5, 0.3), np.full(5, 0.05)]
    prob = np.zeros((20, 4))
    prob[:, covid], prob[:, normal] = p_covid, 1 - p_covid
    report = cascade_reports(prob, prob.argmax(1), None, rows, n_boot=20, threshold=0.2)
    assert report["operating_point"] is None
    assert report["soft"]["adult"]["threshold"] == 0.2
    assert report["soft"]["adult"]["point"]["covid_sensitivity_at_threshold"] == 0.5


def test_the_erased_pass_reads_each_film_with_its_chest_erased_and_the_lungs_of_the_film_as_sent(monkeypatch) -> None:
    """audit-cascade --record-lungs-erased: the cascade's segmenter finds the lungs on the film as sent, and the
    cascade reads the erased film with those lungs (on the erased film it would find none)."""
    from contextlib import contextmanager
    from types import SimpleNamespace

    import numpy as np
    import torch

    import covidviewer.models.features as features
    import trainer.audit_cascade as audit_cascade
    from trainer.data.chest_erase import erased_region

    film = np.tile(np.arange(64, dtype=np.float32) * 4, (64, 1))
    lung = np.zeros((64, 64), np.float32)
    lung[20:44, 10:26] = lung[20:44, 38:54] = 1.0
    seen = []

    class Cascade:
        def lungs(self, pixels, window):
            return lung

        def run(self, pixels, window, lung_mask=None):
            seen.append((pixels, lung_mask))
            stage = SimpleNamespace(probabilities=np.array([0.2, 0.3, 0.5]))
            return SimpleNamespace(stage1=stage, stage2=SimpleNamespace(probabilities=np.array([0.6, 0.4])), cascade_label=CLASSES[3])

    @contextmanager
    def no_capture(model):
        yield SimpleNamespace(take=lambda: torch.zeros(1, 4))

    monkeypatch.setattr(features, "capture_features", no_capture)
    monkeypatch.setattr(audit_cascade, "stage_temperatures", lambda model: (1.0, 1.0))
    cache = SimpleNamespace(get=lambda path: (film, (127.5, 255.0)))
    rows = [Row(Path("a"), "COVID-19", 3, "p")]
    audit_cascade.cascade_pass(Cascade(), rows, cache)
    audit_cascade.cascade_pass(Cascade(), rows, cache, erase=True)
    (sent, no_lungs), (erased, lungs) = seen
    assert sent is film and no_lungs is None  # as sent, the cascade finds its own lungs
    chest = erased_region(lung)
    assert lungs is lung and np.ptp(erased[chest]) == 0 and np.array_equal(erased[~chest], film[~chest])
