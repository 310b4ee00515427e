"""Whole-series CT: lung-slice choice, series rules, the scan over every lung slice (scores, answer,
progress, cancel, refusals) and the trainer's rule choice on validation patients."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from square_models import BrightnessNet, tiny_spec

from covidviewer.inference import Predictor
from covidviewer.inference.series_scan import DEFAULT_RULE, SeriesRule, lung_slices, scan_series
from covidviewer.io.cancel import Cancelled
from covidviewer.io import Volume


pytestmark = pytest.mark.usefixtures("no_installed_weights")


def _chest_series(depth: int = 12, lung: range = range(3, 10), lesion: range = range(6, 8)) -> Volume:
    """Air around a soft-tissue body; aerated lung (-800 HU) in the ``lung`` slices; a dense
    (+200 HU) block in the ``lesion`` slices, which the brightness model calls "square"."""
    vol = np.full((depth, 96, 96), -1000.0, dtype=np.float32)
    vol[:, 16:80, 16:80] = 40.0
    for z in lung:
        vol[z, 24:72, 24:72] = -800.0
    for z in lesion:
        vol[z, 40:60, 40:60] = 200.0
    return Volume(vol, spacing=(5.0, 1.0, 1.0), modality="CT", default_window=(-600, 1500), meta={"format": "dicom"})


def _predictor() -> Predictor:
    spec = tiny_spec("tiny_ct_slice", "ct_slice", (32, 32), fit="pad")
    spec = replace(spec, preprocess=replace(spec.preprocess, window=(-600.0, 1500.0)))
    predictor = Predictor(device="cpu")
    predictor.store.add(BrightnessNet(), spec, "a" * 64)
    return predictor


@pytest.mark.parametrize(
    "rule, scores, expected",
    [
        (SeriesRule("max"), [0.1, np.nan, 0.9, 0.4], 0.9),
        (SeriesRule("mean"), [0.1, np.nan, 0.9, 0.5], 0.5),
        (SeriesRule("top_k_mean", 2), [0.1, np.nan, 0.9, 0.5], 0.7),
        (SeriesRule("top_k_mean", 5), [0.2, 0.4], 0.3),  # fewer slices than k: the mean of those there are
    ],
)
def test_series_rules_aggregate_the_finite_slice_scores(rule: SeriesRule, scores: list[float], expected: float) -> None:
    assert rule.aggregate(np.array(scores)) == pytest.approx(expected)


def test_a_rule_without_scores_is_nan_and_bad_rules_are_refused() -> None:
    assert np.isnan(DEFAULT_RULE.aggregate(np.array([np.nan, np.nan])))
    with pytest.raises(ValueError, match="not in"):
        SeriesRule("median")
    with pytest.raises(ValueError, match="k >= 1"):
        SeriesRule("top_k_mean", 0)
    assert SeriesRule.from_dict(SeriesRule("top_k_mean", 4).to_dict()) == SeriesRule("top_k_mean", 4)


def test_only_slices_with_aerated_lung_are_scored_on_a_hu_series() -> None:
    assert list(np.flatnonzero(lung_slices(_chest_series()))) == list(range(3, 10))
    blanket = _chest_series()
    blanket.pixels[:, 84:96, :] = -800.0  # outside the body, in the lungs' range on every slice (13% of each)
    assert list(np.flatnonzero(lung_slices(blanket))) == list(range(3, 10))  # until session 49: every slice
    stack = Volume(np.zeros((4, 8, 8), dtype=np.float32), modality="OT")  # a PNG stack: no HU, every slice
    assert lung_slices(stack).all()


def test_scan_scores_lung_slices_and_gives_one_series_answer() -> None:
    steps: list[tuple[int, int]] = []
    scan = scan_series(_predictor(), _chest_series(), "tiny_ct_slice", batch_size=3,
                       progress=lambda done, total, message: steps.append((done, total)))
    assert scan.status == "ok" and scan.positive_class == "square"
    assert np.isnan(scan.slice_scores[[0, 1, 2, 10, 11]]).all() and scan.scored == 7
    lesion, rest = scan.slice_scores[6:8], scan.slice_scores[[3, 4, 5, 8, 9]]
    assert lesion.min() > rest.max()
    assert scan.peak_slice in (6, 7)
    assert scan.score == pytest.approx(DEFAULT_RULE.aggregate(scan.slice_scores))
    assert "default rule" in scan.rule_source and "3 highest" in scan.rule
    assert any("5 of 12 slices hold no lung" in w for w in scan.warnings)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps) and steps[-1] == (7, 7)
    payload = scan.to_json()
    assert payload["slices_scored"] == 7 and payload["slice_scores"][0] is None and payload["decision"] == scan.decision


def test_scan_cancels_between_batches() -> None:
    calls = iter([False, True])
    with pytest.raises(Cancelled):
        scan_series(_predictor(), _chest_series(), "tiny_ct_slice", batch_size=2, cancelled=lambda: next(calls, True))


@pytest.mark.parametrize(
    "volume, reason",
    [
        (Volume(np.zeros((1, 32, 32), dtype=np.float32), modality="CT"), "several slices"),
        (_chest_series(lung=range(0), lesion=range(0)), "no slice holds aerated lung"),
    ],
)
def test_scan_refuses_what_is_not_a_chest_series(volume: Volume, reason: str) -> None:
    scan = scan_series(_predictor(), volume, "tiny_ct_slice")
    assert scan.status == "refused" and reason in scan.reason


def test_trainer_prefers_the_first_rule_within_tolerance_of_the_best() -> None:
    from trainer.series_rule import best_rule, rule_table

    patients = {
        "a": (True, [0.9, 0.2, 0.1, 0.1]),  # one clearly diseased slice among normal ones
        "b": (True, [0.6, 0.6, 0.5]),
        "c": (False, [0.4, 0.4, 0.4]),
        "d": (False, [0.3, 0.7]),
    }
    table = rule_table(patients)
    by_rule = {row["describe"]: row["patient_auc"] for row in table}
    assert by_rule["mean slice score"] < by_rule["mean of the 3 highest slice scores"]
    top = max(row["patient_auc"] for row in table)
    first_close = next(row for row in table if row["patient_auc"] >= top - 0.01)
    assert best_rule(table) == first_close and best_rule(table)["describe"] != "mean slice score"
    assert best_rule([{"patient_auc": 0.70}, {"patient_auc": 0.80}], tolerance=0.01) == {"patient_auc": 0.80}


def test_every_requested_slice_model_answers_for_the_series_and_the_json_carries_it() -> None:
    from covidviewer.commands.predict_output import summary
    from covidviewer.inference.results import AnalysisResult
    from covidviewer.inference.series_scan import scan_all_series

    predictor, volume = _predictor(), _chest_series()
    assert scan_all_series(predictor, Volume(np.zeros((1, 8, 8), dtype=np.float32)), ["tiny_ct_slice"]) == []
    scans = scan_all_series(predictor, volume, ["tiny_ct_slice"])
    assert [s.model for s in scans] == ["tiny_ct_slice"] and scans[0].status == "ok"
    analysis = AnalysisResult(input="series", status="ok", series=scans)
    assert analysis.to_json()["series"][0]["slices_scored"] == 7
    assert "tiny_ct_slice series=" in summary(analysis, "series")
    assert "series" not in AnalysisResult(input="film", status="ok").to_json()


def test_a_series_whose_slices_are_mostly_unlike_training_gets_no_answer() -> None:
    from covidviewer.commands.predict_output import summary
    from covidviewer.inference.results import AnalysisResult
    from covidviewer.inference.series_scan import SeriesScan

    scores = np.array([np.nan, 0.9, 0.8, 0.7], dtype=np.float32)
    flagged = SeriesScan("m", "ok", positive_class="COVID-19", slice_scores=scores, score=0.8, decision="", ood_slices=2)
    assert flagged.ood_flag and "no series answer" in flagged.describe() and flagged.to_json()["ood_flag"]
    assert "no answer (2 of the 3 lung slices are unlike" in summary(AnalysisResult(input="s", status="ok", series=[flagged]), "s")
    fine = SeriesScan("m", "ok", positive_class="COVID-19", slice_scores=scores, score=0.8, decision="COVID-19", ood_slices=1)
    assert not fine.ood_flag and "1 of them unlike its training images" in fine.describe()


def test_a_series_whose_answer_rests_on_unlike_slices_gets_no_answer() -> None:
    # half the series is in distribution, but the 3 slices a top-3 rule reads mostly are not: the answer
    # would rest on images unlike the training ones
    from covidviewer.inference.series_scan import SeriesScan

    scores = np.array([0.2, 0.9, 0.8, 0.85, 0.1, 0.3], dtype=np.float32)
    flagged = SeriesScan("m", "ok", positive_class="COVID-19", slice_scores=scores, score=0.85, ood_slices=3,
                         deciding_slices=3, deciding_ood=2)
    assert flagged.ood_flag
    assert "2 of the 3 slices the answer rests on (3 of 6 lung slices in all) are unlike" in flagged.describe()
    trusted = SeriesScan("m", "ok", positive_class="COVID-19", slice_scores=scores, score=0.85, ood_slices=3,
                         deciding_slices=3, deciding_ood=1)
    assert not trusted.ood_flag and trusted.to_json()["deciding_ood"] == 1


@pytest.mark.parametrize(("kind", "k", "expected"), [
    ("max", 1, [1]),
    ("top_k_mean", 3, [1, 3, 2]),
    ("top_k_mean", 9, [1, 3, 2, 5, 0, 4]),
    ("mean", 1, [0, 1, 2, 3, 4, 5]),
])
def test_the_rule_names_the_slices_it_reads(kind: str, k: int, expected: list[int]) -> None:
    from covidviewer.inference.series_scan import SeriesRule

    scores = np.array([0.2, 0.9, 0.8, 0.85, 0.1, 0.3, np.nan], dtype=np.float32)
    assert list(SeriesRule(kind, k).deciding(scores)) == expected


def test_the_scan_feeds_each_slice_as_the_weights_were_trained_like_a_one_slice_run(monkeypatch) -> None:
    """The registered spec may differ from the installed weights' (a CPU run trained DResUNet at 128 px,
    registered at 256): slices must be prepared from the loaded model's spec, as the Predictor does."""
    predictor, volume = _predictor(), _chest_series()
    single = predictor.analyse(volume, "tiny_ct_slice", slice_index=6).models[0].probabilities["square"]
    registered = predictor.store.spec("tiny_ct_slice")
    other = replace(registered, preprocess=replace(registered.preprocess, window=(0.0, 100.0)))
    monkeypatch.setattr(predictor.store, "spec", lambda name: other)
    scan = scan_series(predictor, volume, "tiny_ct_slice")
    assert scan.slice_scores[6] == pytest.approx(single, abs=1e-5)
