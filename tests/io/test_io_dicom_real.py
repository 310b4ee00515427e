"""Real DICOM files shipped by pydicom and pydicom-data: photometry, compression, multi-frame."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from covidviewer.imaging import window_to_uint8
from covidviewer.io import load_path, sample_paths, scan_folder


def _file(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} not installed (pydicom-data missing)")
    return Path(path)


def test_rg1_unci_chest_cr_is_inverted_so_lungs_are_dark():
    path = sample_paths()["chest_cr"]
    assert path.name == "RG1_UNCI.dcm"
    volume = load_path(path)
    stored = pydicom.dcmread(path).pixel_array.astype(np.float32)
    assert volume.meta["photometric"] == "MONOCHROME1" and volume.meta["inverted_monochrome1"]
    assert volume.modality == "CR" and volume.meta["body_part"] == "CHEST" and volume.meta["view_position"] == "PA"
    assert volume.shape == (1, 1955, 1841)
    # BitsStored = 15: values mirror inside 0 .. 2**15 - 1.
    np.testing.assert_array_equal(volume.pixels[0], 32767.0 - stored)
    # The file's window (15000, 30000) is mirrored with the data.
    assert volume.default_window == (32767.0 - 15000.0, 30000.0)
    shown = window_to_uint8(volume.pixels[0], *volume.default_window).astype(float)
    h, w = shown.shape
    right_lung = shown[int(0.25 * h) : int(0.45 * h), int(0.18 * w) : int(0.33 * w)].mean()
    left_lung = shown[int(0.25 * h) : int(0.45 * h), int(0.62 * w) : int(0.78 * w)].mean()
    mediastinum = shown[int(0.30 * h) : int(0.60 * h), int(0.45 * w) : int(0.53 * w)].mean()
    assert right_lung < mediastinum - 20 and left_lung < mediastinum - 20, (right_lung, left_lung, mediastinum)


@pytest.mark.parametrize(
    ("compressed", "reference"),
    [
        ("MR_small_RLE.dcm", "MR_small.dcm"),  # RLE Lossless
        ("MR_small_jp2klossless.dcm", "MR_small.dcm"),  # JPEG 2000 lossless
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),  # JPEG-LS lossless
        ("MR_small_bigendian.dcm", "MR_small.dcm"),  # explicit VR big endian
        ("emri_small_RLE.dcm", "emri_small.dcm"),  # multi-frame RLE
        ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm"),  # multi-frame JPEG 2000
        ("emri_small_jpeg_ls_lossless.dcm", "emri_small.dcm"),  # multi-frame JPEG-LS
        ("RG1_J2KR.dcm", "RG1_UNCR.dcm"),  # JPEG 2000 MONOCHROME1 chest radiograph
    ],
)
def test_lossless_compressed_files_equal_their_uncompressed_twins(compressed, reference):
    ours = load_path(_file(compressed))
    ref = load_path(_file(reference))
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(ours.pixels, ref.pixels)
    assert ours.default_window == ref.default_window


@pytest.mark.parametrize("name", ["JPEG-LL.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm"])
def test_jpeg_lossless_decodes_through_the_plugins(name):
    path = _file(name)
    ds = pydicom.dcmread(path)
    volume = load_path(path)
    slope = float(ds.get("RescaleSlope", 1))
    intercept = float(ds.get("RescaleIntercept", 0))
    assert volume.shape == (1, int(ds.Rows), int(ds.Columns))
    np.testing.assert_array_equal(volume.pixels[0], ds.pixel_array.astype(np.float32) * slope + intercept)
    assert volume.pixels.std() > 0


def test_rle_compressed_generated_series_sorts_like_the_native_one(tmp_path, write_series):
    from pydicom.uid import RLELossless

    files = write_series(tmp_path, 6, size=(8, 8))
    for f in files:
        ds = pydicom.dcmread(f)
        ds.compress(RLELossless)
        ds.save_as(f)
    series = scan_folder(tmp_path).series
    assert len(series) == 1
    assert series[0].transfer_syntax == str(RLELossless)
    volume = load_path(tmp_path)
    np.testing.assert_array_equal(volume.pixels[:, 0, 0], 10.0 * np.arange(6))


def test_enhanced_multiframe_ct_uses_per_frame_positions():
    volume = load_path(_file("eCT_Supplemental.dcm"))
    assert volume.shape == (2, 512, 512)
    ds = pydicom.dcmread(_file("eCT_Supplemental.dcm"), stop_before_pixels=True)
    z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in ds.PerFrameFunctionalGroupsSequence]
    assert volume.spacing[0] == pytest.approx(abs(z[1] - z[0]))
    assert volume.spacing[1:] == pytest.approx((0.388672, 0.388672))
    # Rescale and window come from the functional groups.
    assert volume.pixels.min() == pytest.approx(-1024.0)
    assert volume.default_window == (49.0, 102.0)


def test_rtdose_frames_are_placed_by_grid_frame_offsets():
    volume = load_path(_file("rtdose.dcm"))
    assert volume.shape == (15, 10, 10)
    assert volume.spacing == pytest.approx((5.0, 10.0, 10.0))
    assert volume.meta["last_position"][2] - volume.meta["first_position"][2] == pytest.approx(70.0)


def test_voi_lut_sequence_is_applied():
    path = _file("vlut_04.dcm")
    ds = pydicom.dcmread(path)
    volume = load_path(path)
    assert volume.meta["voi_lut_applied"] is True
    lut = np.asarray(ds.VOILUTSequence[0].LUTData)
    first_mapped = int(ds.VOILUTSequence[0].LUTDescriptor[1])
    stored = ds.pixel_array.astype(np.int64)
    expected = lut[np.clip(stored - first_mapped, 0, len(lut) - 1)]
    np.testing.assert_array_equal(volume.pixels[0], expected.astype(np.float32))
    assert volume.default_window == (65535 / 2, 65535.0)


def test_colour_dicom_keeps_rgb_and_palette_becomes_rgb():
    rgb = load_path(_file("US1_UNCR.dcm"))
    assert rgb.is_rgb and rgb.pixels.shape == (1, 480, 640, 3)
    palette = load_path(_file("OBXXXX1A_2frame.dcm"))
    assert palette.is_rgb and palette.pixels.shape[0] == 2 and palette.pixels.shape[-1] == 3


def test_uncompressed_ybr_full_422_is_read_at_two_samples_a_pixel():
    # Session 39: the size check counted three samples a pixel and refused the file as short of bytes.
    ybr = load_path(_file("SC_ybr_full_422_uncompressed.dcm"))
    rgb = load_path(_file("SC_rgb.dcm"))  # the same picture stored as RGB
    assert ybr.is_rgb and ybr.pixels.shape == rgb.pixels.shape == (1, 100, 100, 3)
    # chroma shared by each pair of pixels, then rounded: a few levels apart, never a different picture
    assert np.abs(ybr.pixels.astype(np.float64) - rgb.pixels).max() <= 8
    scan = scan_folder(_file("SC_ybr_full_422_uncompressed.dcm"))
    assert not scan.unreadable and len(scan.studies) == 1


def test_deflated_transfer_syntax_is_not_taken_for_a_truncated_file():
    # Session 39: the pixel data's offset is in the inflated stream, past the end of the smaller file.
    path = _file("image_dfl.dcm")
    volume = load_path(path)
    np.testing.assert_array_equal(volume.pixels[0], pydicom.dcmread(path).pixel_array.astype(np.float32))
    scan = scan_folder(path)
    assert not scan.unreadable and len(scan.studies) == 1


def test_ct_small_is_in_hounsfield_units():
    path = sample_paths()["ct"]
    ds = pydicom.dcmread(path)
    volume = load_path(path)
    np.testing.assert_array_equal(volume.pixels[0], ds.pixel_array * 1.0 - 1024.0)
    assert volume.modality == "CT" and volume.meta["rescale_type"] == "HU"
    assert volume.spacing[1:] == pytest.approx((0.661468, 0.661468))


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"ShutterShape": "RECTANGULAR", "ShutterLeftVerticalEdge": 101, "ShutterRightVerticalEdge": 1800,
          "ShutterUpperHorizontalEdge": 51, "ShutterLowerHorizontalEdge": 1700},
         {"shapes": ["RECTANGULAR"], "value": 0.0, "rectangle": (101.0, 1800.0, 51.0, 1700.0)}),
        ({"ShutterShape": ["CIRCULAR", "RECTANGULAR"], "CenterOfCircularShutter": [900, 950],
          "RadiusOfCircularShutter": 800, "ShutterLeftVerticalEdge": 1, "ShutterRightVerticalEdge": 1900,
          "ShutterUpperHorizontalEdge": 1, "ShutterLowerHorizontalEdge": 1800, "ShutterPresentationValue": 0xFFFF},
         {"shapes": ["RECTANGULAR", "CIRCULAR"], "value": 1.0, "rectangle": (1.0, 1900.0, 1.0, 1800.0),
          "circle": (900.0, 950.0, 800.0)}),
        ({"ShutterShape": "RECTANGULAR", "ShutterLeftVerticalEdge": 101}, None),  # edges missing: no shutter
        ({}, None),
    ],
    ids=["rectangle", "circle and rectangle, white", "incomplete", "none"],
)
def test_display_shutter_is_read_from_the_header(edited_dicom, tags, expected):
    assert load_path(edited_dicom(_file("RG1_UNCI.dcm"), **tags)).meta["display_shutter"] == expected


@pytest.mark.parametrize("tags, function", [
    ({"VOILUTFunction": "SIGMOID"}, "SIGMOID"),
    ({"VOILUTFunction": "LINEAR_EXACT"}, "LINEAR"),
    ({}, "LINEAR"),
    ({"VOILUTFunction": "SIGMOID", "WindowCenter": None, "WindowWidth": None}, "LINEAR"),  # no window to shape
])
def test_voi_lut_function_is_read_with_the_window(edited_dicom, tags, function):
    assert load_path(edited_dicom(_file("RG1_UNCI.dcm"), **tags)).meta["voi_function"] == function


def test_overlay_planes_are_read_as_a_mask_at_their_origin(tmp_path):
    """pydicom's MR with an overlay plane (graphics at origin 1\\1): the mask is the plane; moved by its origin, it is
    cut to the image; a film without overlays has none."""
    import pydicom

    ds = pydicom.dcmread(_file("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    plane = ds.overlay_array(0x6000).astype(bool)
    volume = load_path(_file("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    np.testing.assert_array_equal(volume.overlay_planes[0], plane)
    ds[0x6000, 0x0050].value = [101, 51]  # its first pixel at row 101, column 51
    ds.save_as(tmp_path / "moved.dcm")
    moved = load_path(tmp_path / "moved.dcm").overlay_planes[0]
    np.testing.assert_array_equal(moved[100:, 50:], plane[:-100, :-50])
    assert not moved[:100].any() and not moved[:, :50].any()
    assert load_path(_file("RG1_UNCI.dcm")).overlay_planes is None


def test_a_radiograph_s_pixel_padding_is_left_out_of_a_window_made_from_its_data(tmp_path):
    """The built-in CR without its window, its left 200 columns filled with padding (0, the outside of the exposed
    field): the default window spans the film, not the padding; without Pixel Padding Value it spans both."""
    import pydicom

    ds = pydicom.dcmread(_file("RG1_UNCI.dcm"))
    del ds.WindowCenter, ds.WindowWidth
    pixels = ds.pixel_array.copy()
    pixels[:, :200] = 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(tmp_path / "unpadded.dcm")
    ds.add_new((0x0028, 0x0120), "US", 0)  # Pixel Padding Value (US: unsigned pixels)
    ds.save_as(tmp_path / "padded.dcm")
    whole, padded = load_path(tmp_path / "unpadded.dcm"), load_path(tmp_path / "padded.dcm")
    film = padded.pixels[0][:, 200:]
    low, high = float(film.min()), float(film.max())
    assert padded.default_window == pytest.approx(((low + high) / 2, high - low))
    assert whole.default_window[1] > padded.default_window[1]


def test_a_presentation_lut_shape_that_contradicts_monochrome2_is_named_not_obeyed(edited_dicom):
    # Session 39: vendors' DX objects carry INVERSE wrongly (dcm4chee-arc-light #3155); the photometric interpretation
    # decides, and the reader is told of the contradiction.
    film = _file("RG1_UNCI.dcm")
    as_stored = load_path(edited_dicom(film, "m2.dcm", PhotometricInterpretation="MONOCHROME2"))
    told = load_path(edited_dicom(film, "m2_inverse.dcm", PhotometricInterpretation="MONOCHROME2",
                                  PresentationLUTShape="INVERSE"))
    np.testing.assert_array_equal(told.pixels, as_stored.pixels)
    assert [w for w in told.warnings if "Presentation LUT Shape INVERSE" in w]
    assert not [w for w in as_stored.warnings if "Presentation LUT Shape" in w]
    consistent = load_path(edited_dicom(film, "m1_inverse.dcm", PresentationLUTShape="INVERSE"))  # MONOCHROME1
    assert consistent.meta["inverted_monochrome1"] and not [w for w in consistent.warnings if "Presentation LUT" in w]


def test_a_file_s_further_windows_are_kept_beside_its_first(edited_dicom):
    # Session 39: only the first WindowCenter/Width pair was read; Weasis lists them all.
    mr = load_path(_file("examples_overlay.dcm"))
    assert mr.default_window == (450.0, 790.0) and mr.meta["file_windows"] == [(200.0, 443.0, "WINDOW2")]
    film = load_path(edited_dicom(_file("RG1_UNCI.dcm"), WindowCenter=[15000, 12000, 18000], WindowWidth=[30000, 20000, 0],
                                  WindowCenterWidthExplanation=["NORMAL", "HARDER", "BROKEN"]))
    # MONOCHROME1: every window is mirrored with the data (values 0 .. 32767); a width of 0 is no window
    assert film.default_window == (32767.0 - 15000.0, 30000.0)
    assert film.meta["file_windows"] == [(32767.0 - 12000.0, 20000.0, "HARDER")]
    assert load_path(_file("RG1_UNCI.dcm")).meta["file_windows"] == []
