"""Reformats: radiological display convention and pixel aspect from the voxel spacing."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.imaging import plane_cut, reformat
from covidviewer.io.volume import Volume


def _volume(direction=np.eye(3), shape=(4, 5, 6), spacing=(2.5, 0.7, 0.5)) -> Volume:
    pixels = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    return Volume(pixels=pixels, spacing=spacing, direction=np.asarray(direction, dtype=float))


def test_axial_dicom_volume_is_shown_as_stored():
    volume = _volume()
    image, aspect = reformat(volume, "axial", 2)
    np.testing.assert_array_equal(image, volume.pixels[2])
    assert aspect == pytest.approx(0.7 / 0.5)


def test_coronal_has_superior_at_the_top_and_z_spacing_aspect():
    volume = _volume()
    image, aspect = reformat(volume, "coronal", 3)
    # Coronal slice = fixed y; rows = z from superior (last slice) to inferior; columns = x.
    np.testing.assert_array_equal(image, volume.pixels[::-1, 3, :])
    assert image.shape == (4, 6) and aspect == pytest.approx(2.5 / 0.5)


def test_sagittal_has_anterior_on_the_left():
    volume = _volume()
    image, aspect = reformat(volume, "sagittal", 1)
    np.testing.assert_array_equal(image, volume.pixels[::-1, :, 1])
    assert image.shape == (4, 5) and aspect == pytest.approx(2.5 / 0.7)
    assert plane_cut(volume, "sagittal").n_slices == 6


def test_ras_stored_volume_is_flipped_so_patient_left_is_on_the_right():
    # x index towards patient Right, y towards Anterior (as a raw NIfTI array).
    volume = _volume(direction=np.diag([-1.0, -1.0, 1.0]))
    volume.pixels[:] = 0
    volume.pixels[1, 2, 0] = 1  # x = 0 is the patient's leftmost column here
    axial, _ = reformat(volume, "axial", 1)
    assert np.argwhere(axial).tolist() == [[5 - 1 - 2, 6 - 1]]  # shown at the right edge
    coronal, _ = reformat(volume, "coronal", 2)
    assert np.argwhere(coronal)[0, 1] == 6 - 1


def test_sagittal_acquisition_is_reformatted_to_an_axial_view():
    # Index x runs up (S), y posterior (P), z towards the patient's Right.
    direction = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    volume = _volume(direction=direction, shape=(3, 4, 5), spacing=(3.0, 2.0, 1.0))
    cut = plane_cut(volume, "axial")
    assert (cut.slice_axis, cut.row_axis, cut.col_axis) == (2, 1, 0)
    assert cut.flip_cols  # z points to the Right; columns must run Right -> Left
    image, aspect = reformat(volume, "axial", 4)
    np.testing.assert_array_equal(image, volume.pixels[:, :, 4].T[:, ::-1])
    assert aspect == pytest.approx(2.0 / 3.0)


def test_radiograph_is_never_flipped():
    volume = _volume(direction=np.diag([-1.0, -1.0, 1.0]), shape=(1, 5, 6))
    image, _ = reformat(volume, "axial", 0)
    np.testing.assert_array_equal(image, volume.pixels[0])


def test_rgb_keeps_channels_and_index_is_clipped():
    pixels = np.zeros((3, 4, 5, 3), dtype=np.float32)
    pixels[2, ..., 0] = 7
    volume = Volume(pixels=pixels, is_rgb=True)
    image, _ = reformat(volume, "axial", 99)
    assert image.shape == (4, 5, 3) and image[0, 0, 0] == 7
    with pytest.raises(ValueError, match="plane"):
        reformat(volume, "oblique", 0)
