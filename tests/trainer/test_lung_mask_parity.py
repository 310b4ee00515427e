"""The lung mask the trainer trains on is the mask the app computes for the same film.

test_model_input_parity hands the trainer's mask to the app's input path; this checks the mask itself: the
trainer's U-Net masks (``data.lung_masks = "unet"``), the Predictor's ``compute_lung_mask`` and the cascade's
own lungs must be the same 0/1 array. A soft probability in the app against 0/1 masks in training changed
the cascade's stage 2 answer from 0.87 to 0.60 on one validation film.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from covidviewer import io
from covidviewer.inference.inputs import compute_lung_mask
from covidviewer.io.samples import sample_paths
from covidviewer.models import get_spec
from covidviewer.models.weights import load_trained_model, weights_status
from trainer.config import load_recipe
from trainer.data.build import load_data

pytestmark = pytest.mark.skipif(weights_status("lung_unet") != "trained", reason="needs the shipped lung U-Net")


def test_trainer_app_and_cascade_use_one_lung_mask(tmp_path: Path) -> None:
    film = sample_paths()["chest_cr"]  # a real PA chest film (pydicom-data's RG1_UNCI)
    spec = get_spec("vgg16_ga")
    rows = [{"path": str(film), "label": spec.classes[0], "patient_id": f"p:{split}", "split": split} for split in ("train", "val")]
    csv_path = tmp_path / "one_film.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    bundle = load_data(spec, load_recipe("vgg16_ga", overrides=["data.lung_masks=unet"]), csv_path)
    trained_on = bundle.lung_masks[bundle.split.rows("val")[0].path]

    volume = io.load_path(film)
    in_app = compute_lung_mask(load_trained_model("lung_unet"), volume)
    assert set(np.unique(in_app)) <= {0.0, 1.0}
    assert 0.1 < in_app.mean() < 0.6, "the U-Net should find lungs on a real chest film"
    np.testing.assert_array_equal(in_app, trained_on)

    cascade = load_trained_model("cascade_semenet") if weights_status("seme_densenet169") == "trained" else None
    if cascade is not None:
        lung = cascade.prepare(volume.pixels[0], volume.default_window)[0]
        np.testing.assert_array_equal(lung, trained_on)
