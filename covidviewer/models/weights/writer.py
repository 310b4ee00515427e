"""Writing a weight set: safetensors shards of at most ``shard_mib`` MiB, their index, and the
sidecar (spec, every shard's SHA-256 and size, dtype, training summary, metrics, known biases,
date, git commit)."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from covidviewer.model_cards import SIDECAR
from covidviewer.models.spec import ModelSpec
from covidviewer.models.weights.format import FORMAT, FORMAT_VERSION, INDEX, SHARD_RE, STORED_DTYPES, file_sha256
from covidviewer.models.weights.storage import stored_tensors


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

    dtype_name = next((k for k, v in STORED_DTYPES.items() if v == dtype), None)
    if dtype_name is None:
        raise ValueError(f"dtype must be one of {list(STORED_DTYPES)}, got {dtype}")
    model_spec = getattr(model, "spec", None)
    if model_spec is not None and model_spec.name != spec.name:
        raise ValueError(f"model is {model_spec.name!r} but the spec given is {spec.name!r}")
    tensors = stored_tensors(model, dtype)
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
        shards[fname] = {"sha256": file_sha256(out / fname), "bytes": (out / fname).stat().st_size}
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
