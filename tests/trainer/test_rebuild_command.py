"""A fine-tune of an exported set names the set's own command first, then itself from that command's run folder."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from trainer.config import RECIPES_DIR, load_recipe
from trainer.rebuild_command import fine_tune_command

TAIL = RECIPES_DIR / "cpu_budget" / "seme_densenet169_tail.toml"
NETWORK = ("python -m trainer fit seme_densenet169 --data a.csv --data b.csv --out runs/seme_densenet169 "
           "--config trainer/recipes/gpu/seme_densenet169.toml")


def _exported(folder: Path, trainer: str | None) -> Path:
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"spec": {"name": "seme_densenet169"},
                                                   "training": {"trainer": trainer} if trainer else {}}))
    return folder


def _fit_part(command: str) -> tuple[Path | None, list[str], str]:
    """(--config, --set values, --out) of the last command of a chain."""
    words = shlex.split(command.split(" && ")[-1])
    pairs = list(zip(words, words[1:]))
    config = next((Path(after) for word, after in pairs if word == "--config"), None)
    return config, [after for word, after in pairs if word == "--set"], next(after for word, after in pairs if word == "--out")


def test_the_fine_tune_rebuilds_from_the_run_folder_its_starting_sets_command_writes(tmp_path: Path) -> None:
    start = _exported(tmp_path / "shipped", NETWORK)
    recipe = load_recipe("seme_densenet169", TAIL, [f'train.init_from="{start}"', 'data.lung_mask_weights="u"'])
    command = fine_tune_command(recipe, ["a.csv", "b.csv"])
    assert command is not None and command.startswith(NETWORK + " && python -m trainer fit seme_densenet169 --data a.csv --data b.csv")
    config, sets, out = _fit_part(command)
    assert out == "runs/seme_densenet169_tuned"  # not the folder the first command wrote
    rebuilt = load_recipe("seme_densenet169", RECIPES_DIR.parents[1] / config, sets).values
    assert rebuilt["train"]["init_from"] == "runs/seme_densenet169"
    assert {**rebuilt, "train": {**rebuilt["train"], "init_from": str(start)}} == recipe.values


def test_a_plain_fit_or_a_set_whose_card_names_no_command_gets_none(tmp_path: Path) -> None:
    assert fine_tune_command(load_recipe("seme_densenet169"), ["a.csv"]) is None
    bare = _exported(tmp_path / "bare", None)
    assert fine_tune_command(load_recipe("seme_densenet169", TAIL, [f'train.init_from="{bare}"']), ["a.csv"]) is None


def test_a_fit_from_an_exported_set_has_its_card_name_the_chain(generated_csv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from covidviewer.models.weights import read_sidecar
    from trainer.export import export_run
    from trainer.run import fit

    csv_path = generated_csv(("normal", "covid", "bacterial"), 4, with_masks=True, two_sources=True)
    tiny = ["size=64", "train.batch_size=4", "train.max_steps_per_epoch=1", 'data.lung_masks="auto"']
    fit("dpn92_se", csv_path, tmp_path / "first", load_recipe("dpn92_se", overrides=tiny, epochs=1), device="cpu", progress=False)
    shipped = tmp_path / "shipped"
    export_run(tmp_path / "first", shipped, attention=False, n_boot=20, calibrate=False)
    network = read_sidecar(shipped)["training"]["trainer"]
    tuned = load_recipe("dpn92_se", overrides=[*tiny, f'train.init_from="{shipped}"'], epochs=1)
    summary = fit("dpn92_se", csv_path, tmp_path / "tuned", tuned, device="cpu", progress=False)
    assert summary["trainer"].startswith(f"{network} && python -m trainer fit dpn92_se --data {csv_path}")
    assert "--set 'train.init_from=\"runs/dpn92_se\"'" in summary["trainer"]
    export_run(tmp_path / "tuned", tmp_path / "tuned_set", attention=False, n_boot=20, calibrate=False)
    assert read_sidecar(tmp_path / "tuned_set")["training"]["trainer"] == summary["trainer"]
