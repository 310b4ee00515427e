"""Measurements without Qt: lengths, angles, ROI statistics, calibration, records and the store."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from covidviewer.imaging.measurement_store import (
    MeasurementStore,
    measurements_document,
    series_key,
    write_measurements_json,
)
from covidviewer.imaging.measurements import (
    DETECTOR_NOTE,
    IMAGER_NOTE,
    Angle,
    Length,
    Measurement,
    RegionOfInterest,
    angle_deg,
    calibration_of,
    image_outline,
    length_mm,
    measure_angle,
    measure_length,
    measure_roi,
    roi_mask,
    roi_stats,
    roi_values,
)
from covidviewer.io import load_path, sample_paths
from covidviewer.io.pixel_spacing import MAGNIFICATION_CORRECTED
from covidviewer.io.volume import Volume


@pytest.mark.parametrize("p0, p1, spacing, expected", [
    ((0, 0, 0), (0, 0, 10), (1, 1, 1), 10.0),
    ((0, 0, 0), (0, 3, 4), (1, 1, 1), 5.0),
    ((0, 0, 0), (0, 3, 4), (2.5, 0.5, 0.5), 2.5),  # in-plane spacing scales both axes
    ((0, 0, 0), (0, 10, 0), (1, 0.7, 0.35), 7.0),  # anisotropic pixels: rows count 0.7 mm
    ((0, 0, 0), (0, 0, 10), (1, 0.7, 0.35), 3.5),
    ((2, 5, 5), (4, 5, 5), (2.5, 0.7, 0.7), 5.0),  # along z (a coronal or sagittal measurement)
    ((1, 1, 1), (1, 1, 1), (1, 1, 1), 0.0),
])
def test_length_in_millimetres(p0, p1, spacing, expected):
    assert length_mm(p0, p1, spacing) == pytest.approx(expected)


@pytest.mark.parametrize("points, spacing, expected", [
    ([(0, 0, 10), (0, 0, 0), (0, 10, 0)], (1, 1, 1), 90.0),
    ([(0, 0, 10), (0, 0, 0), (0, 10, 10)], (1, 1, 1), 45.0),
    ([(0, 0, 10), (0, 0, 0), (0, 0, -10)], (1, 1, 1), 180.0),
    ([(0, 0, 10), (0, 0, 0), (0, 0, 5)], (1, 1, 1), 0.0),
    ([(0, 0, 10), (0, 0, 0), (0, 10, 10)], (1, 2, 1), math.degrees(math.atan2(20, 10))),  # true mm, not pixels
    ([(0, 0, 0), (0, 0, 10), (0, 5, 0), (0, 5 + 10, 10)], (1, 1, 1), 45.0),  # two lines
    ([(0, 0, 0), (0, 0, 10), (0, 15, 10), (0, 5, 0)], (1, 1, 1), 45.0),  # second line drawn backwards
    ([(0, 0, 0), (0, 0, 10), (0, 5, 0), (0, 5, 10)], (1, 1, 1), 0.0),  # parallel lines
])
def test_angle_in_degrees(points, spacing, expected):
    assert angle_deg(points, spacing) == pytest.approx(expected)


def test_angle_needs_three_or_four_points():
    with pytest.raises(ValueError, match="3 or 4"):
        angle_deg([(0, 0, 0), (0, 1, 1)], (1, 1, 1))


@pytest.mark.parametrize("corners, shape, expected_count", [
    (((1, 1), (3, 3)), "rectangle", 9),  # centres on the outline count
    (((0.5, 0.5), (3.5, 3.5)), "rectangle", 9),
    (((1, 1), (5, 5)), "ellipse", 13),  # radius 2 disc on the pixel grid
    (((5, 5), (1, 1)), "ellipse", 13),  # drawn from the other corner
    (((2.2, 2.2), (2.4, 2.4)), "ellipse", 1),  # too small for any centre: the nearest pixel
    (((-5, -5), (2, 2)), "rectangle", 9),  # clipped to the image
])
def test_roi_mask_counts_pixel_centres_inside(corners, shape, expected_count):
    assert int(roi_mask((8, 8), *corners, shape).sum()) == expected_count


def test_roi_statistics_of_a_known_patch():
    image = np.zeros((10, 10), np.float32)
    image[2:5, 2:5] = np.arange(9, dtype=np.float32).reshape(3, 3)  # 0..8
    stats = roi_stats(image, (2, 2), (4, 4), "rectangle", pixel_size=(0.5, 2.0))
    assert (stats.mean, stats.minimum, stats.maximum, stats.n_pixels) == (4.0, 0.0, 8.0, 9)
    assert stats.sd == pytest.approx(np.std(np.arange(9), ddof=1))
    assert stats.area == pytest.approx(2 * 0.5 * 2 * 2.0)
    ellipse = roi_stats(image, (2, 2), (4, 4), "ellipse", pixel_size=(0.5, 2.0))
    assert ellipse.area == pytest.approx(math.pi / 4 * 4.0)
    rgb = roi_stats(np.stack([image, image * 2, image * 3], axis=2), (2, 2), (4, 4), "rectangle")
    assert rgb.mean == pytest.approx(8.0)  # the channels' mean


def test_roi_of_a_ct_slice_is_in_hounsfield_units_of_that_slice():
    pixels = np.full((3, 20, 20), -1000.0, np.float32)
    pixels[1, 5:15, 5:15] = 40.0
    volume = Volume(pixels, spacing=(2.5, 0.7, 0.7), modality="CT")
    calibration = calibration_of(volume)
    roi = measure_roi(volume, "axial", 1, 0, [(1, 6, 6), (1, 13, 13)], "ellipse", calibration)
    assert (roi.mean, roi.sd, roi.minimum, roi.maximum) == (40.0, 0.0, 40.0, 40.0)
    assert roi.area == pytest.approx(math.pi / 4 * (7 * 0.7) ** 2) and roi.area_unit == "mm\u00b2"
    assert "mean 40.0 HU" in roi.label()
    other_slice = measure_roi(volume, "axial", 0, 0, [(0, 6, 6), (0, 13, 13)], "ellipse", calibration)
    assert other_slice.mean == -1000.0
    # a coronal ROI (slice axis y) reads the (z, x) plane
    coronal = measure_roi(volume, "coronal", 10, 1, [(0, 10, 6), (2, 10, 13)], "rectangle", calibration)
    assert coronal.minimum == -1000.0 and coronal.maximum == 40.0 and coronal.n_pixels == 3 * 8


@pytest.mark.parametrize("meta, modality, unit, scale, offset", [
    ({}, "CT", "HU", 1, 0),
    ({"format": "dicom"}, "CR", "", 1, 0),
    ({"format": "dicom", "inverted_monochrome1": True, "bits_stored": 12}, "CR", "", -1, 4095),
    ({"format": "dicom", "inverted_monochrome1": True, "bits_stored": 12, "rescale_slope": 2.0,
      "rescale_intercept": -10.0}, "CR", "", -1, -10 + 4095 * 2 - 10),
    ({"format": "dicom", "inverted_monochrome1": True, "bits_stored": 8, "pixel_representation": 1}, "DX", "", -1, -1),
    ({"format": "dicom", "inverted_monochrome1": True, "voi_lut_applied": True, "bits_stored": 12}, "CR", "", 1, 0),
])
def test_roi_reports_hu_on_ct_and_stored_values_otherwise(meta, modality, unit, scale, offset):
    """MONOCHROME1 films are inverted for display by the reader; the ROI gives the file's values back."""
    pixels = np.full((1, 8, 8), 40.0, np.float32)
    pixels[0, 0, 0] = 10.0
    volume = Volume(pixels, modality=modality, meta=meta)
    roi = measure_roi(volume, "axial", 0, 0, [(0, 0, 0), (0, 7, 7)], "rectangle", calibration_of(volume))
    assert roi.value_unit == unit
    assert roi.mean == pytest.approx(offset + scale * float(pixels.mean()))
    assert (roi.minimum, roi.maximum) == tuple(sorted((offset + scale * 10.0, offset + scale * 40.0)))
    assert roi.sd == pytest.approx(float(pixels.std(ddof=1)))
    assert roi_values(volume).note


CR = sample_paths()["chest_cr"]  # its PixelSpacing is 0\\0: no spacing until a case gives one


@pytest.mark.parametrize("changes, spacing, source, note", [
    ({}, 1.0, "none", "no PixelSpacing or ImagerPixelSpacing in the file: sizes in pixels"),
    ({"PixelSpacing": None, "ImagerPixelSpacing": [0.2, 0.2]}, 0.2, "ImagerPixelSpacing", IMAGER_NOTE),
    # the detector's size taken to the patient, as OHIF measures: 0.2 / 1.25
    ({"PixelSpacing": None, "ImagerPixelSpacing": [0.2, 0.2], "EstimatedRadiographicMagnificationFactor": 1.25},
     0.16, MAGNIFICATION_CORRECTED, "magnification factor 1.25: sizes estimated at the patient"),
    ({"PixelSpacing": None, "ImagerPixelSpacing": [0.2, 0.2], "EstimatedRadiographicMagnificationFactor": 0.5},
     0.2, "ImagerPixelSpacing", IMAGER_NOTE),  # a factor under 1 is not a magnification: not applied
    ({"PixelSpacing": [0.2, 0.2], "ImagerPixelSpacing": [0.2, 0.2]}, 0.2, "PixelSpacing", DETECTOR_NOTE),
    ({"PixelSpacing": [0.16, 0.16], "ImagerPixelSpacing": [0.2, 0.2], "PixelSpacingCalibrationType": "GEOMETRY"},
     0.16, "PixelSpacing", "PixelSpacing calibrated by the modality (GEOMETRY)"),
    ({"PixelSpacing": [0.16, 0.16], "ImagerPixelSpacing": [0.2, 0.2]}, 0.16, "PixelSpacing",
     "PixelSpacing calibrated by the modality (calibrated)"),
    ({"PixelSpacing": [0.7, 0.7]}, 0.7, "PixelSpacing", ""),
])
def test_calibration_says_which_spacing_a_radiograph_is_measured_with(edited_dicom, changes, spacing, source, note):
    volume = load_path(edited_dicom(CR, **changes) if changes else CR)
    calibration = calibration_of(volume)
    assert calibration.source == source
    assert calibration.spacing[1:] == pytest.approx((spacing, spacing))
    assert note in calibration.note if note else calibration.note == ""
    assert volume.spacing[1:] == pytest.approx(calibration.spacing[1:] if calibration.unit == "mm" else (1.0, 1.0))


@pytest.mark.parametrize("meta, unit, source", [
    ({"format": "image"}, "px", "none"),
    ({"format": "nifti"}, "mm", "NIFTI header"),
    ({}, "mm", "voxel spacing"),
])
def test_calibration_of_files_without_dicom_attributes(meta, unit, source):
    volume = Volume(np.zeros((1, 4, 4), np.float32), spacing=(1.0, 0.2, 0.2), meta=meta)
    calibration = calibration_of(volume)
    assert (calibration.unit, calibration.source) == (unit, source)
    assert calibration.spacing == ((1.0, 1.0, 1.0) if unit == "px" else (1.0, 0.2, 0.2))


def sample_measurements():
    volume = Volume(np.arange(2 * 10 * 10, dtype=np.float32).reshape(2, 10, 10), spacing=(3.0, 0.5, 0.5),
                    modality="CT")
    calibration = calibration_of(volume)
    return volume, calibration, [
        measure_length("axial", 1, 0, [(1, 0, 0), (1, 0, 8)], calibration),
        measure_angle("axial", 1, 0, [(1, 0, 8), (1, 0, 0), (1, 8, 0)], calibration),
        measure_angle("coronal", 4, 1, [(0, 4, 0), (0, 4, 8), (1, 4, 0), (1, 4, 8)], calibration),
        measure_roi(volume, "axial", 0, 0, [(0, 2, 2), (0, 6, 6)], "rectangle", calibration),
    ]


def test_records_round_trip_and_carry_what_the_sr_writer_needs():
    _volume, _calibration, measurements = sample_measurements()
    for measurement in measurements:
        data = json.loads(json.dumps(measurement.to_dict()))
        assert {"kind", "plane", "slice_index", "points", "value", "unit", "spacing_source"} <= set(data)
        assert Measurement.from_dict(data) == measurement
    length, angle, lines, roi = measurements
    assert isinstance(length, Length) and (length.value, length.unit, length.label()) == (4.0, "mm", "4.0 mm")
    assert isinstance(angle, Angle) and angle.value == pytest.approx(90.0) and angle.label() == "90.0\u00b0"
    assert lines.value == 0.0 and lines.image_points() is None  # a reformat has no stored frame
    assert length.to_dict()["image_points"] == [[0.5, 0.5], [8.5, 0.5]]  # DICOM SCOORD (column, row)
    assert isinstance(roi, RegionOfInterest) and roi.to_dict()["kind"] == "roi" and roi.unit == "HU"


@pytest.mark.parametrize("change, message", [
    ({"kind": "circle"}, "unknown measurement kind"),
    ({"colour": "red"}, "unknown field"),
    ({"points": [[0, 0, 0]]}, "needs"),
    ({"shape": "star"}, "ROI shape"),
])
def test_bad_records_are_refused_by_name(change, message):
    data = sample_measurements()[2][3].to_dict() | change
    with pytest.raises(ValueError, match=message):
        Measurement.from_dict(data)


def test_store_keeps_measurements_per_series_in_its_own_folder(tmp_path):
    volume, _calibration, measurements = sample_measurements()
    volume.meta["series_uid"] = "1.2.3.4"
    store = MeasurementStore(tmp_path / "store")
    key = series_key(volume)
    assert key == "series:1.2.3.4"
    path = store.save(key, measurements, volume.shape)
    assert path.parent == tmp_path / "store" and "1.2.3.4" not in path.name
    assert store.load(key, volume.shape).measurements == measurements
    assert store.load("series:9.9", volume.shape).measurements == []
    other_size = store.load(key, (3, 10, 10))
    assert other_size.measurements == [] and "ignored" in other_size.problems[0]
    store.save(key, [], volume.shape)
    assert not path.exists()


def test_store_reports_a_damaged_file_and_bad_records(tmp_path):
    volume, _calibration, measurements = sample_measurements()
    store = MeasurementStore(tmp_path)
    key = "series:5"
    store.save(key, measurements[:2])
    data = json.loads(store.path_for(key).read_text())
    data["measurements"][1]["kind"] = "spline"
    store.path_for(key).write_text(json.dumps(data))
    loaded = store.load(key)
    assert loaded.measurements == measurements[:1] and "spline" in loaded.problems[0]
    store.path_for(key).write_text("{not json")
    assert store.load(key).problems and store.load(key).measurements == []


def test_series_key_without_uid_hashes_the_file_paths(tmp_path):
    volume = Volume(np.zeros((1, 2, 2), np.float32), sources=[tmp_path / "b.png"])
    key = series_key(volume)
    assert key.startswith("files:") and str(tmp_path) not in key
    assert key == series_key(Volume(np.zeros((1, 2, 2), np.float32), sources=[tmp_path / "x" / ".." / "b.png"]))
    with pytest.raises(ValueError):
        series_key(Volume(np.zeros((1, 2, 2), np.float32)))


def test_export_document_has_no_patient_data(tmp_path):
    volume, calibration, measurements = sample_measurements()
    volume.meta.update(series_uid="1.2", study_uid="1.1", patient_name="Doe^Jane")
    path = write_measurements_json(tmp_path / "m.json", measurements, volume, calibration)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document == json.loads(json.dumps(measurements_document(measurements, volume, calibration)))
    assert document["series_uid"] == "1.2" and len(document["measurements"]) == 4
    assert "Doe" not in path.read_text(encoding="utf-8")


def test_image_outline_is_what_an_sr_draws_on_the_stored_frame():
    volume, calibration, (length, angle, lines, rectangle) = sample_measurements()
    assert image_outline(length) == [(0.5, 0.5), (8.5, 0.5)]  # (column, row), the image corner at (0, 0)
    assert image_outline(angle) == [(8.5, 0.5), (0.5, 0.5), (0.5, 8.5)]
    assert image_outline(lines) is None  # a reformat; and two lines are not one polyline
    assert image_outline(rectangle) == [(2.5, 2.5), (6.5, 2.5), (6.5, 6.5), (2.5, 6.5)]
    ellipse = measure_roi(volume, "axial", 0, 0, [(0, 2, 2), (0, 6, 8)], "ellipse", calibration)
    outline = np.array(image_outline(ellipse, ellipse_points=8))
    assert outline.shape == (8, 2)
    assert outline[:, 0].min() == pytest.approx(2.5) and outline[:, 0].max() == pytest.approx(8.5)
    assert outline[:, 1].min() == pytest.approx(2.5) and outline[:, 1].max() == pytest.approx(6.5)
    axial_lines = measure_angle("axial", 1, 0, [(1, 0, 0), (1, 0, 8), (1, 4, 0), (1, 4, 8)], calibration)
    assert image_outline(axial_lines) is None
