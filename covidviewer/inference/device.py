"""Compute device choice: CUDA -> MPS -> CPU unless overridden, and CUDA out-of-memory detection."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_device(preference: str | None = "auto") -> tuple["torch.device", list[str]]:
    """(device, warnings). ``auto``: CUDA if present, else Apple MPS, else CPU.

    Asking for a device that is not present falls back to CPU with a warning instead of failing,
    so a saved preference from another machine still works.
    """
    import torch

    pref = (preference or "auto").lower()
    if pref.startswith("cuda"):
        if torch.cuda.is_available():
            return torch.device(pref), []
        return torch.device("cpu"), [f"{pref} requested but no CUDA GPU is available; using the CPU"]
    if pref == "mps":
        if _mps_available():
            return torch.device("mps"), []
        return torch.device("cpu"), ["mps requested but Apple Metal is not available; using the CPU"]
    if pref == "cpu":
        return torch.device("cpu"), []
    if pref != "auto":
        raise ValueError(f"unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if torch.cuda.is_available():
        return torch.device("cuda"), []
    if _mps_available():
        return torch.device("mps"), []
    return torch.device("cpu"), []


def is_out_of_memory(error: BaseException) -> bool:
    """True for a CUDA (or MPS) out-of-memory error, whichever way torch raised it."""
    import torch

    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def release_accelerator_memory(device: "torch.device") -> None:
    """Give cached blocks back after an OOM so the CPU retry (and the next model) starts clean."""
    import torch

    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device.type == "mps" and _mps_available():
        torch.mps.empty_cache()
