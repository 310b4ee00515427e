"""NIfTI / MHA / NRRD round trips through SimpleITK with known, non-identity orientations."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from covidviewer.io import LoadError, load_path, load_series, scan_folder

sitk = pytest.importorskip("SimpleITK")

# x index towards the patient's Right, y towards Anterior, z towards Superior (RAS storage, the
# usual NIfTI layout) -- the mirror image of DICOM's LPS in x and y.
RAS_DIRECTION = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
# A permutation: x index runs up (S), y posterior (P), z towards the patient's Right.
PERMUTED_DIRECTION = (0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0)


def _write(path, direction, marker=(1, 1, 0), shape=(4, 5, 6), spacing=(0.5, 0.7, 2.0)):
    """Write a (z, y, x) int16 volume with one bright voxel at ``marker``; return its LPS point."""
    array = np.zeros(shape, dtype=np.int16)
    array[marker] = 1000
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin((10.0, 20.0, 30.0))
    image.SetDirection(direction)
    sitk.WriteImage(image, str(path))
    z, y, x = marker
    return np.array(image.TransformIndexToPhysicalPoint((x, y, z)))


@pytest.mark.parametrize("name", ["vol.nii.gz", "vol.nii", "vol.mha", "vol.nrrd"])
def test_patient_left_marker_ends_on_the_high_x_side(tmp_path, name):
    path = tmp_path / name
    # Marker at x index 0 of an x-towards-Right volume: the patient's leftmost column.
    point = _write(path, RAS_DIRECTION, marker=(1, 1, 0))
    volume = load_path(path)
    assert volume.shape == (4, 5, 6)
    z, y, x = np.unravel_index(np.argmax(volume.pixels), volume.shape)
    # Canonical frame: x increases towards Left, y towards Posterior (as in axial DICOM).
    assert (z, y, x) == (1, 5 - 1 - 1, 6 - 1)
    np.testing.assert_allclose(volume.direction, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(volume.voxel_to_patient(z, y, x), point, atol=1e-4)
    assert volume.spacing == pytest.approx((2.0, 0.7, 0.5))
    assert volume.meta["format"] in ("nifti", "metaimage", "nrrd")


def test_permuted_axes_are_reordered_to_z_inferior_superior(tmp_path):
    path = tmp_path / "sag.nii.gz"
    point = _write(path, PERMUTED_DIRECTION, marker=(2, 1, 4), shape=(3, 4, 5), spacing=(1.0, 2.0, 3.0))
    volume = load_path(path)
    # Stored x (5 voxels, along S) becomes z; stored z (3 voxels, towards Right) becomes x, flipped.
    assert volume.shape == (5, 4, 3)
    np.testing.assert_allclose(volume.direction, np.eye(3), atol=1e-6)
    assert volume.spacing == pytest.approx((1.0, 2.0, 3.0))
    idx = np.unravel_index(np.argmax(volume.pixels), volume.shape)
    np.testing.assert_allclose(volume.voxel_to_patient(*idx), point, atol=1e-4)


def test_hu_like_nifti_is_marked_ct_with_a_lung_window(tmp_path):
    array = np.full((3, 8, 8), -1000, dtype=np.int16)
    array[:, 2:6, 2:6] = 40
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "ct.nii.gz"))
    volume = load_path(tmp_path / "ct.nii.gz")
    assert volume.modality == "CT" and volume.meta["modality_guessed"]
    assert volume.default_window == (-600.0, 1500.0)


def test_scan_lists_volumes_with_their_size(tmp_path):
    _write(tmp_path / "a.nii.gz", RAS_DIRECTION)
    _write(tmp_path / "b.mha", RAS_DIRECTION)
    result = scan_folder(tmp_path)
    kinds = sorted((s.kind, s.num_images, s.rows, s.columns) for s in result.series)
    assert kinds == [("metaimage", 4, 5, 6), ("nifti", 4, 5, 6)]
    assert all(load_series(s).shape == (4, 5, 6) for s in result.series)


def test_corrupt_nifti_is_unreadable_not_fatal(tmp_path):
    (tmp_path / "broken.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    _write(tmp_path / "good.nii", RAS_DIRECTION)
    result = scan_folder(tmp_path)
    assert [p.name for p, _ in result.unreadable] == ["broken.nii.gz"]
    assert len(result.series) == 1
    with pytest.raises(LoadError, match="broken.nii.gz"):
        load_path(tmp_path / "broken.nii.gz")


def test_volume_over_memory_budget_is_refused_before_reading(tmp_path):
    _write(tmp_path / "v.nii.gz", RAS_DIRECTION)
    with pytest.raises(LoadError, match="memory"):
        load_path(tmp_path / "v.nii.gz", max_bytes=100)


def test_file_stem_drops_two_part_extensions() -> None:
    from covidviewer.io.itk_volume import file_stem

    assert file_stem(Path("/d/chest.nii.gz")) == "chest"
    assert file_stem(Path("/d/Chest.NII.GZ")) == "Chest"
    assert file_stem(Path("/d/ct.v2.mha")) == "ct.v2"
    assert file_stem(Path("/d/RG1_UNCI.dcm")) == "RG1_UNCI"
    assert file_stem(Path("/d/.nii.gz")) == ".nii.gz"
