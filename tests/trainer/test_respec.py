"""``trainer respec``: the same network under a switch that changes no weight (DPN-SENet given the lung mask),
written as a run that exports like any other; anything that would need training is refused."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.config import load_recipe
from trainer.respec import main
from trainer.run import fit

POOL = 'input.lung_mask="forward_arg"'


def _tiny_dpn_run(generated_csv, root: Path) -> tuple[Path, Path]:
    csv_path = generated_csv(("normal", "covid", "bacterial"), 4, with_masks=True, two_sources=True)
    recipe = load_recipe("dpn92_se", overrides=["size=64", "train.batch_size=4", "train.max_steps_per_epoch=1",
                                                'data.lung_masks="auto"'], epochs=1)
    fit("dpn92_se", csv_path, root / "run", recipe, device="cpu", progress=False)
    return root / "run", csv_path


def test_respec_writes_the_same_network_given_the_lung_mask_and_it_exports_with_that_spec(generated_csv, tmp_path: Path,
                                                                                          capsys) -> None:
    import torch

    from covidviewer.models.spec import ModelSpec
    from covidviewer.models.weights import read_sidecar
    from trainer.checkpoint import BEST, load_checkpoint
    from trainer.export import export_run
    from trainer.trained import load_trained

    run, csv_path = _tiny_dpn_run(generated_csv, tmp_path)
    for switch, error in (("train.lr=1.0", "change no weight"), ('input.lung_mask="bogus"', "lung_mask")):
        refused = tmp_path / "refused"  # a switch that needs training, or a use the model is not built for
        assert main(["dpn92_se", "--weights", str(run), "--set", switch, "--data", str(csv_path), "--out", str(refused)]) == 2
        assert error in capsys.readouterr().err and not refused.exists()

    out = tmp_path / "respec"
    assert main(["dpn92_se", "--weights", str(run), "--set", POOL, "--data", str(csv_path), "--out", str(out)]) == 0
    old, new = load_checkpoint(run / BEST)["model"], load_checkpoint(out / BEST)["model"]
    assert old.keys() == new.keys() and all(torch.equal(old[k], new[k]) for k in old)  # no weight changed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["spec"]["lung_mask"] == "forward_arg" and summary["spec"]["explain"]["cam_layers"][0] == "lung_gate"
    assert json.loads((out / "recipe.json").read_text())["values"]["input"]["lung_mask"] == "forward_arg"
    assert any("trainer respec" in d and "lung cells only" in d for d in summary["deviations"])
    assert summary["best_epoch"] == json.loads((run / "summary.json").read_text())["best_epoch"]

    respecced = load_trained(out)
    x, mask = torch.randn(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, :32] = 1.0
    with torch.no_grad():
        assert not torch.allclose(respecced.model(x, lung_mask=mask), respecced.model(x))

    dest = tmp_path / "weights"
    export_run(out, dest, attention=False, n_boot=20, calibrate=False)
    card = read_sidecar(dest)  # the app reads the spec, and so how it gives the mask, from the card
    assert "python -m trainer respec dpn92_se" in card["training"]["trainer"]
    spec = ModelSpec.from_dict(card["spec"])
    assert spec.lung_mask == "forward_arg" and spec.needs_lung_mask and spec.explain.cam_layers[0] == "lung_gate"


def test_respec_takes_a_preprocessing_switch_that_changes_no_weight_and_nothing_else(generated_csv, tmp_path: Path,
                                                                                    capsys) -> None:
    """Session 23: max_side (a large film first shrunk to the training films' size) and resample are weight-free;
    any other preprocessing setting (CLAHE here) would change what the weights were trained to read."""
    run, csv_path = _tiny_dpn_run(generated_csv, tmp_path)
    refused = tmp_path / "refused"
    assert main(["dpn92_se", "--weights", str(run), "--set", "input.preprocess.clahe=false", "--data", str(csv_path),
                 "--out", str(refused)]) == 2
    assert "change no weight" in capsys.readouterr().err and not refused.exists()
    out = tmp_path / "respec"
    assert main(["dpn92_se", "--weights", str(run), "--set", "input.preprocess.max_side=224", "--set",
                 "input.preprocess.max_side_above=512", "--data", str(csv_path), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    before = json.loads((run / "summary.json").read_text())["spec"]["preprocess"]
    assert summary["spec"]["preprocess"] == {**before, "max_side": 224, "max_side_above": 512}  # those settings only
    assert any("max_side" in d and "shrunk" in d for d in summary["deviations"])


def test_respec_gives_the_network_another_lung_unets_masks_and_changes_nothing_else(generated_csv, tmp_path: Path) -> None:
    """Session 44: the cascade's stage 1 was re-carded on the masks of the cascade's own segmenter (no weight changed)."""
    run, csv_path = _tiny_dpn_run(generated_csv, tmp_path)
    out = tmp_path / "respec"
    switch = 'data.lung_mask_weights="resources/weights/cascade_lung_unet"'
    assert main(["dpn92_se", "--weights", str(run), "--set", switch, "--data", str(csv_path), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads((out / "recipe.json").read_text())["values"]["data"]["lung_mask_weights"] == "resources/weights/cascade_lung_unet"
    assert summary["spec"] == json.loads((run / "summary.json").read_text())["spec"]  # the input is the same but for the lungs
    assert any("trainer respec" in d and "lung U-Net's masks" in d for d in summary["deviations"])


@pytest.mark.parametrize(("network", "expected"), [
    ("python -m trainer fit dpn92_se --data a.csv --out runs/dpn92_se", ("runs/dpn92_se", "runs/dpn92_se_respec")),
    # a second respec starts from the first one's run folder, so the rebuild keeps the first switch
    ("python -m trainer fit dpn92_se --out runs/dpn92_se && python -m trainer respec dpn92_se --weights runs/dpn92_se "
     "--set 'input.lung_mask=\"forward_arg\"' --out runs/dpn92_se_respec", ("runs/dpn92_se_respec", "runs/dpn92_se_respec2")),
    ("(the network in resources/weights/dpn92_se)", ("runs/dpn92_se", "runs/dpn92_se_respec")),
])
def test_a_chained_respec_names_the_run_folder_the_step_before_wrote(network: str, expected) -> None:  # type: ignore[no-untyped-def]
    from trainer.respec import chained_run_folders

    assert chained_run_folders(network, "dpn92_se") == expected
