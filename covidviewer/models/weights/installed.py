"""A registered model's installed weights: where they live, whether they are trained, withdrawn or
invalid, their set hash, and the verified trained model.

Composites (``spec.parts``, e.g. cascade_semenet) have no folder of their own: each part
attribute is loaded from its registered model's folder, and the composite counts as trained only
when every part is.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from covidviewer.model_cards import SIDECAR, weight_set_sha256, weights_root
from covidviewer.models.registry import create_model, get_spec
from covidviewer.models.spec import ModelSpec
from covidviewer.models.weights.format import PICKLE_REFUSED, SHARD_RE, WeightsError, pickle_offered
from covidviewer.models.weights.reader import (
    builder_kwargs, check_files, check_header_shapes, check_spec, load_weights, read_sidecar,
)


def weights_dir_for(spec: ModelSpec) -> Path:
    """The folder a registered model's trained weights are installed in (may not exist)."""
    if not spec.weights:
        parts = spec.parts
        hint = f"; its weights are its parts': {', '.join(parts.values())}" if parts else ""
        raise WeightsError(f"{spec.name} has no weights folder of its own{hint}")
    folder = Path(spec.weights)
    if folder.is_absolute() or len(folder.parts) != 1 or folder.name in ("", ".", ".."):
        raise WeightsError(f"{spec.name}: weights folder {spec.weights!r} must be a plain folder name")
    return weights_root() / folder


def weights_status(name: str, *, verify: bool = False) -> str:
    """"trained", "missing", "withdrawn: reason" or "invalid: reason" for a registered model's
    installed weights.

    Checks the sidecar, the spec, shard sizes, and tensor names and shapes (read from the shard
    headers against the model built on the meta device); ``verify=True`` also hashes every shard.
    A composite is trained when all its parts are. A set whose card says ``"withdrawn"`` (it failed
    the shortcut audit: the app must not offer its answers) stays on disk for the trainer to
    audit or fine-tune from, but the app does not run it.
    """
    spec = get_spec(name)
    parts = spec.parts
    if parts:
        statuses = {part: weights_status(part, verify=verify) for part in parts.values()}
        bad = [f"{part}: {s}" for part, s in statuses.items() if s.startswith("invalid")]
        if bad:
            return f"invalid: {'; '.join(bad)}"
        withdrawn = [f"{part}: {s[len('withdrawn: '):]}" for part, s in statuses.items() if s.startswith("withdrawn")]
        if withdrawn:
            return f"withdrawn: {'; '.join(withdrawn)}"
        return "trained" if all(s == "trained" for s in statuses.values()) else "missing"
    try:
        wdir = weights_dir_for(spec)
    except WeightsError as exc:
        return f"invalid: {exc}"
    if not (wdir / SIDECAR).exists():
        pickled = pickle_offered(wdir)
        if pickled is not None:
            return f"invalid: {pickled}: {PICKLE_REFUSED}"
        has_shards = wdir.is_dir() and any(SHARD_RE.match(p.name) for p in wdir.iterdir())
        return f"invalid: {wdir}: shards without a {SIDECAR} sidecar" if has_shards else "missing"
    try:
        sidecar = read_sidecar(wdir)
        check_spec(sidecar, spec, wdir)
        weight_map = check_files(wdir, sidecar, verify_hashes=verify)
        check_header_shapes(wdir, weight_map, _shape_model(name, builder_kwargs(sidecar)).state_dict())
    except WeightsError as exc:
        return f"invalid: {exc}"
    if sidecar.get("withdrawn"):
        return f"withdrawn: {sidecar['withdrawn']}"
    return "trained"


def _shape_model(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """The model with real shapes but no storage (meta device); CPU if a builder cannot do meta."""
    try:
        with torch.device("meta"):
            return create_model(name, **kwargs)
    except (RuntimeError, NotImplementedError, TypeError):
        return create_model(name, **kwargs)


def weights_sha256(weights_dir: str | Path) -> str:
    """One hash for a whole weight set: SHA-256 over the sorted "shard-name shard-sha256" lines."""
    return weight_set_sha256(read_sidecar(weights_dir)["shards"])


def installed_weights_sha256(name: str) -> str | None:
    """``weights_sha256`` of a registered model's installed set (composites: over their parts); None if missing."""
    spec = get_spec(name)
    parts = spec.parts
    try:
        if parts:
            lines = "\n".join(f"{part} {weights_sha256(weights_dir_for(get_spec(part)))}" for part in sorted(parts.values()))
            return hashlib.sha256(lines.encode("utf-8")).hexdigest()
        return weights_sha256(weights_dir_for(spec))
    except WeightsError:
        return None


def load_trained_model(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """``create_model`` + verified installed weights, in eval mode; WeightsError if not trained."""
    spec = get_spec(name)
    parts = spec.parts
    model = create_model(name, **installed_builder_kwargs(name))
    if parts:
        for attr, part in parts.items():
            _load_installed(getattr(model, attr), get_spec(part), owner=name)
    else:
        _load_installed(model, spec)
    return model.to(device).eval()


def installed_builder_kwargs(name: str) -> dict[str, Any]:
    """The builder kwargs the installed set of a registered model was trained with (its card's); none where there is
    no card (loading then says why) or for a composite (its parts are built by its own builder)."""
    spec = get_spec(name)
    if spec.parts:
        return {}
    try:
        return builder_kwargs(read_sidecar(weights_dir_for(spec)))
    except WeightsError:
        return {}


def _load_installed(model: nn.Module, spec: ModelSpec, owner: str | None = None) -> None:
    wdir = weights_dir_for(spec)
    pickled = pickle_offered(wdir)
    if pickled is not None:
        raise WeightsError(f"{pickled}: {PICKLE_REFUSED}")
    if not (wdir / SIDECAR).is_file():
        part_of = f" (part of {owner})" if owner else ""
        raise WeightsError(
            f"no trained weights for {spec.name}{part_of} in {wdir}; train with: python -m trainer fit {spec.name} --data ..."
        )
    load_weights(model, wdir)
    # Feed the model as it was trained: a run may have changed the input size (recorded deviation).
    model.spec = with_registered_centres(ModelSpec.from_dict(read_sidecar(wdir)["spec"]), spec)


def with_registered_centres(card_spec: ModelSpec, registered: ModelSpec) -> ModelSpec:
    """``card_spec`` with the registered spec's declared cell centres for CAM layers its card declares none for.
    Where a layer's cells sit is the architecture's, not the training's, so a card written before they were
    declared gets them (the first map then skips the probe); centres on the card win."""
    missing = {layer: centres for layer, centres in registered.explain.cell_centres.items()
               if layer in card_spec.explain.cam_layers and layer not in card_spec.explain.cell_centres}
    if not missing:
        return card_spec
    explain = replace(card_spec.explain, cell_centres={**card_spec.explain.cell_centres, **missing})
    return replace(card_spec, explain=explain)
