"""Regression tests for issue 15 in the readers, one per defect (numbers are the issue's): every
failure is a LoadError with a message a person can act on, and odd values never reach the viewer."""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/bad_inputs.py

import bad_inputs  # noqa: E402

from covidviewer.io import LoadError, dicom_tags, load_path, load_series, scan_folder, thumbnail  # noqa: E402
from covidviewer.io.errors import reading  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")


@pytest.mark.parametrize("content", [b"\x13\x37" * 500, b"a,b\n1,2\n"], ids=["random", "csv"])
def test_1_non_dicom_named_dcm_is_a_load_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(content)
    with pytest.raises(LoadError, match="x.dcm: not a DICOM file"):
        load_path(path)
    with pytest.raises(LoadError, match="not a DICOM file"):
        dicom_tags(path)
    assert [why for _, why in scan_folder(tmp_path).unreadable] == ["not a DICOM file (no DICOM preamble or identifying attributes)"]


def test_2_symlink_loop_and_broken_link_beside_a_film(tmp_path: Path) -> None:
    bad_inputs.valid_image(tmp_path)
    os.symlink("b.dcm", tmp_path / "a.dcm")
    os.symlink("a.dcm", tmp_path / "b.dcm")
    os.symlink("nowhere.dcm", tmp_path / "c.dcm")
    result = scan_folder(tmp_path)
    reasons = {p.name: why for p, why in result.unreadable}
    assert reasons["a.dcm"].startswith("symbolic link loop") and reasons["b.dcm"].startswith("symbolic link loop")
    assert reasons["c.dcm"] == "broken symbolic link (its target nowhere.dcm does not exist)"
    assert load_path(tmp_path).shape == (1, 128, 128)  # the film beside them still loads
    with pytest.raises(LoadError, match="symbolic link loop"):
        load_path(tmp_path / "a.dcm")
    with pytest.raises(LoadError, match="symbolic link loop"):
        scan_folder(tmp_path / "a.dcm")


@pytest.mark.parametrize(
    "make, message",
    [
        (bad_inputs._palette_without_lut, r"PALETTE COLOR image whose colour lookup table is missing"),
        (bad_inputs._corrupt_j2k, r"corrupt or truncated \(RuntimeError"),
        (bad_inputs._bad_offset_table, r"corrupt or truncated \(struct\.error"),
        (bad_inputs._frames_beyond_fragments, r"corrupt or truncated \(StopIteration"),
        (bad_inputs._unknown_vr, r"NotImplementedError: Unknown Value Representation 'ZZ'"),
    ],
    ids=["palette-without-lut", "corrupt-j2k", "offset-table", "stop-iteration", "unknown-vr"],
)
def test_5_decoder_errors_are_load_errors_naming_the_file(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "case.dcm")
    with pytest.raises(LoadError, match=rf"^case\.dcm: .*{message}"):
        load_path(path)
    (series,) = scan_folder(tmp_path).series
    with pytest.raises(LoadError, match=message):
        load_series(series)
    with pytest.raises(LoadError):
        thumbnail(series)


def test_5_one_bad_slice_is_skipped_with_a_warning(tmp_path: Path) -> None:
    files = sorted(bad_inputs.ct_series(tmp_path, [0, 5, 10]).glob("*.dcm"))
    ds = pydicom.dcmread(files[1])
    ds.PhotometricInterpretation = "PALETTE COLOR"  # no lookup table: this slice cannot be decoded
    ds.save_as(files[1])
    (series,) = scan_folder(tmp_path).series
    volume = load_series(series)
    assert volume.shape[0] == 2 and any("PALETTE COLOR" in w for w in volume.warnings), volume.warnings


def test_guard_turns_any_exception_into_a_load_error() -> None:
    import struct

    with pytest.raises(LoadError, match=r"^x\.dcm: cannot decode \(struct\.error: unpack requires"):
        with reading("x.dcm", "cannot decode"):
            struct.unpack("<I", b"\x00")
    with pytest.raises(KeyboardInterrupt):
        with reading("x.dcm"):
            raise KeyboardInterrupt


@pytest.mark.parametrize("name, value", [("nan.mha", np.nan), ("inf.nrrd", np.inf)])
def test_6_non_finite_pixels_are_set_to_zero_with_a_warning(tmp_path: Path, name: str, value: float) -> None:
    volume = load_path(bad_inputs._non_finite(tmp_path / name, value))
    assert np.isfinite(volume.pixels).all()
    assert "13 non-finite pixels (NaN or Inf) set to 0" in volume.warnings
    assert np.isfinite(volume.default_window).all() and volume.default_window[1] > 0
    assert thumbnail(volume).max() > 0  # a picture, not a black "No image"


def test_6_float_tiff_with_nan(tmp_path: Path) -> None:
    image = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    image[0, :3] = np.nan
    assert cv2.imwrite(str(tmp_path / "float.tif"), image)
    volume = load_path(tmp_path / "float.tif")
    assert np.isfinite(volume.pixels).all() and volume.warnings == ["3 non-finite pixels (NaN or Inf) set to 0"]


def test_6_dicom_header_values_that_are_not_numbers(tmp_path: Path) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PixelSpacing = ["inf", "0.5"]
    ds.WindowCenter, ds.WindowWidth = "nan", "400"
    ds.RescaleSlope = "1e38"  # overflows float32 for most stored values
    ds.save_as(tmp_path / "odd.dcm")
    volume = load_path(tmp_path / "odd.dcm")
    assert np.isfinite(volume.pixels).all() and all(np.isfinite(volume.spacing))
    assert np.isfinite(volume.default_window).all()
    assert any("non-finite pixels" in w for w in volume.warnings)
    assert any("spacing" in w for w in volume.warnings) and any("window" in w for w in volume.warnings)


def test_11_messages_say_what_a_person_can_act_on(tmp_path: Path) -> None:
    for name in ("zero.dcm", "zero.png", "zero.mha", "zero.nii.gz"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(LoadError, match=r"empty file \(0 bytes\)"):
            load_path(tmp_path / name)
    missing = bad_inputs._missing_raw(tmp_path / "scan.mhd")
    with pytest.raises(LoadError, match=r"scan\.mhd: the \.raw file this header names is missing \(scan\.raw\)"):
        load_path(missing)
    (tmp_path / "text.mha").write_text("not an image")
    with pytest.raises(LoadError) as err:
        load_path(tmp_path / "text.mha")
    assert ".cxx" not in str(err.value) and "not a readable MetaImage file" in str(err.value)
    full = bad_inputs._non_finite(tmp_path / "full.nii", 0.0)
    (tmp_path / "short.nii").write_bytes(full.read_bytes()[:20_000])  # ITK would fill the rest with 0
    with pytest.raises(LoadError, match=r"short\.nii: truncated: the file holds 20000 bytes, its header needs"):
        load_path(tmp_path / "short.nii")
    reasons = {p.name: why for p, why in scan_folder(tmp_path).unreadable}
    assert reasons["zero.dcm"] == "empty file (0 bytes)" and "missing" in reasons["scan.mhd"]


def test_11_truncated_metaimage_does_not_blame_a_missing_file(tmp_path: Path) -> None:
    full = bad_inputs._non_finite(tmp_path / "full.mha", 0.0)
    (tmp_path / "cut.mha").write_bytes(full.read_bytes()[:-500])
    with pytest.raises(LoadError) as err:
        load_path(tmp_path / "cut.mha")
    assert "pixel data truncated or corrupt" in str(err.value) and "No such file" not in str(err.value)


def test_a_named_pipe_is_skipped_never_opened(tmp_path: Path) -> None:
    bad_inputs.valid_image(tmp_path)
    os.mkfifo(tmp_path / "pipe.dcm")
    found: list = []
    worker = threading.Thread(target=lambda: found.append(scan_folder(tmp_path)), daemon=True)
    worker.start()
    worker.join(30)
    assert found, "the scan blocked on a named pipe"
    assert [(p.name, why) for p, why in found[0].skipped] == [("pipe.dcm", "not a regular file (a pipe, socket or device): not read")]
    with pytest.raises(LoadError, match="not a regular file"):
        load_path(tmp_path / "pipe.dcm")
