"""Load a trained network from a run folder (best checkpoint) or an exported weights folder.

A run folder (``runs/NAME``) has ``best.pt`` + ``summary.json`` / ``recipe.json``; an exported
folder (``resources/weights/NAME``) is read with ``covidviewer.models.weights.load_weights``, the
app's own loader, so evaluating it tests exactly what the app will run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from covidviewer.models import create_model, get_spec
from trainer.checkpoint import BEST, load_checkpoint
from trainer.trained_spec import effective_spec, model_kwargs


@dataclass
class Trained:
    """A loaded network with the spec and recipe it was trained with (recipe None when unknown)."""

    model: torch.nn.Module
    spec: Any
    recipe: dict[str, Any] | None
    source: str
    training: dict[str, Any]


def _from_run(folder: Path, model_name: str | None) -> Trained:
    summary_path, recipe_path = folder / "summary.json", folder / "recipe.json"
    recipe = json.loads(recipe_path.read_text()) if recipe_path.is_file() else None
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    name = (recipe or {}).get("model") or model_name
    if name is None:
        raise ValueError(f"{folder}: cannot tell which model this run trained (no recipe.json)")
    if model_name is not None and name != model_name:
        raise ValueError(f"{folder} holds a {name} run, not {model_name}")
    from covidviewer.models.spec import ModelSpec

    spec = ModelSpec.from_dict(summary["spec"]) if "spec" in summary else get_spec(name)
    kwargs = summary.get("model_kwargs")
    if "spec" not in summary and recipe is not None:  # an unfinished run: derive what finish() records
        from trainer.config import recipe_from_dict

        resolved = recipe_from_dict(recipe)
        spec = effective_spec(get_spec(name), resolved)
        kwargs = model_kwargs(get_spec(name), resolved) if kwargs is None else kwargs
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in (kwargs or {}).items()}
    model = create_model(name, **kwargs)
    model.load_state_dict(load_checkpoint(folder / BEST)["model"])
    model.spec = spec
    return Trained(model.eval(), spec, recipe, f"run {_shown(folder)} (best.pt, epoch {summary.get('best_epoch', '?')})", summary)


def _from_export(folder: Path, model_name: str | None) -> Trained:
    """Through the app's own verified loader (sidecar, hashes, names, shapes)."""
    from covidviewer.models.spec import ModelSpec
    from covidviewer.model_cards import weight_set_sha256
    from covidviewer.models.weights import builder_kwargs, load_weights, read_sidecar

    sidecar = read_sidecar(folder)
    spec = ModelSpec.from_dict(sidecar["spec"])
    if model_name is not None and spec.name != model_name:
        raise ValueError(f"{folder} holds weights of {spec.name}, not {model_name}")
    training = sidecar.get("training") or {}
    model = create_model(spec.name, **builder_kwargs(sidecar))
    load_weights(model, folder)
    model.spec = spec
    weight_set = weight_set_sha256(sidecar.get("shards") or {})[:12]
    return Trained(model.eval(), spec, training.get("recipe_resolved"), f"exported weights {_shown(folder)}, weight set {weight_set}", training)


def _shown(folder: Path) -> str:
    """The folder relative to the working directory where it lies below it: cards must not carry a machine's paths."""
    try:
        return str(Path(folder).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)


def load_trained(path: Path | str, model_name: str | None = None) -> Trained:
    """Network + spec + recipe from a run folder or an exported weights folder."""
    folder = Path(path)
    if (folder / BEST).is_file():
        return _from_run(folder, model_name)
    if folder.is_dir():
        return _from_export(folder, model_name)
    raise FileNotFoundError(f"{folder}: neither a run folder (with {BEST}) nor an exported weights folder")
