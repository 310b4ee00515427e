"""Re-fit a classifier's last layer on frozen penultimate features so it cannot read the source.

Two published ideas, both cheap enough for a 2-core CPU because the network is run once:
- Deep feature reweighting (Kirichenko, Izmailov, Wilson, ICLR 2023): a network that learnt a
  shortcut still has the disease in its features; a last layer re-fitted with every (label, source)
  group weighted equally uses it instead of the shortcut.
- Within-class source erasure (in the spirit of INLP, Ravfogel et al. 2020): the span of the
  differences between each source's mean and its class mean is projected out. After that, ANY
  linear head gives every source of a class the same mean score, so "which hospital" cannot shift a
  score on the training data. Only within a class: across classes the source is confounded with the
  label, and erasing it there would erase the disease (the issue's warning about plain DANN).

Everything is in the standardised feature space; ``fold_into_linear`` turns (standardise, project,
head) back into one ``nn.Linear`` weight and bias, so the shipped network keeps its architecture,
Grad-CAM and the OOD model (which reads the unchanged penultimate features).

Set-valued targets: a coarse label ("pneumonia, cause unknown") allows several classes; its loss is
``-log(sum of their probabilities)``, as in training.

Chest-erased copies (session 47): with the features of the training films with their chest erased
(trainer.data.chest_erase), the span of each class's mean among those copies less their mean over classes is
projected out too, so that after that ANY linear head gives the erased films of every class the same mean score:
what a film shows around its lungs cannot move the answer from one class to another (trainer.lungs_erased
measures it). Learning the copies as no class (a uniform target, as ``augment.erased_copies`` does in training)
was tried first and changed nothing: under the strong L2 penalty the head keeps, its pull is the weaker.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

#: a group smaller than this gives no source direction and counts as this many rows when balancing
#: (a 3-film group weighted like a 300-film one would be memorised, not learnt from)
MIN_GROUP = 10
#: features are divided by max(std, this x the median std): a channel (nearly) constant on the training
#: films (85 of DPN-SENet's 2,688 have std < 1e-3) would otherwise get a weight 1e5 times the others',
#: swing the score on a film from elsewhere where it is not constant, and flatten int8 storage to zeros
STD_FLOOR = 0.1


@dataclass(frozen=True)
class HeadConfig:
    """One candidate last layer: source erasure on/off, what is balanced, L2 strength (C as in scikit-learn)."""

    erase_sources: bool
    balance: str  # "label": every class weighs the same; "source_label": every (label, source) group does
    c: float
    erased_chest: bool = False  # the chest-erased copies' class means projected out (ErasedChest)

    def describe(self) -> str:
        erase = "within-class source means erased" if self.erase_sources else "no erasure"
        copies = ", chest-erased films' class means erased" if self.erased_chest else ""
        return f"{erase}, balanced by {self.balance.replace('_', ' + ')}, C={self.c:g}{copies}"


@dataclass(frozen=True)
class ErasedChest:
    """Penultimate features of training films with their chest erased, and which training row each one copies."""

    features: np.ndarray  # (M, D)
    rows: np.ndarray  # (M,) index into the training rows

    def of(self, keep: np.ndarray) -> "ErasedChest":
        """The copies of the kept rows, their index renumbered to the kept rows."""
        keep = np.asarray(keep, bool)
        kept = keep[self.rows]
        return ErasedChest(self.features[kept], (np.cumsum(keep) - 1)[self.rows[kept]])


@dataclass(frozen=True)
class FittedHead:
    """logits = weight @ x + bias on RAW penultimate features (standardisation and projection folded in)."""

    weight: np.ndarray  # (K, D)
    bias: np.ndarray  # (K,)
    erased_directions: int

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64) @ self.weight.T + self.bias

    def scaled(self, factor: float) -> "FittedHead":
        """The same ranking and argmax with logits ``factor`` times larger (a temperature of 1 / factor)."""
        return FittedHead(self.weight * factor, self.bias * factor, self.erased_directions)


def source_directions(z: np.ndarray, labels: Sequence[str], sources: Sequence[str], min_group: int = MIN_GROUP) -> np.ndarray:
    """(D, r) orthonormal basis of the within-class source mean differences (r may be 0)."""
    labels_a, sources_a = np.asarray(labels, str), np.asarray(sources, str)
    diffs = []
    for label in np.unique(labels_a):
        in_class = labels_a == label
        groups = [s for s in np.unique(sources_a[in_class]) if np.sum(in_class & (sources_a == s)) >= min_group]
        if len(groups) < 2:
            continue
        kept = in_class & np.isin(sources_a, groups)
        class_mean = z[kept].mean(0)
        diffs += [z[in_class & (sources_a == s)].mean(0) - class_mean for s in groups]
    if not diffs:
        return np.zeros((z.shape[1], 0))
    return _orthonormal(np.stack(diffs, 1))


def sample_weights(labels: Sequence[str], sources: Sequence[str], balance: str, min_group: int = MIN_GROUP) -> np.ndarray:
    """Per-row weights summing to the number of rows: equal total weight per class or per (class, source)."""
    labels_a, sources_a = np.asarray(labels, str), np.asarray(sources, str)
    if balance == "label":
        keys = labels_a
    elif balance == "source_label":
        keys = np.char.add(np.char.add(labels_a, "\x00"), sources_a)
    else:
        raise ValueError(f"balance must be 'label' or 'source_label', not {balance!r}")
    names, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    w = 1.0 / np.maximum(counts, min_group)[inverse]
    if balance == "source_label":  # then every class weighs the same, whatever its number of sources
        for label in np.unique(labels_a):
            w[labels_a == label] /= w[labels_a == label].sum()
    return w * len(w) / w.sum()


def class_directions(z: np.ndarray, labels: Sequence[str], min_group: int = MIN_GROUP) -> np.ndarray:
    """(D, r) orthonormal basis of each class's mean less the mean of the class means (classes of ``min_group`` rows
    or more; r may be 0)."""
    labels_a = np.asarray(labels, str)
    means = [z[labels_a == label].mean(0) for label in np.unique(labels_a) if np.sum(labels_a == label) >= min_group]
    if len(means) < 2:
        return np.zeros((z.shape[1], 0))
    return _orthonormal(np.stack(means, 1) - np.mean(means, 0)[:, None])


def _orthonormal(columns: np.ndarray) -> np.ndarray:
    u, s, _ = np.linalg.svd(columns, full_matrices=False)
    return u[:, s > 1e-8 * max(float(s[0]), 1e-30)] if s.size else u


def fit_head(x: np.ndarray, allowed: np.ndarray, labels: Sequence[str], sources: Sequence[str], config: HeadConfig,
             erased: ErasedChest | None = None) -> FittedHead:
    """Multinomial L2 logistic regression with set-valued targets on standardised features, with the within-class
    source directions (``config.erase_sources``) and the chest-erased copies' class directions (``config.erased_chest``,
    ``class_directions`` of ``erased``) projected out."""
    if config.erased_chest and erased is None:
        raise ValueError("this head erases the chest-erased films' class means: their features are needed")
    x = np.asarray(x, np.float64)
    mean, std = x.mean(0), x.std(0)
    std = np.maximum(std, STD_FLOOR * max(float(np.median(std)), 1e-12))
    z = (x - mean) / std
    basis = source_directions(z, labels, sources) if config.erase_sources else np.zeros((x.shape[1], 0))
    if config.erased_chest and erased is not None and len(erased.rows):
        z_erased = (np.asarray(erased.features, np.float64) - mean) / std
        chest = class_directions(z_erased, np.asarray(labels, str)[erased.rows])
        if chest.shape[1]:
            basis = _orthonormal(np.concatenate([basis, chest], 1))
    if basis.shape[1]:
        z = z - (z @ basis) @ basis.T
    w_std, b = _multinomial(z, np.asarray(allowed, bool), sample_weights(labels, sources, config.balance), config.c)
    if basis.shape[1]:
        w_std = w_std - (w_std @ basis) @ basis.T  # the head of the projected features, as one map
    weight = w_std / std
    return FittedHead(weight, b - weight @ mean, int(basis.shape[1]))


def _multinomial(z: np.ndarray, allowed: np.ndarray, weights: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """argmin sum_i w_i * -log(sum_{k in A_i} softmax(W z_i + b)_k) + ||W||^2 / (2c), by L-BFGS in float64."""
    zt, mask, wt = torch.from_numpy(z), torch.from_numpy(allowed), torch.from_numpy(weights)
    k = allowed.shape[1]
    weight = torch.zeros(k, z.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=500, tolerance_grad=1e-9, tolerance_change=1e-12,
                                  history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        log_p = torch.log_softmax(zt @ weight.T + bias, 1)
        nll = -torch.logsumexp(log_p.masked_fill(~mask, -torch.inf), 1)
        loss = (wt * nll).sum() + (weight * weight).sum() / (2.0 * c)
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach().numpy(), bias.detach().numpy()


def out_of_source_logits(
    x: np.ndarray, allowed: np.ndarray, labels: Sequence[str], sources: Sequence[str], config: HeadConfig,
    min_rows_per_class: int = 5, erased: ErasedChest | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Leave-one-source-out: each row's logits from a head fitted without ANY row of its source.

    A source whose removal would leave a class with fewer than ``min_rows_per_class`` rows cannot be
    held out (its rows get NaN: no head can learn a class from fewer); returns (logits (N, K), the
    sources held out).
    """
    sources_a, labels_a = np.asarray(sources, str), np.asarray(labels, str)
    allowed = np.asarray(allowed, bool)
    out = np.full(allowed.shape, np.nan)
    held = []
    present = allowed.any(0)  # a class no row has (a 4-class model on 2-label data) cannot go missing
    for source in np.unique(sources_a):
        rest = sources_a != source
        if np.any(allowed[rest][:, present].sum(0) < min_rows_per_class):
            continue
        head = fit_head(x[rest], allowed[rest], labels_a[rest], sources_a[rest], config,
                        erased.of(rest) if erased is not None else None)
        out[~rest] = head.logits(x[~rest])
        held.append(str(source))
    return out, held


def fold_into_linear(layer: torch.nn.Linear, head: FittedHead) -> None:
    """Write the fitted head into the network's classifier layer (same shapes, in place)."""
    if tuple(layer.weight.shape) != head.weight.shape:
        raise ValueError(f"classifier is {tuple(layer.weight.shape)}, fitted head {head.weight.shape}")
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(head.weight).to(layer.weight.dtype))
        layer.bias.copy_(torch.from_numpy(head.bias).to(layer.bias.dtype))
