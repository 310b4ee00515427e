"""Evaluation metrics with 95% bootstrap intervals (numpy only, deterministic for a fixed seed).

Classification: accuracy, per-class precision / recall (sensitivity) / F1 / specificity, one-vs-rest
and macro AUC, confusion matrix, and COVID-vs-rest sensitivity / specificity as the papers report
them. Segmentation: per-image IoU and Dice, mean with intervals. Intervals resample *patients*
(cluster bootstrap) when patient ids are given, since images of one patient are not independent.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Sequence

import numpy as np

N_BOOTSTRAP = 1000
BOOTSTRAP_SEED = 20200311  # fixed: `trainer evaluate` must reproduce the exported figures exactly


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows = true class, columns = predicted class."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count 1/2); nan if one class only."""
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    sorted_scores = np.asarray(score, float)[order]
    ranks = np.empty(len(score), dtype=float)
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0) to (1, 1)."""
    positive = np.asarray(positive, bool)
    order = np.argsort(-np.asarray(score, float), kind="mergesort")
    s, p = np.asarray(score, float)[order], positive[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps, fps = np.cumsum(p)[distinct], np.cumsum(~p)[distinct]
    tpr = np.r_[0.0, tps / max(p.sum(), 1)]
    fpr = np.r_[0.0, fps / max((~p).sum(), 1)]
    return fpr, tpr


def covid_class(classes: Sequence[str]) -> int | None:
    """Index of the COVID-19 class ("COVID-19", "covid"; not "non-COVID"), or None."""
    for i, name in enumerate(classes):
        if re.sub(r"[^a-z0-9]", "", name.lower()).startswith("covid"):
            return i
    return None


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def point_metrics(y_true: np.ndarray, prob: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Flat dict of scalar metrics for one sample of predictions (what the bootstrap resamples)."""
    k = len(classes)
    y_pred = prob.argmax(1)
    cm = confusion_matrix(y_true, y_pred, k)
    n = cm.sum()
    out: dict[str, float] = {"accuracy": _safe_div(np.trace(cm), n)}
    aucs = []
    for i, name in enumerate(classes):
        tp = cm[i, i]
        fn = cm[i].sum() - tp
        fp = cm[:, i].sum() - tp
        tn = n - tp - fn - fp
        precision, recall = _safe_div(tp, tp + fp), _safe_div(tp, tp + fn)
        out[f"precision/{name}"] = precision
        out[f"recall/{name}"] = recall
        out[f"specificity/{name}"] = _safe_div(tn, tn + fp)
        out[f"f1/{name}"] = _safe_div(2 * precision * recall, precision + recall) if tp else (0.0 if tp + fp + fn else float("nan"))
        auc = roc_auc(y_true == i, prob[:, i])
        out[f"auc/{name}"] = auc
        aucs.append(auc)
    if k == 2:
        out["macro_auc"] = out[f"auc/{classes[1]}"]  # both one-vs-rest AUCs are equal for two classes
    else:
        out["macro_auc"] = float(np.mean(aucs)) if not np.isnan(aucs).any() else float("nan")
    out["macro_f1"] = float(np.mean([out[f"f1/{c}"] for c in classes]))
    c = covid_class(classes)
    if c is not None:
        out["covid_sensitivity"] = out[f"recall/{classes[c]}"]
        out["covid_specificity"] = out[f"specificity/{classes[c]}"]
    return out


def bootstrap_intervals(
    statistic: Callable[[np.ndarray], dict[str, float]],
    n_items: int,
    groups: Sequence[str] | None,
    n_boot: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, list[float]]:
    """95% percentile intervals of every key of ``statistic(indices)`` over ``n_boot`` resamples.

    groups: cluster id per item (patient); whole clusters are resampled when given.
    """
    rng = np.random.default_rng(seed)
    if groups is not None:
        group_ids, inverse = np.unique(np.asarray(groups), return_inverse=True)
        members = [np.nonzero(inverse == g)[0] for g in range(len(group_ids))]
    samples: dict[str, list[float]] = {}
    for _ in range(n_boot):
        if groups is not None:
            picked = rng.integers(0, len(members), len(members))
            idx = np.concatenate([members[g] for g in picked])
        else:
            idx = rng.integers(0, n_items, n_items)
        for key, value in statistic(idx).items():
            samples.setdefault(key, []).append(value)
    out = {}
    for key, values in samples.items():
        arr = np.asarray(values, float)
        arr = arr[~np.isnan(arr)]
        out[key] = [float(np.percentile(arr, 2.5)), float(np.percentile(arr, 97.5))] if len(arr) else [float("nan")] * 2
    return out


def point_and_intervals(statistic: Callable[[np.ndarray], dict[str, float]], n_items: int, groups: Sequence[str],
                        n_boot: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """{"point": statistic over every item, "ci95": its patient-bootstrap intervals}, keys that are nan on the
    whole set left out (e.g. no AUC for a class absent here)."""
    point = statistic(np.arange(n_items))
    ci = bootstrap_intervals(statistic, n_items, list(groups), n_boot, seed)
    defined = [k for k, v in point.items() if not math.isnan(v)]
    return {"point": {k: point[k] for k in defined}, "ci95": {k: ci[k] for k in defined if k in ci}}


def classification_metrics(
    y_true: Sequence[int],
    prob: np.ndarray,
    classes: Sequence[str],
    patient_ids: Sequence[str] | None = None,
    n_boot: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Metrics dict for metrics.json: ``point``, ``ci95``, ``confusion_matrix``, counts.

    prob: (N, K) class probabilities (a binary single-logit model passes [1 - p, p]).
    """
    y = np.asarray(y_true, int)
    prob = np.asarray(prob, float)
    if prob.ndim != 2 or prob.shape != (len(y), len(classes)):
        raise ValueError(f"prob shape {prob.shape} does not match {len(y)} labels x {len(classes)} classes")
    point = point_metrics(y, prob, classes)
    ci = bootstrap_intervals(lambda idx: point_metrics(y[idx], prob[idx], classes), len(y), patient_ids, n_boot, seed)
    return {
        "task": "classification",
        "classes": list(classes),
        "n_images": int(len(y)),
        "n_patients": int(len(set(patient_ids))) if patient_ids is not None else None,
        "support": {c: int((y == i).sum()) for i, c in enumerate(classes)},
        "point": point,
        "ci95": ci,
        "confusion_matrix": confusion_matrix(y, prob.argmax(1), len(classes)).tolist(),
        "bootstrap": {"resamples": n_boot, "seed": seed, "unit": "patient" if patient_ids is not None else "image"},
    }


def overlap_scores(pred: np.ndarray, target: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    """(IoU, Dice) of two binary masks over the valid pixels; both empty counts as a perfect 1."""
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    if valid is not None:
        valid = np.asarray(valid, bool)
        pred, target = pred & valid, target & valid
    inter = float(np.logical_and(pred, target).sum())
    union = float(np.logical_or(pred, target).sum())
    total = float(pred.sum() + target.sum())
    if union == 0:
        return 1.0, 1.0
    return inter / union, 2 * inter / total


def segmentation_metrics(
    ious: Sequence[float],
    dices: Sequence[float],
    patient_ids: Sequence[str] | None = None,
    n_boot: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Mean IoU / Dice over images with 95% cluster-bootstrap intervals."""
    iou, dice = np.asarray(ious, float), np.asarray(dices, float)

    def stat(idx: np.ndarray) -> dict[str, float]:
        return {"mean_iou": float(iou[idx].mean()), "mean_dice": float(dice[idx].mean())}

    return {
        "task": "segmentation",
        "n_images": int(len(iou)),
        "n_patients": int(len(set(patient_ids))) if patient_ids is not None else None,
        "point": stat(np.arange(len(iou))),
        "ci95": bootstrap_intervals(stat, len(iou), patient_ids, n_boot, seed),
        "per_image": {"iou": iou.round(6).tolist(), "dice": dice.round(6).tolist()},
        "bootstrap": {"resamples": n_boot, "seed": seed, "unit": "patient" if patient_ids is not None else "image"},
    }


def headline(metrics: dict[str, Any]) -> str:
    """One line for logs: the main figures with intervals."""
    keys = ["mean_iou", "mean_dice"] if metrics["task"] == "segmentation" else ["accuracy", "macro_auc", "covid_sensitivity", "covid_specificity"]
    parts = []
    for key in keys:
        if key in metrics["point"]:
            lo, hi = metrics["ci95"].get(key, [float("nan")] * 2)
            parts.append(f"{key} {metrics['point'][key]:.3f} [{lo:.3f}, {hi:.3f}]")
    return ", ".join(parts)
