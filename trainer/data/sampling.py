"""Balanced draws for a training epoch: every class equally often, every (label, source) fairly, or every class
equally often with its adult AP and PA films weighing alike.

Used by ``trainer.engine.epoch_indices`` when the recipe's ``data.balanced_sampling`` asks for it.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import torch

from covidviewer.io.view_position import AP, PA


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
    if mode == "label_view":
        return _label_view_weights(dataset)
    if mode in (True, "label"):
        targets = torch.as_tensor(dataset.targets())
        counts = torch.bincount(targets).float()
        return (1.0 / counts.clamp_min(1))[targets]
    raise ValueError(f"data.balanced_sampling must be false, true, 'label', 'source_label' or 'label_view', not {mode!r}")


def view_stratum(row: Any) -> str:
    """What "label_view" balances: an adult film's view (AP or PA); children's films and films of no known view apart."""
    if row.age_group == "child":
        return "child"
    return row.view if row.view in (AP, PA) else "unknown"


def _label_view_weights(dataset: Any) -> torch.Tensor:
    """Every label equally often; within a label that holds adult AP and PA films, those films' share of the label is
    split evenly between the two views, so that a portable (AP) film's look does not tell one label from another
    (half the COVID-19 films are AP, a sixth of RSNA's normals). Children's and unknown-view films keep their share."""
    keys = [(dataset.row(i).label, view_stratum(dataset.row(i))) for i in range(len(dataset))]
    count = Counter(keys)
    per_label = Counter(label for label, _ in keys)
    weights = []
    for label, stratum in keys:
        both = count[(label, AP)] > 0 and count[(label, PA)] > 0
        if stratum in (AP, PA) and both:
            mass = (count[(label, AP)] + count[(label, PA)]) / per_label[label] / 2
        else:
            mass = count[(label, stratum)] / per_label[label]
        weights.append(mass / count[(label, stratum)] / len(per_label))
    return torch.tensor(weights, dtype=torch.float64)
