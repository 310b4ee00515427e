"""A child's chest film: every radiograph model with a COVID-19 class says it never saw a child with COVID-19."""
from __future__ import annotations

import pytest

from covidviewer.inference.age_check import child_warning, patient_age_years, warn_on_child
from covidviewer.inference.results import STATUS_OK, STATUS_REFUSED, ModelResult

PROBS = {"COVID-19": 0.10, "normal": 0.70, "bacterial pneumonia": 0.15, "viral pneumonia": 0.05}


@pytest.mark.parametrize(("age", "years"), [
    ("007Y", 7.0), ("018M", 1.5), ("010W", 70 / 365.25), ("003D", 3 / 365.25), ("045Y", 45.0), (" 017y ", 17.0),
    ("000Y", None),  # an anonymiser's placeholder: an infant's age is given in days, weeks or months
    ("", None), ("7", None), ("07Y", None), ("007A", None), (None, None),
])
def test_patient_age_years(age, years) -> None:  # type: ignore[no-untyped-def]
    found = patient_age_years({"patient_age": age})
    assert found == pytest.approx(years) if years is not None else found is None


@pytest.mark.parametrize(("meta", "years"), [
    ({"patient_birth_date": "20150302", "study_date": "20200501"}, 5.17),
    ({"patient_birth_date": "1950-01-01", "acquisition_date": "20200101", "study_date": "20000101"}, 70.0),  # the image's own
    ({"patient_age": "045Y", "patient_birth_date": "20150302", "study_date": "20200501"}, 45.0),  # PatientAge first
    ({"patient_birth_date": "20200501", "study_date": "20200501"}, None),  # an anonymiser's copy of the study date
    ({"patient_birth_date": "20210101", "study_date": "20200501"}, None),  # born after the film
    ({"patient_birth_date": "20150302", "study_date": "20200501", "dates_modified": "MODIFIED"}, None),  # shifted dates
    ({"patient_birth_date": "20150302"}, None), ({"patient_birth_date": "2015", "study_date": "20200501"}, None),
])
def test_an_age_from_the_birth_and_image_dates_where_the_file_gives_none(meta, years) -> None:  # type: ignore[no-untyped-def]
    found = patient_age_years(meta)
    assert found == pytest.approx(years, abs=0.01) if years is not None else found is None


def test_a_child_by_birth_date_is_warned_with_the_dates_that_tell_it() -> None:
    warning = child_warning({"patient_birth_date": "20150302", "study_date": "20200501"})
    assert "born 2015-03-02, imaged 2020-05-01 (study date): 5.2 years" in warning
    assert child_warning({"patient_birth_date": "19800101", "study_date": "20200501"}) is None


def test_only_children_get_the_warning() -> None:
    assert "007Y" in child_warning({"patient_age": "007Y"}) and "does not rule COVID-19 out" in child_warning({"patient_age": "007Y"})
    assert child_warning({"patient_age": "017Y"}) is not None
    assert child_warning({"patient_age": "018Y"}) is None
    assert child_warning({}) is None


def _answer(model: str = "dpn92_se", status: str = STATUS_OK, probabilities: dict | None = None) -> ModelResult:
    probs = dict(PROBS) if probabilities is None else probabilities
    return ModelResult(model, status, classes=tuple(probs), probabilities=probs, label="normal", decision="normal",
                       warnings=["loader note"])


def test_a_radiograph_answer_on_a_childs_film_carries_the_warning_and_keeps_its_answer() -> None:
    result = _answer()
    warned = warn_on_child(result, {"patient_age": "004Y"}, "CXR")
    assert warned.decision == "normal" and warned.probabilities == PROBS
    assert warned.warnings[0] == "loader note" and "004Y" in warned.warnings[1] and len(warned.warnings) == 2
    assert result.warnings == ["loader note"]  # a cached result is never changed


@pytest.mark.parametrize(("result", "meta", "modality"), [
    (_answer(), {"patient_age": "045Y"}, "CXR"),  # an adult
    (_answer(), {}, "CXR"),  # no age in the file (a PNG, or removed)
    (_answer("dresunet", probabilities={"non-COVID": 0.8, "COVID-19": 0.2}), {"patient_age": "004Y"}, "CT_SLICE"),
    (_answer("seme_resnet50", probabilities={"normal": 0.8, "bacterial pneumonia": 0.1, "viral pneumonia": 0.1}),
     {"patient_age": "004Y"}, "CXR"),  # no COVID-19 class: its answers are what children were trained as
    (ModelResult("dpn92_se", STATUS_REFUSED, "a lateral film"), {"patient_age": "004Y"}, "CXR"),
])
def test_nothing_to_warn(result, meta, modality) -> None:  # type: ignore[no-untyped-def]
    assert warn_on_child(result, meta, modality) is result


def test_the_shipped_models_warn_on_the_built_in_film_given_a_childs_age() -> None:
    from covidviewer.inference.predictor import Predictor
    from covidviewer.inference.runner import RunOptions
    from covidviewer.io.load import load_path
    from covidviewer.io.samples import sample_paths

    if "chest_cr" not in sample_paths():
        pytest.skip("pydicom-data's RG1_UNCI.dcm is not installed")
    volume = load_path(sample_paths()["chest_cr"])
    predictor = Predictor(device="cpu")
    names = [n for n in ("dpn92_se", "vgg16_ga") if predictor.availability(n)[0]]
    if not names:
        pytest.skip("no trained radiograph classifier installed")
    adult = predictor.analyse(volume, names, RunOptions())
    assert not [w for r in adult.models for w in r.warnings if "child's film" in w]  # RG1_UNCI gives no age
    volume.meta["patient_age"] = "006Y"
    child = predictor.analyse(volume, names, RunOptions())
    for before, after in zip(adult.models, child.models):
        assert after.decision == before.decision and after.probabilities == before.probabilities
        assert any("006Y" in w and "child's film" in w for w in after.warnings)


def test_the_built_in_film_s_age_comes_from_its_birth_and_content_dates(edited_dicom) -> None:  # type: ignore[no-untyped-def]
    from covidviewer.io import load_path, sample_paths

    film = load_path(sample_paths()["chest_cr"])  # no PatientAge; born 1940-03-05, content date 1995-09-26
    assert film.meta["patient_birth_date"] == "19400305" and patient_age_years(film.meta) == pytest.approx(55.6, abs=0.05)
    as_child = load_path(edited_dicom(sample_paths()["chest_cr"], PatientBirthDate="19900101"))
    assert "5.7 years" in child_warning(as_child.meta)
