"""The "which source is this?" linear probe: how well a logistic regression on frozen features tells
the data sources apart, out of fold, with whole patients held out (numpy only, deterministic).

An L2 logistic regression (``C`` as in scikit-learn) on standardised features, fitted by damped
Newton steps in the span of the training rows: with an L2 penalty the optimum lies in that span, so
projecting onto the training fold's singular vectors (at most ``MAX_COMPONENTS``) loses nothing
when there are fewer rows than that, and keeps the Hessian small for 2,688-wide DPN features.
More than two sources: one-vs-rest, macro AUC. AUC 0.5 = the features carry no source; 1.0 = they
name it. Lower is better.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from trainer.metrics import BOOTSTRAP_SEED, roc_auc

MIN_PATIENTS_PER_SOURCE = 5  # fewer and the probe's folds cannot hold each source out fairly
FOLDS = 5
C = 1.0
MAX_COMPONENTS = 256


def _sigmoid(s: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * s))  # overflow-free


def fit_logistic(z: np.ndarray, y: np.ndarray, c: float = C, iterations: int = 50) -> np.ndarray:
    """Weights (r + 1,) (last = unpenalised bias) minimising log-loss + ||w||^2 / (2c)."""
    n, r = z.shape
    z1 = np.c_[z, np.ones(n)]
    reg = np.r_[np.full(r, 1.0 / c), 0.0]
    w = np.zeros(r + 1)

    def objective(v: np.ndarray) -> float:
        s = z1 @ v
        return float(np.sum(np.logaddexp(0.0, s) - y * s) + 0.5 * np.sum(reg * v * v))

    current = objective(w)
    for _ in range(iterations):
        p = _sigmoid(z1 @ w)
        grad = z1.T @ (p - y) + reg * w
        hess = (z1 * (p * (1 - p))[:, None]).T @ z1 + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        scale, trial = 1.0, objective(w - step)
        while trial > current and scale > 1e-4:  # backtracking: plain Newton can overshoot
            scale *= 0.5
            trial = objective(w - scale * step)
        if trial > current:
            break
        w, previous, current = w - scale * step, current, trial
        if previous - current < 1e-10 * max(1.0, abs(previous)):
            break
    return w


def _project(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise on the training fold and rotate both onto its leading singular vectors."""
    mean, std = train.mean(0), train.std(0)
    std[std < 1e-12] = 1.0
    a, b = (train - mean) / std, (test - mean) / std
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    keep = vt[: min(int((s > 1e-8 * max(s[0], 1e-30)).sum()), MAX_COMPONENTS)]
    return a @ keep.T, b @ keep.T


def _folds(sources: np.ndarray, patients: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold per row: each source's patients shuffled and dealt round-robin (patient-grouped, source-stratified)."""
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    for source in np.unique(sources):
        ids = sorted(set(patients[sources == source]) - set(fold_of))
        for position, i in enumerate(rng.permutation(len(ids))):
            fold_of[ids[i]] = position % k
    return np.array([fold_of[p] for p in patients])


def source_probe(
    features: np.ndarray,
    sources: Sequence[str],
    patients: Sequence[str],
    min_patients: int = MIN_PATIENTS_PER_SOURCE,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Out-of-fold source AUC of a linear probe: {"auc", "per_source_auc", "sources", ...} or {"skipped": why}.

    Sources with fewer than ``min_patients`` patients are left out (listed under "left_out").
    """
    x = np.asarray(features, float)
    src, pat = np.asarray(sources, str), np.asarray(patients, str)
    names, counts = np.unique(src, return_counts=True)
    n_patients = {str(s): len(set(pat[src == s])) for s in names}
    left_out = {s: n for s, n in n_patients.items() if n < min_patients}
    kept = [s for s in n_patients if s not in left_out]
    out: dict[str, Any] = {"images": {str(s): int(c) for s, c in zip(names, counts)}, "patients": n_patients}
    if left_out:
        out["left_out"] = left_out
    if len(kept) < 2:
        out["skipped"] = (
            f"needs two sources with at least {min_patients} patients each; has "
            + (", ".join(f"{s} {n}" for s, n in n_patients.items()) or "none")
        )
        return out
    use = np.isin(src, kept)
    x, src, pat = x[use], src[use], pat[use]
    k = min(FOLDS, min(n_patients[s] for s in kept))
    fold = _folds(src, pat, k, seed)
    targets = [kept[1]] if len(kept) == 2 else kept  # two sources: one classifier suffices
    scores = np.zeros((len(src), len(targets)))
    for f in range(k):
        train, test = fold != f, fold == f
        z_train, z_test = _project(x[train], x[test])
        for j, name in enumerate(targets):
            w = fit_logistic(z_train, (src[train] == name).astype(float))
            scores[test, j] = z_test @ w[:-1] + w[-1]
    per_source = {name: roc_auc(src == name, scores[:, j]) for j, name in enumerate(targets)}
    out.update(
        auc=float(np.mean(list(per_source.values()))),
        per_source_auc=per_source if len(kept) > 2 else {},
        folds=k,
        method=f"L2 logistic regression (C={C:g}) on standardised features, {k}-fold patient-grouped cross-validation"
        + (", one-vs-rest macro AUC" if len(kept) > 2 else ""),
    )
    return out
