"""Interrupted + resumed == uninterrupted; export -> the app's loader -> same predictions and the
card's metrics reproduced by ``trainer evaluate``; the CLI; bf16 autocast on CPU; lung-attention check."""
from __future__ import annotations

import json
from pathlib import Path

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

    # A collapsed model (constant logits) has all-zero maps: no share, not "0 % in the lungs".
    with torch.no_grad():
        run.model.fc3.weight.zero_()
    empty = lung_attention(run.model, run.train_spec, run.bundle, "val", n_boot=20)
    assert set(empty) == {"skipped"} and "empty" in empty["skipped"]
