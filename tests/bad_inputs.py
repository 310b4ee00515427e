"""The catalogue of bad inputs (issue 15), generated at test time from pydicom's own test files:
no binary blob is committed. ``build_catalogue(root)`` writes every case under ``root`` and
returns them with what each leg (inspect, predict, the viewer's loader) must say about it.

Each case is one path (a file or a folder); ``message`` is a regular expression the user-facing
output of every leg must match (a leg's own pattern in ``per_leg`` overrides it, None = that leg
only has to finish cleanly).
"""
from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import UID, generate_uid

SEED = 15


@dataclass
class BadInput:
    """One catalogue entry. predict_exit / inspect_exit: the documented exit codes for it alone."""

    name: str
    path: Path
    defect: str
    message: str
    inspect_exit: int = 0
    predict_exit: int = 1
    per_leg: dict[str, str | None] = field(default_factory=dict)

    def pattern(self, leg: str) -> str | None:
        return self.per_leg.get(leg, self.message)


def testdata(name: str) -> Path:
    return Path(get_testdata_file(name))


def _copy(name: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(testdata(name), target)
    return target


def _save(ds: pydicom.Dataset, target: Path, new_uids: bool = True) -> Path:
    """Save ``ds``; by default as an instance of its own (new study, series and SOP UIDs), so that
    a scan does not take two catalogue files for copies of one instance and keep only one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if new_uids:
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(target)
    return target


def _palette_without_lut(target: Path) -> Path:
    ds = pydicom.dcmread(testdata("OBXXXX1A.dcm"))
    for tag in [t for t in ds.keys() if 0x00281100 <= int(t) <= 0x002812FF]:  # the colour LUT module
        del ds[tag]
    return _save(ds, target)


def _corrupt_j2k(target: Path) -> Path:
    ds = pydicom.dcmread(testdata("MR_small_jp2klossless.dcm"))
    data = bytearray(ds.PixelData)
    for i in range(40, len(data), 7):  # keep the item tags, scramble the codestream
        data[i] ^= 0x5A
    ds.PixelData = bytes(data)
    return _save(ds, target)


def _bad_offset_table(target: Path) -> Path:
    ds = pydicom.dcmread(testdata("MR_small_jp2klossless.dcm"))
    data = bytearray(ds.PixelData)
    data[4:8] = (0x10000).to_bytes(4, "little")  # basic offset table longer than the data: struct.error
    ds.PixelData = bytes(data)
    return _save(ds, target)


def _frames_beyond_fragments(target: Path) -> Path:
    ds = pydicom.dcmread(testdata("MR_small_jp2klossless.dcm"))
    ds.NumberOfFrames = 2  # one fragment, two frames: StopIteration -> "generator raised StopIteration"
    return _save(ds, target)


def _unknown_vr(target: Path) -> Path:
    data = bytearray(_save(pydicom.dcmread(testdata("CT_small.dcm")), target).read_bytes())
    at = data.find(b"\x08\x00\x70\x00LO")  # Manufacturer (0008,0070), explicit VR "LO"
    data[at + 4 : at + 6] = b"ZZ"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(data))
    return target


def _unsupported_syntax(target: Path) -> Path:
    ds = pydicom.dcmread(testdata("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2: no decoder installed
    ds.PixelData = encapsulate([b"\x00" * 100])
    ds["PixelData"].VR = "OB"
    return _save(ds, target)


def _memory_bomb(target: Path) -> Path:
    ds = pydicom.dcmread(testdata("CT_small.dcm"))
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 60000  # ~1 PB as float32: refused from the header, before decoding
    return _save(ds, target)


def _itk(target: Path, pixels: np.ndarray, **kw) -> Path:
    import SimpleITK as sitk

    target.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(pixels, **kw)
    sitk.WriteImage(image, str(target))
    return target


def _non_finite(target: Path, value: float) -> Path:
    pixels = np.linspace(-1000, 400, 4 * 64 * 64, dtype=np.float32).reshape(4, 64, 64)
    pixels[1, 3:9, 5:7] = value
    pixels[2, 0, 0] = -value
    return _itk(target, pixels)


def _missing_raw(target: Path) -> Path:
    _itk(target, np.zeros((4, 8, 8), np.int16))
    target.with_suffix(".raw").unlink()
    return target


def _truncated(source: Path, target: Path, keep: float = 0.5) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


def ct_series(folder: Path, z: list[float], sizes: list[int] | None = None) -> Path:
    """CT_small copies as one series at the given positions (missing or duplicated slices)."""
    study, series = generate_uid(), generate_uid()
    for k, pos in enumerate(z):
        ds = pydicom.dcmread(testdata("CT_small.dcm"))
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.ImagePositionPatient = [0.0, 0.0, float(pos)]
        ds.InstanceNumber = k + 1
        if sizes is not None and sizes[k] != ds.Rows:
            n = sizes[k]
            ds.Rows = ds.Columns = n
            ds.PixelData = np.zeros((n, n), np.int16).tobytes()
        _save(ds, folder / f"slice{k:02d}.dcm", new_uids=False)
    return folder


def _png(target: Path, image: np.ndarray) -> Path:
    import cv2

    target.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(target), image)
    return target


def valid_film(folder: Path) -> Path:
    """A real chest CR (pydicom-data's RG1_UNCI.dcm), the valid film beside the bad ones."""
    from covidviewer.io import sample_paths

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "film.dcm"
    shutil.copy(sample_paths()["chest_cr"], target)
    return target


def valid_image(folder: Path) -> Path:
    """A small valid DICOM image (pydicom's CT_small.dcm) beside the bad files of a folder case."""
    return _save(pydicom.dcmread(testdata("CT_small.dcm")), folder / "valid.dcm")


def build_catalogue(root: Path) -> list[BadInput]:
    """Write every case under ``root`` (a fresh folder) and return them."""
    rng = random.Random(SEED)
    root.mkdir(parents=True, exist_ok=True)
    cases: list[BadInput] = []

    def add(name: str, defect: str, message: str, make: Callable[[Path], Path], **kw) -> None:
        cases.append(BadInput(name, make(root / name), defect, message, **kw))

    def write(data: bytes) -> Callable[[Path], Path]:
        def make(target: Path) -> Path:
            target.write_bytes(data)
            return target

        return make

    # 1: not DICOM, named .dcm
    add("random.dcm", "1", r"not a DICOM( or image)? file", write(bytes(rng.randrange(256) for _ in range(4096))))
    add("table.dcm", "1", r"not a DICOM( or image)? file", write(b"patient,age,label\n1,54,covid\n2,61,normal\n"))
    # 11: a zero-byte file is an empty file, whatever its name
    add("zero.dcm", "1/11", r"empty file", write(b""))
    add("zero.png", "11", r"empty file", write(b""))
    add("zero.mha", "11", r"empty file", write(b""))
    # 2: a symbolic link loop beside a valid film; a broken link
    loop = root / "link_loop"
    valid_image(loop)
    os.symlink("b.dcm", loop / "a.dcm")
    os.symlink("a.dcm", loop / "b.dcm")
    cases.append(BadInput("link_loop", loop, "2", r"symbolic link loop"))
    broken = root / "broken_link"
    valid_image(broken)
    os.symlink("gone.dcm", broken / "link.dcm")
    cases.append(BadInput("broken_link", broken, "2", r"broken symbolic link"))
    # a named pipe must be skipped, not opened (opening it would block forever)
    pipe = root / "named_pipe"
    valid_image(pipe)
    os.mkfifo(pipe / "pipe.dcm")
    cases.append(BadInput("named_pipe", pipe, "hang", r"not a regular file", predict_exit=0, per_leg={"predict": None}))
    # 5: decoder and header errors from inside pydicom and its plugins
    add("palette_no_lut.dcm", "5", r"colour lookup table is missing", _palette_without_lut)
    add("corrupt_j2k.dcm", "5", r"corrupt or truncated", _corrupt_j2k)
    add("bad_offset_table.dcm", "5", r"corrupt or truncated \(struct\.error", _bad_offset_table)
    add("frames_beyond_fragments.dcm", "5", r"corrupt or truncated", _frames_beyond_fragments)
    add("unknown_vr.dcm", "5", r"Unknown Value Representation", _unknown_vr)
    add("mpeg2.dcm", "5", r"no installed decoder", _unsupported_syntax)
    add("truncated.dcm", "5", r"truncated", lambda t: _copy("MR_truncated.dcm", t))
    add("garbage_header.dcm", "5", r"corrupt|truncated|not a DICOM",
        write(testdata("CT_small.dcm").read_bytes()[:132] + bytes(rng.randrange(256) for _ in range(300))))
    add("memory_bomb.dcm", "memory", r"would need .* of memory", _memory_bomb,
        per_leg={"inspect": r"pixel data holds \d+ bytes, the image size needs", "viewer": r"pixel data holds \d+ bytes"})
    add("no_pixels.dcm", "skip", r"DICOM without an image", lambda t: _copy("rtplan.dcm", t),
        predict_exit=1, per_leg={"predict": r"DICOM file without pixel data"})
    # 6: non-finite pixels: warned, set to 0, then shown and analysed
    add("nan.mha", "6", r"non-finite pixels? \(NaN or Inf\) set to 0", lambda t: _non_finite(t, np.nan), predict_exit=0)
    # (ITK's NIfTI reader and writer already replace NaN / Inf: NRRD carries them)
    add("inf.nrrd", "6", r"non-finite pixels? \(NaN or Inf\) set to 0", lambda t: _non_finite(t, np.inf), predict_exit=0)
    # 11: a MetaImage header whose .raw is missing; short NIfTI; text named .mha
    add("missing_raw.mhd", "11", r"the \.raw file this header names is missing", _missing_raw)
    add("short.nii", "11", r"truncated", lambda t: _truncated(_non_finite(root / "tmp_full.nii", 0.0), t, 0.6))
    (root / "tmp_full.nii").unlink()
    add("text.mha", "11", r"not a readable MetaImage file \(the header is not recognised", write(b"hello, not an image\n"))
    # 7: loader warnings that predict must carry into its JSON
    add("ct_gap", "7", r"missing slices", lambda t: ct_series(t, [0, 5, 10, 20, 25]), predict_exit=0)
    add("ct_duplicates", "7", r"duplicate", lambda t: ct_series(t, [0, 5, 5, 10]), predict_exit=0)
    add("four_d.nii.gz", "7", r"4-D image", lambda t: _itk(t, np.zeros((2, 3, 16, 16), np.int16), isVector=False), predict_exit=0)
    # 8: a valid file whose name is not UTF-8
    odd = root / "odd_name"
    odd.mkdir()
    valid_image(odd).rename(odd / os.fsdecode(b"slice_\xff\xfe.dcm"))
    cases.append(BadInput("odd_name", odd, "8", r"slice_", predict_exit=0, per_leg={"predict": None}))
    # 10: an empty folder and a folder of non-images
    (root / "empty_folder").mkdir()
    cases.append(BadInput("empty_folder", root / "empty_folder", "10", r"empty|no image found"))
    text = root / "not_images"
    text.mkdir()
    (text / "notes.txt").write_text("notes")
    (text / "labels.csv").write_text("a,b\n")
    cases.append(BadInput("not_images", text, "10", r"not an image file|no image found in .*2 file\(s\) skipped",
                          per_leg={"inspect": r"not an image file", "viewer": r"not an image file"}))
    # images: text named .png, truncated PNG, a colour photograph (refused, not an error), a 1x1 PNG
    add("text.png", "5", r"not a readable image", write(b"not a png at all"))
    gradient = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    full_png = _png(root / "tmp_full.png", gradient)
    add("truncated.png", "5", r"not a readable image|truncated|corrupt", lambda t: _truncated(full_png, t, 0.4))
    full_png.unlink()
    photo = np.zeros((120, 160, 3), np.uint8)
    photo[..., 2] = np.linspace(0, 255, 160, dtype=np.uint8)
    add("photo.png", "gate", r"colour", lambda t: _png(t, photo), predict_exit=0,
        per_leg={"inspect": None, "viewer": None})
    add("one_pixel.png", "gate", r"too small", lambda t: _png(t, np.full((1, 1), 9, np.uint8)), predict_exit=0,
        per_leg={"inspect": None, "viewer": None})
    # a folder named like a file
    (root / "folder.dcm").mkdir()
    (root / "folder.dcm" / "readme.txt").write_text("x")
    cases.append(BadInput("folder.dcm", root / "folder.dcm", "10", r"not an image file|no image found",
                          per_leg={"inspect": r"not an image file", "viewer": r"not an image file"}))
    return cases
