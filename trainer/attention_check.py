"""Shortcut check for chest X-ray classifiers: how much Grad-CAM attention falls inside the lungs.

For each validation image the app's own explainer (``covidviewer.explain.create_explainer("gradcam")``
on the spec's first CAM layer, predicted class) gives a map on the original grid, and
``covidviewer.explain.lung_attention_share`` the fraction of it inside the U-Net (or csv) lung
mask. A model that learnt age or source (the shared data's bias) tends to look outside the lungs:
shoulders, labels, the paediatric body outline. Reported as a mean with a 95% patient bootstrap
interval, overall and per true class. Images whose map is empty (the model's gradients vanish there)
have no share: they are left out and counted in ``n_empty_maps``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from covidviewer.inference.inputs import prepare_plane_input
from trainer.metrics import N_BOOTSTRAP, bootstrap_intervals


def lung_attention(model: Any, spec: Any, bundle: Any, split: str = "val", n_boot: int = N_BOOTSTRAP, max_images: int | None = None) -> dict[str, Any]:
    """{"mean_share", "ci95", "per_class", "n_images", "n_empty_maps", "method"} for one split; needs ``bundle.lung_masks``."""
    import torch

    from covidviewer.explain import create_explainer, lung_attention_share

    rows = bundle.split.rows(split)[: max_images or None]
    missing = [r for r in rows if r.path not in bundle.lung_masks]
    if missing:
        raise ValueError(f"{len(missing)} {split} images have no lung mask")
    pp = bundle.pp
    model = model.float().eval()
    shares = []
    with create_explainer("gradcam", model, spec) as explainer:
        for row in rows:
            pixels, window = bundle.cache.get(row.path)
            lung = bundle.lung_masks[row.path]
            model_input = prepare_plane_input(pixels, pp, window, lung, spec.lung_mask)
            with torch.enable_grad():
                explanation = explainer.explain(model_input)
            shares.append(lung_attention_share(explanation.heatmap, lung))
    kept = [i for i, share in enumerate(shares) if share is not None]
    if not kept:
        return {"skipped": f"every Grad-CAM map on the {len(rows)} {split} images is empty: the model attends nowhere (collapsed?)"}
    rows = [rows[i] for i in kept]
    values = np.asarray([shares[i] for i in kept], float)
    per_class = {}
    for label in sorted({r.label for r in rows}):
        idx = [i for i, r in enumerate(rows) if r.label == label]
        per_class[label] = float(values[idx].mean())
    ci = bootstrap_intervals(lambda idx: {"mean_share": float(values[idx].mean())}, len(values), [r.patient_id for r in rows], n_boot)
    return {
        "mean_share": float(values.mean()),
        "ci95": ci["mean_share"],
        "per_class": per_class,
        "n_images": int(len(values)),
        "n_empty_maps": len(shares) - len(kept),
        "method": f"Grad-CAM (covidviewer.explain) on {spec.explain.cam_layers[0]}, predicted class; share of the map inside the lung mask",
        "lung_masks": bundle.lung_mask_source,
    }
