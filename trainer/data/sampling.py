"""Balanced draws for a training epoch: every class equally often, or every (label, source) fairly.

Used by ``trainer.engine.epoch_indices`` when the recipe's ``data.balanced_sampling`` asks for it.
"""
from __future__ import annotations

from typing import Any

import torch


def sampling_weights(dataset: Any, mode: Any) -> torch.Tensor:
    """Per-item draw weights: every class equally often (``True`` / "label"), or "source_label":
    every label equally often and, within a label, each source in proportion to the square root of
    its size, so a big hospital does not define what a class looks like and a small one still counts."""
    if mode == "source_label":
        strata = dataset.strata()
        per_label: dict[str, dict[str, int]] = {}
        for label, source in strata:
            per_label.setdefault(label, {}).setdefault(source, 0)
            per_label[label][source] += 1
        weights = []
        for label, source in strata:
            sources = per_label[label]
            share = sources[source] ** 0.5 / sum(n**0.5 for n in sources.values())
            weights.append(share / sources[source] / len(per_label))
        return torch.tensor(weights, dtype=torch.float64)
    if mode in (True, "label"):
        targets = torch.as_tensor(dataset.targets())
        counts = torch.bincount(targets).float()
        return (1.0 / counts.clamp_min(1))[targets]
    raise ValueError(f"data.balanced_sampling must be false, true, 'label' or 'source_label', not {mode!r}")
