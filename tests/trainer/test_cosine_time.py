"""``scheduler = "cosine_time"``: a run that a time limit stops has annealed when it stops."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from trainer.config import load_recipe
from trainer.optim import build_scheduler


def _optimizer(lr: float = 1e-3) -> torch.optim.Optimizer:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _lrs(train: dict, epochs: int, clock: list[float], seconds_per_epoch: float) -> list[float]:
    optimizer = _optimizer(train["lr"])
    scheduler = build_scheduler(optimizer, train, epochs, lambda: clock[0])
    out = []
    for _ in range(epochs):
        clock[0] += seconds_per_epoch
        optimizer.step()
        scheduler.step()
        out.append(optimizer.param_groups[0]["lr"])
    return out


def test_without_a_time_limit_it_is_torchs_cosine() -> None:
    train = {"lr": 1e-3, "eta_min": 1e-6, "time_limit_minutes": 0.0}
    ours = _lrs({**train, "scheduler": "cosine_time"}, 8, [0.0], 10.0)
    theirs = _lrs({**train, "scheduler": "cosine"}, 8, [0.0], 10.0)
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_the_time_limit_ends_the_decay_when_it_comes_before_the_last_epoch() -> None:
    # 80 epochs asked for, 4 minutes allowed, 6 s an epoch: the limit comes after 40 epochs
    train = {"scheduler": "cosine_time", "lr": 3e-4, "eta_min": 1e-6, "time_limit_minutes": 4.0}
    lrs = _lrs(train, 80, [0.0], 6.0)
    assert lrs[19] == pytest.approx(1e-6 + (3e-4 - 1e-6) * (1 + math.cos(math.pi * 0.5)) / 2)
    assert lrs[39] == pytest.approx(1e-6)  # where the time limit stops the run
    plain = _lrs({**train, "scheduler": "cosine"}, 80, [0.0], 6.0)
    assert plain[39] > 1e-4  # what the plain cosine left session 14's DPN-SENet with


def test_its_state_resumes_the_decay_where_it_was() -> None:
    train = {"scheduler": "cosine_time", "lr": 1e-3, "eta_min": 0.0, "time_limit_minutes": 1.0}
    clock = [0.0]
    optimizer = _optimizer()
    scheduler = build_scheduler(optimizer, train, 10, lambda: clock[0])
    for _ in range(3):
        clock[0] += 10.0
        scheduler.step()
    again = build_scheduler(_optimizer(), train, 10, lambda: clock[0])
    again.load_state_dict(scheduler.state_dict())
    clock[0] += 10.0
    scheduler.step()
    again.step()
    assert again.optimizer.param_groups[0]["lr"] == pytest.approx(optimizer.param_groups[0]["lr"])
    assert again.epochs_done == 4


def test_a_run_stopped_by_its_time_limit_ends_with_its_rate_decayed(lungseg_csv, tmp_path: Path) -> None:
    from trainer.run import fit

    overrides = ["size=32", "model_kwargs.base_channels=4", "train.batch_size=2", "train.max_steps_per_epoch=1",
                 "train.scheduler=cosine_time", "train.time_limit_minutes=1e-6"]
    recipe = load_recipe("lung_unet", overrides=overrides, epochs=5)
    summary = fit("lung_unet", lungseg_csv(n=8), tmp_path / "run", recipe, device="cpu", progress=False, n_boot=10)
    assert summary["epochs_run"] == 1
    assert summary["history"][-1]["lr"] == pytest.approx(float(recipe["train"]["eta_min"]))
