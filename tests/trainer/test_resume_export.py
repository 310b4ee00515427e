"""Interrupted + resumed == uninterrupted; export -> the app's loader -> same predictions and the
card's metrics reproduced by ``trainer evaluate``; the CLI; bf16 autocast on CPU; lung-attention check (radiographs
and CT slices)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from covidviewer.model_cards import weight_set_sha256
from covidviewer.models import create_model
from covidviewer.models.weights import load_weights, read_sidecar
from trainer.__main__ import main
from trainer.checkpoint import BEST, LAST, load_checkpoint
from trainer.config import load_recipe
from trainer.export import export_run
from trainer.devices import cpu_has_native_bf16
from trainer.engine import TrainingInterrupted
from trainer.run import fit
from trainer.trained import load_trained

UNET = ["size=32", "model_kwargs.base_channels=4", "train.batch_size=2", "train.max_steps_per_epoch=3"]


def _unet_recipe(epochs: int = 2):
    return load_recipe("lung_unet", overrides=UNET, epochs=epochs)


@pytest.fixture
def finished_unet_run(lungseg_csv, tmp_path: Path) -> tuple[Path, Path]:
    csv_path = lungseg_csv(n=8)
    fit("lung_unet", csv_path, tmp_path / "run", _unet_recipe(), device="cpu", progress=False, n_boot=50)
    return tmp_path / "run", csv_path


def test_resume_after_interruption_equals_an_uninterrupted_run(lungseg_csv, tmp_path: Path) -> None:
    csv_path = lungseg_csv(n=8)
    straight = fit("lung_unet", csv_path, tmp_path / "a", _unet_recipe(), device="cpu", progress=False, n_boot=20)
    with pytest.raises(TrainingInterrupted) as stop:  # as Ctrl-C would: mid-way through epoch 2
        fit("lung_unet", csv_path, tmp_path / "b", _unet_recipe(), device="cpu", progress=False, stop_after_steps=4, n_boot=20)
    assert stop.value.checkpoint == tmp_path / "b" / LAST
    assert load_checkpoint(tmp_path / "b" / LAST)["step"] == 1
    partial = export_run(tmp_path / "b", tmp_path / "partial", attention=False, n_boot=20)  # a stopped run exports its best
    assert any("stopped after 1 of 2 epochs" in d for d in read_sidecar(partial["dest"])["training"]["deviations"])
    with pytest.raises(FileExistsError, match="--resume"):
        fit("lung_unet", csv_path, tmp_path / "b", _unet_recipe(), device="cpu", progress=False)
    resumed = fit("lung_unet", csv_path, tmp_path / "b", None, device="cpu", resume=True, progress=False, n_boot=20)
    for name in (LAST, BEST):
        a, b = load_checkpoint(tmp_path / "a" / name), load_checkpoint(tmp_path / "b" / name)
        assert a["model"].keys() == b["model"].keys()
        for key in a["model"]:
            assert torch.equal(a["model"][key], b["model"][key]), f"{name}: {key} differs after resume"
    strip = lambda hist: [{k: v for k, v in h.items() if k != "seconds"} for h in hist]  # noqa: E731
    assert strip(straight["history"]) == strip(resumed["history"])
    assert straight["metrics_val"]["point"] == resumed["metrics_val"]["point"]


def test_checkpoints_load_with_weights_only(finished_unet_run) -> None:
    run_dir, _ = finished_unet_run
    ckpt = torch.load(run_dir / BEST, map_location="cpu", weights_only=True)
    assert {"model", "optimizer", "rng", "history", "epoch"} <= set(ckpt)


def test_export_loads_in_the_app_with_the_same_predictions_and_evaluate_reproduces_the_card(finished_unet_run, tmp_path: Path, capsys, monkeypatch) -> None:
    run_dir, csv_path = finished_unet_run
    dest = tmp_path / "weights" / "lung_unet"
    assert main(["export", str(run_dir), "--dest", str(dest)]) == 0
    sidecar = read_sidecar(dest)
    training = sidecar["training"]
    assert training["data"]["counts"]["val"]["_patients"] >= 1 and training["data"]["split_method"].startswith("patient-level")
    assert any("input.size" in d for d in training["deviations"]) and training["best_epoch"] in (1, 2)
    assert "mean_iou" in sidecar["metrics"]["validation"]["ci95"] and sidecar["git_commit"]
    assert "citation" in training["paper"]
    # The app's loader reads the fp16 shards; predictions equal the best checkpoint rounded to fp16.
    model = create_model("lung_unet", base_channels=4)
    load_weights(model, dest)
    reference = create_model("lung_unet", base_channels=4)
    reference.load_state_dict({k: v.half().to(v.dtype) if v.is_floating_point() else v for k, v in load_checkpoint(run_dir / BEST)["model"].items()})
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reference.eval()(x))
    capsys.readouterr()
    assert main(["evaluate", "lung_unet", "--weights", str(dest), "--data", str(csv_path), "--out", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr().out
    assert "matches the validation metrics" in out
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["point"] == sidecar["metrics"]["validation"]["point"]
    # exported again over it: the set it replaces is named, so that a retrained shipped model can be put back
    first = weight_set_sha256(sidecar["shards"])
    capsys.readouterr()
    assert main(["export", str(run_dir), "--dest", str(dest), "--no-attention"]) == 0
    assert f"it replaces the weight set that was there ({first[:12]})" in capsys.readouterr().out
    sidecar = read_sidecar(dest)
    # what a card says about weights it used (e.g. the lung U-Net behind lung masks): the weight set, no machine paths
    monkeypatch.chdir(tmp_path)
    source = load_trained(dest).source
    assert source == f"exported weights weights/lung_unet, weight set {weight_set_sha256(sidecar['shards'])[:12]}"


def test_cli_list_fit_with_cpu_bf16_and_clear_errors(lungseg_csv, tmp_path: Path, capsys) -> None:
    assert main(["list"]) == 0
    assert "lung_unet" in capsys.readouterr().out
    csv_path = lungseg_csv(n=6)
    args = ["fit", "lung_unet", "--data", str(csv_path), "--out", str(tmp_path / "bf16"), "--epochs", "1", "--amp", "bf16", "--no-progress"]
    assert main(args + [f"--set={s}" for s in UNET]) == 0
    summary = json.loads((tmp_path / "bf16" / "summary.json").read_text())
    assert "train.amp: recipe 'auto' -> used 'bf16'" in summary["deviations"]
    if cpu_has_native_bf16() is False:  # emulated bf16 is 10-30x slower: fp32, and the card says so
        assert summary["amp"] == "off" and any("no native bf16" in d for d in summary["deviations"])
    else:
        assert summary["amp"] == "bfloat16"
    assert main(["fit", "lung_unet", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x")]) == 2
    assert "labels file not found" in capsys.readouterr().err
    assert main(["fit", "lung_unet", "--data", str(csv_path), "--out", str(tmp_path / "y"), "--set", "no_such=1"]) == 2
    assert "unknown recipe key" in capsys.readouterr().err


def test_lung_attention_share_of_gradcam_on_validation_images(generated_csv, tmp_path: Path) -> None:
    from trainer.attention_check import lung_attention
    from trainer.run import Run

    csv_path = generated_csv(("normal", "bacterial", "covid"), 3, with_masks=True)
    # 64 px: a 2 x 2 feature grid (at 32 px the 1 x 1 map is constant and min-max scales to zero)
    recipe = load_recipe("vgg16_ga", overrides=["size=64", "train.batch_size=4"], epochs=1)
    run = Run(recipe, csv_path, tmp_path / "run")
    with torch.no_grad():  # a head with positive weights gives every image a non-empty Grad-CAM map
        for layer in (run.model.fc1, run.model.fc2, run.model.fc3):
            layer.weight.abs_()
    result = lung_attention(run.model, run.train_spec, run.bundle, "val", n_boot=20)
    assert result["n_images"] == len(run.bundle.split.val) and result["n_empty_maps"] == 0
    assert 0.0 <= result["ci95"][0] <= result["mean_share"] <= result["ci95"][1] <= 1.0
    assert set(result["per_class"]) <= {"normal", "pneumonia", "COVID-19"} and "csv" in result["lung_masks"]
    erased = result["lungs_erased"]  # every image scored again with its chest erased
    assert erased["n_images"] == result["n_images"] and {"auc_as_sent", "auc_lungs_erased"} <= set(erased["point"])

    # A collapsed model (constant logits) has all-zero maps: no share, not "0 % in the lungs".
    with torch.no_grad():
        run.model.fc3.weight.zero_()
    empty = lung_attention(run.model, run.train_spec, run.bundle, "val", n_boot=20)
    assert set(empty) == {"skipped"} and "empty" in empty["skipped"]


def _ct_phantoms(folder: Path, per_label: int = 5) -> Path:
    """Lung-window CT slices: a body with two dark lungs (covid), or with one lung, cut open through the chest wall,
    so that the body encloses no lungs (non_covid)."""
    import csv

    import cv2
    import numpy as np

    yy, xx = np.mgrid[:96, :96]
    rng = np.random.default_rng(0)
    rows = []
    for label in ("covid", "non_covid"):
        for i in range(per_label):
            image = np.full((96, 96), 10.0)
            image[((yy - 48) / 36.0) ** 2 + ((xx - 48) / 42.0) ** 2 < 1] = 200.0
            image[((yy - 48) / 22.0) ** 2 + ((xx - 66) / 13.0) ** 2 < 1] = 40.0
            if label == "covid":
                image[((yy - 48) / 22.0) ** 2 + ((xx - 30) / 13.0) ** 2 < 1] = 40.0
            else:  # one lung, cut open through the chest wall
                image[:, 70:] = 10.0
            image += rng.normal(0.0, 6.0, image.shape)
            cv2.imwrite(str(folder / f"{label}_{i}.png"), np.clip(image, 0, 255).astype(np.uint8))
            rows.append({"path": f"{label}_{i}.png", "label": label, "patient_id": f"{label}:{i}"})
    with open(folder / "labels.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder / "labels.csv"


def test_a_ct_slice_models_lung_attention_weighs_each_slice_by_the_lungs_its_body_encloses(tmp_path: Path) -> None:
    from trainer.attention_check import CT_LUNG_REGION, lung_attention
    from trainer.run import Run

    recipe = load_recipe("resunet", overrides=["size=64", "train.batch_size=4", "model_kwargs.widths=[8, 8, 16, 16, 16]",
                                                "model_kwargs.decoder_widths=[16, 8, 8]", "model_kwargs.head_channels=16",
                                                "model_kwargs.fc_hidden=8"], epochs=1)
    run = Run(recipe, _ct_phantoms(tmp_path), tmp_path / "run")
    val = run.bundle.split.val
    assert {r.label for r in val} == {"COVID-19", "non-COVID"}
    result = lung_attention(run.model, run.train_spec, run.bundle, "val", n_boot=20)
    assert "skipped" not in result, result
    assert result["lung_region"] == CT_LUNG_REGION and not run.bundle.lung_masks  # no U-Net, no csv masks
    # the cut-open slices have no lungs enclosed: left out and counted, not scored as 0 % in the lungs
    assert result["n_no_lungs"] == sum(r.label == "non-COVID" for r in val)
    assert result["n_images"] + result["n_empty_maps"] == sum(r.label == "COVID-19" for r in val)
    assert set(result["per_class"]) == {"COVID-19"}
    assert result["mean_lung_area"] == pytest.approx(2 * np.pi * 22 * 13 / 96**2, rel=0.15)
    assert result["mean_outside_area"] == pytest.approx(1 - np.pi * 36 * 42 / 96**2, rel=0.1)
    assert 0.0 <= result["outside_body_share"] <= 1.0
    assert result["lungs_erased"]["n_images"] == result["n_images"] + result["n_empty_maps"]  # the slices with lungs


def test_an_exported_ct_slice_card_gets_its_lung_attention_and_evaluate_records_it_again(tmp_path: Path, capsys) -> None:
    csv_path = _ct_phantoms(tmp_path)
    recipe = load_recipe("resunet", overrides=["size=64", "train.batch_size=4", "model_kwargs.widths=[8, 8, 16, 16, 16]",
                                                "model_kwargs.decoder_widths=[16, 8, 8]", "model_kwargs.head_channels=16",
                                                "model_kwargs.fc_hidden=8"], epochs=1)
    fit("resunet", csv_path, tmp_path / "run", recipe, device="cpu", progress=False, n_boot=20)
    exported = export_run(tmp_path / "run", tmp_path / "set", calibrate=False, n_boot=20)
    card = tmp_path / "set" / "model.json"
    lung = json.loads(card.read_text())["metrics"]["lung_attention"]
    assert lung == exported["lung_attention"] and lung["lung_region"] == "ct_enclosed", lung
    without = json.loads(card.read_text())
    del without["metrics"]["lung_attention"]
    card.write_text(json.dumps(without))
    argv = ["evaluate", "resunet", "--weights", str(tmp_path / "set"), "--data", str(csv_path), "--record-lung-attention"]
    assert main(argv) == 0
    again = json.loads(card.read_text())["metrics"]["lung_attention"]
    assert again == {**lung, "split": "val"}  # the same figure the export wrote, with the split it was measured on
    assert "lung attention" in capsys.readouterr().out
    assert main([*argv, "--split", "train"]) == 2 and "--split val" in capsys.readouterr().err
