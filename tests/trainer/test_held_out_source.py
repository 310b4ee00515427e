"""Leave one source out for whole networks (trainer/held_out_source.py): the figures of a run trained without a
source, counted by hand on a small run folder, recorded on a card, and the warning a COVID-19 answer carries from
them where they miss the unseen-hospital bars (covidviewer.models.same_source.held_out_caveat)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from covidviewer.inference.calibrated import apply_calibration
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.card_checks import held_out_lines, held_out_where
from covidviewer.model_cards import card_from_sidecar
from covidviewer.models.calibration import Calibration, OperatingPoint
from covidviewer.models.same_source import held_out_caveat
from trainer.config import load_recipe
from trainer.held_out_source import held_out_check, main, record_on_card, spread_lines

CLASSES = ("COVID-19", "normal", "pneumonia")
RSNA = "RSNA Pneumonia Detection Challenge normals"


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _prediction(path: str, label: str, p_covid: float) -> dict:
    rest = (1.0 - p_covid) / 2
    return {"path": path, "patient_id": path, "label": label, "predicted": "", "p_COVID-19": p_covid,
            "p_normal": rest, "p_pneumonia": rest}


def make_run(folder: Path, held_normal_p: list[float], held_pneumonia_p: list[float] = (), seed: int = 0,
             held_covid_p: list[float] = ()) -> Path:
    """A run held out of RSNA: 10 validation COVID-19 films (p 0.1 .. 1.0), 10 adult normals (p 0.05 each), 5 child
    normals (p 0.99, who must not move the adult threshold), and the held-out normal, pneumonia and COVID-19 films with
    the given p(COVID-19)."""
    recipe = load_recipe("vgg16_ga", None, ['data.hold_out_sources=["rsna"]', 'data.child_sources=["Kermany"]', f"seed={seed}"])
    (folder / "recipe.json").parent.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.json").write_text(json.dumps(recipe.to_dict()))
    val = [_prediction(f"c{i}", "COVID-19", (i + 1) / 10) for i in range(10)]
    val += [_prediction(f"n{i}", "normal", 0.05) for i in range(10)]
    val += [_prediction(f"k{i}", "normal", 0.99) for i in range(5)]
    held = [_prediction(f"r{i}", "normal", p) for i, p in enumerate(held_normal_p)]
    held += [_prediction(f"q{i}", "pneumonia", p) for i, p in enumerate(held_pneumonia_p)]
    held += [_prediction(f"f{i}", "COVID-19", p) for i, p in enumerate(held_covid_p)]
    # "f": a held-out collection's COVID-19 films (Figure1's in the real run; any held-out source reads alike)
    source = {"c": "ieee8023/covid-chestxray-dataset", "n": "NIH ChestX-ray14", "k": "Kermany 2018", "r": RSNA, "q": RSNA,
              "f": RSNA}
    _write(folder / "split.csv", [{"split": "val", "path": r["path"], "label": r["label"], "patient_id": r["path"],
                                    "source": source[r["path"][0]]} for r in val + held])
    _write(folder / "predictions.csv", val)
    _write(folder / "held_out" / "predictions.csv", held)
    (folder / "summary.json").write_text(json.dumps({"git_commit": "abc", "epochs_run": 3, "best_epoch": 2, "device": "cuda"}))
    return folder


def test_the_threshold_is_the_runs_own_for_080_sensitivity_on_adult_films(tmp_path: Path) -> None:
    # 8 of 10 COVID-19 films at or above 0.3; the child normals at 0.99 would push an all-films threshold up
    check = held_out_check(make_run(tmp_path / "run", [0.2] * 6 + [0.5] * 4, [0.9] * 3 + [0.1] * 9), n_boot=50)
    assert check["threshold"] == pytest.approx(0.3)
    assert check["held_out"] == ["rsna"] and check["held_out_names"] == [RSNA]
    assert check["n"] == {"normal": 10, "pneumonia": 12, "covid_validation": 10, "held_out_patients": 22}
    assert check["point"]["normal_called_covid_at_threshold"] == pytest.approx(0.4)
    assert check["point"]["pneumonia_called_covid_at_threshold"] == pytest.approx(0.25)
    # a normal at 0.2 sits under 8 COVID-19 films and ties with one (a half); at 0.5 under 5, tied with one
    assert check["point"]["auc_normal_vs_covid"] == pytest.approx((6 * 8.5 + 4 * 5.5) / 100)
    low, high = check["ci95"]["normal_called_covid_at_threshold"]
    assert low <= 0.4 <= high and low < high
    # the trade: 4 of 10 normals tie at 0.5, so no threshold calls exactly 20%; just above 0.5 calls none, and keeps
    # the 5 COVID-19 films above 0.5
    assert check["at_normal_bar"]["normal_called_covid"] == 0.0
    assert check["at_normal_bar"]["covid_sensitivity"] == pytest.approx(0.5)


def test_a_held_out_covid_collection_gives_the_share_found_and_leaves_the_pneumonias_alone(tmp_path: Path) -> None:
    # threshold 0.3 (above); 3 of 4 held-out COVID-19 films reach it; the validation normals all sit at 0.05
    check = held_out_check(make_run(tmp_path / "run", [0.2] * 2, held_covid_p=[0.9, 0.5, 0.3, 0.1]), n_boot=50)
    assert check["n"]["pneumonia"] == 0 and check["n"]["covid"] == 4 and check["n"]["normal_validation"] == 10
    assert "pneumonia_called_covid_at_threshold" not in check["point"]
    covid = check["held_out_covid"]
    assert covid["point"]["covid_sensitivity_at_threshold"] == pytest.approx(0.75)
    assert covid["point"]["auc_covid_vs_normal"] == pytest.approx(1.0)
    low, high = covid["ci95"]["covid_sensitivity_at_threshold"]
    assert low <= 0.75 <= high
    normals, line, _both_unseen = held_out_lines(check)
    assert "of its 2 adult normal films" in normals and "higher threshold" not in normals  # no trade on 2 films
    assert line.startswith("another network of this model, trained without RSNA: found 75% [")
    assert "of its 4 COVID-19 films at that network's threshold" in line and "against 10 validation adult normal" in line
    assert held_out_where({"held_out_names": ["agchung/Figure1-COVID-chestxray-dataset", RSNA]}) == \
        "Figure1-COVID-chestxray-dataset, RSNA"
    # a run without held-out COVID-19 films records none
    assert "held_out_covid" not in held_out_check(make_run(tmp_path / "plain", [0.2] * 2), n_boot=10)


def test_covid_films_held_out_beside_normals_are_set_against_them_both_unseen(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Issue 12 scores a model on COVID-19 and normal films from hospitals in neither pack: with a COVID-19 collection
    held out beside a source of normals, the two kinds of never-seen film are set against each other."""
    normals = [0.2] * 8 + [0.5] * 4
    covid = [0.9] * 6 + [0.4] * 4 + [0.1] * 2
    check = held_out_check(make_run(tmp_path / "run", normals, held_covid_p=covid), n_boot=50)
    neither = check["neither_seen"]["point"]
    # threshold 0.3: 10 of 12 COVID-19 films and 4 of 12 normals reach it
    assert neither["covid_sensitivity_at_threshold"] == pytest.approx(10 / 12)
    assert neither["normal_called_covid_at_threshold"] == pytest.approx(4 / 12)
    # by hand: a 0.9 film outranks all 12 normals, a 0.4 film the 8 at 0.2, a 0.1 film none
    assert neither["auc_covid_vs_normal"] == pytest.approx((6 * 12 + 4 * 8) / (12 * 12))
    assert "auc_covid_vs_pneumonia" not in neither  # no pneumonia held out
    line = held_out_lines(check)[-1]
    assert "its 12 COVID-19 films against its 12 normal films, both from sources it never saw, AUC 0.72 [" in line
    # the AUC misses the 0.85 bar: a COVID-19 answer says so, in the one caveat of the card's held-out checks
    said = held_out_caveat(check, "COVID-19")
    assert "its COVID-19 against its normal films, both unseen, AUC 0.72, 83% found, 33% of the normals called" in said
    assert "of its adult normals" not in said  # the nearest test alone speaks for the check
    # met: no word of it
    met = held_out_check(make_run(tmp_path / "met", [0.05] * 12, held_covid_p=[0.9] * 12), n_boot=20)
    assert held_out_caveat(met, "COVID-19") == ""
    # normal films alone held out: none
    assert "neither_seen" not in held_out_check(make_run(tmp_path / "plain", [0.2] * 12), n_boot=10)
    # two starts set side by side
    capsys.readouterr()
    assert main([str(tmp_path / "run"), str(tmp_path / "met")]) == 0
    assert "AUC, held-out COVID-19 vs held-out normal (both unseen): 0.72, 1.00" in capsys.readouterr().out


def test_several_held_out_checks_that_miss_the_bars_are_said_in_one_caveat() -> None:
    def check(name: str, share: float) -> dict:
        return {"held_out_names": [name], "n": {"normal": 150, "covid_validation": 51}, "ci95": {},
                "point": {"normal_called_covid_at_threshold": share, "auc_normal_vs_covid": 0.8}}

    point = OperatingPoint("COVID-19", 0.5, 0.8, 0.0, 0.8, 0.7, held_out_sources={
        "RSNA": check("RSNA", 0.31), "NIH": check("NIH ChestX-ray14", 0.35)})
    (said,) = [c for c in point.caveats() if "trained without" in c]
    assert "without RSNA, 31% of its adult normals (AUC 0.80); without NIH, 35% of its adult normals" in said


def test_a_run_without_held_out_films_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = make_run(tmp_path / "run", [0.2] * 10)
    (run / "held_out" / "predictions.csv").unlink()
    assert main([str(run)]) == 2
    assert "trainer evaluate --split test" in capsys.readouterr().out


def test_a_run_whose_labels_merge_the_normals_is_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = make_run(tmp_path / "run", [0.2] * 10)
    rows = list(csv.DictReader((run / "predictions.csv").open()))
    _write(run / "predictions.csv", [{**r, "label": "viral pneumonia (non-COVID)" if r["label"] == "normal" else r["label"]} for r in rows])
    assert main([str(run)]) == 2
    assert "no adult normal or no COVID-19 film" in capsys.readouterr().out


def _card(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    op = {"class_name": "COVID-19", "threshold": 0.3, "target_sensitivity": 0.8, "min_specificity": 0.75,
          "sensitivity": 0.8, "specificity": 0.9}
    card = {"spec": {"name": "vgg16_ga", "classes": list(CLASSES)}, "shards": {},
            "calibration": {"classes": list(CLASSES), "temperature": 1.0, "operating_point": op}}
    (folder / "model.json").write_text(json.dumps(card))
    return folder


@pytest.mark.parametrize(("normal_p", "warns"), [
    ([0.9] * 5 + [0.05] * 15, True),   # 25% of the held-out normals called COVID-19: over the 20% bar
    ([0.05] * 20, False),              # none called, AUC 1.0: both bars met
    ([0.9] * 5 + [0.05] * 4, False),   # 9 films: too few to judge
])
def test_a_covid_answer_warns_by_the_recorded_check_where_it_misses_the_bars(tmp_path: Path, normal_p, warns: bool) -> None:
    weights = _card(tmp_path / "weights")
    record_on_card(weights, held_out_check(make_run(tmp_path / "run", normal_p), n_boot=20))
    card = json.loads((weights / "model.json").read_text())
    recorded = card["calibration"]["operating_point"]["held_out_sources"]
    assert list(recorded) == ["rsna"]
    result = ModelResult(model="vgg16_ga", status=STATUS_OK)
    apply_calibration(result, np.array([3.0, 0.0, 0.0]), Calibration.from_dict(card["calibration"]))
    assert result.decision == "COVID-19"
    said = [w for w in result.warnings if "without RSNA" in w]
    assert bool(said) == warns
    if warns:
        assert "without RSNA, 25% of its adult normals (AUC " in said[0] and "false alarm" in said[0]
    # Help > About states the record whether or not it warns, with its intervals and the trade
    about = card_from_sidecar("vgg16_ga", card).calibration
    assert "leave-one-source-out: another network of this model, trained without RSNA" in about
    if warns:
        assert "25% [" in about and "20 adult normal films" in about
        # 5 of 20 normals at 0.9: only a threshold above 0.9 calls at most 20% (none), and it keeps one COVID-19 film (1.0)
        assert "a higher threshold, calling 0% of them COVID-19, keeps 0.10 sensitivity" in about


def test_a_fresh_export_s_empty_field_takes_a_record_and_a_second_source_keeps_the_first(tmp_path: Path) -> None:
    weights = _card(tmp_path / "weights")
    card = json.loads((weights / "model.json").read_text())
    card["calibration"]["operating_point"]["held_out_sources"] = None  # what an export writes (session 28 failed on it)
    (weights / "model.json").write_text(json.dumps(card))
    check = held_out_check(make_run(tmp_path / "run", [0.05] * 20), n_boot=20)
    record_on_card(weights, check)
    record_on_card(weights, {**check, "held_out": ["nih"]})
    recorded = json.loads((weights / "model.json").read_text())["calibration"]["operating_point"]["held_out_sources"]
    assert list(recorded) == ["rsna", "nih"]


def test_a_replicate_of_another_seed_is_kept_beside_the_first_and_says_so(tmp_path: Path) -> None:
    """Session 28: two runs of one recipe without RSNA called 18% and 35% of its normals COVID-19; the card keeps both."""
    weights = _card(tmp_path / "weights")
    record_on_card(weights, held_out_check(make_run(tmp_path / "run0", [0.05] * 20), n_boot=20))
    record_on_card(weights, held_out_check(make_run(tmp_path / "run1", [0.9] * 5 + [0.05] * 15, seed=1), n_boot=20))
    card = json.loads((weights / "model.json").read_text())
    assert list(card["calibration"]["operating_point"]["held_out_sources"]) == ["rsna", "rsna, seed 1"]
    result = ModelResult(model="vgg16_ga", status=STATUS_OK)
    apply_calibration(result, np.array([3.0, 0.0, 0.0]), Calibration.from_dict(card["calibration"]))
    (said,) = [w for w in result.warnings if "trained without" in w]  # the replicate that misses the bars warns
    assert "without RSNA (seed 1: another split and start), 25% of its adult normals" in said
    assert "without RSNA, " not in said


def test_a_pneumonia_miss_alone_names_the_pneumonias() -> None:
    check = {"held_out_names": ["NIH ChestX-ray14"], "n": {"normal": 150, "pneumonia": 290, "covid_validation": 51},
             "point": {"normal_called_covid_at_threshold": 0.1, "auc_normal_vs_covid": 0.9,
                       "pneumonia_called_covid_at_threshold": 0.43, "auc_pneumonia_vs_covid": 0.73}, "ci95": {}}
    text = held_out_caveat(check, "COVID-19")
    assert "without NIH, 43% of its adult non-COVID pneumonias (AUC 0.73)" in text
    assert "of its adult normals" not in text


def test_runs_of_one_recipe_from_other_starts_are_set_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = [make_run(tmp_path / f"seed{seed}", [0.5] * called + [0.2] * (10 - called), seed=seed)
            for seed, called in ((0, 3), (1, 5), (2, 1))]
    capsys.readouterr()
    assert main([str(run) for run in runs]) == 0
    said = capsys.readouterr().out
    assert said.count("another network of this model, trained without") == 3  # each run's own figures first
    assert "over 3 runs (seed0, seed1, seed2):" in said
    assert "adult normals called COVID-19: 30%, 50%, 10% (mean 30%, range 10%-50%)" in said
    assert "pneumonias" not in said.split("over 3 runs")[1]  # no run held a pneumonia out: no line for them


def test_runs_of_other_held_out_sources_are_not_set_side_by_side() -> None:
    check = {"held_out": ["rsna"], "model": "small_cnn", "run": "a", "point": {"normal_called_covid_at_threshold": 0.3}}
    other = {**check, "held_out": ["nih"], "run": "b"}
    with pytest.raises(ValueError, match="small_cnn without nih; small_cnn without rsna"):
        spread_lines([check, other])


def test_the_ood_flag_on_the_held_out_films_is_counted_where_the_predictions_carry_it(tmp_path: Path,
                                                                                    capsys: pytest.CaptureFixture) -> None:
    run = make_run(tmp_path / "run", [0.2] * 6 + [0.5] * 4, [0.9] * 2 + [0.1] * 2)
    assert "ood" not in held_out_check(run, n_boot=20)  # evaluated from the run folder: no card, no flag
    held = list(csv.DictReader((run / "held_out" / "predictions.csv").open()))
    # normals: r3 (0.2) and r6, r7 (0.5, called COVID-19 at the threshold 0.3) flagged; pneumonias: q0 (0.9)
    flagged = {"r3", "r6", "r7", "q0"}
    _write(run / "held_out" / "predictions.csv",
           [{**r, "ood_score": "9.0", "ood_flag": "1" if r["path"] in flagged else "0"} for r in held])
    check = held_out_check(run, n_boot=20)
    assert check["ood"]["normal"] == {"n": 10, "flagged": pytest.approx(0.3), "false_alarms": 4, "false_alarms_flagged": 2}
    assert check["ood"]["pneumonia"] == {"n": 4, "flagged": pytest.approx(0.25), "false_alarms": 2, "false_alarms_flagged": 1}
    assert main([str(run)]) == 0
    assert "its OOD flag on the 10 held-out normal films: 30% flagged; of the 4 called COVID-19 at the threshold, 2 flagged" \
        in capsys.readouterr().out
