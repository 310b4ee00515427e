"""A leave-one-source-out run read as a new hospital (trainer/held_out_restyled.py): the held-out films and the
validation COVID-19 films restyled alike, at the run's own threshold, counted by hand; the card's line and the app's
warning carry the mean and the worst change."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.card_checks import held_out_lines
from trainer.held_out_restyled import restyled, restyled_figures, restyled_lines
from trainer.held_out_source import main
from trainer.style_stress import SHIFTS

BY_KEY = {shift.key: shift for shift in SHIFTS}


def test_the_figures_are_counted_at_the_runs_threshold() -> None:
    held = np.array([0.1, 0.2, 0.6, 0.7, 0.3, 0.8])
    labels = ["normal", "normal", "normal", "normal", "pneumonia", "pneumonia"]
    covid = np.array([0.4, 0.5, 0.9, 0.2])
    found = restyled_figures(held, labels, covid, 0.5)
    assert found["normal_called_covid"] == 0.5 and found["pneumonia_called_covid"] == 0.5
    assert found["covid_sensitivity"] == 0.5  # 0.5 and 0.9: a film at the threshold is called
    # 16 (normal, COVID-19) pairs: the COVID-19 film higher in 2 + 2 + 4 + 1, one tie (0.2, 0.2) counts half
    assert found["auc_normal_vs_covid"] == pytest.approx(9.5 / 16)
    assert "pneumonia_called_covid" not in restyled_figures(held[:4], labels[:4], covid, 0.5)
    assert "auc_held_covid_vs_normal" not in found  # no COVID-19 film held out


def test_held_out_covid_films_are_set_against_the_held_out_normals_restyled_alike() -> None:
    held = np.array([0.1, 0.2, 0.6, 0.7, 0.9, 0.4])
    labels = ["normal"] * 4 + ["COVID-19"] * 2
    found = restyled_figures(held, labels, np.array([0.5]), 0.5)
    assert found["held_covid_found"] == 0.5  # 0.9 reaches the threshold, 0.4 does not
    # 8 (held-out COVID-19, normal) pairs: 0.9 above all 4, 0.4 above 2
    assert found["auc_held_covid_vs_normal"] == pytest.approx(6 / 8)
    assert found["normal_called_covid"] == 0.5  # the COVID-19 films are not counted among the normals
    lines = restyled_lines({"threshold": 0.5, "unchanged": found, "shifts": {}, "words": {}, "n": {"covid_validation": 1}})
    assert "held-out COVID-19 films found 50%, AUC against the held-out normals 0.75" in lines[1]
    # the card's both-unseen line gives the AUC's range over the changes
    from covidviewer.card_checks import held_out_lines

    check = {"held_out_names": ["NIH", "Figure1"], "n": {"normal": 4, "covid": 2}, "ci95": {}, "point": {},
             "neither_seen": {"point": {"auc_covid_vs_normal": 0.75, "covid_sensitivity_at_threshold": 0.5,
                                        "normal_called_covid_at_threshold": 0.5}},
             "restyled": {"shifts": {"blur_1.5": {"auc_held_covid_vs_normal": 0.70}, "noise_0.03": {"auc_held_covid_vs_normal": 0.81}}}}
    (line,) = held_out_lines(check, ("neither",))
    assert line.endswith("; both restyled as a new hospital's (one change at a time), AUC 0.70-0.81")


def test_each_change_is_applied_to_both_kinds_of_film_and_the_worst_is_named() -> None:
    """A network that reads noise: noisier films score 0.5 higher, the held-out normals and the COVID-19 films alike."""
    rng = np.random.default_rng(0)
    normals, covid = rng.uniform(0.0, 0.4, 50), rng.uniform(0.3, 1.0, 20)
    seen: list[str] = []

    def score(base: np.ndarray, kind: str):  # type: ignore[no-untyped-def]
        def scored(shift):  # type: ignore[no-untyped-def]
            seen.append(f"{kind}:{None if shift is None else shift.key}")
            return np.clip(base + (0.5 if shift is not None and shift.key == "noise_0.03" else 0.0), 0, 1)
        return scored

    shifts = (BY_KEY["gamma_1.5"], BY_KEY["noise_0.03"])
    found = restyled(score(normals, "held"), ["normal"] * 50, score(covid, "covid"), 0.45, shifts)
    assert sorted(seen) == sorted(f"{kind}:{key}" for kind in ("held", "covid") for key in (None, "gamma_1.5", "noise_0.03"))
    assert found["unchanged"]["normal_called_covid"] == 0.0 and found["shifts"]["gamma_1.5"] == found["unchanged"]
    assert found["worst"] == "noise_0.03" and found["shifts"]["noise_0.03"]["normal_called_covid"] > 0.8
    assert found["shifts"]["noise_0.03"]["covid_sensitivity"] == 1.0
    assert found["n"] == {"held_out": 50, "covid_validation": 20}
    assert any(line.startswith("  noisier (Gaussian") for line in restyled_lines(found))


def test_the_held_out_line_carries_the_mean_and_the_worst_change() -> None:
    check = {"held_out_names": ["RSNA Pneumonia Detection Challenge normals"], "n": {"normal": 300, "covid_validation": 51},
             "point": {"normal_called_covid_at_threshold": 0.18, "auc_normal_vs_covid": 0.87}, "ci95": {},
             "restyled": {"shifts": {"sharpen_1.0": {"normal_called_covid": 0.34, "covid_sensitivity": 0.84},
                                     "noise_0.03": {"normal_called_covid": 0.42, "covid_sensitivity": 0.92},
                                     "blur_1.5": {"normal_called_covid": 0.12, "covid_sensitivity": 0.67}},
                          "words": {"noise_0.03": "noisier"}}}
    (line,) = held_out_lines(check, ("normal",))
    assert line.endswith("; with them and the COVID-19 films restyled as a new hospital's (one change at a time), 29% on "
                         "average and up to 42% (noisier), at sensitivity 0.92")
    del check["restyled"]
    assert "restyled" not in held_out_lines(check, ("normal",))[0]  # an older record: the line as before


def test_restyled_needs_the_runs_data(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([str(tmp_path), "--restyled"]) == 2
    assert "--data" in capsys.readouterr().out


@pytest.mark.parametrize(("restyled_shares", "warns"), [
    ((0.30, 0.12, 0.24), True),  # 22% on average: over the 20% bar, where the films as sent met it
    ((0.42, 0.10, 0.05), False),  # 19% on average: one console's 42% is named in the line, not judged alone
    (None, False),  # an older record: judged as sent only
])
def test_a_covid_answer_warns_where_the_restyled_films_miss_the_bar_on_average(restyled_shares, warns: bool) -> None:  # type: ignore[no-untyped-def]
    from covidviewer.models.same_source import held_out_caveat

    check = {"held_out_names": ["RSNA Pneumonia Detection Challenge normals"], "n": {"normal": 300, "covid_validation": 51},
             "point": {"normal_called_covid_at_threshold": 0.18, "auc_normal_vs_covid": 0.87}, "ci95": {}}
    if restyled_shares is not None:
        keys = ("sharpen_1.0", "blur_1.5", "noise_0.03")
        check["restyled"] = {"shifts": {key: {"normal_called_covid": share, "covid_sensitivity": 0.8}
                                        for key, share in zip(keys, restyled_shares)}}
    text = held_out_caveat(check, "COVID-19")
    assert bool(text) == warns
    if warns:
        assert "18% of its adult normals (AUC 0.87, 22% restyled as a new hospital's)" in text


def test_a_run_that_came_back_without_its_network_still_records_its_restyled_figures(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``--restyled`` keeps its figures in the run's held_out/restyled.json (on the GPU machine); the plain check back
    home reads them, and ``--write`` takes them onto the card."""
    import json

    from test_held_out_source import make_run
    from trainer.held_out_source import HELD_OUT_FOLDER, RESTYLED_FILE, held_out_check

    run = make_run(tmp_path / "run", [0.05] * 20)
    assert "restyled" not in held_out_check(run, n_boot=10)
    kept = {"shifts": {"noise_0.03": {"normal_called_covid": 0.4, "covid_sensitivity": 0.9}}, "words": {}}
    (run / HELD_OUT_FOLDER / RESTYLED_FILE).write_text(json.dumps(kept))
    assert held_out_check(run, n_boot=10)["restyled"] == kept


def test_a_replicate_on_the_same_split_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``data.split_seed``: a run of another seed on the split of seed 0 (replicates that share their validation films)."""
    import json

    from test_held_out_source import make_run
    from trainer.config import load_recipe
    from trainer.held_out_source import held_out_check

    run = make_run(tmp_path / "run", [0.05] * 20, seed=1)
    recipe = json.loads((run / "recipe.json").read_text())
    assert recipe["values"]["data"]["split_seed"] is None  # by default the recipe's seed makes the split
    recipe["values"]["data"]["split_seed"] = 0
    (run / "recipe.json").write_text(json.dumps(recipe))
    check = held_out_check(run, n_boot=10)
    assert check["seed"] == 1 and check["split_seed"] == 0
    assert "trained without RSNA (seed 1: another start, the split of seed 0)" in held_out_lines(check, ("normal",))[0]
    assert load_recipe("small_cnn", None, ["data.split_seed=0"])["data"]["split_seed"] == 0
