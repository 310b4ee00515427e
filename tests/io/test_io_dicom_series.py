"""Generated DICOM series: ordering by position, spacing, geometry, warnings, splitting."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.io import LoadError, load_path, load_series, scan_folder


def _only_series(folder):
    found = scan_folder(folder).series
    assert len(found) == 1, [s.label for s in found]
    return found[0]


def test_shuffled_names_and_instance_numbers_are_ordered_by_position(tmp_path, write_series):
    write_series(tmp_path, 12, z_spacing=2.5)
    volume = load_series(_only_series(tmp_path))
    assert volume.shape == (12, 6, 5)
    # Slice k holds 10 * k HU: the z order must follow the positions, not names or InstanceNumbers.
    np.testing.assert_array_equal(volume.pixels[:, 0, 0], 10.0 * np.arange(12))
    assert volume.spacing == pytest.approx((2.5, 0.7, 0.8))
    assert volume.origin == pytest.approx((-10.0, -20.0, -30.0))
    np.testing.assert_allclose(volume.direction, np.eye(3))
    assert volume.meta["first_position"] == pytest.approx((-10, -20, -30))
    assert volume.meta["last_position"] == pytest.approx((-10, -20, -30 + 11 * 2.5))
    assert volume.warnings == []
    assert volume.modality == "CT" and volume.default_window == (40.0, 400.0)
    # Every voxel position agrees with the DICOM position of its slice.
    assert volume.voxel_to_patient(11, 0, 0) == pytest.approx((-10, -20, -2.5))


def test_missing_slice_is_reported_and_order_kept(tmp_path, write_series):
    write_series(tmp_path, 10, skip=(4,))
    volume = load_series(_only_series(tmp_path))
    assert volume.shape[0] == 9
    np.testing.assert_array_equal(volume.pixels[:, 0, 0], 10.0 * np.array([0, 1, 2, 3, 5, 6, 7, 8, 9]))
    assert volume.spacing[0] == pytest.approx(2.5)
    assert any("missing slices" in w for w in volume.warnings), volume.warnings


def test_irregular_spacing_warns(tmp_path, write_series):
    write_series(tmp_path, 8, z_of=lambda k: k * 2.0 + (0.4 if k % 2 else 0.0))
    volume = load_series(_only_series(tmp_path))
    assert any("irregular slice spacing" in w for w in volume.warnings), volume.warnings
    assert not any("missing" in w for w in volume.warnings)


def test_duplicate_positions_warn(tmp_path, write_series):
    write_series(tmp_path, 5, z_of=lambda k: min(k, 3) * 2.0)
    volume = load_series(_only_series(tmp_path))
    assert any("duplicate positions" in w for w in volume.warnings), volume.warnings


def test_normal_from_cross_product_orders_sagittal_and_reversed_stacks(tmp_path, write_series):
    # Sagittal: rows along -z... row direction (0,1,0), column direction (0,0,-1) -> normal (-1,0,0).
    orientation = (0, 1, 0, 0, 0, -1)
    write_series(tmp_path, 6, orientation=orientation, z_spacing=3.0)
    volume = load_series(_only_series(tmp_path))
    np.testing.assert_array_equal(volume.pixels[:, 0, 0], 10.0 * np.arange(6))
    np.testing.assert_allclose(volume.direction[:, 2], (-1, 0, 0))
    np.testing.assert_allclose(volume.direction[:, 0], (0, 1, 0))
    assert volume.spacing[0] == pytest.approx(3.0)
    # Slice 5 lies 15 mm along the normal from slice 0.
    np.testing.assert_allclose(volume.voxel_to_patient(5, 0, 0), np.array((-10, -20, -30)) + (-15, 0, 0))


def test_two_series_in_one_folder_are_split(tmp_path, write_series):
    study = "1.2.3.4"
    write_series(tmp_path, 4, study=study, series_number=1)
    write_series(tmp_path, 3, study=study, series_number=2, seed=1)
    result = scan_folder(tmp_path)
    assert len(result.studies) == 1
    series = result.studies[0].series
    assert [s.num_images for s in series] == [4, 3]
    assert [s.number for s in series] == [1, 2]
    for s in series:
        assert load_series(s).shape[0] == s.num_images
    with pytest.raises(LoadError, match="holds 2 series"):
        load_path(tmp_path)


def test_mixed_orientation_in_one_series_is_split_into_stacks(tmp_path, write_series):
    series_uid = "1.2.3.9"
    write_series(tmp_path / "ax", 4, series=series_uid, study="1.2.3")
    write_series(tmp_path / "cor", 3, series=series_uid, study="1.2.3", orientation=(1, 0, 0, 0, 0, -1), seed=2)
    result = scan_folder(tmp_path)
    stacks = result.series
    assert sorted(s.num_images for s in stacks) == [3, 4]
    assert {s.uid for s in stacks} == {series_uid} and len({s.key for s in stacks}) == 2
    assert all("mixes orientations" in s.warnings[0] for s in stacks)
    assert any("mixes orientations" in w for w in result.warnings)
    volume = load_series(stacks[0])
    assert any("mixes orientations" in w for w in volume.warnings)


def test_a_ct_localizer_in_its_axial_series_is_an_image_of_its_own(tmp_path, write_series):
    """A scanner's usual export: the scout in the axial series. It is not stacked with the slices, and the series is not
    said to mix orientations."""
    series_uid = "1.2.3.10"
    write_series(tmp_path / "ax", 5, series=series_uid, study="1.2.3")
    write_series(tmp_path / "scout", 1, series=series_uid, study="1.2.3", orientation=(1, 0, 0, 0, 0, -1), seed=4,
                 extra={"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]})
    result = scan_folder(tmp_path)
    assert sorted(s.num_images for s in result.series) == [1, 5]
    assert result.warnings == [] and all(s.warnings == [] for s in result.series)
    scout = next(s for s in result.series if s.num_images == 1)
    assert "localizer" in scout.label and not any("localizer" in s.label for s in result.series if s is not scout)
    assert load_series(scout).meta["image_type"] == "ORIGINAL\\PRIMARY\\LOCALIZER"


def test_mixed_image_sizes_in_one_series_are_split(tmp_path, write_series):
    write_series(tmp_path / "a", 3, series="1.2.5", study="1.2", size=(6, 5))
    write_series(tmp_path / "b", 2, series="1.2.5", study="1.2", size=(4, 4), seed=3)
    stacks = scan_folder(tmp_path).series
    assert sorted((s.rows, s.columns, s.num_images) for s in stacks) == [(4, 4, 2), (6, 5, 3)]
    assert all("mixes image sizes" in s.warnings[0] for s in stacks)


def test_loading_files_of_mixed_sizes_directly_is_refused(tmp_path, write_series):
    from covidviewer.io.dicom_series import load_dicom_files

    files = write_series(tmp_path / "a", 2, series="1.2.6", size=(6, 5))
    files += write_series(tmp_path / "b", 1, series="1.2.6", size=(4, 4))
    with pytest.raises(LoadError, match="different sizes"):
        load_dicom_files(files)


def test_slightly_tilted_slice_is_reported_as_mixed_orientation(tmp_path, write_series):
    from covidviewer.io.dicom_series import load_dicom_files

    files = write_series(tmp_path, 3)
    tilt = np.radians(0.55)  # within the grouping tolerance, above the reporting tolerance
    files += write_series(
        tmp_path / "t", 1, start=(-10, -20, -22.5), orientation=(1, 0, 0, 0, np.cos(tilt), np.sin(tilt))
    )
    volume = load_dicom_files(files)
    assert any("mixed orientation" in w for w in volume.warnings), volume.warnings


def test_memory_budget_is_checked_before_decoding(tmp_path, write_series):
    files = write_series(tmp_path, 4, size=(64, 64))
    series = _only_series(tmp_path)
    # Corrupt one file's pixels: if the loader decoded before checking the budget, the error
    # would be about decoding instead of memory.
    files[0].write_bytes(files[0].read_bytes()[:-100])
    with pytest.raises(LoadError, match="memory"):
        load_series(series, max_bytes=4 * 64 * 64 * 4 - 1)


def test_memory_budget_from_environment(tmp_path, write_series, monkeypatch):
    write_series(tmp_path, 2, size=(32, 32))
    series = _only_series(tmp_path)
    monkeypatch.setenv("COVIDVIEWER_MAX_VOLUME_BYTES", "1000")
    with pytest.raises(LoadError, match="COVIDVIEWER_MAX_VOLUME_BYTES"):
        load_series(series)
    monkeypatch.setenv("COVIDVIEWER_MAX_VOLUME_BYTES", str(2 * 32 * 32 * 4))
    assert load_series(series).shape == (2, 32, 32)


def test_corrupt_slice_is_skipped_with_a_warning(tmp_path, write_series):
    files = write_series(tmp_path, 5, size=(16, 16))
    series = _only_series(tmp_path)
    files[2].write_bytes(files[2].read_bytes()[:-200])  # truncated after the scan
    volume = load_series(series)
    assert volume.shape[0] == 4
    assert any("could not be read" in w for w in volume.warnings)


def test_monochrome1_generated_is_inverted_with_its_window(tmp_path, write_dicom):
    stored = np.array([[0, 100], [4000, 4095]], dtype=np.uint16)
    path = write_dicom(
        tmp_path / "cr.dcm", stored, study="1.2", series="1.2.1", position=None, orientation=None,
        modality="CR", photometric="MONOCHROME1", bits_stored=12, signed=False, rescale=None,
        window=(1000.0, 500.0),
    )
    volume = load_path(path)
    # Larger = brighter: stored 0 (white in MONOCHROME1) becomes the largest value, 4095 the smallest.
    np.testing.assert_array_equal(volume.pixels[0], 4095.0 - stored)
    assert volume.default_window == (4095.0 - 1000.0, 500.0)
    assert volume.meta["inverted_monochrome1"] is True


@pytest.mark.parametrize("signed", [False, True])
def test_bits_stored_is_honoured(tmp_path, write_dicom, signed):
    values = np.array([[0, 1, 2047, -5 if signed else 4095]], dtype=np.int64)
    raw = values & 0x0FFF  # 12-bit two's complement for the signed case
    if not signed:
        raw = raw | 0xF000  # garbage in the unused high bits must be masked off
    path = write_dicom(
        tmp_path / "b.dcm", raw.astype(np.uint16).view(np.int16) if signed else raw.astype(np.uint16),
        study="1.2", series="1.2.2", position=(0, 0, 0), bits_stored=12, signed=signed, rescale=None,
    )
    volume = load_path(path)
    np.testing.assert_array_equal(volume.pixels[0], values.astype(np.float32))


def test_load_reports_progress_and_can_be_cancelled(tmp_path, write_series):
    from covidviewer.io.cancel import Cancelled

    write_series(tmp_path, 6, size=(4, 4))
    series = _only_series(tmp_path)
    calls = []
    load_series(series, progress=lambda d, t, m: calls.append((d, t)))
    assert calls == [(k, 6) for k in range(1, 7)]
    with pytest.raises(Cancelled):
        load_series(series, cancelled=lambda: True)


def test_radiographs_of_one_series_are_separate_images(tmp_path, write_dicom):
    for i, (view, size) in enumerate([("PA", (6, 5)), ("LL", (6, 5))]):
        write_dicom(
            tmp_path / f"cr{i}.dcm", np.zeros(size, np.uint16), study="1.2", series="1.2.7", position=None,
            orientation=None, modality="CR", signed=False, rescale=None, instance=i + 1,
            extra={"ViewPosition": view},
        )
    found = scan_folder(tmp_path).series
    assert [(s.view_position, s.num_images, s.warnings) for s in found] == [("PA", 1, []), ("LL", 1, [])]
    assert "PA" in found[0].label and "LL" in found[1].label


def test_each_slice_keeps_its_own_overlay_planes_in_the_sorted_series(tmp_path, write_series):
    """Session 39: a series' overlay planes were left out. The file holding slice 1 (of 4, names and instance numbers
    shuffled) carries a one-pixel graphic: it lands on slice 1 after sorting by position, and on no other slice."""
    import pydicom
    from pydicom.pixels import pack_bits

    files = write_series(tmp_path / "ct", 4, size=(6, 5))
    marked = next(f for f in files if pydicom.dcmread(f).pixel_array[0, 0] == 1024 + 10)
    ds = pydicom.dcmread(marked)
    graphic = np.zeros((6, 5), dtype=np.uint8)
    graphic[2, 3] = 1
    for element, vr, value in [(0x0010, "US", 6), (0x0011, "US", 5), (0x0040, "CS", "G"), (0x0050, "SS", [1, 1]),
                               (0x0100, "US", 1), (0x0102, "US", 0), (0x3000, "OW", pack_bits(graphic))]:
        ds.add_new((0x6000, element), vr, value)
    ds.save_as(marked)
    volume = load_series(_only_series(tmp_path / "ct"))
    slice_1 = int(np.flatnonzero(volume.pixels[:, 0, 0] == volume.pixels[:, 0, 0].min() + 10)[0])
    assert volume.overlay_planes.shape == volume.shape
    np.testing.assert_array_equal(np.argwhere(volume.overlay_planes), [[slice_1, 2, 3]])
