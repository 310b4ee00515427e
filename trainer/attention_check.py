"""Shortcut check for chest X-ray and CT-slice classifiers: how much Grad-CAM attention falls inside the lungs.

For each validation image the app's own explainer (``covidviewer.explain.create_explainer("gradcam")``
on the spec's first CAM layer, predicted class) gives a map on the original grid, and
``covidviewer.explain.lung_attention_share`` the fraction of it inside the U-Net (or csv) lung
mask. A model that learnt age or source (the shared data's bias) tends to look outside the lungs:
shoulders, labels, the paediatric body outline. Reported as a mean with a 95% patient bootstrap
interval, overall and per true class. Images whose map is empty (the model's gradients vanish there)
have no share: they are left out and counted in ``n_empty_maps``.

A CT-slice model has no lung U-Net: its slices are weighed by the dark regions the body encloses
(``covidviewer.inference.inputs.ct_lungs_as_read``, as the app's attention figures are); slices on which
the body encloses no lungs (cropped through the chest wall) are counted in ``n_no_lungs``. Every record
gives ``mean_lung_area``, the share of the region its maps cover (the whole image, or the lung box a
cropping model reads) that the lungs cover: what a map that looks everywhere alike would put inside them.
A CT record also gives the share of attention outside the body (air, the table, a figure's labels and
arrows) beside the share of the region its maps cover that lies there.

The same pass scores every image with lungs twice more, as sent and with its chest erased (``trainer.lungs_erased``):
where a map lies is not what the answer rests on, and the AUC a model keeps with no lungs to look at says more.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from covidviewer.card_checks import CT_LUNG_REGION, LUNGS_ERASED_KEY
from covidviewer.inference.inputs import ct_body_and_lungs_as_read, prepare_plane_input
from trainer.data.chest_erase import erase_lungs
from trainer.lungs_erased import covid_probability, erased_line, lungs_erased_record
from trainer.metrics import N_BOOTSTRAP, bootstrap_intervals, covid_class

CT_LUNGS = ("the dark regions the body encloses on each slice as the model reads it, each with its convex hull "
            "(covidviewer.imaging.ct_lungs; no lung U-Net for CT)")


def measures_lung_attention(spec: Any) -> bool:
    """Whether the check applies to ``spec``'s model: a radiograph or CT-slice classifier (not a segmenter, a cascade,
    the image-kind gate or a 3D model)."""
    return spec.task == "classification" and spec.modality in ("CXR", "CT_SLICE")


def lung_attention(model: Any, spec: Any, bundle: Any, split: str = "val", n_boot: int = N_BOOTSTRAP, max_images: int | None = None) -> dict[str, Any]:
    """{"mean_share", "ci95", "per_class", "n_images", "n_empty_maps", "method"} for one split; needs ``bundle.lung_masks``."""
    import torch

    from covidviewer.explain import create_explainer, lung_attention_share
    from covidviewer.explain.agreement import lungs_cover
    from covidviewer.inference.runner import forward_logits

    rows = bundle.split.rows(split)[: max_images or None]
    ct_slices = spec.modality == "CT_SLICE"
    missing = [] if ct_slices else [r for r in rows if r.path not in bundle.lung_masks]
    if missing:
        raise ValueError(f"{len(missing)} {split} images have no lung mask")
    pp = bundle.pp
    model = model.float().eval()
    read, shares, areas, outside, scores = [], [], [], [], []
    with create_explainer("gradcam", model, spec) as explainer:
        for row in rows:
            pixels, window = bundle.cache.get(row.path)
            body, lung = ct_body_and_lungs_as_read(pixels, window) if ct_slices else (None, bundle.lung_masks[row.path])
            if lung is None:
                continue  # no lungs enclosed on this CT slice
            weights = np.asarray(lung, np.float32)
            model_input = prepare_plane_input(pixels, pp, window, weights, spec.lung_mask)
            erased = prepare_plane_input(erase_lungs(pixels, weights, body), pp, window, weights, spec.lung_mask)
            with torch.enable_grad():
                explanation = explainer.explain(model_input)
            # as sent: the logits of the forward that made the map; the erased chest needs a forward of its own
            scores.append((covid_probability(spec, explanation.logits), covid_probability(spec, forward_logits(model, erased))))
            read.append(row)
            shares.append(lung_attention_share(explanation.heatmap, lung))
            areas.append(lungs_cover(lung, explanation.analysed_box))
            if body is not None:
                outside.append((lung_attention_share(explanation.heatmap, ~body), lungs_cover(~body, explanation.analysed_box)))
    read_all = list(read)
    kept = [i for i, share in enumerate(shares) if share is not None]
    if not kept:
        return {"skipped": f"every Grad-CAM map on the {len(read)} {split} images with lungs is empty: the model attends nowhere (collapsed?)"}
    read = [read[i] for i in kept]
    values = np.asarray([shares[i] for i in kept], float)
    per_class = {}
    for label in sorted({r.label for r in read}):
        idx = [i for i, r in enumerate(read) if r.label == label]
        per_class[label] = float(values[idx].mean())
    ci = bootstrap_intervals(lambda idx: {"mean_share": float(values[idx].mean())}, len(values), [r.patient_id for r in read], n_boot)
    record = {
        "mean_share": float(values.mean()),
        "ci95": ci["mean_share"],
        "per_class": per_class,
        "mean_lung_area": float(np.mean([areas[i] for i in kept])),
        "n_images": int(len(values)),
        "n_empty_maps": len(shares) - len(kept),
        "method": f"Grad-CAM (covidviewer.explain) on {spec.explain.cam_layers[0]}, predicted class; share of the map inside the lung mask",
        "lung_masks": CT_LUNGS if ct_slices else bundle.lung_mask_source,
    }
    if covid_class(spec.classes) is not None:  # every image with lungs, its map empty or not
        record[LUNGS_ERASED_KEY] = lungs_erased_record(read_all, [s for s, _ in scores], [e for _, e in scores],
                                                     spec.classes, not ct_slices, n_boot)
    if ct_slices:
        record.update(lung_region=CT_LUNG_REGION, n_no_lungs=len(rows) - len(shares),
                      outside_body_share=float(np.mean([outside[i][0] for i in kept])),
                      mean_outside_area=float(np.mean([outside[i][1] for i in kept])))
    return record


def lung_attention_lines(record: dict[str, Any] | None) -> list[str]:
    """The console lines of a lung-attention record (an export's, ``evaluate --record-lung-attention``'s)."""
    if not isinstance(record, dict) or "mean_share" not in record:
        return []
    share = f"Grad-CAM attention inside the lungs: {record['mean_share']:.3f} [{record['ci95'][0]:.3f}, {record['ci95'][1]:.3f}]"
    if "mean_lung_area" in record:
        share += f"; the lungs cover {record['mean_lung_area']:.3f} of the region the maps cover"
    erased = erased_line(record.get(LUNGS_ERASED_KEY))
    return [share] + ([erased] if erased else [])
