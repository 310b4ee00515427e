"""Deterministic evaluation of a network on one split: metrics.json, predictions.csv and plots.

Always fp32, eval mode, fixed batch size and fixed bootstrap seed, so ``trainer evaluate`` on the
exported weights reproduces the figures written into the model card. Segmentation is scored on
each image's *original* grid (the prediction is mapped back through the same Grid2D the app uses),
ignoring the mask's ignore label.
"""
from __future__ import annotations

import csv
import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from covidviewer.imaging.preprocess import Grid2D
from covidviewer.models.features import capture_features
from covidviewer.models.memory_format import channels_last_on_cpu
from trainer.data.datasets import SegmentationDataset, split_label_mask
from trainer.metrics import N_BOOTSTRAP, classification_metrics, overlap_scores, segmentation_metrics


#: predictions.csv's last columns where the weights' card has an OOD model
OOD_COLUMNS = ["ood_score", "ood_flag"]


def _loader(dataset: Any, batch_size: int) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, task: Any, dataset: Any, device: torch.device, batch_size: int) -> tuple[torch.Tensor, list[int]]:
    """Logits for every item in dataset order (fp32, eval mode) and the item indices."""
    logits, _, indices = _predict(model, task, dataset, device, batch_size, features=False)
    return logits, indices


@torch.no_grad()
def predict_logits_and_features(model: torch.nn.Module, task: Any, dataset: Any, device: torch.device, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """(logits, penultimate features (N, F), item indices) from one pass over the dataset."""
    logits, features, indices = _predict(model, task, dataset, device, batch_size, features=True)
    return logits, features, indices  # type: ignore[return-value]


@torch.no_grad()
def _predict(model, task, dataset, device, batch_size: int, features: bool) -> tuple[torch.Tensor, torch.Tensor | None, list[int]]:
    model.eval()
    outs, feats, indices = [], [], []
    # channels-last on the CPU, as the app runs (covidviewer.models.memory_format), undone after: an export saves it
    fast = channels_last_on_cpu(model, torch.device(device))
    with fast, capture_features(model) if features else nullcontext() as capture:
        for batch in _loader(dataset, batch_size):
            batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            outs.append(task.predict(model, batch).float().cpu())
            if capture is not None:
                feats.append(capture.take().cpu())
            indices.extend(int(i) for i in batch["index"])
    return torch.cat(outs), (torch.cat(feats) if features else None), indices


def evaluate_classification(model, task, dataset, device, batch_size: int, n_boot: int = N_BOOTSTRAP) -> tuple[dict[str, Any], np.ndarray]:
    """(metrics, probabilities (N, K)) on a ClassificationDataset / VolumeDataset."""
    metrics, prob, _ = _evaluate_classification(model, task, dataset, device, batch_size, n_boot, features=False)
    return metrics, prob


def _evaluate_classification(
    model, task, dataset, device, batch_size: int, n_boot: int, features: bool, keep: dict[str, Any] | None = None
) -> tuple[dict[str, Any], np.ndarray, np.ndarray | None]:
    """(metrics, probabilities (N, K), features (N, F) or None): one pass through the network.

    Rows with a coarse label (a set of classes, e.g. adult pneumonia = bacterial or viral) are left
    out of the per-class metrics, which need one true class; ``coarse_rows`` reports them (how many,
    and the share whose top class is inside their set). keep: receives the pass's logits, features
    and rows, for calibration at export.
    """
    logits, feats, indices = _predict(model, task, dataset, device, batch_size, features)
    prob = task.probabilities(logits).numpy().astype(np.float64)
    rows = [dataset.row(i) for i in indices]
    exact = [k for k, r in enumerate(rows) if len(getattr(r, "targets", ())) <= 1]
    metrics = classification_metrics(
        [rows[k].target for k in exact], prob[exact], tuple(task.spec.classes), [rows[k].patient_id for k in exact], n_boot=n_boot
    )
    coarse = [k for k in range(len(rows)) if k not in set(exact)]
    if coarse:
        inside = [int(prob[k].argmax()) in rows[k].targets for k in coarse]
        metrics["coarse_rows"] = {"n_images": len(coarse), "top_class_in_set": float(np.mean(inside)), "labels": sorted({rows[k].label for k in coarse})}
    if keep is not None:
        keep.update(logits=logits.numpy(), features=None if feats is None else feats.numpy(), rows=rows)
    return metrics, prob, (feats.numpy().astype(np.float64) if feats is not None else None)


def evaluate_segmentation(model, task, dataset: SegmentationDataset, device, batch_size: int, n_boot: int = N_BOOTSTRAP) -> tuple[dict[str, Any], list[float]]:
    """(metrics, per-image IoU) with predictions mapped back onto each original image."""
    logits, indices = predict_logits(model, task, dataset, device, batch_size)
    prob = torch.sigmoid(logits).numpy()
    ious, dices = [], []
    for k, index in enumerate(indices):
        row = dataset.row(index)
        pixels, _ = dataset.cache.get(row.path)
        grid = Grid2D.fit(pixels.shape, tuple(dataset.pp.size), dataset.pp.fit)  # type: ignore[arg-type]
        pred = grid.to_original(prob[k, 0]) > 0.5
        target, valid = split_label_mask(dataset.label_mask(row, pixels.shape), dataset.ignore_value)
        iou, dice = overlap_scores(pred, target > 0.5, valid > 0.5)
        ious.append(iou)
        dices.append(dice)
    rows = [dataset.row(i) for i in indices]
    return segmentation_metrics(ious, dices, [r.patient_id for r in rows], n_boot=n_boot), ious


def evaluate_and_report(model, task, dataset, device, batch_size: int, out_dir: Path | None, n_boot: int = N_BOOTSTRAP) -> dict[str, Any]:
    """Evaluate and, when ``out_dir`` is given, write metrics.json, predictions.csv and PNGs there."""
    return evaluate_with_audit(model, task, dataset, device, batch_size, out_dir, n_boot, audit=False)[0]


def evaluate_with_audit(
    model, task, dataset, device, batch_size: int, out_dir: Path | None, n_boot: int = N_BOOTSTRAP,
    audit: bool = True, threshold: float | None = None, keep: dict[str, Any] | None = None, calibration: Any = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(metrics, shortcut audit or None): ``evaluate_and_report`` plus ``trainer.audit.shortcut_audit``
    on the same single pass (probabilities and penultimate features); audit.json goes beside metrics.json.

    The audit runs for classification only; threshold: an operating point on p(COVID-19), if any.
    calibration: an exported card's (covidviewer.models.calibration.Calibration): the audit then reads its
    temperature-scaled probabilities at its operating threshold, as the card's audit and the app do (the
    metrics stay on the network's own probabilities, which the card's validation figures are).
    """
    report, passed = None, None
    if isinstance(dataset, SegmentationDataset):
        metrics, per_image = evaluate_segmentation(model, task, dataset, device, batch_size, n_boot)
        prob = None
    else:
        passed = keep if keep is not None else ({} if calibration is not None else None)
        metrics, prob, features = _evaluate_classification(model, task, dataset, device, batch_size, n_boot, audit or passed is not None, passed)
        if audit:
            from trainer.audit import shortcut_audit

            rows = [dataset.row(i) for i in range(len(prob))]
            audit_prob = prob
            if calibration is not None:
                audit_prob = calibration.apply_temperature(passed["logits"])
                threshold = calibration.operating_point.threshold if calibration.operating_point is not None else threshold
            report = shortcut_audit(audit_prob, features, tuple(task.spec.classes), rows, threshold, n_boot,
                                    radiographs=task.spec.modality == "CXR")
    if out_dir is None:
        return metrics, report
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if report is not None:
        (out_dir / "audit.json").write_text(json.dumps(report, indent=2, allow_nan=False))
    with open(out_dir / "predictions.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if prob is None:
            writer.writerow(["path", "patient_id", "iou"])
            for row, iou in zip(dataset.rows, per_image):
                writer.writerow([row.path, row.patient_id, f"{iou:.6f}"])
        else:
            classes = list(task.spec.classes)
            ood = _ood_columns(calibration, passed, len(prob))
            writer.writerow(["path", "patient_id", "label", "predicted"] + [f"p_{c}" for c in classes] + (OOD_COLUMNS if ood else []))
            rows = [dataset.row(i) for i in range(len(prob))]
            for k, (row, p) in enumerate(zip(rows, prob)):
                writer.writerow([row.path, row.patient_id, row.label, classes[int(p.argmax())]] + [f"{v:.6f}" for v in p]
                                + (ood[k] if ood else []))
    if prob is not None:
        from trainer.report.plots import confusion_png, roc_png

        exact = [i for i in range(len(prob)) if len(getattr(dataset.row(i), "targets", ())) <= 1]
        targets = np.array([dataset.row(i).target for i in exact])
        roc_png(targets, prob[exact], list(task.spec.classes), metrics, out_dir / "roc.png")
        confusion_png(metrics["confusion_matrix"], list(task.spec.classes), out_dir / "confusion.png")
    return metrics, report


def _ood_columns(calibration: Any, passed: dict[str, Any] | None, n: int) -> list[list[str]] | None:
    """Each image's OOD score and flag under an exported card's OOD model, as the app gives them, for predictions.csv
    (None without one): ``trainer held-out-source`` reads what the flag catches on a source the network never saw."""
    ood = getattr(calibration, "ood", None)
    features = (passed or {}).get("features")
    if ood is None or features is None or len(features) != n:
        return None
    return [[f"{score:.4f}", str(int(calibration.ood_flag(float(score))))] for score in ood.scores(features)]


@torch.no_grad()
def validation_loss(model, task, dataset, device, batch_size: int, dtype: torch.dtype | None) -> dict[str, float]:
    """Mean loss and running metric on a split (the numbers early stopping and selection use)."""
    model.eval()
    total, n, metric, count = 0.0, 0, 0.0, 0.0
    for batch in _loader(dataset, batch_size):
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = task.forward(model, batch, False)
            loss = task.loss(out, batch)
        size = int(batch["image"].shape[0])
        total += float(loss) * size
        n += size
        m, c = task.batch_stats(out, batch)
        metric += m
        count += c
    return {"val_loss": total / max(n, 1), f"val_{task.metric_name}": metric / max(count, 1)}
