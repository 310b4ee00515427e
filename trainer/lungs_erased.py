"""What a classifier still reads with the chest taken out of the image: a shortcut figure Grad-CAM cannot give.

Grad-CAM's share inside the lungs (``trainer.attention_check``) says where a map lies, and a deep network's cell over
the lungs sees the whole image: a map can sit on the lungs while the answer comes from the film around them. Here
each validation image's chest is erased (``trainer.data.chest_erase``): the lungs' joint convex hull (both lungs and
the mediastinum between them), widened by a margin so that consolidation a lung finder leaves out at the lungs' edge
goes too, and on a CT slice the body's whole inside but for its rim (the CT lung finder can miss a consolidated lung),
is filled with one grey, the mean of the image outside it. Nothing of the lungs is left (no texture, no opacity, not
even their mean density), and the image goes through the model's own input path (the same lung mask, so the same
crop). The figure is the AUC of p(COVID-19) on those images: how well the model still tells COVID-19 images from the
rest with no lungs to look at. 0.5 is a model that reads the lungs only; an AUC near the one as sent is a model that
reads the patient, the hospital or the figure around them.

The erased images are outside anything the model learnt from, so p(COVID-19) itself moves (often up: lungs filled
with tissue grey look whited-out); the AUC is a ranking of the images against each other and does not care. A model
that multiplies its input by the lung mask (the cascade's stage 2) is left with the mask's outline filled with one grey:
what it reads there is the lungs' shape (a child's or an adult's).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from trainer.audit import allowed_of, film_kinds, is_adult
from trainer.data.chest_erase import FILL
from trainer.metrics import N_BOOTSTRAP, covid_class, point_and_intervals, roc_auc


def covid_probability(spec: Any, logits: np.ndarray) -> float:
    """p(COVID-19) from one input's logits (the app's class probabilities)."""
    from covidviewer.inference.runner import class_probabilities

    return float(class_probabilities(logits, spec)[covid_class(spec.classes)])


def lungs_erased_record(rows: Sequence[Any], p_sent: Sequence[float], p_erased: Sequence[float], classes: Sequence[str],
                        radiographs: bool, n_boot: int = N_BOOTSTRAP) -> dict[str, Any]:
    """AUC of p(COVID-19) as sent and with the chest erased: COVID-19 against every other image, and for radiographs
    adult COVID-19 against adult normal films (the comparison issue 12's bars are on), with patient-bootstrap 95%
    intervals. (The keys say "lungs_erased": the record's name since it was first made.)"""
    if covid_class(classes) is None or not len(rows):
        return {"skipped": "no COVID-19 class" if len(rows) else "no images with lungs"}
    sent, erased = np.asarray(p_sent, float), np.asarray(p_erased, float)
    kind = film_kinds(allowed_of(rows, len(classes)), classes)
    adult = np.array([is_adult(r) for r in rows], bool) if radiographs else np.zeros(len(rows), bool)
    covid = kind == "COVID-19"
    adult_pair = adult & ((kind == "COVID-19") | (kind == "normal"))

    def stat(idx: np.ndarray) -> dict[str, float]:
        out = {"auc_as_sent": roc_auc(covid[idx], sent[idx]), "auc_lungs_erased": roc_auc(covid[idx], erased[idx]),
               "gap_as_sent": _gap(covid[idx], sent[idx]), "gap_lungs_erased": _gap(covid[idx], erased[idx])}
        pair = idx[adult_pair[idx]]
        if radiographs and adult_pair.any():
            out |= {"adult_auc_as_sent": roc_auc(covid[pair], sent[pair]),
                    "adult_auc_lungs_erased": roc_auc(covid[pair], erased[pair]),
                    "adult_gap_as_sent": _gap(covid[pair], sent[pair]),
                    "adult_gap_lungs_erased": _gap(covid[pair], erased[pair])}
        return out

    return {
        **point_and_intervals(stat, len(rows), [r.patient_id for r in rows], n_boot),
        "n_images": len(rows),
        "n_covid": int(covid.sum()),
        "n_adult_normal": int((adult_pair & ~covid).sum()),
        "mean_p_as_sent": float(sent.mean()),
        "mean_p_lungs_erased": float(erased.mean()),
        "fill": FILL,
    }


def _gap(positive: np.ndarray, p: np.ndarray) -> float:
    """Mean p(COVID-19) of the COVID-19 images less that of the others: how far apart the score puts them, in
    probability (the AUC ranks them, and a model taught to answer nothing on an erased chest can keep its ranking with
    scores a hair apart); nan without both."""
    if not positive.any() or positive.all():
        return float("nan")
    return float(p[positive].mean() - p[~positive].mean())


def erased_line(record: dict[str, Any] | None) -> str:
    """One line for the console: the AUC with the chest erased beside the AUC as sent ("" when not measured)."""
    if not record or "point" not in record:
        return ""
    point, ci = record["point"], record["ci95"]
    parts = []
    for prefix, what in (("", "COVID-19 against the rest"), ("adult_", "adult COVID-19 against adult normal")):
        if f"{prefix}auc_lungs_erased" in point:
            lo, hi = ci.get(f"{prefix}auc_lungs_erased", [float("nan")] * 2)
            parts.append(f"{what} {point[f'{prefix}auc_lungs_erased']:.3f} [{lo:.3f}, {hi:.3f}] "
                         f"({point[f'{prefix}auc_as_sent']:.3f} as sent), mean p(COVID-19) apart by "
                         f"{point.get(f'{prefix}gap_lungs_erased', float('nan')):.3f} ({point.get(f'{prefix}gap_as_sent', float('nan')):.3f} as sent)")
    return "AUC with the chest erased: " + "; ".join(parts)
