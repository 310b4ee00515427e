"""The view check (covidviewer/inference/view_check.py): a COVID-19 answer on a film whose header says AP carries the
model's own leave-one-source-out figures by view, where AP normal films were called COVID-19 clearly more often than PA
ones; a film that names no view (a PNG or JPEG) the same figures for if it is AP (session 47); no record, a small gap,
another view or another answer: nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from covidviewer.inference.results import STATUS_ERROR, STATUS_OK
from covidviewer.inference.view_check import VIEW_PREFIX, film_view, view_warning, warn_on_ap_film
from covid_answers import covid_answer


def _record(ap: float, pa: float, source: str = "NIH ChestX-ray14 (via ...)") -> dict:
    by_view = {"AP": {"n": {"normal": 97}, "point": {"normal_called_covid_at_threshold": ap}},
               "PA": {"n": {"normal": 53}, "point": {"normal_called_covid_at_threshold": pa}}}
    return {"held_out": ["NIH"], "held_out_names": [source], "by_view": by_view}


@pytest.mark.parametrize("header, view", [("AP", "AP"), ("PA", "PA"), ("LL", "lateral"), ("", ""), (None, "")])
def test_the_view_is_the_headers(header, view) -> None:  # type: ignore[no-untyped-def]
    assert film_view({"view_position": header}) == view


def test_a_record_whose_ap_normals_fared_worse_speaks_with_its_figures() -> None:
    text = view_warning({"NIH": _record(0.42, 0.06), "RSNA": {"held_out": ["RSNA"]}})
    assert text.startswith(VIEW_PREFIX + "the file says this is an AP film")
    assert ("another network of this model, trained without NIH, called 42% of that source's 97 AP normal films "
            "COVID-19 at its threshold, against 6% of its 53 PA ones;") in text
    assert text.endswith("its COVID-19 answer may reflect the view, not the lungs: read it beside the other models and "
                         "an earlier film of this patient")
    two = view_warning({"NIH": _record(0.42, 0.06), "NIH, seed 1": _record(0.42, 0.04)})
    assert two.count("another network of this model") == 2


@pytest.mark.parametrize("records", [{}, {"NIH": _record(0.33, 0.28)}, {"RSNA": {"held_out": ["RSNA"]}}])
def test_no_record_by_view_or_a_small_gap_says_nothing(records) -> None:  # type: ignore[no-untyped-def]
    assert view_warning(records) == ""


def test_only_a_covid_answer_on_an_ap_radiograph_is_looked_at() -> None:
    from covidviewer.models import get_spec

    spec = get_spec("dpn92_se")
    for result, meta, modality in [(covid_answer(), {"view_position": "PA"}, "CXR"),
                                   (covid_answer(), {"view_position": "LL"}, "CXR"),
                                   (covid_answer(), {"view_position": "AP"}, "CT_SLICE"),
                                   (covid_answer(STATUS_ERROR), {"view_position": "AP"}, "CXR")]:
        assert warn_on_ap_film(result, spec, meta, modality) is result
    normal = covid_answer(probabilities={"COVID-19": 0.1, "normal": 0.9})
    normal = type(normal)(**{**normal.__dict__, "label": "normal", "decision": "normal"})
    assert warn_on_ap_film(normal, spec, {"view_position": "AP"}, "CXR") is normal


def test_the_shipped_cards_records_by_view_decide_which_model_speaks() -> None:
    """small_cnn's two NIH records (AP normals 42% against PA 4-6%) speak; VGG-16-GA's (33% against 28%) do not;
    DPN-SENet has no record by view."""
    from dataclasses import replace

    from covidviewer.models import get_spec
    from covidviewer.models.weights import installed_weights_sha256

    said = {}
    for name in ("small_cnn", "vgg16_ga", "dpn92_se"):
        sha = installed_weights_sha256(name)
        if not sha:
            pytest.skip(f"{name}'s weights are not installed")
        result = replace(covid_answer(), model=name, weights_sha256=sha)
        warned = warn_on_ap_film(result, get_spec(name), {"view_position": "AP"}, "CXR")
        said[name] = [w for w in warned.warnings if w.startswith(VIEW_PREFIX)]
        assert result.status == STATUS_OK and result.warnings == ["loader note"]  # the answer's own list is untouched
    assert len(said["small_cnn"]) == 1 and "of that source's 97 AP normal films" in said["small_cnn"][0]
    assert said["vgg16_ga"] == [] and said["dpn92_se"] == []


def test_the_predictor_adds_it_to_a_covid_answer_on_an_ap_film(shared_data: Path) -> None:
    """A real ieee8023 AP COVID-19 film, told AP as a DICOM header would: small_cnn's answer carries the warning exactly
    when it answers COVID-19."""
    import csv

    from covidviewer.inference.predictor import Predictor
    from covidviewer.inference.runner import RunOptions
    from covidviewer.io.load import load_path

    predictor = Predictor(device="cpu")
    if not predictor.availability("small_cnn")[0]:
        pytest.skip("small_cnn's weights are not installed")
    rows = [r for r in csv.DictReader(open(shared_data / "cxr" / "labels.csv")) if r["view"] == "AP Supine" and r["label"] == "covid"]
    answers = []
    for row in rows[:4]:
        volume = load_path(shared_data / "cxr" / row["path"])
        volume.meta["view_position"] = "AP"
        result = predictor.analyse(volume, ["small_cnn"], RunOptions(date_check=False)).models[0]
        warned = [w for w in result.warnings if w.startswith(VIEW_PREFIX)]
        assert len(warned) == (result.answer == "COVID-19"), result.warnings
        answers.append(result.answer)
    assert "COVID-19" in answers


def test_a_film_that_names_no_view_carries_the_figures_for_if_it_is_ap() -> None:
    """A PNG or JPEG: the reader sees the view, the model cannot; the warning says what holds were it AP, conclusion
    last, so that the results panel reads "if this is an AP film, ..." first."""
    from covidviewer.analysis.warning_text import split_warning
    from covidviewer.inference.view_check import UNKNOWN_VIEW
    from covidviewer.models import get_spec

    text = view_warning({"NIH": _record(0.42, 0.06)}, view="")
    assert text.startswith(VIEW_PREFIX + UNKNOWN_VIEW + "; AP films are most often the portable films")
    assert "called 42% of that source's 97 AP normal films COVID-19 at its threshold, against 6% of its 53 PA ones" in text
    parts = split_warning(text)
    assert parts.name == "view check" and parts.conclusion.startswith("if this is an AP film, its COVID-19 answer may "
                                                                      "reflect the view, not the lungs")
    assert view_warning({"NIH": _record(0.33, 0.28)}, view="") == ""  # a small gap says nothing, known view or not

    import covidviewer.inference.view_check as view_check

    spec = get_spec("small_cnn")
    original = view_check.recorded_held_out
    try:
        view_check.recorded_held_out = lambda spec, sha: {"NIH": _record(0.42, 0.06)}
        for meta in ({}, {"view_position": ""}):
            warned = warn_on_ap_film(covid_answer(), spec, meta, "CXR")
            assert warned.warnings[-1].startswith(VIEW_PREFIX + UNKNOWN_VIEW)
    finally:
        view_check.recorded_held_out = original
