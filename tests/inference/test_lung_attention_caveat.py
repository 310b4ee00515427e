"""A model whose card shows its Grad-CAM in the lungs no more than elsewhere says so beside every answer: one slice's
and a whole series' (covidviewer.card_checks.lung_attention_caveats, sessions 45-46)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from square_models import BrightnessNet, tiny_spec

from covidviewer.analysis.warning_text import split_warning
from covidviewer.card_checks import LUNG_ATTENTION_LIFT_BAR, lung_attention_caveats
from covidviewer.inference import Predictor, RunOptions
from covidviewer.inference.series_scan import scan_series
from covidviewer.io import Volume

pytestmark = pytest.mark.usefixtures("no_installed_weights")

#: DResUNet's record (resources/weights/dresunet/model.json, session 45)
CT_RECORD = {"mean_share": 0.336, "ci95": [0.289, 0.382], "mean_lung_area": 0.361, "n_images": 109,
             "lung_region": "ct_enclosed", "outside_body_share": 0.149, "mean_outside_area": 0.155, "n_no_lungs": 9}


def lung_attention_caveat(record: dict | None) -> str:
    """The one warning a record gives ("" for none)."""
    caveats = lung_attention_caveats(record)
    assert len(caveats) <= 1, caveats
    return caveats[0] if caveats else ""


def test_the_caveat_says_what_the_record_measured_and_only_where_the_lungs_get_no_more_than_their_area() -> None:
    text = lung_attention_caveat(CT_RECORD)
    assert text.startswith("where it looks: on its validation slices 34% of this model's Grad-CAM attention lies inside")
    assert "cover 36% of the region it reads, and 15% outside the body (air, the table, labels), which is 16% of it" in text
    assert lung_attention_caveat({**CT_RECORD, "mean_share": 0.70}) == ""  # twice the lungs' area: it looks there
    assert lung_attention_caveat({**CT_RECORD, "mean_share": LUNG_ATTENTION_LIFT_BAR * 0.361}) == ""
    radiograph = {"mean_share": 0.3, "mean_lung_area": 0.3}
    assert "validation images 30%" in lung_attention_caveat(radiograph) and "30% of the region it reads" in lung_attention_caveat(radiograph)
    assert "outside the body" not in lung_attention_caveat(radiograph)
    # no record, a skipped one, or one made before session 45 (no lung area to weigh the share by): nothing to say
    assert lung_attention_caveat(None) == lung_attention_caveat({"skipped": "no masks"}) == ""
    assert lung_attention_caveat({"mean_share": 0.1, "ci95": [0.05, 0.15]}) == ""


def _erased(point: dict, ci: dict) -> dict:
    return {"lungs_erased": {"point": point, "ci95": ci, "n_images": 109}}


#: resunet_fprm's and VGG-16-GA's erased-chest figures (session 46): beyond chance
FPRM_ERASED = _erased({"auc_as_sent": 0.825, "auc_lungs_erased": 0.737}, {"auc_as_sent": [0.72, 0.91], "auc_lungs_erased": [0.627, 0.841]})
VGG_ERASED = _erased({"auc_as_sent": 0.888, "auc_lungs_erased": 0.619, "adult_auc_as_sent": 0.935, "adult_auc_lungs_erased": 0.757},
                     {"auc_lungs_erased": [0.52, 0.71], "adult_auc_lungs_erased": [0.656, 0.859]})


def test_a_score_that_still_separates_with_the_chest_erased_is_said_whatever_the_map_shows() -> None:
    # VGG-16-GA's maps sit in the lungs (0.81 of them, in 0.51 of the image) and its score reads around them
    vgg = lung_attention_caveat({"mean_share": 0.806, "mean_lung_area": 0.512, **VGG_ERASED})
    assert vgg.startswith("what it reads: with the chest erased from its validation films")
    assert "tells adult COVID-19 films from adult normal ones with AUC 0.76 [0.66, 0.86] (0.94 as sent" in vgg  # the adult pair first
    # read conclusion first (analysis.warning_text): its name, its conclusion, the figures on demand
    text = split_warning(vgg)
    assert text.name == "what it reads" and text.conclusion.startswith("part of its answer comes from outside what the lungs show")
    assert "AUC 0.76" in text.evidence
    looks, reads = lung_attention_caveats({**CT_RECORD, **FPRM_ERASED})  # both hold: two warnings
    assert looks.startswith("where it looks: on its validation slices 34%") and "chest erased" not in looks
    assert reads.startswith("what it reads: with the chest erased from its validation slices")
    assert "COVID-19 slices from the others with AUC 0.74 [0.63, 0.84] (0.82 as sent" in reads


def test_a_map_outside_the_lungs_is_qualified_when_the_chest_erased_leaves_the_score_within_chance() -> None:
    within = _erased({"adult_auc_as_sent": 0.945, "adult_auc_lungs_erased": 0.589}, {"adult_auc_lungs_erased": [0.477, 0.707]})
    small_cnn = lung_attention_caveat({"mean_share": 0.471, "mean_lung_area": 0.44, **within})
    assert small_cnn.startswith("where it looks: on its validation images 47%")
    assert "(but with the chest erased its COVID-19 score tells adult COVID-19 films from adult normal ones with AUC 0.59 [0.48, 0.71]" in small_cnn
    assert "reaches 0.50, chance" in small_cnn
    # a map in the lungs and a score within chance with the chest erased: nothing to say
    assert lung_attention_caveat({"mean_share": 0.67, "mean_lung_area": 0.44, **within}) == ""


def _chest_series() -> Volume:
    vol = np.full((8, 96, 96), -1000.0, dtype=np.float32)
    vol[:, 16:80, 16:80] = 40.0
    vol[2:6, 24:72, 24:72] = -800.0
    return Volume(vol, spacing=(5.0, 1.0, 1.0), modality="CT", default_window=(-600, 1500), meta={"format": "dicom"})


@pytest.mark.parametrize("record, warned", [(CT_RECORD, True), ({**CT_RECORD, "mean_share": 0.8}, False), (None, False)])
def test_a_slice_answer_and_a_series_answer_carry_their_cards_caveat(monkeypatch, record, warned: bool) -> None:
    from covidviewer.inference import calibrated

    spec = tiny_spec("tiny_ct_slice", "ct_slice", (32, 32), fit="pad")
    spec = replace(spec, preprocess=replace(spec.preprocess, window=(-600.0, 1500.0)))
    predictor = Predictor(device="cpu")
    predictor.store.add(BrightnessNet(), spec, "a" * 64)
    card = {"metrics": {"lung_attention": record}} if record else None
    monkeypatch.setattr(calibrated, "installed_card", lambda s, sha: card if s.name == spec.name and sha == "a" * 64 else None)
    one = predictor.analyse(_chest_series(), ["tiny_ct_slice"], RunOptions(method="none"), slice_index=3).models[0]
    series = scan_series(predictor, _chest_series(), "tiny_ct_slice")
    assert one.status == series.status == "ok"
    for warnings in (one.warnings, series.warnings):
        assert any(w.startswith("where it looks: on its validation slices 34%") for w in warnings) is warned


def test_a_ranking_kept_with_scores_a_hair_apart_moves_no_answer_and_is_not_warned_of() -> None:
    """Session 46: a small_cnn start taught to answer nothing on an erased chest kept AUC 0.70 with every erased film at
    p 0.34: the ranking is there, the answers do not move."""
    point = {"adult_auc_as_sent": 0.935, "adult_auc_lungs_erased": 0.70, "adult_gap_as_sent": 0.55, "adult_gap_lungs_erased": 0.01}
    hair = _erased(point, {"adult_auc_lungs_erased": [0.59, 0.80]})
    assert lung_attention_caveat({"mean_share": 0.8, "mean_lung_area": 0.5, **hair}) == ""
    qualified = lung_attention_caveat({"mean_share": 0.4, "mean_lung_area": 0.5, **hair})  # its map outside the lungs
    assert qualified.startswith("where it looks") and "its scores only 0.01 apart in mean p(COVID-19)" in qualified
    apart = _erased({**point, "adult_gap_lungs_erased": 0.12}, {"adult_auc_lungs_erased": [0.59, 0.80]})
    text = lung_attention_caveat({"mean_share": 0.8, "mean_lung_area": 0.5, **apart})
    assert "the COVID-19 films scoring 0.12 higher in p(COVID-19) on average (0.55 as sent)" in text
