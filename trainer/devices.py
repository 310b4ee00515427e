"""Where a training or evaluation process runs: the device, torch's CPU threads, torchrun's process group, and the
autocast dtype (with the CPU check that keeps bf16 off where torch only emulates it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class DistInfo:
    """Where this process runs: rank / world size, device, and whether DDP is active."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    ddp: bool = False
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch sees no CUDA GPU")
    return torch.device(name)


def set_threads(n: int | None) -> None:
    """torch's CPU threads for a command's ``--threads`` (None or 0: torch's own default)."""
    if n:
        torch.set_num_threads(n)


def setup_distributed(device_name: str = "auto") -> DistInfo:
    """Join torchrun's process group when ``WORLD_SIZE`` > 1 (NCCL on GPUs, Gloo on CPU).

    A process group the caller already initialised is used as it is (and left open).
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    already = dist.is_available() and dist.is_initialized()
    if world <= 1 and not already:
        return DistInfo(device=pick_device(device_name))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    if not already:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(
        rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank, device=device, ddp=True, owns_group=not already
    )


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: "auto" = bf16 (or fp16) on CUDA, off on CPU; "bf16" also works on CPU."""
    setting = str(setting).lower()
    if setting in ("off", "none", "false", "fp32"):
        return None
    if setting == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if setting == "bf16":
        return torch.bfloat16
    if setting == "fp16":
        if device.type != "cuda":
            raise ValueError("fp16 autocast needs CUDA; use train.amp=bf16 on CPU")
        return torch.float16
    raise ValueError(f"train.amp must be auto, off, bf16 or fp16, not {setting!r}")


def cpu_has_native_bf16() -> bool | None:
    """True/False from the CPU flags (avx512_bf16 / amx_bf16) on Linux; None where unknown.

    Without them (e.g. an AVX2-only EPYC) torch emulates bf16 and a bf16-autocast conv runs 10-30x
    slower than fp32 (measured here: U-Net train step 2.1 s fp32 vs 32 s bf16).
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return "avx512_bf16" in flags or "amx_bf16" in flags
