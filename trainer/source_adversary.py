"""Adversarial removal of source information *within* a class (issue 12).

Every adult normal film here comes from one hospital system and no COVID-19 film does, so the source
is confounded with the class: a plain domain-adversarial head ("which hospital?") would also erase the
disease. This head asks "which source?" only among films of the same label (normal from Kermany vs NIH
vs RSNA; COVID-19 from ieee8023 vs Figure1): one linear read-out per label, on the penultimate features
the classifier reads (the features the audit's source probe reads).

The game is a *confusion* loss (Tzeng et al. 2015; Alvi et al. 2018), not gradient reversal (Ganin et al.
2016): the head learns the source on detached features, and the network is trained, with the head held
fixed, to make the head's answer uniform (cross-entropy against 1/S for every source). Reversing the
head's gradient asks the network to make the head *wrong*, which it can do by moving the source signal
rather than removing it: on a two-input toy (one input the label, one the source; four seeds) the source
made 0.04-0.19 of a plain classifier's features, 0.37-0.69 under gradient reversal and 0.01-0.07 under
the confusion loss (tests/trainer/test_source_adversary.py).

Recipe switch: ``[method] source_adversary = 0.1`` (the confusion term's weight; 0 = off); labels with
fewer than two sources of at least ``source_adversary_min_rows`` training rows each are left out.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class SourceAdversary(nn.Module):
    """A "which source, given the label?" head on the penultimate features, and the confusion term against it.

    groups: {label: [source, ...]} of the labels it reads (two or more sources each).
    """

    def __init__(self, feature_dim: int, groups: dict[str, list[str]], scale: float):
        super().__init__()
        if not groups:
            raise ValueError("source_adversary: no label has two sources with enough training rows to tell apart")
        self.groups = {label: list(sources) for label, sources in sorted(groups.items())}
        self.scale = float(scale)
        self.heads = nn.ModuleDict({_key(label): nn.Linear(feature_dim, len(sources)) for label, sources in self.groups.items()})

    @classmethod
    def from_rows(cls, rows: Sequence[Any], feature_dim: int, scale: float, min_rows: int = 10) -> "SourceAdversary":
        """Groups from the training rows (``label``, ``source``): labels with two or more sources of ``min_rows``+ rows."""
        counts = Counter((row.label, row.source) for row in rows if row.source)
        groups: dict[str, list[str]] = {}
        for (label, source), n in sorted(counts.items()):
            if n >= min_rows:
                groups.setdefault(label, []).append(source)
        return cls(feature_dim, {label: sources for label, sources in groups.items() if len(sources) >= 2}, scale)

    def describe(self) -> str:
        parts = [f"{label}: {' / '.join(sources)}" for label, sources in self.groups.items()]
        return f"within-label source adversary (confusion loss x{self.scale:g}) on {'; '.join(parts)}"

    def forward(self, features: torch.Tensor, labels: Sequence[str], sources: Sequence[str]) -> dict[str, torch.Tensor]:
        """The head's cross-entropy (on detached features: it trains the head only) plus ``scale`` x the confusion
        term (the head's weights detached: it trains the network only), averaged over the rows it reads, and
        the head's accuracy. ``features`` (B, F): the classifier's input. Rows of a label or source not in
        ``groups`` add nothing."""
        features = features.float()
        losses, hits, n = [], 0.0, 0
        for label, sources_of_label in self.groups.items():
            rows = [i for i, (lab, src) in enumerate(zip(labels, sources)) if lab == label and src in sources_of_label]
            if not rows:
                continue
            head = self.heads[_key(label)]
            target = torch.tensor([sources_of_label.index(sources[i]) for i in rows], device=features.device)
            learn = head(features[rows].detach())
            fooled = F.linear(features[rows], head.weight.detach(), head.bias.detach())
            confusion = -F.log_softmax(fooled, dim=1).mean(dim=1)  # cross-entropy against the uniform answer
            losses.append(F.cross_entropy(learn, target, reduction="sum") + self.scale * confusion.sum())
            hits += float((learn.detach().argmax(1) == target).sum())
            n += len(rows)
        if not n:
            zero = features.sum() * 0.0  # keeps the graph (DDP expects every parameter used) without a signal
            return {"loss": zero + sum(p.sum() * 0.0 for p in self.parameters()), "accuracy": torch.tensor(float("nan")), "rows": torch.tensor(0)}
        return {"loss": torch.stack(losses).sum() / n, "accuracy": torch.tensor(hits / n), "rows": torch.tensor(n)}


def _key(label: str) -> str:
    """ModuleDict keys may not hold dots."""
    return label.replace(".", "_")


class ClassifierInput:
    """Context manager: the input of ``model``'s classifier layer during one forward (``.features``).

    Only the layer's first call is kept: a guided-attention (GAIN) forward runs the classifier again
    on the image with its attended region erased, and the source is asked of the film as it is.
    """

    def __init__(self, model: nn.Module, classifier: str):
        self.layer = model.get_submodule(classifier)
        self.features: torch.Tensor | None = None

    def __enter__(self) -> "ClassifierInput":
        self._hook = self.layer.register_forward_pre_hook(self._keep)
        return self

    @property
    def feature_dim(self) -> int:
        """Width of the classifier's input (a Linear's in_features, a 1x1 Conv's in_channels)."""
        return int(getattr(self.layer, "in_features", 0) or getattr(self.layer, "in_channels"))

    def _keep(self, _module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if self.features is not None:
            return
        x = args[0]
        self.features = x.flatten(2).mean(2) if x.dim() > 2 else x  # a 1x1 Conv head: its cells' mean

    def __exit__(self, *exc: Any) -> None:
        self._hook.remove()
