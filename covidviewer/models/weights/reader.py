"""Reading a weight set back: the sidecar, then every check before a tensor reaches the model
(format and spec, shard set, sizes and SHA-256, index, tensor names, shapes, dtypes and finiteness).
Every failure is a WeightsError naming the file, the tensor, and what was expected vs found."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from covidviewer.model_cards import SIDECAR
from covidviewer.models.quantize import SCALE_SUFFIX
from covidviewer.models.spec import ModelSpec
from covidviewer.models.weights.format import (
    FORMAT,
    FORMAT_VERSION,
    INDEX,
    PICKLE_REFUSED,
    SHARD_RE,
    STORED_DTYPES,
    WeightsError,
    few_names,
    file_sha256,
    pickle_offered,
)
from covidviewer.models.weights.storage import dequantized


def read_sidecar(weights_dir: str | Path) -> dict[str, Any]:
    """The parsed ``model.json`` of a weights folder; WeightsError if absent or not this format."""
    pickled = pickle_offered(Path(weights_dir))
    if pickled is not None:
        raise WeightsError(f"{pickled}: {PICKLE_REFUSED}")
    path = Path(weights_dir) / SIDECAR
    if not path.is_file():
        raise WeightsError(f"{path}: sidecar missing (not a weights folder)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: unreadable sidecar: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise WeightsError(f"{path}: not a {FORMAT} sidecar")
    if data.get("format_version") != FORMAT_VERSION:
        raise WeightsError(f"{path}: format version {data.get('format_version')!r}, this app reads {FORMAT_VERSION}")
    if data.get("dtype") not in STORED_DTYPES or not isinstance(data.get("shards"), dict) or not data["shards"]:
        raise WeightsError(f"{path}: sidecar lists no shards or an unknown dtype")
    return data


def builder_kwargs(sidecar: dict[str, Any]) -> dict[str, Any]:
    """The builder kwargs the weights were trained with (the card's ``training.model_kwargs``, lists as tuples): the
    architecture travels with the weights, so a set trained with, say, ``members=5`` loads as it was trained."""
    kwargs = (sidecar.get("training") or {}).get("model_kwargs") or {}
    return {key: tuple(value) if isinstance(value, list) else value for key, value in kwargs.items()}


def check_spec(sidecar: dict[str, Any], spec: ModelSpec | None, where: Path) -> None:
    """The weights must be for this model: same name, version and class order."""
    if spec is None:
        return
    saved = sidecar.get("spec", {})
    for key, want in (("name", spec.name), ("version", spec.version), ("classes", list(spec.classes))):
        if saved.get(key) != want:
            raise WeightsError(f"{where / SIDECAR}: weights are for {key} {saved.get(key)!r}, the model has {want!r}")


def check_files(weights_dir: Path, sidecar: dict[str, Any], verify_hashes: bool) -> dict[str, str]:
    """Shard set complete, sizes (and hashes) as recorded, index consistent; returns the weight map."""
    shards: dict[str, Any] = sidecar["shards"]
    for fname in shards:
        if not SHARD_RE.match(fname):
            raise WeightsError(f"{weights_dir / SIDECAR}: unexpected shard name {fname!r}")
    on_disk = {p.name for p in weights_dir.iterdir() if SHARD_RE.match(p.name)}
    if on_disk - set(shards):
        raise WeightsError(f"{weights_dir}: shard files not in the sidecar: {sorted(on_disk - set(shards))}")
    for fname, info in shards.items():
        path = weights_dir / fname
        if not path.is_file():
            raise WeightsError(f"{path}: shard missing")
        if path.stat().st_size != info.get("bytes"):
            raise WeightsError(f"{path}: size {path.stat().st_size} bytes, sidecar says {info.get('bytes')}")
        if verify_hashes and file_sha256(path) != info.get("sha256"):
            raise WeightsError(f"{path}: SHA-256 mismatch (file corrupted or replaced)")
    try:
        weight_map = json.loads((weights_dir / INDEX).read_text(encoding="utf-8"))["weight_map"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise WeightsError(f"{weights_dir / INDEX}: missing or unreadable index: {exc}") from None
    strays = {f for f in weight_map.values() if f not in shards}
    if strays:
        raise WeightsError(f"{weights_dir / INDEX}: maps tensors to files not in the sidecar: {sorted(strays)}")
    return weight_map


def check_names(weight_map: dict[str, str], expected: dict[str, torch.Tensor], where: Path) -> None:
    """The index holds exactly the model's tensors (plus the int8 scales of its kernels)."""
    missing = [n for n in expected if n not in weight_map]
    unexpected = [n for n in weight_map if n not in expected and not (n.endswith(SCALE_SUFFIX) and n[: -len(SCALE_SUFFIX)] in expected)]
    if missing:
        raise WeightsError(f"{where / INDEX}: missing tensor(s) {few_names(missing)} that the model needs")
    if unexpected:
        raise WeightsError(f"{where / INDEX}: tensor(s) {few_names(unexpected)} that the model does not have")


def check_header_shapes(wdir: Path, weight_map: dict[str, str], expected: dict[str, torch.Tensor]) -> None:
    """Names and shapes from the safetensors headers only (no tensor data is read)."""
    from safetensors import SafetensorError, safe_open

    check_names(weight_map, expected, wdir)
    order = {n: i for i, n in enumerate(expected)}
    for fname in sorted(set(weight_map.values())):
        path = wdir / fname
        try:
            with safe_open(str(path), framework="pt") as f:
                for name in sorted(f.keys(), key=lambda n: order.get(n, len(order))):  # model order
                    if weight_map.get(name) != fname:
                        raise WeightsError(f"{path}: tensor {name} is not indexed to this file")
                    shape = tuple(f.get_slice(name).get_shape())
                    if name.endswith(SCALE_SUFFIX) and name not in expected:
                        base = name[: -len(SCALE_SUFFIX)]
                        if shape != tuple(expected[base].shape[:1]):
                            raise WeightsError(f"{path}: tensor {name}: expected {expected[base].shape[0]} scales, found {shape}")
                        continue
                    if shape != tuple(expected[name].shape):
                        raise WeightsError(f"{path}: tensor {name}: expected shape {tuple(expected[name].shape)}, found {shape}")
        except (SafetensorError, OSError) as exc:
            raise WeightsError(f"{path}: not a valid safetensors file: {exc}") from None


def load_weights(model: nn.Module, weights_dir: str | Path, *, device: str | torch.device = "cpu") -> nn.Module:
    """Verify and load a weights folder into ``model`` (cast to the model's dtypes), move it to ``device``.

    Raises WeightsError, and leaves the model untouched, when anything does not match.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    wdir = Path(weights_dir)
    sidecar = read_sidecar(wdir)
    check_spec(sidecar, getattr(model, "spec", None), wdir)
    weight_map = check_files(wdir, sidecar, verify_hashes=False)
    expected = model.state_dict()
    check_names(weight_map, expected, wdir)
    state: dict[str, torch.Tensor] = {}
    loaded: dict[str, torch.Tensor] = {}
    for fname, info in sidecar["shards"].items():
        path = wdir / fname
        data = path.read_bytes()  # hash and parse the same bytes: nothing can change in between
        if hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise WeightsError(f"{path}: SHA-256 mismatch (file corrupted or replaced)")
        try:
            tensors = load_safetensors(data)
        except (SafetensorError, ValueError) as exc:
            raise WeightsError(f"{path}: not a valid safetensors file: {exc}") from None
        listed = {n for n, f in weight_map.items() if f == fname}
        if set(tensors) != listed:
            absent, extra = sorted(listed - set(tensors)), sorted(set(tensors) - listed)
            raise WeightsError(f"{path}: tensors differ from the index (absent: {few_names(absent)}; unlisted: {few_names(extra)})")
        loaded.update(tensors)
    for name, want in expected.items():  # model order: the first bad tensor is reported
        path = wdir / weight_map[name]
        t = dequantized(loaded, name, path)
        if tuple(t.shape) != tuple(want.shape):
            raise WeightsError(f"{path}: tensor {name}: expected shape {tuple(want.shape)}, found {tuple(t.shape)}")
        if t.is_floating_point() != want.is_floating_point():
            raise WeightsError(f"{path}: tensor {name}: expected dtype {want.dtype}, found {t.dtype}")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise WeightsError(f"{path}: tensor {name} contains NaN or inf")
        state[name] = t.to(want.dtype)
    model.load_state_dict(state, strict=True)
    return model.to(device)
