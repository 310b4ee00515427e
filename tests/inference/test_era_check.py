"""No COVID-19 answer on an image dated before the pandemic; untrusted dates leave the answer alone."""
from __future__ import annotations

from datetime import date

import pytest

from covidviewer.inference.era_check import before_covid, exclude_covid_before_2019, image_date
from covidviewer.inference.results import STATUS_OK, STATUS_REFUSED, ModelResult

PROBS = {"COVID-19": 0.81, "normal": 0.10, "bacterial pneumonia": 0.05, "viral pneumonia": 0.04}


def _covid_answer(**kw) -> ModelResult:  # type: ignore[no-untyped-def]
    return ModelResult("dpn92_se", STATUS_OK, classes=tuple(PROBS), probabilities=dict(PROBS), label="COVID-19",
                       decision="COVID-19", threshold="highest probability", **kw)


@pytest.mark.parametrize("meta, expected", [
    ({"study_date": "20040826", "content_date": "19950926"}, (date(1995, 9, 26), "content")),  # the image's own date first
    ({"acquisition_date": "20191130", "study_date": "20200101"}, (date(2019, 11, 30), "acquisition")),
    ({"study_date": "2004-08-26"}, (date(2004, 8, 26), "study")),
    ({"study_date": "19000101"}, None),  # an anonymiser's placeholder (ours writes it)
    ({"study_date": "20040231"}, None),  # no such day
    ({"study_date": ""}, None),
    ({}, None),
    ({"study_date": "20040826", "dates_modified": "MODIFIED"}, None),  # PS3.15: dates shifted
    ({"study_date": "20040826", "dates_modified": "removed"}, None),
    ({"study_date": "20040826", "dates_modified": "UNMODIFIED"}, (date(2004, 8, 26), "study")),
])
def test_image_date(meta, expected) -> None:  # type: ignore[no-untyped-def]
    assert image_date(meta) == expected


def test_only_dates_before_december_2019_exclude_covid() -> None:
    assert before_covid({"study_date": "20191130"}) is not None
    assert before_covid({"study_date": "20191201"}) is None
    assert before_covid({"study_date": "20210315"}) is None


def test_a_covid_answer_on_a_2004_film_becomes_the_most_probable_other_class() -> None:
    result = _covid_answer(warnings=["loader note"])
    checked = exclude_covid_before_2019(result, {"study_date": "20040826"})
    assert checked.decision == checked.label == "normal"
    assert checked.probabilities == PROBS  # the model's output is shown as it was
    assert "2004-08-26" in checked.threshold and "COVID-19 excluded" in checked.threshold
    assert checked.warnings[0] == "loader note" and "false alarm" in checked.warnings[1] and "0.81" in checked.warnings[1]
    assert result.decision == "COVID-19" and result.warnings == ["loader note"]  # a cached result is never changed


def test_the_same_source_caveats_leave_with_the_covid_answer() -> None:
    """A caveat speaks of a COVID-19 answer ("its COVID-19 answer may reflect ..."): once the date overrules that
    answer, a caveat left under "viral pneumonia" would be about an answer the reader no longer sees."""
    from covidviewer.models.same_source import CAVEAT_PREFIX

    caveat = f"{CAVEAT_PREFIX}of 10 normal films from the hospitals of its COVID-19 films ..."
    checked = exclude_covid_before_2019(_covid_answer(warnings=["loader note", caveat]), {"study_date": "20040826"})
    assert checked.decision == "normal"
    assert checked.warnings[0] == "loader note" and len(checked.warnings) == 2 and "false alarm" in checked.warnings[1]


@pytest.mark.parametrize("result, meta", [
    (_covid_answer(), {"study_date": "20200402"}),  # during the pandemic
    (_covid_answer(), {"study_date": "20040826", "dates_modified": "MODIFIED"}),
    (_covid_answer(), {}),  # a PNG: no date
    (ModelResult("dpn92_se", STATUS_OK, probabilities=dict(PROBS), label="normal", decision="normal"), {"study_date": "20040826"}),
    (ModelResult("dpn92_se", STATUS_REFUSED, "a lateral film"), {"study_date": "20040826"}),
    (ModelResult("dresunet", STATUS_OK, probabilities={"non-COVID": 1.0}, label="non-COVID", decision="non-COVID"), {"study_date": "20040826"}),
])
def test_nothing_to_correct(result, meta) -> None:  # type: ignore[no-untyped-def]
    assert exclude_covid_before_2019(result, meta) is result


def test_the_built_in_2004_film_gets_no_covid_answer_from_any_model() -> None:
    """The brief's own failure: "COVID-19 83%" on a film from 2004 (RG1_UNCI: content 1995, study 2004)."""
    from covidviewer.inference.predictor import Predictor
    from covidviewer.inference.runner import RunOptions
    from covidviewer.io.load import load_path
    from covidviewer.io.samples import sample_paths

    if "chest_cr" not in sample_paths():
        pytest.skip("pydicom-data's RG1_UNCI.dcm is not installed")
    volume = load_path(sample_paths()["chest_cr"])
    predictor = Predictor(device="cpu")
    names = [n for n in predictor.classifier_names() if predictor.availability(n)[0]]
    if not names:
        pytest.skip("no trained radiograph classifier installed")
    checked = predictor.analyse(volume, names, RunOptions())
    unchecked = predictor.analyse(volume, names, RunOptions(date_check=False))
    answered = [r for r in checked.models if r.status == STATUS_OK]
    assert answered and all(r.decision != "COVID-19" for r in answered)
    for before, after in zip(unchecked.models, checked.models):
        if before.decision == "COVID-19":  # what the shipped model says without the check
            assert "1995-09-26" in after.threshold and after.probabilities == before.probabilities
            assert not [w for w in after.warnings if "shortcut audit" in w]  # no caveat on the answer it no longer gives
