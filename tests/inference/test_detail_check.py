"""A radiograph whose finest detail lies beyond the training films': an answer carries what the model's style stress
test measured under edge enhancement or noise (stronger detail) or smoothing (weaker), where that figure moved; the
answer itself never changes."""
from __future__ import annotations

import numpy as np
import pytest

from covid_answers import PROBS, covid_answer

from covidviewer.inference.detail_check import DETAIL_PREFIX, detail_warning, recorded_detail_range, warn_on_detail
from covidviewer.inference.results import STATUS_REFUSED

#: the shipped DPN-SENet's record of its adult training films (session 29)
RECORD = {"labels": {"normal": {"n": 398, "p2.5": 0.0151, "p50": 0.0236, "p97.5": 0.0355},
                     "covid": {"n": 334, "p2.5": 0.0176, "p50": 0.0319, "p97.5": 0.0609}}}


def _point(normals: float, sensitivity: float, pneumonias: float = 0.35) -> dict:
    return {"point": {"normal_called_covid_at_threshold": normals, "covid_sensitivity_at_threshold": sensitivity,
                      "pneumonia_called_covid_at_threshold": pneumonias}}


def _stress(sharpened=(0.03, 0.80), noisier=(0.03, 0.80), smoothed=(0.03, 0.80), coarser=(0.03, 0.80)) -> dict:  # type: ignore[no-untyped-def]
    """A recorded test: each change's (adult normals called COVID-19, sensitivity), from an unchanged 3% and 0.80."""
    shifts = {"sharpen_1.0": sharpened, "noise_0.03": noisier, "blur_1.5": smoothed, "resample_0.4": coarser}
    return {"threshold": 0.17, "baseline": _point(0.03, 0.80),
            "shifts": {"gamma_1.5": _point(0.60, 0.10), **{key: _point(*figures) for key, figures in shifts.items()}}}


@pytest.mark.parametrize(("detail", "stress", "answer", "says"), [
    # DPN-SENet's recorded figures: edge-enhanced normals 3% -> 18%
    (0.041, _stress(sharpened=(0.18, 0.86)), "COVID-19", "finest detail (0.041) is stronger than in 97.5% of the adult normal"),
    (0.041, _stress(sharpened=(0.18, 0.86)), "COVID-19", "edge-enhanced, this model called 18% of adult normal films COVID-19 "
                                                         "at its threshold, against 3% unchanged"),
    (0.041, _stress(noisier=(0.21, 0.80)), "COVID-19", "noisier, this model called 21%"),  # under the flag, past the bar
    (0.012, _stress(smoothed=(0.03, 0.55)), "normal", "finest detail (0.012) is weaker than in 97.5% of the adult COVID-19"),
    (0.012, _stress(smoothed=(0.03, 0.55)), "normal", "smoothed, this model found 55% of the COVID-19 films at its "
                                                      "threshold, against 80% unchanged; its normal answer does not rule"),
    (0.012, _stress(coarser=(0.0, 0.61)), "bacterial pneumonia", "from a coarser detector, this model found 61%"),
])
def test_a_film_beyond_the_training_films_detail_warns_where_the_stress_test_moved(detail, stress, answer, says) -> None:  # type: ignore[no-untyped-def]
    warning = detail_warning(detail, RECORD, stress, answer)
    assert warning.startswith(DETAIL_PREFIX) and says in warning


@pytest.mark.parametrize(("detail", "stress", "answer", "record"), [
    (0.030, _stress(sharpened=(0.18, 0.86)), "COVID-19", RECORD),  # within the normals' range: nothing to say
    (0.0355, _stress(sharpened=(0.18, 0.86)), "COVID-19", RECORD),  # at the bound itself
    (0.041, _stress(sharpened=(0.12, 0.94)), "COVID-19", RECORD),  # VGG-16-GA's: 8% -> 12% is not a move
    (0.012, _stress(sharpened=(0.18, 0.86)), "COVID-19", RECORD),  # weak detail does not weaken a COVID-19 answer
    (0.041, _stress(smoothed=(0.03, 0.55)), "normal", RECORD),  # strong detail does not weaken a normal one
    (0.020, _stress(smoothed=(0.03, 0.55)), "normal", RECORD),  # within the COVID-19 films' range
    (0.012, _stress(smoothed=(0.03, 0.75)), "normal", RECORD),  # sensitivity fell 5 points only
    (0.041, _stress(sharpened=(0.18, 0.86)), "COVID-19", None),  # no record on the card
    (0.041, None, "COVID-19", RECORD),  # no stress test recorded
    (0.041, _stress(sharpened=(0.18, 0.86)), "COVID-19", {"labels": {"covid": RECORD["labels"]["covid"]}}),  # no normals
])
def test_nothing_to_say(detail, stress, answer, record) -> None:  # type: ignore[no-untyped-def]
    assert detail_warning(detail, record, stress, answer) == ""


def test_a_covid_answer_also_names_the_pneumonias_the_change_moved() -> None:
    """The cascade's recorded figures: edge-enhanced normals 5% -> 15%, adult non-COVID pneumonias 35% -> 49%."""
    stress = _stress()
    stress["baseline"] = _point(0.046, 0.80, 0.35)
    stress["shifts"]["sharpen_1.0"] = _point(0.152, 0.88, 0.49)  # 10.6 points: more than the flag
    warning = detail_warning(0.041, RECORD, stress, "COVID-19")
    assert "15% of adult normal films COVID-19 at its threshold, against 5% unchanged and 49% of adult non-COVID " \
           "pneumonia films COVID-19 at its threshold, against 35% unchanged" in warning


def test_the_warning_is_added_to_a_copy_and_the_answer_stays() -> None:
    result = covid_answer()
    warned = warn_on_detail(result, 0.041, "CXR", RECORD, _stress(sharpened=(0.18, 0.86)))
    assert warned.decision == "COVID-19" and warned.probabilities == PROBS
    assert warned.warnings[0] == "loader note" and warned.warnings[1].startswith(DETAIL_PREFIX) and len(warned.warnings) == 2
    assert result.warnings == ["loader note"]  # a cached result is never changed


@pytest.mark.parametrize(("result", "modality", "detail"), [
    (covid_answer(STATUS_REFUSED), "CXR", 0.041),
    (covid_answer(probabilities={"non-COVID": 0.2, "COVID-19": 0.8}), "CT_SLICE", 0.041),
    (covid_answer(probabilities={"normal": 0.8, "bacterial pneumonia": 0.1, "viral pneumonia": 0.1}), "CXR", 0.041),
    (covid_answer(), "CXR", None),  # not measured
])
def test_only_a_measured_radiograph_answer_with_a_covid_class_is_warned(result, modality, detail) -> None:  # type: ignore[no-untyped-def]
    assert warn_on_detail(result, detail, modality, RECORD, _stress(sharpened=(0.18, 0.86))) is result


def test_the_record_and_its_view_come_from_the_card_of_the_weights_that_ran(tiny_weights) -> None:  # type: ignore[no-untyped-def]
    """``trainer detail-range --write`` keeps the record on the card; the app reads it, with the card's own
    preprocessing (the view it was measured on), for those weights only."""
    from covidviewer.models import get_spec
    from covidviewer.models.weights import installed_weights_sha256
    from trainer.detail_range import record_on_card

    folder = tiny_weights("dpn92_se")
    spec, sha = get_spec("dpn92_se"), installed_weights_sha256("dpn92_se")
    assert recorded_detail_range(spec, sha) is None  # nothing recorded yet
    record_on_card(folder, RECORD)
    record, view = recorded_detail_range(spec, sha)  # type: ignore[misc]
    assert record == RECORD and view == spec.preprocess
    assert recorded_detail_range(spec, "0" * 64) is None  # another weight set: not its films' figures


def test_the_shipped_radiograph_cards_carry_a_record_on_their_own_view() -> None:
    from covidviewer.models import get_spec
    from covidviewer.models.weights import installed_weights_sha256

    found = 0
    for name in ("dpn92_se", "vgg16_ga", "small_cnn", "cascade_semenet"):
        sha = installed_weights_sha256(name)
        if not sha:
            continue
        record, view = recorded_detail_range(get_spec(name), sha)  # type: ignore[misc]
        normal, covid = record["labels"]["normal"], record["labels"]["covid"]
        assert normal["n"] > 100 and covid["n"] > 100 and record["films"] == "adult" and record["split"] == "train"
        assert normal["p2.5"] < normal["p50"] < normal["p97.5"] and covid["p2.5"] < covid["p97.5"]
        assert view.lung_crop  # the installed weights' own view: the lung box, not the registered paper default
        found += 1
    if not found:
        pytest.skip("no trained radiograph classifier installed")


def test_the_predictor_warns_on_the_built_in_film_edge_enhanced_as_each_record_says() -> None:
    """The built-in 1,955 px chest CR as sent lies inside every record (finest detail 0.032, normals up to 0.036):
    no detail warning. Edge-enhanced, a COVID-19 answer of a model whose stress test moved under edge enhancement
    says so; each answer carries exactly the warning its card's record gives for the film's measured detail."""
    from covidviewer.inference.inputs import plane_detail, reading_window
    from covidviewer.inference.predictor import Predictor
    from covidviewer.inference.runner import RunOptions
    from covidviewer.inference.stress_record import recorded_style_stress
    from covidviewer.io.load import load_path
    from covidviewer.io.samples import sample_paths
    from trainer.data.augment import in_window_units, sharpen

    if "chest_cr" not in sample_paths():
        pytest.skip("pydicom-data's RG1_UNCI.dcm is not installed")
    predictor = Predictor(device="cpu")
    names = [n for n in ("dpn92_se", "cascade_semenet", "vgg16_ga", "small_cnn") if predictor.availability(n)[0]]
    if not names:
        pytest.skip("no trained radiograph classifier installed")
    volume = load_path(sample_paths()["chest_cr"])
    for sent in predictor.analyse(volume, names, RunOptions(date_check=False)).models:
        assert not [w for w in sent.warnings if w.startswith(DETAIL_PREFIX)], sent.model
    volume.pixels = in_window_units(volume.pixels[0], volume.default_window,
                                    lambda unit: np.clip(sharpen(unit, 1.5 * 1955 / 256, 1.5), 0, 1))[None]
    warned = 0
    for result in predictor.analyse(volume, names, RunOptions(date_check=False)).models:
        spec = predictor.store.spec(result.model)
        record, view = recorded_detail_range(spec, result.weights_sha256)  # type: ignore[misc]
        detail = plane_detail(volume.pixels[0], view, reading_window(volume, False), predictor.lung_mask(volume))
        expected = detail_warning(detail, record, recorded_style_stress(spec, result.weights_sha256), result.answer)
        assert [w for w in result.warnings if w.startswith(DETAIL_PREFIX)] == ([expected] if expected else []), result.model
        warned += bool(expected)
    assert warned, "edge-enhanced, the built-in film should carry at least one model's detail warning"
