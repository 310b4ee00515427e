"""Optimizers and learning-rate schedules named in the recipes (all torch's own).

Schedules step once per epoch:
- ``cosine``: CosineAnnealingLR from ``lr`` (or ``eta_max`` when set) down to ``eta_min`` over the
  stage's epochs (SEME stage 2: 0.1 -> 1e-8; lung U-Net: Adam lr -> 0).
- ``cosine_restarts``: CosineAnnealingWarmRestarts with period ``cosine_period`` epochs (DResUNet: 10).
- ``step``: StepLR, x ``gamma`` every ``step_size`` epochs (DARNet: x0.1 every 30).
- ``none``: constant.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch


def build_optimizer(params: Iterable[torch.nn.Parameter], train: dict[str, Any]) -> torch.optim.Optimizer:
    name = str(train["optimizer"]).lower()
    lr = float(train["eta_max"]) if float(train.get("eta_max", 0.0)) > 0 else float(train["lr"])
    wd = float(train.get("weight_decay", 0.0))
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(train.get("momentum", 0.0)), nesterov=bool(train.get("nesterov", False)), weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    raise ValueError(f"train.optimizer must be sgd, adam or adamw, not {name!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, train: dict[str, Any], stage_epochs: int) -> Any:
    name = str(train.get("scheduler", "none")).lower()
    if name == "none":
        return None
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, stage_epochs), eta_min=float(train.get("eta_min", 0.0)))
    if name == "cosine_restarts":
        period = int(train.get("cosine_period", 0)) or max(1, stage_epochs)
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=period, eta_min=float(train.get("eta_min", 0.0)))
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=int(train.get("step_size", 30)), gamma=float(train.get("gamma", 0.1)))
    raise ValueError(f"train.scheduler must be none, cosine, cosine_restarts or step, not {name!r}")
