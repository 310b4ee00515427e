"""The shortcut audit of the whole Cascade-SEMEnet, run exactly as the app runs it.

The cascade has no weights of its own (stage 1, the lung U-Net and stage 2 are separate sets), so
``export`` audits each stage on its own classes; what a reader sees is the cascade's answer over
COVID-19 / normal / bacterial / viral. This runs ``CascadeSEMEnet.run`` (the app's code path) on the
validation films of the 4-class split (the split every CXR model shares) and audits its
probabilities, its hard decision (the paper's rule: stage 1, then stage 2 for viral films) and
the features of both stages.

    python -m trainer audit-cascade --data cxr/labels.csv --data cxr_adult/labels.csv [--out DIR]
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from trainer.audit import shortcut_audit

#: the 4-class recipe whose label map and split the cascade is scored on
REFERENCE_MODEL = "dpn92_se"
REFERENCE_CONFIG = Path(__file__).resolve().parent / "recipes" / "cpu_budget" / "dpn92_se.toml"


def audit_cascade(csv_paths: Sequence[Path | str], out_dir: Path | None = None, n_boot: int = 1000) -> dict[str, Any]:
    """{"soft": audit of the product probabilities, "hard": audit of the paper's decision, ...}."""
    from covidviewer.models import get_spec
    from covidviewer.models.cascade import CLASSES
    from covidviewer.models.features import capture_features
    from covidviewer.models.weights import installed_weights_sha256, load_trained_model
    from trainer.config import load_recipe
    from trainer.data.build import load_data

    recipe = load_recipe(REFERENCE_MODEL, REFERENCE_CONFIG)
    recipe.values["data"]["lung_masks"] = "none"  # the cascade computes its own lungs, as in the app
    recipe.values["input"]["preprocess"] = {}
    reference = get_spec(REFERENCE_MODEL)
    bundle = load_data(reference, recipe, [Path(p) for p in csv_paths], eval_split="val")
    rows = [_in_cascade_classes(row, reference.classes, CLASSES) for row in bundle.split.rows("val")]
    model = load_trained_model("cascade_semenet").float().eval()
    probs, hard, feats = [], [], []
    with capture_features(model) as capture, torch.no_grad():
        for row in rows:
            pixels, window = bundle.cache.get(row.path)
            run = model.run(pixels, window)
            probs.append(run.probabilities)
            hard.append(CLASSES.index(run.cascade_label))
            feats.append(capture.take()[0].numpy())
    prob = np.asarray(probs, float)
    one_hot = np.eye(len(CLASSES))[hard]
    features = np.asarray(feats, float)
    report = {
        "weights": installed_weights_sha256("cascade_semenet"),
        "split": bundle.split.method,
        "soft": shortcut_audit(prob, features, CLASSES, rows, None, n_boot),
        "hard": shortcut_audit(one_hot, None, CLASSES, rows, None, n_boot),
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "cascade_audit.json").write_text(json.dumps(report, indent=2))
    return report


def _in_cascade_classes(row: Any, reference: Sequence[str], cascade: Sequence[str]) -> Any:
    """The row with its targets re-indexed from the 4-class model's classes to the cascade's
    (same four classes; the cascade names viral pneumonia "(non-COVID)")."""
    def index(name: str) -> int:
        return next(i for i, c in enumerate(cascade) if c == name or c.startswith(name + " ("))

    targets = tuple(index(reference[t]) for t in (row.targets or (row.target,)))
    label = cascade[targets[0]] if len(targets) == 1 else row.label
    return replace(row, targets=targets, target=targets[0], label=label)
