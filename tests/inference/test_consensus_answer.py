"""The consensus answer (covidviewer/inference/consensus.py): the members' mean p(COVID-19) at the record's threshold,
only when every member answered with the weights the record names; a film from before the pandemic is never COVID-19;
the installed record names the installed weights."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from covidviewer.commands.predict_output import summary
from covidviewer.consensus_record import consensus_lines, read_consensus
from covidviewer.inference.consensus import NOT_COVID, consensus_of
from covidviewer.inference.results import STATUS_ERROR, AnalysisResult
from covid_answers import covid_answer
from test_view_check import _record as view_record

RECORD = {"members": {"vgg16_ga": "a" * 64, "small_cnn": "b" * 64}, "rule": "mean",
          "validation": {"threshold": 0.35, "n": {"normal": 66, "pneumonia": 65, "COVID-19": 51},
                         "point": {"normal_called_covid": 0.05, "covid_sensitivity": 0.8},
                         "ci95": {"normal_called_covid": [0.0, 0.1], "covid_sensitivity": [0.67, 0.92]}},
          "held_out_sources": {"rsna": {"held_out": ["rsna"], "held_out_names": ["RSNA Pneumonia"], "threshold": 0.4,
                                        "target_sensitivity": 0.8, "n": {"normal": 300},
                                        "point": {"normal_called_covid_at_threshold": 0.18}, "ci95": {}}}}


def _member(name: str, p_covid: float, sha: str):  # type: ignore[no-untyped-def]
    probs = {"COVID-19": p_covid, "normal": 1 - p_covid, "pneumonia": 0.0}
    return replace(covid_answer(probabilities=probs), model=name, weights_sha256=sha)


def test_the_mean_of_the_members_decides_at_the_records_threshold() -> None:
    members = [_member("vgg16_ga", 0.30, "a" * 64), _member("small_cnn", 0.44, "b" * 64), _member("dpn92_se", 0.99, "c" * 64)]
    found = consensus_of(members, RECORD)
    assert found is not None and found.members == ("vgg16_ga", "small_cnn")
    assert found.p_covid == pytest.approx(0.37) and found.answer == "COVID-19" and found.threshold == 0.35
    below = consensus_of([_member("vgg16_ga", 0.30, "a" * 64), _member("small_cnn", 0.38, "b" * 64)], RECORD)
    assert below is not None and below.answer == NOT_COVID
    assert found.to_json()["p_covid"] == 0.37 and "figures" not in found.to_json()
    assert any("trained without RSNA: 18%" in line for line in found.figures)


def test_a_film_from_before_the_pandemic_is_not_covid_and_says_why() -> None:
    members = [_member("vgg16_ga", 0.60, "a" * 64), _member("small_cnn", 0.60, "b" * 64)]
    found = consensus_of(members, RECORD, too_early="the image is dated 1995-09-26")
    assert found is not None and found.answer == NOT_COVID
    assert found.notes == ["the image is dated 1995-09-26: its COVID-19 score is a false alarm"]


def test_a_member_that_finds_the_film_unlike_its_training_films_is_named() -> None:
    members = [replace(_member("vgg16_ga", 0.6, "a" * 64), ood_flag=True), _member("small_cnn", 0.6, "b" * 64)]
    found = consensus_of(members, RECORD)
    assert found is not None and found.answer == "COVID-19"
    assert found.notes == ["vgg16_ga finds this film unlike its training films: read the mean with care"]


@pytest.mark.parametrize(("view", "ap", "pa", "warned"), [
    ("AP", 0.36, 0.09, True),  # the shipped record's NIH figures: AP normals fared 27 points worse
    ("PA", 0.36, 0.09, False),  # a PA film: the gap says nothing of it
    ("", 0.36, 0.09, True),  # a PNG names no view: the figures, for if it is an AP film (session 47)
    ("lateral", 0.36, 0.09, False),
    ("AP", 0.15, 0.10, False),  # a gap within VIEW_GAP
])
def test_a_covid_answer_on_an_ap_film_carries_the_records_figures_by_view(view: str, ap: float, pa: float, warned: bool) -> None:
    record = json.loads(json.dumps(RECORD))
    record["held_out_sources"]["nih"] = {**record["held_out_sources"]["rsna"], **view_record(ap, pa, "NIH ChestX-ray14")}
    members = [_member("vgg16_ga", 0.6, "a" * 64), _member("small_cnn", 0.6, "b" * 64)]
    found = consensus_of(members, record, view=view)
    assert found is not None and found.answer == "COVID-19"
    notes = [n for n in found.notes if n.startswith("view check: ")]
    assert bool(notes) is warned
    if warned:
        assert "networks of its members averaged, trained without NIH, called 36% of that source's 97 AP" in notes[0]
        assert ("if this is an AP film, its COVID-19 answer" in notes[0]) is (view == "")
    below = consensus_of([_member("vgg16_ga", 0.1, "a" * 64), _member("small_cnn", 0.1, "b" * 64)], record, view=view)
    assert below is not None and not [n for n in below.notes if "AP" in n]  # a not-COVID-19 answer: nothing of AP films


@pytest.mark.parametrize(("view", "too_early", "warned"), [
    ("PA", None, True),  # the record finds 0.68 of PA COVID-19 films, 0.91 of AP ones
    ("AP", None, False),
    ("", None, True),  # a PNG names no view: the figures, for if it is a PA film (session 47)
    ("lateral", None, False),
    ("PA", "the image is dated 1995-09-26", False),  # a film from before the pandemic cannot show it
])
def test_a_not_covid_answer_on_a_pa_film_carries_the_records_sensitivity_by_view(view: str, too_early: str | None, warned: bool) -> None:
    def by(sensitivity: float) -> dict:
        return {"counts": {"COVID-19": {"images": 22}}, "point": {"covid_sensitivity_at_threshold": sensitivity}}

    record = json.loads(json.dumps(RECORD))
    record["validation"]["by_view"] = {"AP": by(20 / 22), "PA": by(15 / 22)}
    found = consensus_of([_member("vgg16_ga", 0.1, "a" * 64), _member("small_cnn", 0.1, "b" * 64)], record, too_early, view=view)
    assert found is not None and found.answer == NOT_COVID
    notes = [n for n in found.notes if n.startswith("view check: ")]
    assert bool(notes) is warned
    if warned:
        assert "at its threshold the consensus found 0.68 of 22 PA adult validation COVID-19 films" in notes[0]
        assert notes[0].endswith('its "not COVID-19" answer rules COVID-19 out less on a PA film than its pooled sensitivity says'
                                 if view == "PA" else 'if this is a PA film, its "not COVID-19" answer rules COVID-19 out '
                                 'less than its pooled sensitivity says')
    assert any(line.startswith("COVID-19 sensitivity by view (operating threshold): AP 0.91") for line in consensus_lines(record))
    high = consensus_of([_member("vgg16_ga", 0.9, "a" * 64), _member("small_cnn", 0.9, "b" * 64)], record, view=view)
    assert high is not None and not [n for n in high.notes if "PA film" in n]  # a COVID-19 answer: nothing to rule out


@pytest.mark.parametrize("members", [
    [_member("vgg16_ga", 0.6, "a" * 64)],  # one member did not run
    [_member("vgg16_ga", 0.6, "a" * 64), _member("small_cnn", 0.6, "f" * 64)],  # retrained: not the record's weights
    [_member("vgg16_ga", 0.6, "a" * 64), replace(_member("small_cnn", 0.6, "b" * 64), status=STATUS_ERROR)],
])
def test_no_consensus_unless_every_member_answered_with_the_records_weights(members) -> None:  # type: ignore[no-untyped-def]
    assert consensus_of(members, RECORD) is None
    assert consensus_of([_member("vgg16_ga", 0.6, "a" * 64), _member("small_cnn", 0.6, "b" * 64)], None) is None


def test_a_missing_or_malformed_record_is_no_record(tmp_path: Path) -> None:
    assert read_consensus(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert read_consensus(tmp_path / "bad.json") is None
    (tmp_path / "partial.json").write_text(json.dumps({"members": {"a": "x"}}))
    assert read_consensus(tmp_path / "partial.json") is None
    (tmp_path / "good.json").write_text(json.dumps(RECORD))
    assert read_consensus(tmp_path / "good.json") == RECORD


def test_the_command_lines_summary_gives_the_consensus_answer() -> None:
    analysis = AnalysisResult("film", "ok", models=[_member("vgg16_ga", 0.3, "a" * 64), _member("small_cnn", 0.44, "b" * 64)])
    analysis.consensus = consensus_of(analysis.models, RECORD)
    assert "consensus of vgg16_ga + small_cnn=COVID-19 (mean p(COVID-19) 0.37, threshold 0.35)" in summary(analysis, "film")
    assert analysis.to_json()["consensus"]["answer"] == "COVID-19"
    record = json.loads(json.dumps(RECORD))
    record["held_out_sources"]["rsna"]["by_view"] = view_record(0.36, 0.09)["by_view"]
    analysis.consensus = consensus_of(analysis.models, record, view="AP")
    line = summary(analysis, "film")
    assert "threshold 0.35; view check: its COVID-19 answer may reflect the view, not the lungs: read it beside the other" in line
    assert "(figures in its JSON)" in line and "36%" not in line
    assert "called 36% of that source" in analysis.to_json()["consensus"]["notes"][0]  # the JSON keeps the figures


def test_the_records_held_out_lines_speak_of_the_members_averaged() -> None:
    held_out = consensus_lines(RECORD)[2]
    assert held_out.startswith("networks of its members averaged, trained without RSNA: 18% [18%, 18%] of its 300 adult normal")
    assert "at their average's threshold" in held_out and "network's" not in held_out


def test_the_installed_record_names_the_installed_weights_and_its_held_out_figures() -> None:
    """Retraining a member without `trainer consensus` again would silence the consensus: this says so first."""
    from covidviewer.models.weights import installed_weights_sha256

    record = read_consensus()
    if record is None:
        pytest.skip("no consensus record installed")
    for name, sha in record["members"].items():
        installed = installed_weights_sha256(name)
        if installed is None:
            pytest.skip(f"{name}'s weights are not installed")
        assert installed == sha, f"{name} was retrained: run `python -m trainer consensus ... --write` again"
    held = record["held_out_sources"]
    assert {"rsna", "nih"} <= {key.lower() for key in held}
    assert all(check["n"]["normal"] >= 150 for check in held.values())
    assert len(consensus_lines(record)) >= 2 + len(held)
