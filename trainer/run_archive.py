"""A run folder as one small archive, to move a run between machines (a lent GPU and this one).

    python -m trainer pack-run runs/NAME --out NAME.tar     # on the machine that trained it
    python -m trainer unpack-run NAME.tar --out runs/NAME   # where it is exported and audited

The archive holds the run's JSON and text files and its best checkpoint's network in the app's int8
storage (covidviewer.models.weights.storage: int8 kernels with per-channel scales, the rest fp16),
the exact values ``trainer export --store int8`` would write: int8 quantisation of a dequantised
kernel gives the same int8 values, so an export of the unpacked run is the export the training
machine would have made. Optimizer state, ``last.pt`` and plots stay behind, so a DResUNet run
fits in 7 MB instead of 75 (a device returns at most 16 MiB a file). An unpacked run cannot be
resumed (no optimizer state); it can be exported, evaluated and audited.
"""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import torch

from trainer.checkpoint import BEST, save_checkpoint

#: the network of best.pt inside the archive (safetensors, app storage)
NETWORK = "best_network.int8.safetensors"
#: small text files of a run folder worth keeping (recipe, summary, history, metrics, logs)
KEPT_SUFFIXES = (".json", ".jsonl", ".csv", ".txt", ".log")


def pack_run(run_dir: Path | str, archive: Path | str) -> Path:
    """Write ``archive`` (an uncompressed tar): the run's text files and best.pt's network as int8."""
    from safetensors.torch import save

    from covidviewer.models.weights.storage import stored_tensors
    from trainer.trained import load_trained

    run_dir, archive = Path(run_dir), Path(archive)
    if not (run_dir / BEST).is_file():
        raise FileNotFoundError(f"{run_dir} has no {BEST}: no epoch of that run finished (see its log)")
    trained = load_trained(run_dir)  # also works for a run stopped before its final evaluation
    tensors = stored_tensors(trained.model, torch.int8)
    with tarfile.open(archive, "w") as tar:
        for path in sorted(run_dir.rglob("*")):
            if path.is_file() and path.suffix in KEPT_SUFFIXES:
                tar.add(path, arcname=str(path.relative_to(run_dir)))
        _add_bytes(tar, NETWORK, save(tensors))
    return archive


def unpack_run(archive: Path | str, run_dir: Path | str) -> Path:
    """Recreate a run folder from ``pack_run``'s archive: its files and a best.pt of the dequantised network."""
    from safetensors.torch import load

    from covidviewer.models.quantize import SCALE_SUFFIX
    from covidviewer.models.weights.storage import dequantized

    archive, run_dir = Path(archive), Path(run_dir)
    if (run_dir / BEST).exists():
        raise FileExistsError(f"{run_dir} already holds a run ({BEST}); unpack into a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        if NETWORK not in names:
            raise ValueError(f"{archive}: not a packed run (no {NETWORK})")
        for member in members:
            target = (run_dir / member.name).resolve()
            if not member.isfile() or run_dir.resolve() not in target.parents:
                raise ValueError(f"{archive}: refusing member {member.name!r} (not a plain file inside the run)")
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == NETWORK:
                tensors = load(data)
                state = {name: _as_float(dequantized(tensors, name, archive))
                         for name in tensors if not name.endswith(SCALE_SUFFIX)}
                save_checkpoint(run_dir / BEST, {"model": state, "unpacked_from": archive.name})
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
    json.loads((run_dir / "recipe.json").read_text())  # fail here, not at export, on a broken archive
    return run_dir


def _as_float(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.is_floating_point() else t


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
