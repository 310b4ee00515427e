"""A CT-slice model that crops to the lungs (``preprocess.lung_crop``, session 45) finds them on each slice itself: it
needs no lung U-Net, reads their box on one slice and on every slice of a series scan, and the whole slice where the
body encloses none."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from square_models import BrightnessNet, tiny_spec

from covidviewer.inference import Predictor, RunOptions
from covidviewer.inference.series_scan import scan_series
from covidviewer.io import Volume

pytestmark = pytest.mark.usefixtures("no_installed_weights")  # no lung U-Net installed either


def _chest_series() -> Volume:
    """Six 96 px slices in HU: a body (40) with two aerated lungs (-850) on slices 1-4, none on slices 0 and 5."""
    yy, xx = np.mgrid[:96, :96]
    plane = np.full((96, 96), -1000.0, np.float32)
    plane[((yy - 48) / 36.0) ** 2 + ((xx - 48) / 42.0) ** 2 < 1] = 40.0
    vol = np.repeat(plane[None], 6, axis=0)
    for cx in (30, 66):
        vol[1:5][:, ((yy - 48) / 22.0) ** 2 + ((xx - cx) / 13.0) ** 2 < 1] = -850.0
    vol += np.random.default_rng(0).normal(0.0, 10.0, vol.shape).astype(np.float32)
    return Volume(vol, spacing=(5.0, 3.5, 3.5), modality="CT", default_window=(-600, 1500), meta={"format": "dicom"})


def _predictor() -> Predictor:
    spec = tiny_spec("tiny_ct_crop", "ct_slice", (32, 32), fit="pad")  # the box as it is, not a square inside it
    spec = replace(spec, preprocess=replace(spec.preprocess, window=(-600.0, 1500.0), lung_crop=True))
    assert spec.needs_lung_mask and not spec.needs_lung_unet
    predictor = Predictor(device="cpu")
    predictor.store.add(BrightnessNet(), spec, "a" * 64)
    return predictor


def test_one_slice_is_read_in_its_lung_box_without_a_lung_unet() -> None:
    predictor = _predictor()
    assert predictor.availability("tiny_ct_crop") == (True, "")  # the U-Net is not installed, and not needed
    with_lungs = predictor.analyse(_chest_series(), ["tiny_ct_crop"], RunOptions(method="gradcam"), slice_index=2).models[0]
    assert with_lungs.status == "ok", with_lungs.reason
    y0, x0, y1, x1 = with_lungs.explanation.analysed_box
    # the two lungs span rows 27-69 and columns 18-78, grown by 8% of the box on each side
    assert (y0, x0, y1, x1) == (24, 13, 73, 84)
    assert with_lungs.explanation.analysed_region.startswith("lung box")
    without = predictor.analyse(_chest_series(), ["tiny_ct_crop"], RunOptions(method="gradcam"), slice_index=0).models[0]
    assert without.status == "ok" and without.explanation.covers_whole_image()  # no lungs enclosed: the whole slice


def test_a_series_scan_reads_every_slice_in_its_own_lung_box() -> None:
    scan = scan_series(_predictor(), _chest_series(), "tiny_ct_crop")
    assert scan.status == "ok", scan.reason
    assert np.isfinite(scan.slice_scores[1:5]).all()  # every slice with aerated lung was read
