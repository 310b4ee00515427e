"""`trainer consensus` (trainer/consensus.py): temperature scaling without logits, the members' leave-one-source-out
runs read as one run of their mean p(COVID-19), the validation threshold, and the record the app reads."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from test_held_out_source import make_run
from trainer.consensus import film_id, held_out_pair, main, tempered, validation_figures


def test_temperature_scaling_of_probabilities_keeps_their_order_and_flattens_them() -> None:
    prob = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert np.allclose(tempered(prob, 1.0), prob)
    flat = tempered(prob, 2.0)
    assert np.allclose(flat.sum(1), 1.0) and (flat.argmax(1) == prob.argmax(1)).all() and flat.max() < prob.max()


def test_a_film_is_named_from_its_pack_on_however_the_run_named_the_data_folder() -> None:
    assert film_id("/work/shared/data/cxr/images/nih/a.jpg") == film_id("../shared/data/cxr/images/nih/a.jpg") == "cxr/images/nih/a.jpg"


def test_two_runs_without_one_source_are_read_as_one_run_of_their_mean(tmp_path: Path) -> None:
    """Run A calls 4 of 10 held-out normals COVID-19, run B the other 6 at a lower p: averaged, fewer cross the bar."""
    a = make_run(tmp_path / "a", [0.9] * 4 + [0.05] * 6)
    b = make_run(tmp_path / "b", [0.05] * 4 + [0.5] * 6)
    alone = held_out_pair([a], n_boot=20)
    pair = held_out_pair([a, b], n_boot=20)
    assert alone["point"]["normal_called_covid_at_threshold"] == pytest.approx(0.4)
    assert pair["n"]["normal"] == 10 and pair["runs"] == ["a", "b"] and len(pair["temperatures"]) == 2
    assert pair["point"]["normal_called_covid_at_threshold"] < 0.6
    assert "model" not in pair and "run" not in pair  # the pair is no one network


def test_runs_that_held_out_different_sources_are_refused(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", [0.1] * 5)
    b = make_run(tmp_path / "b", [0.1] * 5)
    recipe = json.loads((b / "recipe.json").read_text())
    recipe["values"]["data"]["hold_out_sources"] = ["nih"]
    (b / "recipe.json").write_text(json.dumps(recipe))
    with pytest.raises(ValueError, match="different sources"):
        held_out_pair([a, b], n_boot=10)


def _member_dir(folder: Path, p_covid: dict[str, float], labels: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    with (folder / "predictions.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "patient_id", "label", "predicted", "p_COVID-19", "p_normal", "p_pneumonia"])
        for name, p in p_covid.items():
            writer.writerow([f"/d/cxr/images/x/{name}.jpg", name, labels[name], "", p, (1 - p) / 2, (1 - p) / 2])
    return folder


def test_the_threshold_is_chosen_on_the_adult_films_mean_for_080_sensitivity(tmp_path: Path) -> None:
    labels = {f"c{i}": "COVID-19" for i in range(5)} | {f"n{i}": "normal" for i in range(5)} | {"kid": "normal"}
    one = {f"c{i}": 0.2 + 0.15 * i for i in range(5)} | {f"n{i}": 0.1 for i in range(5)} | {"kid": 0.99}
    two = {f"c{i}": 0.2 + 0.15 * i for i in range(5)} | {f"n{i}": 0.3 for i in range(5)} | {"kid": 0.99}
    adult = {film_id(f"/d/cxr/images/x/{n}.jpg"): n != "kid" for n in labels}
    figures = validation_figures([_member_dir(tmp_path / "a", one, labels), _member_dir(tmp_path / "b", two, labels)],
                                 [1.0, 1.0], adult, n_boot=20)
    # means: COVID-19 0.2, 0.35, 0.5, 0.65, 0.8; normals 0.2; 4 of 5 COVID-19 films at or above 0.35
    assert figures["threshold"] == pytest.approx(0.35)
    assert figures["n"] == {"normal": 5, "pneumonia": 0, "COVID-19": 5}
    assert figures["point"]["covid_sensitivity"] == pytest.approx(0.8) and figures["point"]["normal_called_covid"] == 0.0


def test_write_keeps_the_record_beside_the_weights_for_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from covidviewer.consensus_record import read_consensus
    from covidviewer.model_cards import WEIGHTS_ENV

    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "weights"))
    for name in ("vgg16_ga", "small_cnn"):  # cards without weights: the record names no weight set (None)
        (tmp_path / "weights" / name).mkdir(parents=True)
        (tmp_path / "weights" / name / "model.json").write_text(json.dumps({"calibration": {"temperature": 1.0}}))
    labels = {f"c{i}": "COVID-19" for i in range(5)} | {f"n{i}": "normal" for i in range(5)}
    p = {f"c{i}": 0.2 + 0.15 * i for i in range(5)} | {f"n{i}": 0.1 for i in range(5)}
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,label,patient_id,source\n" + "".join(f"../d/cxr/images/x/{n}.jpg,{lab},{n},ieee8023\n" for n, lab in labels.items()))
    code = main(["--member", f"vgg16_ga={_member_dir(tmp_path / 'a', p, labels)}",
                 "--member", f"small_cnn={_member_dir(tmp_path / 'b', p, labels)}",
                 "--data", str(csv_path), "--write"])
    assert code == 0
    record = read_consensus()
    assert record is not None and record["members"] == {"vgg16_ga": None, "small_cnn": None}
    assert record["validation"]["threshold"] == pytest.approx(0.35)


def test_with_views_the_figures_are_also_given_per_view_as_a_cards_audit_keeps_them(tmp_path: Path) -> None:
    """The app's view check reads the consensus's by_view as it reads a card's (session 34)."""
    from covidviewer.model_cards import by_view_sensitivity

    labels = {f"c{i}": "COVID-19" for i in range(20)} | {f"n{i}": "normal" for i in range(10)}
    p = {f"c{i}": 0.1 if 10 <= i < 13 else 0.9 for i in range(20)} | {f"n{i}": 0.05 for i in range(10)}  # 17 of 20 found
    adult = {film_id(f"/d/cxr/images/x/{n}.jpg"): True for n in labels}
    views = {f"c{i}": "AP" if i < 10 else "PA" for i in range(20)} | {"n0": "PA"}  # film keys: names without extension
    member = _member_dir(tmp_path / "a", p, labels)
    figures = validation_figures([member], [1.0], adult, n_boot=20, views=views)
    ap, pa = figures["by_view"]["AP"], figures["by_view"]["PA"]
    assert ap["counts"]["COVID-19"]["images"] == 10 and pa["counts"] == {"normal": {"images": 1}, "COVID-19": {"images": 10}}
    assert ap["point"]["covid_sensitivity_at_threshold"] == 1.0 and pa["point"]["covid_sensitivity_at_threshold"] == pytest.approx(0.7)
    assert by_view_sensitivity(figures["by_view"]) == "COVID-19 sensitivity by view (operating threshold): AP 1.00 of 10 films, PA 0.70 of 10"
    assert pa["covid_scores"] == [0.1] * 3 + [0.9] * 7  # the PA COVID-19 films' mean p(COVID-19), sorted
    assert "by_view" not in validation_figures([member], [1.0], adult, n_boot=20)  # no view tables, no figures per view
