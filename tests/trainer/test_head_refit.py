"""``trainer refit-head`` end to end on a tiny trained model: features, the out-of-source choice, and
a run folder whose network computes exactly the fitted head (then exported with its audit)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from trainer.config import load_recipe
from trainer.head_refit import adult_scores, main, scored_class
from trainer.run import fit


def _spread(logits: np.ndarray) -> float:
    return float((logits - logits.mean(1, keepdims=True)).std())


def test_refit_head_writes_a_run_whose_network_is_the_chosen_head(generated_csv, tmp_path: Path, capsys) -> None:
    import torch

    from trainer.checkpoint import BEST, load_checkpoint
    from trainer.export import export_run
    from trainer.trained import load_trained

    csv_path = generated_csv(("normal", "covid", "bacterial"), 16, with_masks=True, two_sources=True)
    recipe = load_recipe("vgg16_ga", overrides=["size=64", "train.batch_size=4", "train.max_steps_per_epoch=2"], epochs=1)
    fit("vgg16_ga", csv_path, tmp_path / "run", recipe, device="cpu", progress=False)
    out = tmp_path / "refit"
    assert main(["vgg16_ga", "--weights", str(tmp_path / "run"), "--data", str(csv_path), "--out", str(out), "--views", "1"]) == 0

    selection = json.loads((out / "selection.json").read_text())
    assert len(selection["candidates"]) == 13 and selection["candidates"][0]["head"].startswith("as trained")
    assert all(set(c["held_out_sources"]) == {"hospital A", "hospital B"} for c in selection["candidates"][1:])
    validation = selection["validation_not_used_to_choose"]  # both heads on the validation rows, for the record
    assert set(validation) == {"own head", "re-fitted head"} and all("auc" in v for v in validation.values())
    assert "validation rows (reported, not used to choose): own head: adult AUC" in capsys.readouterr().out
    arrays = dict(np.load(out / "features.npz"))
    assert arrays["train_features"].shape[0] == 2 * len(set(arrays["train_patient_id"]))  # clean + 1 view

    refit = load_trained(out)
    old = load_checkpoint(tmp_path / "run" / BEST)["model"]
    new = load_checkpoint(out / BEST)["model"]
    classifier = refit.spec.explain.classifier
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    assert changed == {f"{classifier}.weight", f"{classifier}.bias"}  # the trunk is untouched
    from trainer.feature_reweighting import HeadConfig, fit_head

    clean = arrays["train_view"] == 0
    head = fit_head(arrays["train_features"], arrays["train_allowed"], arrays["train_label"],
                    np.array(["hospital A" if s.endswith("A") else "hospital B" for s in arrays["train_source"]]),
                    HeadConfig(**selection["chosen"]))
    layer = refit.model.get_submodule(classifier)
    with torch.no_grad():
        via_network = layer(torch.from_numpy(arrays["train_features"][clean]).float()).numpy()
    scale = selection["scale"]
    np.testing.assert_allclose(via_network, scale * head.logits(arrays["train_features"][clean]), rtol=1e-4, atol=1e-4)
    assert any("refit-head" in d for d in json.loads((out / "summary.json").read_text())["deviations"])

    # the logits keep the trained head's spread (a strong penalty would leave weights fp16 cannot hold)
    with torch.no_grad():
        every_row = layer(torch.from_numpy(arrays["train_features"]).float()).numpy()
    assert _spread(every_row) == pytest.approx(_spread(arrays["train_logits"]), rel=1e-3)

    # cached features and the earlier choice are reused; then the run exports like any other, its card naming the re-fit
    capsys.readouterr()
    assert main(["vgg16_ga", "--weights", str(tmp_path / "run"), "--data", str(csv_path), "--out", str(out), "--views", "1"]) == 0
    assert "candidates scored before" in capsys.readouterr().out
    dest = tmp_path / "weights"
    export_run(out, dest, attention=False, n_boot=50)
    card = json.loads((dest / "model.json").read_text())
    assert any("refit-head" in d for d in card["training"]["deviations"])
    assert " && python -m trainer refit-head vgg16_ga --weights runs/vgg16_ga --data " in card["training"]["trainer"]
    assert "audit" in card["metrics"]

    # --set reads the head's rows with another recipe value (here: without the bacterial films the network saw)
    assert set(arrays["train_label"]) == {"COVID-19", "normal", "pneumonia"}
    other = tmp_path / "refit_set"
    assert main(["vgg16_ga", "--weights", str(tmp_path / "run"), "--data", str(csv_path), "--out", str(other), "--views", "0",
                 "--set", 'data.exclude_labels=["bacterial"]']) == 0
    assert set(np.load(other / "features.npz")["train_label"]) == {"COVID-19", "normal"}
    assert 'data.exclude_labels=["bacterial"]' in json.loads((other / "selection.json").read_text())["note"]
    assert main(["vgg16_ga", "--weights", str(tmp_path / "run"), "--data", str(csv_path), "--out", str(other), "--set", "size"]) == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err


def test_one_source_cannot_choose_out_of_source(generated_csv, tmp_path: Path, capsys) -> None:
    csv_path = generated_csv(("normal", "covid"), 8, with_masks=True)
    recipe = load_recipe("vgg16_ga", overrides=["size=64", "train.batch_size=4", "train.max_steps_per_epoch=1"], epochs=1)
    fit("vgg16_ga", csv_path, tmp_path / "run", recipe, device="cpu", progress=False)
    assert main(["vgg16_ga", "--weights", str(tmp_path / "run"), "--data", str(csv_path), "--out", str(tmp_path / "o"), "--views", "0"]) == 2
    assert "at least two sources" in capsys.readouterr().err


def test_adult_scores_use_the_threshold_that_finds_four_in_five_covid_films() -> None:
    classes = ("COVID-19", "normal")
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.75, 0.5, 0.1, 0.05, 0.3, 0.95])
    allowed = np.zeros((11, 2), bool)
    allowed[:5, 0] = True
    allowed[5:, 1] = True
    adult = np.ones(11, bool)
    adult[10] = False  # a child's normal film scored 0.95 does not count
    s = adult_scores(p, allowed, adult, classes)
    assert s["n_covid"] == 5 and s["n_negative"] == 5
    assert s["negatives_called_covid_at_0.80_sensitivity"] == pytest.approx(0.2)  # 0.75 >= 0.6
    assert s["covid_above_0.5"] == pytest.approx(0.8) and s["negatives_above_0.5"] == pytest.approx(0.4)
    assert s["auc"] == pytest.approx(0.80)  # 20 of 25 (COVID-19, normal) pairs ordered right


def test_adult_scores_add_the_same_source_figures_when_sources_are_given() -> None:
    classes = ("COVID-19", "normal")
    # source a: 3 COVID-19, 2 normals (one above the other's COVID-19 films); b: normals only; c: COVID-19 only
    p = np.array([0.9, 0.8, 0.3, 0.85, 0.1, 0.2, 0.1, 0.7, 0.6])
    src = np.array(["a", "a", "a", "a", "a", "b", "b", "c", "c"])
    allowed = np.zeros((9, 2), bool)
    allowed[[0, 1, 2, 7, 8], 0] = True
    allowed[[3, 4, 5, 6], 1] = True
    s = adult_scores(p, allowed, np.ones(9, bool), classes, sources=src)
    assert s["n_same_source_negative"] == 2  # source a's normals only
    assert s["auc_within_source"] == pytest.approx(4 / 6)  # 0.85 beats 0.8 and 0.3; 0.1 is below all three
    # threshold for 4 of 5 COVID-19 films: 0.6; of a's normals 0.85 is above it
    assert s["same_source_negatives_called_covid"] == pytest.approx(0.5)
    assert "auc_within_source" not in adult_scores(p, allowed, np.ones(9, bool), classes)


def test_a_model_without_a_covid_class_is_scored_by_the_class_covid_films_train_as() -> None:
    stage1 = ("normal", "bacterial pneumonia", "viral pneumonia")
    label_map = {"covid": "viral pneumonia", "pneumonia": ["bacterial pneumonia", "viral pneumonia"]}
    assert scored_class(stage1, label_map) == 2
    assert scored_class(("COVID-19", "normal"), {}) == 0
    with pytest.raises(ValueError, match="no single class"):
        scored_class(stage1, {"pneumonia": ["bacterial pneumonia", "viral pneumonia"]})  # COVID-19 films left out
    with pytest.raises(ValueError, match="no single class"):
        scored_class(stage1, {"covid": ["bacterial pneumonia", "viral pneumonia"]})


def test_covid_films_are_told_from_other_viral_films_by_their_csv_label() -> None:
    classes = ("normal", "bacterial pneumonia", "viral pneumonia")
    p_viral = np.array([0.9, 0.8, 0.2, 0.1, 0.95])
    allowed = np.zeros((5, 3), bool)
    allowed[[0, 1, 4], 2] = True  # two COVID-19 films and an adult's other viral pneumonia, all trained as viral
    allowed[[2, 3], 0] = True
    covid_films = np.array([True, True, False, False, False])
    s = adult_scores(p_viral, allowed, np.ones(5, bool), classes, covid_films)
    assert s["n_covid"] == 2 and s["n_negative"] == 2  # the other viral film is neither
    assert s["auc"] == pytest.approx(1.0)


def test_erased_copies_add_candidates_blind_to_the_erased_films_class_means(generated_csv, tmp_path: Path, capsys) -> None:
    csv_path = generated_csv(("normal", "covid"), 12, with_masks=True, two_sources=True)
    recipe = load_recipe("vgg16_ga", overrides=["size=64", "train.batch_size=4", "train.max_steps_per_epoch=1"], epochs=1)
    fit("vgg16_ga", csv_path, tmp_path / "run", recipe, device="cpu", progress=False)
    out = tmp_path / "refit"
    assert main(["vgg16_ga", "--weights", str(tmp_path / "run"), "--data", str(csv_path), "--out", str(out), "--views", "0",
                 "--erased-copies"]) == 0

    arrays = dict(np.load(out / "features.npz"))
    erased, clean = arrays["train_erased_features"], arrays["train_features"]
    assert erased.shape == clean.shape and not np.allclose(erased, clean)  # one erased copy per training film
    selection = json.loads((out / "selection.json").read_text())
    heads = [c["head"] for c in selection["candidates"][1:]]
    assert len(heads) == 24 and sum("chest-erased films' class means erased" in h for h in heads) == 12
    summary = json.loads((out / "summary.json").read_text())
    assert "--erased-copies also" in summary["trainer"]
    chosen = selection["chosen"]
    assert ("chest-erased films' class means erased" in selection["note"]) == chosen["erased_chest"]

    # a choice made by a candidate described otherwise (fitted otherwise) is made again, not reused
    selection["candidates"][-1]["head"] = "chest-erased copies learnt as no class"
    (out / "selection.json").write_text(json.dumps(selection))
    capsys.readouterr()
    assert main(["vgg16_ga", "--weights", str(tmp_path / "run"), "--data", str(csv_path), "--out", str(out), "--views", "0",
                 "--erased-copies"]) == 0
    printed = capsys.readouterr().out
    assert "features from" in printed and "candidates scored before" not in printed

    # "only": the blind candidates alone, on the same cached features, and the card's command says so
    assert main(["vgg16_ga", "--weights", str(tmp_path / "run"), "--data", str(csv_path), "--out", str(out), "--views", "0",
                 "--erased-copies", "only"]) == 0
    selection = json.loads((out / "selection.json").read_text())
    assert len(selection["candidates"]) == 13 and selection["chosen"]["erased_chest"]
    assert all("chest-erased films' class means erased" in c["head"] for c in selection["candidates"][1:])
    assert "features from" in capsys.readouterr().out
    assert "--erased-copies only" in json.loads((out / "summary.json").read_text())["trainer"]


def test_a_refit_of_a_network_trained_without_a_source_is_scored_on_that_source(generated_csv, tmp_path: Path, capsys) -> None:
    from trainer.held_out_source import held_out_check

    csv_path = generated_csv(("normal", "covid"), 18, with_masks=True, two_sources=True)
    rows = list(csv.DictReader(open(csv_path, newline="")))
    for i, row in enumerate(rows):  # three hospitals: two to choose the head out of source, one never seen
        row["source"] = f"hospital {'ABC'[i % 3]}"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    recipe = load_recipe("vgg16_ga", overrides=["size=64", "train.batch_size=4", "train.max_steps_per_epoch=1",
                                                 'data.hold_out_sources=["hospital C"]'], epochs=1)
    fit("vgg16_ga", csv_path, tmp_path / "run", recipe, device="cpu", progress=False)
    out = tmp_path / "refit"
    assert main(["vgg16_ga", "--weights", str(tmp_path / "run"), "--data", str(csv_path), "--out", str(out), "--views", "0",
                 "--erased-copies", "only"]) == 0
    assert f"held-out-source {out}" in capsys.readouterr().out
    held = list(csv.DictReader(open(out / "held_out" / "predictions.csv", newline="")))
    assert held and len(held) == sum(r["source"] == "hospital C" for r in rows)
    val_paths = {r["path"] for r in csv.DictReader(open(out / "predictions.csv", newline=""))}
    assert val_paths and not val_paths & {r["path"] for r in held}
    check = held_out_check(out, n_boot=20)  # what `trainer held-out-source` reads: the re-fitted network's own figures
    assert check["held_out"] == ["hospital C"] and check["n"]["normal"] == sum(r["label"] == "normal" for r in held)
