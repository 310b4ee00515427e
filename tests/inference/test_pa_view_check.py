"""The PA half of the view check (covidviewer/inference/view_check.py): a non-COVID answer on a film whose header says
PA carries the model's own COVID-19 sensitivity by view where it finds PA COVID-19 films clearly less often than AP
ones and under the unseen-hospital bar; a COVID-19 answer, another view, a film from before COVID-19, too few films or
a small gap: nothing (session 34)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from covidviewer.inference.results import STATUS_ERROR, STATUS_OK
from covidviewer.inference.view_check import VIEW_PREFIX, pa_warning, warn_on_pa_film
from covid_answers import covid_answer


def _by_view(ap: float, pa: float, films: int = 22) -> dict:
    def view(sensitivity: float) -> dict:
        return {"counts": {"COVID-19": {"images": films}}, "point": {"covid_sensitivity_at_threshold": sensitivity}}

    return {"AP": view(ap), "PA": view(pa)}


def _normal_answer(status: str = STATUS_OK):  # type: ignore[no-untyped-def]
    answer = covid_answer(status, probabilities={"COVID-19": 0.1, "normal": 0.9})
    return replace(answer, label="normal", decision="normal")


def test_a_model_that_finds_fewer_pa_films_says_so_with_its_figures() -> None:
    text = pa_warning(_by_view(20 / 22, 15 / 22), "normal")
    assert text.startswith(VIEW_PREFIX + "the file says this is a PA film")
    assert "found 0.68 of 22 PA adult validation COVID-19 films, against 0.91 of 22 AP ones" in text
    assert text.endswith("its normal answer rules COVID-19 out less on a PA film than its pooled sensitivity says")


@pytest.mark.parametrize("by_view", [
    {},  # no figures per view on the card
    _by_view(0.91, 0.82),  # at the bar on PA films
    _by_view(0.77, 0.73),  # under the bar, but no more than on AP films
    _by_view(0.91, 0.60, films=9),  # one film moves either figure by 11 points
])
def test_at_the_bar_a_small_gap_or_few_films_say_nothing(by_view: dict) -> None:
    assert pa_warning(by_view, "normal") == ""


def test_with_the_pa_films_scores_it_counts_those_as_low_as_this_film_and_is_silent_below_them_all() -> None:
    """15 of 22 PA COVID-19 films found at the threshold; 7 missed, of which 3 scored 0.05 or less."""
    by_view = _by_view(20 / 22, 15 / 22)
    by_view["PA"]["covid_scores"] = sorted([0.02, 0.04, 0.05, 0.1, 0.15, 0.2, 0.3] + [0.6] * 15)
    text = pa_warning(by_view, "normal", p_covid=0.05)
    assert "against 0.91 of 22 AP ones, and 3 of those 22 scored no higher than this film (p(COVID-19) 0.05); its" in text
    assert pa_warning(by_view, "normal", p_covid=0.01) == ""  # below every PA COVID-19 film: nothing to add
    assert "of those 22" not in pa_warning(by_view, "normal")  # no score given: the figures alone
    by_view["PA"]["covid_scores"] = [0.5] * 21  # scores that do not match the count are not read
    assert "of those" not in pa_warning(by_view, "normal", p_covid=0.6)


def test_only_a_non_covid_answer_on_a_pa_radiograph_since_2019_is_looked_at(monkeypatch: pytest.MonkeyPatch) -> None:
    import covidviewer.inference.view_check as view_check
    from covidviewer.models import get_spec

    monkeypatch.setattr(view_check, "recorded_by_view", lambda spec, sha: _by_view(20 / 22, 15 / 22))
    spec, pa = get_spec("dpn92_se"), {"view_position": "PA"}
    for result, meta, modality in [(covid_answer(), pa, "CXR"),  # a COVID-19 answer: the AP half's business
                                   (_normal_answer(), {"view_position": "AP"}, "CXR"),
                                   (_normal_answer(), {"view_position": "LL"}, "CXR"),
                                   (_normal_answer(), pa, "CT_SLICE"),
                                   (_normal_answer(STATUS_ERROR), pa, "CXR"),
                                   (_normal_answer(), {**pa, "acquisition_date": "20040301"}, "CXR")]:
        assert warn_on_pa_film(result, spec, meta, modality) is result
    normal = _normal_answer()
    warned = warn_on_pa_film(normal, spec, pa, "CXR")
    assert warned.warnings[-1].startswith(VIEW_PREFIX) and normal.warnings == ["loader note"]  # a copy: the cached result stays
    old = {**pa, "acquisition_date": "20040301"}
    assert warn_on_pa_film(normal, spec, old, "CXR", date_check=False).warnings[-1].startswith(VIEW_PREFIX)  # dates not trusted


def test_every_shipped_chest_model_with_figures_per_view_speaks_on_a_pa_film() -> None:
    """DPN-SENet (0.77 of PA films, 0.91 of AP), VGG-16-GA (0.73), small_cnn and the cascade (0.68) are all under the bar
    and more than 10 points under their AP figure."""
    from covidviewer.models import get_spec
    from covidviewer.models.weights import installed_weights_sha256

    for name in ("dpn92_se", "vgg16_ga", "small_cnn", "cascade_semenet"):
        sha = installed_weights_sha256(name)
        if not sha:
            pytest.skip(f"{name}'s weights are not installed")
        warned = warn_on_pa_film(replace(_normal_answer(), model=name, weights_sha256=sha), get_spec(name), {"view_position": "PA"}, "CXR")
        said = [w for w in warned.warnings if w.startswith(VIEW_PREFIX)]
        assert len(said) == 1 and "of 22 PA adult validation COVID-19 films, against 0.91 of 22 AP ones" in said[0], name


def test_the_predictor_adds_it_to_a_normal_answer_on_a_pa_film(shared_data: Path) -> None:
    """Real RSNA normal films, told PA as a DICOM header would: small_cnn's answer carries the warning exactly when it
    is not COVID-19 and some PA COVID-19 validation film on its card scored as low."""
    import csv

    from covidviewer.inference.predictor import Predictor
    from covidviewer.inference.runner import RunOptions
    from covidviewer.inference.view_check import recorded_by_view
    from covidviewer.io.load import load_path
    from covidviewer.models import get_spec

    predictor = Predictor(device="cpu")
    if not predictor.availability("small_cnn")[0]:
        pytest.skip("small_cnn's weights are not installed")
    rows = [r for r in csv.DictReader(open(shared_data / "cxr_adult" / "labels.csv")) if r["source"].startswith("RSNA")]
    answers = []
    for row in rows[:6]:
        volume = load_path(shared_data / "cxr_adult" / row["path"])
        volume.meta["view_position"] = "PA"
        analysis = predictor.analyse(volume, ["small_cnn"], RunOptions())
        assert analysis.view == "PA" and analysis.to_json()["view"] == "PA"  # answers can be counted per view
        result = analysis.models[0]
        scores = recorded_by_view(get_spec("small_cnn"), result.weights_sha256)["PA"]["covid_scores"]
        as_low = any(score <= result.probabilities["COVID-19"] for score in scores)
        warned = [w for w in result.warnings if w.startswith(VIEW_PREFIX)]
        assert len(warned) == (result.answer != "COVID-19" and as_low), (result.probabilities, result.warnings)
        answers.append(result.answer)
    assert "normal" in answers


def test_the_results_panel_reads_it_conclusion_first() -> None:
    from covidviewer.analysis.warning_text import split_warning

    text = split_warning(pa_warning(_by_view(20 / 22, 15 / 22), "normal"))
    assert text.name == "view check"
    assert text.conclusion == "its normal answer rules COVID-19 out less on a PA film than its pooled sensitivity says"
    assert "found 0.68 of 22 PA adult validation COVID-19 films" in text.evidence


def test_a_film_that_names_no_view_carries_the_figures_for_if_it_is_pa(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PNG or JPEG (or a DICOM without ViewPosition): the same figures, for if it is a PA film (session 47); a film
    dated before COVID-19 still says nothing."""
    import covidviewer.inference.view_check as view_check
    from covidviewer.analysis.warning_text import split_warning
    from covidviewer.inference.view_check import UNKNOWN_VIEW
    from covidviewer.models import get_spec

    text = pa_warning(_by_view(20 / 22, 15 / 22), "normal", view="")
    assert text.startswith(VIEW_PREFIX + UNKNOWN_VIEW + "; PA films are most often outpatients'")
    assert split_warning(text).conclusion == ("if this is a PA film, its normal answer rules COVID-19 out less than its "
                                              "pooled sensitivity says")
    monkeypatch.setattr(view_check, "recorded_by_view", lambda spec, sha: _by_view(20 / 22, 15 / 22))
    normal = _normal_answer()
    warned = warn_on_pa_film(normal, get_spec("dpn92_se"), {}, "CXR")
    assert warned.warnings[-1].startswith(VIEW_PREFIX + UNKNOWN_VIEW) and normal.warnings == ["loader note"]
    assert warn_on_pa_film(normal, get_spec("dpn92_se"), {"acquisition_date": "20040301"}, "CXR") is normal
