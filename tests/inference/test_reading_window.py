"""The window a model reads an image in (session 39): a CT model reads a slice in Hounsfield units through the lung
window, whatever window its file displays it in; an 8-bit image keeps its file's own window, and a film of more than
256 grey levels is read through its auto window by every model, the gate's included (session 42)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from covidviewer.imaging.window_presets import auto_window
from covidviewer.inference.inputs import HU_READING_WINDOW, prepare_model_input, reading_window
from covidviewer.io import load_path, sample_paths
from covidviewer.models import get_spec


@pytest.fixture(scope="module")
def ct_slice():
    return load_path(sample_paths()["ct"])  # pydicom's CT_small.dcm: HU


@pytest.mark.parametrize("model", ["dresunet", "resunet_fprm"])
def test_a_ct_model_s_input_does_not_follow_the_file_s_display_window(ct_slice, model):
    spec = get_spec(model)
    as_lung = prepare_model_input(replace(ct_slice, default_window=HU_READING_WINDOW), spec)[0].tensor
    for display in [(40.0, 400.0), (-600.0, 1600.0), (300.0, 1800.0)]:  # soft tissue, a vendor's lung, bone
        shown = replace(ct_slice, default_window=display)
        np.testing.assert_array_equal(prepare_model_input(shown, spec)[0].tensor, as_lung)
    assert HU_READING_WINDOW == (-600.0, 1500.0)


def test_other_models_and_images_keep_the_file_s_window(ct_slice, tmp_path):
    import cv2

    assert reading_window(ct_slice, ct_reader=False) == tuple(ct_slice.default_window)  # a radiograph model's view
    cv2.imwrite(str(tmp_path / "slice.png"), np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1)))
    png = load_path(tmp_path / "slice.png")  # a slice cut from a paper: 8-bit levels, no HU
    assert reading_window(png, ct_reader=True) == tuple(png.default_window)
    film = load_path(sample_paths()["chest_cr"])  # 15 bits: its auto window for the gate as for the radiograph models
    assert reading_window(film, ct_reader=True) == reading_window(film, ct_reader=False) == auto_window(film.pixels[0])


def test_the_gate_judges_a_ct_slice_as_the_ct_models_read_it(ct_slice):
    """The image-kind check looked at a slice in its file's window: a soft-tissue default refused 6 of 16 slices of the
    built-in chest series as "not a CT slice", its lung window 3. It now sees every HU slice in the CT models' window."""
    from covidviewer.inference.image_kind import gate_input

    spec = get_spec("image_kind")
    seen = [gate_input(replace(ct_slice, default_window=w), spec) for w in [(40.0, 400.0), (-600.0, 1600.0)]]
    np.testing.assert_array_equal(seen[0], seen[1])
    np.testing.assert_array_equal(seen[0], gate_input(replace(ct_slice, default_window=HU_READING_WINDOW), spec))


def test_the_same_ct_as_dicom_and_as_nifti_gives_a_ct_model_the_same_input(tmp_path):
    """The built-in series' own window is L -600 / W 1600; a NIfTI has none and gets L -600 / W 1500. Read through
    one window, the same slice is the same input whichever file holds it."""
    import SimpleITK as sitk

    folder = sample_paths().get("chest_ct_series")
    if folder is None:
        pytest.skip("the chest CT sample (the 'samples' extra) is not installed")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    sitk.WriteImage(reader.Execute(), str(tmp_path / "chest.nii.gz"))
    dicom, nifti = load_path(folder), load_path(tmp_path / "chest.nii.gz")
    assert dicom.default_window != nifti.default_window
    np.testing.assert_array_equal(dicom.pixels, nifti.pixels)
    spec = get_spec("dresunet")
    np.testing.assert_array_equal(prepare_model_input(dicom, spec, slice_index=32)[0].tensor,
                                  prepare_model_input(nifti, spec, slice_index=32)[0].tensor)
