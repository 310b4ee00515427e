"""Weights on disk: safetensors shards + index + a JSON sidecar (never pickle).

A weights folder (``resources/weights/<spec.weights>/``, or ``$COVIDVIEWER_WEIGHTS_DIR/<spec.weights>``)::

    model-00001-of-00003.safetensors ...   shards of at most ``shard_mib`` MiB (a single tensor
                                           bigger than that gets a shard of its own)
    model.safetensors.index.json           {"metadata": {"total_size": n}, "weight_map": {tensor: shard}}
    model.json                             sidecar: ModelSpec, SHA-256 + size of every shard, dtype,
                                           training summary, metrics, known biases, date, git commit

The state dict is saved whole, BatchNorm running statistics included. Floating tensors are stored
in ``dtype`` (fp16 by default) and cast back to the model's dtype (fp32) on load; integer buffers
keep their type. ``dtype=torch.int8`` stores every weight matrix / kernel (2-D or more, at least
``INT8_MIN_NUMEL`` values) as int8 with one fp32 scale per output channel (``<name>.__scale__``,
symmetric, max-abs / 127) and the rest in fp16: half the size of fp16, which is what lets a
retrained large network be shipped again (the repository's history holds every weight set).
The exported card's metrics are always measured on the stored weights, so they include the
rounding. Loading checks the sidecar format and spec, every shard's size and SHA-256, and
every tensor's name, shape and finiteness, and raises ``WeightsError`` naming the file, the tensor,
and what was expected vs found.

Composites (``spec.extra["parts"]``, e.g. cascade_semenet) have no folder of their own: each part
attribute is loaded from its registered model's folder, and the composite counts as trained only
when every part is. ``save_weights``/``load_weights`` themselves work on any module, so a composite
can still be saved as one set into an explicit folder.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from covidviewer.models.quantize import INT8_MIN_NUMEL, SCALE_SUFFIX, dequantize_int8, quantize_int8
from covidviewer.models.registry import create_model, get_spec
from covidviewer.models.spec import ModelSpec
from covidviewer.model_cards import SIDECAR, WEIGHTS_ENV, weight_set_sha256, weights_root

FORMAT = "covidviewer-weights"
FORMAT_VERSION = 1
INDEX = "model.safetensors.index.json"
SHARD_RE = re.compile(r"^model-(\d{5})-of-(\d{5})\.safetensors$")
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "int8": torch.int8}


class WeightsError(RuntimeError):
    """A weights folder is missing, incomplete, corrupted or does not fit the model."""


# torch.save / pickle files: loading one runs whatever code it holds, so they are refused by name.
PICKLE_SUFFIXES = {".pth", ".pt", ".ckpt", ".pkl", ".pickle", ".bin"}
PICKLE_REFUSED = "pickle checkpoints are not loaded (a weights file must not run code); export with python -m trainer export"


def _pickle_offered(path: Path) -> Path | None:
    """The pickle checkpoint offered as weights: ``path`` itself, or one inside a folder without a sidecar."""
    if path.suffix.lower() in PICKLE_SUFFIXES and not path.is_dir():
        return path
    if path.is_dir() and not (path / SIDECAR).exists():
        return next((p for p in sorted(path.iterdir()) if p.suffix.lower() in PICKLE_SUFFIXES), None)
    return None


# --------------------------------------------------------------------------- locations
def weights_dir_for(spec: ModelSpec) -> Path:
    """The folder a registered model's trained weights are installed in (may not exist)."""
    if not spec.weights:
        parts = spec.extra.get("parts")
        hint = f"; its weights are its parts': {', '.join(parts.values())}" if parts else ""
        raise WeightsError(f"{spec.name} has no weights folder of its own{hint}")
    folder = Path(spec.weights)
    if folder.is_absolute() or len(folder.parts) != 1 or folder.name in ("", ".", ".."):
        raise WeightsError(f"{spec.name}: weights folder {spec.weights!r} must be a plain folder name")
    return weights_root() / folder


# --------------------------------------------------------------------------- save
def save_weights(
    model: nn.Module,
    spec: ModelSpec,
    out_dir: str | Path,
    *,
    training: dict[str, Any],
    metrics: dict[str, Any],
    dtype: torch.dtype = torch.float16,
    shard_mib: float = 15,
    known_biases: Sequence[str] = (),
) -> Path:
    """Write ``model``'s state dict as safetensors shards + index + sidecar into ``out_dir``.

    Only this format's own files in ``out_dir`` are replaced. Raises ValueError when a tensor is
    not finite or overflows ``dtype`` (save in float32 then).
    """
    from safetensors.torch import save_file

    dtype_name = next((k for k, v in _DTYPES.items() if v == dtype), None)
    if dtype_name is None:
        raise ValueError(f"dtype must be one of {list(_DTYPES)}, got {dtype}")
    model_spec = getattr(model, "spec", None)
    if model_spec is not None and model_spec.name != spec.name:
        raise ValueError(f"model is {model_spec.name!r} but the spec given is {spec.name!r}")
    tensors = _stored_tensors(model, dtype)
    limit = int(shard_mib * 2**20)
    groups = _plan_shards(tensors, limit)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_previous(out)
    shards: dict[str, dict[str, Any]] = {}
    weight_map: dict[str, str] = {}
    for i, names in enumerate(groups, start=1):
        fname = f"model-{i:05d}-of-{len(groups):05d}.safetensors"
        save_file({n: tensors[n] for n in names}, str(out / fname), metadata={"format": "pt"})
        shards[fname] = {"sha256": _file_sha256(out / fname), "bytes": (out / fname).stat().st_size}
        weight_map.update({n: fname for n in names})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    _write_json(out / INDEX, {"metadata": {"total_size": total}, "weight_map": weight_map})
    commit, dirty = _git_state()
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": spec.to_dict(),
        "dtype": dtype_name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tensors": len(tensors),
        "index": INDEX,
        "shards": shards,
        "training": training,
        "metrics": metrics,
        "known_biases": list(known_biases),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit,
        "git_dirty": dirty,
        "torch_version": torch.__version__,
    }
    _write_json(out / SIDECAR, sidecar)
    return out


def _stored_tensors(model: nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """State dict (parameters and buffers) on CPU, floats cast to ``dtype``, each with its own storage."""
    out: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        t = t.detach().cpu()
        if t.is_floating_point() and dtype == torch.int8:
            if not torch.isfinite(t).all():
                raise ValueError(f"tensor {name} contains NaN or inf: refusing to save it")
            if t.dim() >= 2 and t.numel() >= INT8_MIN_NUMEL:
                t, out[name + SCALE_SUFFIX] = quantize_int8(t)
            else:
                t = t.to(torch.float16)
        elif t.is_floating_point():
            stored = t.to(dtype)
            if not torch.isfinite(stored).all():  # one pass; find out why only when it fails
                if not torch.isfinite(t).all():
                    raise ValueError(f"tensor {name} contains NaN or inf: refusing to save it")
                raise ValueError(f"tensor {name} overflows {dtype}: save with dtype=torch.float32")
            t = stored
        out[name] = t.contiguous().clone()  # safetensors refuses shared storage (tied weights, views)
    return out


def _plan_shards(tensors: dict[str, torch.Tensor], limit: int) -> list[list[str]]:
    """Greedy in state-dict order: a new shard when the next tensor (+ header) would pass ``limit``."""
    groups: list[list[str]] = [[]]
    size = 1024  # header length field, metadata, padding
    for name, t in tensors.items():
        need = t.numel() * t.element_size() + len(name) + 96 + 12 * t.dim()  # data + its JSON header entry
        if groups[-1] and size + need > limit:
            groups.append([])
            size = 1024
        groups[-1].append(name)
        size += need
    return groups


def _remove_previous(out: Path) -> None:
    """Delete an earlier weight set's files (only ours) so no stale shard survives."""
    for p in out.iterdir():
        if p.is_file() and (SHARD_RE.match(p.name) or p.name in (INDEX, SIDECAR)):
            p.unlink()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the source tree, or (None, None) outside a git checkout (frozen app)."""
    cwd = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


# --------------------------------------------------------------------------- checks
def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sidecar(weights_dir: str | Path) -> dict[str, Any]:
    """The parsed ``model.json`` of a weights folder; WeightsError if absent or not this format."""
    pickled = _pickle_offered(Path(weights_dir))
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
    if data.get("dtype") not in _DTYPES or not isinstance(data.get("shards"), dict) or not data["shards"]:
        raise WeightsError(f"{path}: sidecar lists no shards or an unknown dtype")
    return data


def _check_spec(sidecar: dict[str, Any], spec: ModelSpec | None, where: Path) -> None:
    """The weights must be for this model: same name, version and class order."""
    if spec is None:
        return
    saved = sidecar.get("spec", {})
    for key, want in (("name", spec.name), ("version", spec.version), ("classes", list(spec.classes))):
        if saved.get(key) != want:
            raise WeightsError(f"{where / SIDECAR}: weights are for {key} {saved.get(key)!r}, the model has {want!r}")


def _check_files(weights_dir: Path, sidecar: dict[str, Any], verify_hashes: bool) -> dict[str, str]:
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
        if verify_hashes and _file_sha256(path) != info.get("sha256"):
            raise WeightsError(f"{path}: SHA-256 mismatch (file corrupted or replaced)")
    try:
        weight_map = json.loads((weights_dir / INDEX).read_text(encoding="utf-8"))["weight_map"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise WeightsError(f"{weights_dir / INDEX}: missing or unreadable index: {exc}") from None
    strays = {f for f in weight_map.values() if f not in shards}
    if strays:
        raise WeightsError(f"{weights_dir / INDEX}: maps tensors to files not in the sidecar: {sorted(strays)}")
    return weight_map


def _check_names(weight_map: dict[str, str], expected: dict[str, torch.Tensor], where: Path) -> None:
    missing = [n for n in expected if n not in weight_map]
    unexpected = [n for n in weight_map if n not in expected and not (n.endswith(SCALE_SUFFIX) and n[: -len(SCALE_SUFFIX)] in expected)]
    if missing:
        raise WeightsError(f"{where / INDEX}: missing tensor(s) {_few(missing)} that the model needs")
    if unexpected:
        raise WeightsError(f"{where / INDEX}: tensor(s) {_few(unexpected)} that the model does not have")


def _few(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


# --------------------------------------------------------------------------- load
def load_weights(model: nn.Module, weights_dir: str | Path, *, device: str | torch.device = "cpu") -> nn.Module:
    """Verify and load a weights folder into ``model`` (cast to the model's dtypes), move it to ``device``.

    Raises WeightsError, and leaves the model untouched, when anything does not match.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    wdir = Path(weights_dir)
    sidecar = read_sidecar(wdir)
    _check_spec(sidecar, getattr(model, "spec", None), wdir)
    weight_map = _check_files(wdir, sidecar, verify_hashes=False)
    expected = model.state_dict()
    _check_names(weight_map, expected, wdir)
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
            raise WeightsError(f"{path}: tensors differ from the index (absent: {_few(absent)}; unlisted: {_few(extra)})")
        loaded.update(tensors)
    for name, want in expected.items():  # model order: the first bad tensor is reported
        path = wdir / weight_map[name]
        t = _dequantized(loaded, name, path)
        if tuple(t.shape) != tuple(want.shape):
            raise WeightsError(f"{path}: tensor {name}: expected shape {tuple(want.shape)}, found {tuple(t.shape)}")
        if t.is_floating_point() != want.is_floating_point():
            raise WeightsError(f"{path}: tensor {name}: expected dtype {want.dtype}, found {t.dtype}")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise WeightsError(f"{path}: tensor {name} contains NaN or inf")
        state[name] = t.to(want.dtype)
    model.load_state_dict(state, strict=True)
    return model.to(device)


def _dequantized(tensors: dict[str, torch.Tensor], name: str, path: Path) -> torch.Tensor:
    """A stored tensor as floats: int8 with its ``.__scale__`` is dequantized, anything else as is."""
    t = tensors[name]
    scale = tensors.get(name + SCALE_SUFFIX)
    if scale is None:
        return t
    if t.dtype != torch.int8 or scale.shape != (t.shape[0],):
        raise WeightsError(f"{path}: tensor {name}: a scale needs int8 values and one scale per output channel")
    return dequantize_int8(t, scale)


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
    parts: dict[str, str] | None = spec.extra.get("parts")
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
        pickled = _pickle_offered(wdir)
        if pickled is not None:
            return f"invalid: {pickled}: {PICKLE_REFUSED}"
        has_shards = wdir.is_dir() and any(SHARD_RE.match(p.name) for p in wdir.iterdir())
        return f"invalid: {wdir}: shards without a {SIDECAR} sidecar" if has_shards else "missing"
    try:
        sidecar = read_sidecar(wdir)
        _check_spec(sidecar, spec, wdir)
        weight_map = _check_files(wdir, sidecar, verify_hashes=verify)
        _check_header_shapes(wdir, weight_map, _shape_model(name).state_dict())
    except WeightsError as exc:
        return f"invalid: {exc}"
    if sidecar.get("withdrawn"):
        return f"withdrawn: {sidecar['withdrawn']}"
    return "trained"


def _shape_model(name: str) -> nn.Module:
    """The model with real shapes but no storage (meta device); CPU if a builder cannot do meta."""
    try:
        with torch.device("meta"):
            return create_model(name)
    except (RuntimeError, NotImplementedError, TypeError):
        return create_model(name)


def _check_header_shapes(wdir: Path, weight_map: dict[str, str], expected: dict[str, torch.Tensor]) -> None:
    """Names and shapes from the safetensors headers only (no tensor data is read)."""
    from safetensors import SafetensorError, safe_open

    _check_names(weight_map, expected, wdir)
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


def weights_sha256(weights_dir: str | Path) -> str:
    """One hash for a whole weight set: SHA-256 over the sorted "shard-name shard-sha256" lines."""
    return weight_set_sha256(read_sidecar(weights_dir)["shards"])


def installed_weights_sha256(name: str) -> str | None:
    """``weights_sha256`` of a registered model's installed set (composites: over their parts); None if missing."""
    spec = get_spec(name)
    parts: dict[str, str] | None = spec.extra.get("parts")
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
    model = create_model(name)
    parts: dict[str, str] | None = spec.extra.get("parts")
    if parts:
        for attr, part in parts.items():
            _load_installed(getattr(model, attr), get_spec(part), owner=name)
    else:
        _load_installed(model, spec)
    return model.to(device).eval()


def _load_installed(model: nn.Module, spec: ModelSpec, owner: str | None = None) -> None:
    wdir = weights_dir_for(spec)
    pickled = _pickle_offered(wdir)
    if pickled is not None:
        raise WeightsError(f"{pickled}: {PICKLE_REFUSED}")
    if not (wdir / SIDECAR).is_file():
        part_of = f" (part of {owner})" if owner else ""
        raise WeightsError(
            f"no trained weights for {spec.name}{part_of} in {wdir}; train with: python -m trainer fit {spec.name} --data ..."
        )
    load_weights(model, wdir)
    # Feed the model as it was trained: a run may have changed the input size (recorded deviation).
    model.spec = ModelSpec.from_dict(read_sidecar(wdir)["spec"])
