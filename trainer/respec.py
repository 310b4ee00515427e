"""``python -m trainer respec``: the same trained network under a recipe switch that changes no weight.

    python -m trainer respec dpn92_se --weights resources/weights/dpn92_se --set 'input.lung_mask="forward_arg"' \\
        --data ../shared/data/cxr/labels.csv --data ../shared/data/cxr_adult/labels.csv --out runs/dpn92_se_respec \\
        [--export [--dest DIR] --other-kind ../shared/data/ct_slices/labels.csv]

Some recipe values decide how an input reaches the weights, not the weights. ``input.lung_mask = "forward_arg"``
gives DPN-SENet the lung mask, and its head then pools the last feature map over the lung cells only (session 21:
on the shipped network this moved every shortcut figure the right way without any training, where two epochs of
fine-tuning with it moved them the wrong way). This writes a run folder of the unchanged network with the switch in
its recipe, the spec that recipe gives, and a note saying so; ``trainer export`` (``--export`` at once) then
calibrates and audits it as it does any run. Only such switches are accepted (WEIGHT_FREE_KEYS).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from trainer.export_option import add_export_arguments, finish_written_run
from trainer.rebuild_command import chained_run_folders as chained_after

#: recipe keys whose value changes how an input reaches the network, never a weight it learnt, and what they do
WEIGHT_FREE_KEYS = {
    "input.lung_mask": "how the lung U-Net's mask reaches the network; given it (\"forward_arg\"), DPN-SENet pools its last "
                       "feature map over the lung cells only, where the paper pools every cell",
    "input.preprocess.resample": "how the film's lungs reach the model grid; \"twice\" brings every film to twice the grid, then halves "
                                 "it, so a 2,000 px DICOM and a 224 px PNG take the same last step (the network learnt \"area\"'s pattern: "
                                 "measure before shipping)",
    "input.preprocess.max_side": "a film larger than this (longer side) is shrunk to it before its window and CLAHE, as the "
                                 "films the network learnt from were (157-501 px here; a DICOM is 2,000-3,000 px)",
    "input.preprocess.max_side_above": "max_side applies only to films larger than this: with it above every training film, "
                                       "only a hospital's full-size film is shrunk, and the training films keep their view",
    "input.preprocess.max_side_of": "which side max_side sets: \"shorter\" shrinks a large film to the packs' shorter side "
                                    "(224 px for every film here), so a portrait DICOM's lungs keep their training size",
    "data.lung_mask_weights": "which lung U-Net's masks reach the network (its lung crop, or its film multiplied by the mask); "
                              "e.g. the cascade's stages on the style-robust U-Net's (session 44)",
    "input.preprocess.grey_levels": "the film (after any shrink) is rounded to this many grey levels of its default window, "
                                    "as the 8-bit films the network learnt from were (256 changes none of them)",
}


def _key(override: str) -> str:
    return override.split("=", 1)[0].strip()


def chained_run_folders(network: str, name: str) -> tuple[str, str]:
    """(--weights, --out) of the respec step that follows ``network``'s rebuild command: it starts from the run folder
    that command wrote last (a second respec keeps the first one's switch) and writes a folder none of it uses."""
    return chained_after(network, name, "respec")


def respec_run(weights: Path, model: str, overrides: list[str], data: list[str], out: Path) -> Path:
    """Write ``out`` (best.pt, recipe.json, summary.json): the network in ``weights`` under ``overrides``."""
    from covidviewer.models import get_spec
    from trainer.checkpoint import BEST, model_state, save_checkpoint
    from trainer.config import apply_overrides, recipe_from_dict
    from trainer.run import git_commit
    from trainer.trained import load_trained
    from trainer.trained_spec import effective_spec

    if not overrides or any(_key(o) not in WEIGHT_FREE_KEYS for o in overrides):
        raise ValueError(f"respec takes --set for {', '.join(WEIGHT_FREE_KEYS)} only (values that change no weight); "
                         f"got {overrides or 'none'}: anything else needs python -m trainer fit")
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    trained = load_trained(weights, model)
    if trained.recipe is None:
        raise ValueError(f"{weights} records no recipe: cannot say what the network was trained with")
    recipe = recipe_from_dict(trained.recipe)
    apply_overrides(recipe.values, overrides)
    spec = effective_spec(get_spec(trained.spec.name), recipe)  # refuses a use the model is not built for
    switched = {_key(o).rsplit(".", 1)[1] for o in overrides if _key(o).startswith("input.preprocess.")}
    # the switched settings aside, the recipe must give the card's preprocessing: nothing else may change the input
    if replace(spec.preprocess, **{k: getattr(trained.spec.preprocess, k) for k in switched}) != trained.spec.preprocess:
        raise ValueError(f"{weights}: its card's preprocessing is not what its recipe gives; respec would change the input")
    training: dict[str, Any] = dict(trained.training)
    network = training.get("trainer") or f"(the network in {weights})"
    sets = " ".join(f"--set {shlex.quote(o)}" for o in overrides)
    what = "; ".join(WEIGHT_FREE_KEYS[k] for k in dict.fromkeys(_key(o) for o in overrides))
    recipe.note(f"{', '.join(overrides)} set after training by trainer respec ({what}): the network is the one trained, "
                "no weight changed; calibration and audit are this set's own")
    source, target = chained_run_folders(network, spec.name)
    summary = {
        "model": spec.name, "spec": spec.to_dict(), "model_kwargs": training.get("model_kwargs", {}),
        "trainer": f"{network} && python -m trainer respec {spec.name} --weights {source} {sets} "
                   + " ".join(f"--data {d}" for d in data) + f" --out {target}",
        "recipe": recipe.to_dict(), "deviations": recipe.deviations, "data_csv": [str(d) for d in data],
        **{key: training.get(key) for key in ("best_epoch", "epochs_run", "stopped_early", "device", "amp", "training_minutes")},
        "git_commit": git_commit(), "started": started, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / BEST, {"model": model_state(trained.model)})
    (out / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer respec", description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--weights", required=True, type=Path, help="exported weights folder or run folder")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", required=True,
                        help=f"the switch (repeat): {', '.join(WEIGHT_FREE_KEYS)}")
    parser.add_argument("--data", required=True, action="append", help="labels.csv, as the model was trained (repeat)")
    parser.add_argument("--out", required=True, type=Path, help="run folder to write")
    add_export_arguments(parser)
    args = parser.parse_args(argv)
    try:
        finish_written_run(respec_run(args.weights, args.model, args.set, args.data, args.out), args)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
