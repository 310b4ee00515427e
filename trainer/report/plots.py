"""PNG figures for a run: ROC curves, confusion matrix, training curves (matplotlib, Agg backend)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from trainer.metrics import roc_curve


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # headless: never needs a display
    import matplotlib.pyplot as plt

    return plt


def roc_png(y_true: np.ndarray, prob: np.ndarray, classes: Sequence[str], metrics: dict[str, Any], dest: Path) -> Path:
    """One-vs-rest ROC curve per class with its AUC and 95% interval in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=110)
    classes_to_plot = [classes[1]] if len(classes) == 2 else list(classes)
    for name in classes_to_plot:
        i = list(classes).index(name)
        positive = np.asarray(y_true) == i
        if positive.all() or not positive.any():
            continue
        fpr, tpr = roc_curve(positive, prob[:, i])
        auc = metrics["point"].get(f"auc/{name}", float("nan"))
        lo, hi = metrics["ci95"].get(f"auc/{name}", [float("nan")] * 2)
        ax.plot(fpr, tpr, label=f"{name}: AUC {auc:.3f} [{lo:.3f}, {hi:.3f}]")
    labels = ("false positive rate (1 - specificity)", "true positive rate (sensitivity)", f"ROC, one vs rest (n = {len(y_true)})")
    return save_unit_square(plt, fig, ax, labels, "lower right", dest)


def save_unit_square(plt: Any, fig: Any, ax: Any, labels: tuple[str, str, str], legend: str, dest: Path) -> Path:
    """Finish a [0, 1] x [0, 1] plot (ROC, reliability): the diagonal, (x label, y label, title), the
    legend, and save it to ``dest``."""
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(labels[2])
    if ax.get_legend_handles_labels()[1]:  # a split of one class draws no curve, so nothing to name
        ax.legend(loc=legend, fontsize=8)
    else:
        ax.text(0.5, 0.5, "no curve: these films hold one class only", ha="center", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(dest)
    plt.close(fig)
    return dest


def confusion_png(matrix: Sequence[Sequence[int]], classes: Sequence[str], dest: Path) -> Path:
    """Counts with row-normalised shading (rows = true class)."""
    plt = _pyplot()
    cm = np.asarray(matrix, dtype=float)
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2.5, 1.1 * len(classes) + 2), dpi=110)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for r in range(len(classes)):
        for c in range(len(classes)):
            ax.text(c, r, f"{int(cm[r, c])}\n{share[r, c]:.0%}", ha="center", va="center", color="white" if share[r, c] > 0.6 else "black", fontsize=8)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(dest)
    plt.close(fig)
    return dest


def curves_png(history: Sequence[dict[str, Any]], metric: str, dest: Path) -> Path:
    """Train / validation loss and metric per epoch."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=110)
    for ax, key in zip(axes, ("loss", metric)):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(dest)
    plt.close(fig)
    return dest
