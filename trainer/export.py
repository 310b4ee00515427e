"""Export a finished run's best checkpoint as the app's weights: fp16 safetensors shards + sidecar.

Steps: load ``best.pt``; write it through ``covidviewer.models.weights.save_weights`` into a
temporary folder; load it back with the app's ``load_weights`` (fp16 -> fp32, exactly what the app
will run); evaluate THOSE weights on the run's validation split (deterministic, fp32) and, for CXR
classifiers, measure the Grad-CAM attention inside the lungs; then write the final folder with
the model card: data sources and counts per split and class, recipe with deviations, metrics with
95% intervals, known biases, the papers' own figures, git commit and date. ``trainer evaluate``
on the exported folder reproduces the card's metrics bit for bit.
"""
from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from covidviewer.models import create_model
from trainer.attention_check import lung_attention_lines, measures_lung_attention
from trainer.audit import audit_summary
from trainer.config import recipe_from_dict, reproduce_command
from trainer.data.build import csv_list, load_data, make_dataset
from trainer.evaluation import evaluate_with_audit
from trainer.metrics import N_BOOTSTRAP, headline
from trainer.run import RECIPE_FILE
from trainer.tasks import make_task
from trainer.trained import load_trained


def _card_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    card = copy.deepcopy(metrics)
    card.pop("per_image", None)  # per-image lists stay in the run folder's metrics.json
    return card


def export_run(
    run_dir: Path | str,
    dest: Path | str | None = None,
    data_csv: Path | str | list[str] | None = None,
    attention: bool = True,
    n_boot: int = N_BOOTSTRAP,
    store: str = "float16",
    calibrate: bool = True,
    other_kind_csv: Path | str | None = None,
) -> dict[str, Any]:
    """Export ``run_dir``'s best checkpoint; returns {"dest", "metrics", "lung_attention", "audit"}.

    store: "float16" (default) or "int8" (weight kernels as int8 with per-channel scales: half the
    size; the card's metrics are measured on these stored weights, rounding included).
    calibrate: classifiers get temperature scaling, a COVID-19 operating point and an OOD model in
    their card (trainer.export_calibration); other_kind_csv: images of the other kind (CT slices for
    a radiograph model) whose OOD flag rate the card states.
    """
    from covidviewer.models.weights import WeightsError, load_weights, save_weights, weights_dir_for, weights_sha256

    run_dir = Path(run_dir)
    recipe = recipe_from_dict(json.loads((run_dir / RECIPE_FILE).read_text()))
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else _unfinished_summary(run_dir, recipe)
    recipe.notes += [d for d in summary.get("deviations", []) if d not in recipe.deviations]  # run-time notes
    trained = load_trained(run_dir, recipe.model)
    spec = trained.spec  # as trained (input size may differ from the registered spec)
    dest = Path(dest) if dest is not None else weights_dir_for(spec)
    try:
        replaced: str | None = weights_sha256(dest)  # the set this export takes the place of, said afterwards
    except WeightsError:
        replaced = None
    csv_paths = [str(p) for p in csv_list(data_csv or summary["data_csv"])]
    csv_path = csv_paths[0] if len(csv_paths) == 1 else csv_paths
    bundle = load_data(spec, recipe, csv_path, eval_split="val")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in summary.get("model_kwargs", {}).items()}
    paper = recipe["paper"]
    training: dict[str, Any] = {
        # a run that continues another network (refit-head) names both commands itself
        "trainer": summary.get("trainer") or reproduce_command(recipe, csv_path),
        "data_csv": csv_path,
        "data": bundle.describe(),
        "recipe_resolved": recipe.to_dict(),
        "deviations": recipe.deviations,
        "model_kwargs": summary.get("model_kwargs", {}),
        "best_epoch": summary["best_epoch"],
        "epochs_run": summary["epochs_run"],
        "stopped_early": summary["stopped_early"],
        "device": summary["device"],
        "amp": summary["amp"],
        "trained_git_commit": summary["git_commit"],
        "trained_finished": summary["finished"],
        # a run that continues another (refit-head) states the minutes of both
        "training_minutes": summary.get("training_minutes", _training_minutes(summary)),
        "paper": {"citation": paper.get("citation", ""), "reported": paper.get("reported", {}), "notes": paper.get("notes", "")},
        "evaluation": f"validation split, metrics computed from these {store} weights in fp32 on CPU; 95% intervals by patient bootstrap",
    }
    dtype = {"float16": torch.float16, "int8": torch.int8}.get(store)
    if dtype is None:
        raise ValueError(f"store must be float16 or int8, not {store!r}")
    with tempfile.TemporaryDirectory(prefix="covidviewer-export-") as tmp:
        save_weights(trained.model, spec, tmp, training=training, metrics={}, dtype=dtype)
        model = create_model(recipe.model, **kwargs)
        load_weights(model, tmp)
    model.spec = spec
    model.eval()
    task = make_task(spec, recipe["task"], recipe["method"])
    batch = int(recipe["train"].get("eval_batch_size") or recipe["train"]["batch_size"])
    val = make_dataset(spec, recipe.values, bundle, "val", train=False)
    val_pass: dict[str, Any] = {}
    classifier = recipe["task"] == "classification"
    calibrating = calibrate and classifier and spec.modality != "CT_VOLUME"
    # a calibrated card gets its audit at the operating point (calibrate_card); no need to audit twice
    metrics, audit = evaluate_with_audit(model, task, val, torch.device("cpu"), batch, None, n_boot,
                                         audit=classifier and not calibrating, keep=val_pass)
    card = {"validation": _card_metrics(metrics)}
    if audit is not None:
        card["audit"] = audit  # per source, adult films, source probe, flags (trainer/audit.py)
    lung = None
    if attention and measures_lung_attention(spec) and recipe["task"] == "classification":
        lung = lung_attention_record(model, spec, recipe, bundle, n_boot)
        card["lung_attention"] = lung
    biases = list(recipe.values.get("known_biases", []))
    save_weights(model, spec, dest, training=training, metrics=card, known_biases=biases, dtype=dtype)
    if calibrating:
        from trainer.export_calibration import calibrate_card

        audit = calibrate_card(model, task, recipe, bundle, val_pass, Path(dest), batch, other_kind_csv and Path(other_kind_csv), n_boot)["audit"]
    print(f"exported {recipe.model} (best epoch {summary['best_epoch']}) to {dest}")
    if replaced is not None:
        print(f"it replaces the weight set that was there ({replaced[:12]}); a set shipped with the app comes back "
              f"with `git checkout -- {dest}` in a source checkout, or from the installer")
    print(f"validation: {headline(metrics)}")
    if audit is not None:
        print(audit_summary(audit))
    for line in lung_attention_lines(lung):
        print(line)
    return {"dest": dest, "metrics": metrics, "lung_attention": lung, "audit": audit}


def _training_minutes(summary: dict[str, Any]) -> float | None:
    """Wall-clock minutes of ``fit`` (training, per-epoch validation and the final evaluation)."""
    from datetime import datetime

    try:
        started, finished = datetime.fromisoformat(summary["started"]), datetime.fromisoformat(summary["finished"])
    except (KeyError, TypeError, ValueError):
        return None  # an unfinished run: see its log.csv
    return round((finished - started).total_seconds() / 60.0, 1)


def _unfinished_summary(run_dir: Path, recipe: Any) -> dict[str, Any]:
    """What summary.json would say, for a run stopped before its last epoch (Ctrl-C, time limit)."""
    from covidviewer.models import get_spec
    from trainer.checkpoint import BEST, LAST, load_checkpoint
    from trainer.trained_spec import model_kwargs
    from trainer.run import git_commit

    if not (run_dir / BEST).is_file():
        raise FileNotFoundError(f"{run_dir} has no {BEST}: no epoch has finished yet")
    best = load_checkpoint(run_dir / BEST)
    last = load_checkpoint(run_dir / LAST) if (run_dir / LAST).is_file() else best
    data = json.loads((run_dir / "data.json").read_text())
    total = sum(recipe.stage_epochs())
    done = len(last["history"])
    note = f"training stopped after {done} of {total} epochs; the best of those (epoch {best['best']['epoch']}) is exported"
    return {
        "data_csv": data["labels"]["csv"],
        "model_kwargs": model_kwargs(get_spec(recipe.model), recipe),
        "best_epoch": best["best"]["epoch"],
        "epochs_run": done,
        "stopped_early": True,
        "device": "unknown (unfinished run)",
        "amp": "unknown (unfinished run)",
        "git_commit": git_commit(),
        "finished": "unfinished",
        "deviations": recipe.deviations + [note],
    }


def lung_attention_record(model: Any, spec: Any, recipe: Any, bundle: Any, n_boot: int, split: str = "val") -> dict[str, Any]:
    """The shortcut check on ``split``'s images (``trainer.attention_check``), or why it could not run (no lung masks
    for a radiograph model); the export and ``evaluate --record-lung-attention`` write it on the card."""
    from trainer.attention_check import lung_attention
    from trainer.data.masks import LungMaskError, collect_lung_masks

    if not bundle.lung_masks and spec.modality == "CXR":  # a CT slice's lungs are found on the slice itself
        probe = copy.deepcopy(recipe)
        probe.values["data"]["lung_masks"] = "auto"
        try:
            bundle.lung_masks, bundle.lung_mask_source = collect_lung_masks(bundle.split.rows(split), bundle.cache, probe)
        except (LungMaskError, FileNotFoundError) as err:
            return {"skipped": f"no lung masks for the {split} images: {err}"}
    return lung_attention(model, spec, bundle, split, n_boot)
