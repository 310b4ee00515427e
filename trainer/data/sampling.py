"""Balanced draws for a training epoch: every class equally often, or every (label, source) fairly, or every
(label, source, view) fairly.

Used by ``trainer.engine.epoch_indices`` when the recipe's ``data.balanced_sampling`` asks for it.
"""
from __future__ import annotations

from typing import Any

import torch


def sampling_weights(dataset: Any, mode: Any) -> torch.Tensor:
    """Per-item draw weights: every class equally often (``True`` / "label"), or "source_label":
    every label equally often and, within a label, each source in proportion to the square root of
    its size, so a big hospital does not define what a class looks like and a small one still counts.
    "source_label_view" draws as "source_label", then within a (label, source) each view (AP, PA, unknown) equally
    often: half the COVID-19 films are portable (AP) and few adult normals are, so a network can learn "portable,
    so COVID-19"; this shows it the few AP normals a source has as often as its PA ones."""
    if mode in ("source_label", "source_label_view"):
        strata = dataset.strata()
        views = dataset.views() if mode == "source_label_view" else [""] * len(strata)
        per_label: dict[str, dict[str, int]] = {}
        per_view: dict[tuple[str, str], dict[str, int]] = {}
        for (label, source), view in zip(strata, views):
            per_label.setdefault(label, {}).setdefault(source, 0)
            per_label[label][source] += 1
            per_view.setdefault((label, source), {}).setdefault(view, 0)
            per_view[(label, source)][view] += 1
        weights = []
        for (label, source), view in zip(strata, views):
            sources = per_label[label]
            share = sources[source] ** 0.5 / sum(n**0.5 for n in sources.values())
            in_source = per_view[(label, source)]
            weights.append(share / len(in_source) / in_source[view] / len(per_label))
        return torch.tensor(weights, dtype=torch.float64)
    if mode in (True, "label"):
        targets = torch.as_tensor(dataset.targets())
        counts = torch.bincount(targets).float()
        return (1.0 / counts.clamp_min(1))[targets]
    raise ValueError(f"data.balanced_sampling must be false, true, 'label', 'source_label' or 'source_label_view', not {mode!r}")
