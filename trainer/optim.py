"""Optimizers and learning-rate schedules named in the recipes (all torch's own).

Schedules step once per epoch:
- ``cosine``: CosineAnnealingLR from ``lr`` (or ``eta_max`` when set) down to ``eta_min`` over the
  stage's epochs (SEME stage 2: 0.1 -> 1e-8; lung U-Net: Adam lr -> 0).
- ``cosine_time``: the same cosine, ending at ``eta_min`` when the stage's epochs OR the run's
  ``time_limit_minutes`` of training run out, whichever comes first (``CosineWithinTime``).
- ``cosine_restarts``: CosineAnnealingWarmRestarts with period ``cosine_period`` epochs (DResUNet: 10).
- ``step``: StepLR, x ``gamma`` every ``step_size`` epochs (DARNet: x0.1 every 30).
- ``none``: constant.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

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


def build_scheduler(optimizer: torch.optim.Optimizer, train: dict[str, Any], stage_epochs: int,
                    seconds_trained: Callable[[], float] = lambda: 0.0) -> Any:
    """``seconds_trained``: the run's training seconds so far, read by ``cosine_time`` at each step."""
    name = str(train.get("scheduler", "none")).lower()
    if name == "none":
        return None
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, stage_epochs), eta_min=float(train.get("eta_min", 0.0)))
    if name == "cosine_time":
        limit_s = 60.0 * float(train.get("time_limit_minutes") or 0.0)
        return CosineWithinTime(optimizer, stage_epochs, float(train.get("eta_min", 0.0)), limit_s, seconds_trained)
    if name == "cosine_restarts":
        period = int(train.get("cosine_period", 0)) or max(1, stage_epochs)
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=period, eta_min=float(train.get("eta_min", 0.0)))
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=int(train.get("step_size", 30)), gamma=float(train.get("gamma", 0.1)))
    raise ValueError(f"train.scheduler must be none, cosine, cosine_time, cosine_restarts or step, not {name!r}")


class CosineWithinTime:
    """Cosine decay from each group's starting lr to ``eta_min``, stepped once per epoch, at the progress
    ``max(epochs done / epochs, seconds trained / limit_s)``.

    Why: a lent GPU's ``time_limit_minutes`` ends a run after however many epochs fit, and a plain cosine
    over the recipe's epochs is then cut off at a high learning rate (session 14's DPN-SENet stopped after
    38 of 80 epochs, its rate still half the peak). With this schedule the run is annealed when it stops,
    however fast the machine is. ``limit_s`` 0: the plain cosine over the epochs.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, epochs: int, eta_min: float, limit_s: float,
                 seconds_trained: Callable[[], float]):
        self.optimizer = optimizer
        self.epochs = max(1, int(epochs))
        self.eta_min = float(eta_min)
        self.limit_s = float(limit_s)
        self.seconds_trained = seconds_trained
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self.epochs_done = 0
        self.progress = 0.0

    def step(self) -> None:
        self.epochs_done += 1
        progress = self.epochs_done / self.epochs
        if self.limit_s > 0:
            progress = max(progress, self.seconds_trained() / self.limit_s)
        self.progress = min(progress, 1.0)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.eta_min + (base - self.eta_min) * (1.0 + math.cos(math.pi * self.progress)) / 2.0

    def state_dict(self) -> dict[str, Any]:
        return {"epochs_done": self.epochs_done, "progress": self.progress, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epochs_done, self.progress = int(state["epochs_done"]), float(state["progress"])
        self.base_lrs = [float(lr) for lr in state["base_lrs"]]
