"""Folder scanning: DICOMDIR, progress and cancel, thumbnails, tag inspector rows, samples."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from covidviewer.io import LoadError, dicom_tags, load_path, sample_paths, scan_folder, thumbnail

DICOMDIR_TESTS = Path(get_testdata_file("DICOMDIR")).parent


def _referenced_count(dicomdir: Path) -> int:
    ds = pydicom.dcmread(dicomdir)
    return sum(1 for r in ds.DirectoryRecordSequence if r.get("ReferencedFileID"))


def test_scanning_a_dicomdir_lists_its_referenced_series(tmp_path):
    # A copy holding only the DICOMDIR and the files it references (the test folder has variants).
    root = tmp_path / "media"
    shutil.copytree(DICOMDIR_TESTS, root, ignore=shutil.ignore_patterns("DICOMDIR-*", "*.txt", "TINY_ALPHA"))
    result = scan_folder(root / "DICOMDIR")
    n_files = _referenced_count(root / "DICOMDIR")
    assert sum(len(s.files) for s in result.series) == n_files
    assert all(s.from_dicomdir == root / "DICOMDIR" for s in result.series)
    assert {s.modality for s in result.series} >= {"CT", "MR", "CR"}
    patients = {r.PatientID for r in pydicom.dcmread(root / "DICOMDIR").DirectoryRecordSequence if r.DirectoryRecordType == "PATIENT"}
    assert {st.patient_id for st in result.studies} == patients
    # Scanning the folder finds the same files once, not twice.
    folder = scan_folder(root)
    assert sum(len(s.files) for s in folder.series) == n_files


def test_dicomdir_with_missing_files_warns(tmp_path):
    root = tmp_path / "media"
    shutil.copytree(DICOMDIR_TESTS, root, ignore=shutil.ignore_patterns("DICOMDIR-*", "*.txt", "TINY_ALPHA"))
    shutil.rmtree(root / "77654033")
    result = scan_folder(root / "DICOMDIR")
    assert any("do not exist" in w for w in result.warnings)
    assert result.series  # the other patients are still listed


def test_progress_reports_every_file_and_cancel_stops(tmp_path, write_series):
    write_series(tmp_path, 6, size=(4, 4))
    (tmp_path / "notes.txt").write_text("x")
    calls: list[tuple[int, int, str]] = []
    result = scan_folder(tmp_path, progress=lambda d, t, m: calls.append((d, t, m)))
    assert [d for d, _, _ in calls] == list(range(1, 8))
    assert all(t == 7 for _, t, _ in calls)
    assert not result.cancelled

    stopped = scan_folder(tmp_path, cancelled=lambda: True)
    assert stopped.cancelled and stopped.studies == []


def test_study_fields_come_from_the_headers(tmp_path, write_series):
    write_series(tmp_path, 3, size=(4, 4), study="1.2.840.1")
    (study,) = scan_folder(tmp_path).studies
    assert (study.uid, study.patient_name, study.patient_id, study.study_date) == ("1.2.840.1", "Test^Patient", "P1", "20200401")
    assert study.modalities == {"CT"} and study.num_images == 3
    (series,) = study.series
    assert series.estimated_bytes == 3 * 4 * 4 * 4


def test_file_without_preamble_is_read_when_named_dcm(tmp_path):
    # Old scanners write bare datasets: no 128-byte preamble, no "DICM", no file meta.
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.preamble = None
    del ds.file_meta
    for name in ("bare.dcm", "bare.bin"):
        pydicom.dcmwrite(tmp_path / name, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert pydicom.dcmread(tmp_path / "bare.dcm", force=True).preamble is None
    result = scan_folder(tmp_path)
    assert [s.files[0].name for s in result.series] == ["bare.dcm"]
    assert [p.name for p, _ in result.skipped] == ["bare.bin"]
    assert load_path(tmp_path / "bare.dcm").pixels.min() == pytest.approx(-896.0)


def test_thumbnail_of_series_and_volume(tmp_path, write_series):
    write_series(tmp_path, 5, size=(10, 20), window=(20.0, 40.0))  # slice k = 10 k HU
    (series,) = scan_folder(tmp_path).series
    thumb = thumbnail(series, size=32)
    assert thumb.shape == (32, 32) and thumb.dtype == np.uint8
    # The middle slice along the normal (k = 2, 20 HU) shows mid-grey in a (20, 40) window.
    assert thumb[16, 16] == pytest.approx(128, abs=2)
    # Letterboxed: 10 rows of 0.7 mm vs 20 columns of 0.8 mm -> wide image, black bars above/below.
    assert thumb[0, 16] == 0 and thumb[31, 16] == 0
    volume = load_path(sample_paths()["chest_cr"])
    assert thumbnail(volume, size=48).shape == (48, 48)


def test_dicom_tags_lists_header_and_nested_sequences():
    rows = dicom_tags(get_testdata_file("eCT_Supplemental.dcm"))
    by_keyword = {kw: (tag, vr, value) for tag, kw, vr, value in rows}
    assert by_keyword["TransferSyntaxUID"][0] == "(0002,0010)"
    assert by_keyword["Modality"] == ("(0008,0060)", "CS", "CT")
    assert by_keyword["PixelData"][2].startswith("<") and "bytes" in by_keyword["PixelData"][2]
    nested = [r for r in rows if r[1] == "ImageOrientationPatient" and r[0].startswith("  ")]
    assert nested, "elements inside functional-group sequences are listed, indented"
    seq = by_keyword["SharedFunctionalGroupsSequence"]
    assert seq[1] == "SQ" and seq[2] == "1 item(s)"
    with pytest.raises(LoadError):
        dicom_tags(Path(__file__))


def test_sample_paths_are_installed_files():
    samples = sample_paths()
    assert samples["chest_cr"].name == "RG1_UNCI.dcm" and samples["chest_cr"].is_file()
    assert samples["ct"].name == "CT_small.dcm" and samples["ct"].is_file()
    for path in samples.values():
        assert load_path(path).pixels.size > 0
