"""Seeded fuzz corpus for the readers (issue 15): real DICOM from pydicom's test files (uncompressed,
JPEG Lossless, JPEG 2000), a generated NIfTI, MetaImage and PNG, mutated by byte flips,
truncation, splices and DICOM tag value changes. Nothing is stored: ``cases(seed, n)`` makes the
same n files from the same seed, on any machine.
"""
from __future__ import annotations

import io
import random
import tempfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

# name -> pydicom test file; small ones, so that a few hundred cases run in a few seconds
DICOM_SEEDS = {
    "uncompressed.dcm": "CT_small.dcm",  # 128 x 128, explicit VR little endian, signed 16 bit
    "mr.dcm": "MR_small.dcm",  # 64 x 64
    "jpeg_lossless.dcm": "JPEG-LL.dcm",  # 1024 x 256, JPEG Lossless process 14 SV1
    "jpeg2000.dcm": "MR_small_jp2klossless.dcm",  # 64 x 64, JPEG 2000 lossless
}
# DICOM attributes whose values the tag mutation rewrites, and the odd values it writes
TAGS = (
    "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel",
    "NumberOfFrames", "PhotometricInterpretation", "PixelSpacing", "RescaleSlope", "RescaleIntercept",
    "WindowCenter", "WindowWidth", "ImagePositionPatient", "ImageOrientationPatient", "Modality",
    "PlanarConfiguration", "SliceThickness", "BodyPartExamined", "ViewPosition", "TransferSyntaxUID",
)
ODD_VALUES = (
    0, 1, -1, 3, 7, 8, 12, 16, 17, 32, 64, 65535, 2**31 - 1, "", "0", "-1", "nan", "inf", "-inf", "1e308",
    "abc", "1\\2\\3", "0\\0\\0\\0\\0\\0", "MONOCHROME1", "PALETTE COLOR", "RGB", "YBR_FULL_422", "CT", "CR", "XX",
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.2", "1.2.3.4",
)
MUTATIONS = ("flip", "truncate", "splice", "tag", "tag", "flip+truncate")


@dataclass
class FuzzCase:
    """One mutated file: ``suffix`` tells the readers what it claims to be."""

    index: int
    seed_name: str
    mutation: str
    data: bytes

    @property
    def suffix(self) -> str:
        return "." + self.seed_name.split(".", 1)[1]

    def describe(self) -> str:
        return f"case {self.index}: {self.mutation} of {self.seed_name}"


@lru_cache(maxsize=1)
def seeds() -> dict[str, bytes]:
    """The unmutated files: the DICOM seeds and generated NIfTI / MetaImage / PNG."""
    import cv2
    import SimpleITK as sitk

    out = {name: Path(get_testdata_file(source)).read_bytes() for name, source in DICOM_SEEDS.items()}
    rng = np.random.default_rng(0)
    volume = (rng.normal(-500, 300, (6, 24, 24))).astype(np.int16)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("volume.nii", "volume.nii.gz", "volume.mha"):
            sitk.WriteImage(sitk.GetImageFromArray(volume), str(Path(tmp) / name))
            out[name] = (Path(tmp) / name).read_bytes()
    film = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (40, 1))
    out["film.png"] = cv2.imencode(".png", film)[1].tobytes()
    return out


def _tag_mutation(data: bytes, rng: random.Random) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about every odd value it is asked to hold
        return _set_odd_values(data, rng)


def _set_odd_values(data: bytes, rng: random.Random) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    for _ in range(rng.randint(1, 3)):
        keyword, value = rng.choice(TAGS), rng.choice(ODD_VALUES)
        try:
            if keyword == "TransferSyntaxUID":
                ds.file_meta.TransferSyntaxUID = str(value) if isinstance(value, str) and value[:1].isdigit() else "1.2.3"
            else:
                setattr(ds, keyword, value)
        except (ValueError, TypeError, OverflowError):
            continue  # pydicom refuses to even hold this value: nothing to test
    buffer = io.BytesIO()
    try:
        ds.save_as(buffer, enforce_file_format=False)
    except Exception:  # pydicom cannot write it: fall back to a byte mutation of the original
        return _flip(data, rng)
    return buffer.getvalue()


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        i = rng.randrange(len(out))
        out[i] = rng.randrange(256)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def _splice(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        src, dst, size = rng.randrange(len(out)), rng.randrange(len(out)), rng.randint(1, 256)
        out[dst : dst + size] = out[src : src + size]
    return bytes(out)


def mutate(data: bytes, mutation: str, is_dicom: bool, rng: random.Random) -> bytes:
    """Apply one named mutation (``tag`` falls back to ``splice`` for non-DICOM files)."""
    if mutation == "tag":
        return _tag_mutation(data, rng) if is_dicom else _splice(data, rng)
    if mutation == "flip+truncate":
        return _truncate(_flip(data, rng), rng)
    return {"flip": _flip, "truncate": _truncate, "splice": _splice}[mutation](data, rng)


def cases(seed: int, n: int) -> list[FuzzCase]:
    """n mutated files, the same for the same seed."""
    rng = random.Random(seed)
    names = sorted(seeds())
    out = []
    for index in range(n):
        name, mutation = rng.choice(names), rng.choice(MUTATIONS)
        out.append(FuzzCase(index, name, mutation, mutate(seeds()[name], mutation, name.endswith(".dcm"), rng)))
    return out
