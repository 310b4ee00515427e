"""A run moved between machines (pack-run / unpack-run) exports exactly what the run itself exports;
a recipe's time limit ends a run like its last epoch would (evaluation, summary, the reason noted)."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import torch

from covidviewer.models.weights import read_sidecar
from covidviewer.models.weights.storage import stored_tensors
from trainer.__main__ import main
from trainer.config import load_recipe
from trainer.export import export_run
from trainer.run import fit
from trainer.run_archive import NETWORK, pack_run, unpack_run
from trainer.trained import load_trained

UNET = ["size=32", "model_kwargs.base_channels=4", "train.batch_size=2", "train.max_steps_per_epoch=3"]


@pytest.fixture
def unet_run(lungseg_csv, tmp_path: Path) -> tuple[Path, Path]:
    csv_path = lungseg_csv(n=8)
    fit("lung_unet", csv_path, tmp_path / "run", load_recipe("lung_unet", overrides=UNET, epochs=2), device="cpu", progress=False, n_boot=20)
    return tmp_path / "run", csv_path


def test_an_unpacked_run_exports_the_same_int8_weights_and_metrics(unet_run, tmp_path: Path) -> None:
    run_dir, _ = unet_run
    assert main(["pack-run", str(run_dir), "--out", str(tmp_path / "run.tar")]) == 0
    assert (tmp_path / "run.tar").stat().st_size < sum(p.stat().st_size for p in run_dir.glob("*.pt"))
    assert main(["unpack-run", str(tmp_path / "run.tar"), "--out", str(tmp_path / "moved")]) == 0
    assert json.loads((tmp_path / "moved" / "summary.json").read_text()) == json.loads((run_dir / "summary.json").read_text())
    here = export_run(run_dir, tmp_path / "here", attention=False, n_boot=20, store="int8")
    moved = export_run(tmp_path / "moved", tmp_path / "there", attention=False, n_boot=20, store="int8")
    a = stored_tensors(load_trained(here["dest"]).model, torch.int8)
    b = stored_tensors(load_trained(moved["dest"]).model, torch.int8)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    card_a, card_b = read_sidecar(here["dest"]), read_sidecar(moved["dest"])
    assert card_a["shards"] == card_b["shards"]  # the same bytes: the same weight-set hash
    assert card_a["metrics"]["validation"]["point"] == card_b["metrics"]["validation"]["point"]


def test_unpack_refuses_an_occupied_folder_and_members_outside_the_run(unet_run, tmp_path: Path) -> None:
    run_dir, _ = unet_run
    archive = pack_run(run_dir, tmp_path / "run.tar")
    with pytest.raises(FileExistsError, match="already holds a run"):
        unpack_run(archive, run_dir)
    evil = tmp_path / "evil.tar"
    with tarfile.open(archive) as src, tarfile.open(evil, "w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo("../outside.json")
        info.size = 2
        dst.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(ValueError, match="refusing member"):
        unpack_run(evil, tmp_path / "evil_run")
    assert not (tmp_path / "outside.json").exists()
    with tarfile.open(tmp_path / "plain.tar", "w") as tar:
        tar.add(run_dir / "recipe.json", arcname="recipe.json")
    with pytest.raises(ValueError, match=f"no {NETWORK}"):
        unpack_run(tmp_path / "plain.tar", tmp_path / "plain_run")


def test_a_time_limit_ends_the_run_after_the_epoch_that_reaches_it(lungseg_csv, tmp_path: Path) -> None:
    recipe = load_recipe("lung_unet", overrides=UNET + ["train.time_limit_minutes=1e-6"], epochs=3)
    summary = fit("lung_unet", lungseg_csv(n=8), tmp_path / "run", recipe, device="cpu", progress=False, n_boot=20)
    assert summary["epochs_run"] == 1 and summary["stopped_early"]
    assert any("stopped by its time limit" in d and "after 1 of 3 epochs" in d for d in summary["deviations"])
    assert "point" in summary["metrics_val"]  # finished as usual: evaluated, summary written
