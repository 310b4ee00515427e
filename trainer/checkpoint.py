"""Training checkpoints: ``.pt`` files of plain state dicts, loaded only with ``weights_only=True``.

A checkpoint holds the network, optimizer, scheduler and grad-scaler states, the epoch / stage /
step reached, the running sums of an interrupted epoch, the history, and the RNG states, so a
resumed run continues bit-for-bit where it stopped (the per-epoch sampler order and per-item
augmentation are seeded by epoch and index, see trainer.data.augment). Checkpoints stay in the run
folder (``runs/`` is git-ignored); only ``trainer export`` turns the best one into shipped weights.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

LAST = "last.pt"
BEST = "best.pt"


def rng_state() -> dict[str, Any]:
    """Torch CPU and CUDA generator states (numpy's global RNG is never used while training)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomic save: a Ctrl-C or crash while writing never leaves a half-written checkpoint."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint``; never unpickles code (weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


def model_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """State dict of the bare network (unwrapping DistributedDataParallel / StepModule)."""
    while hasattr(module, "module"):
        module = module.module  # DistributedDataParallel
    if hasattr(module, "model") and isinstance(module.model, torch.nn.Module):
        module = module.model  # StepModule
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
