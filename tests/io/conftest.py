"""Generated DICOM files for the io tests (real files come from pydicom / pydicom-data)."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def write_slice(
    path: Path,
    pixels: np.ndarray,
    *,
    study: str,
    series: str,
    position: tuple[float, float, float] | None,
    orientation: tuple[float, ...] | None = (1, 0, 0, 0, 1, 0),
    instance: int = 1,
    series_number: int = 1,
    modality: str = "CT",
    photometric: str = "MONOCHROME2",
    bits_stored: int = 16,
    signed: bool = True,
    rescale: tuple[float, float] | None = (1.0, -1024.0),
    window: tuple[float, float] | None = (40.0, 400.0),
    spacing: tuple[float, float] = (0.7, 0.8),
    extra: dict | None = None,
) -> Path:
    """Write one single-frame DICOM image (explicit VR little endian) with the given geometry."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.Modality, ds.PatientName, ds.PatientID = modality, "Test^Patient", "P1"
    ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20200401", series_number, instance
    ds.SeriesDescription = f"series {series_number}"
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = 2.5
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    ds.PixelData = pixels.astype(np.int16 if signed else np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


SeriesWriter = Callable[..., list[Path]]


@pytest.fixture
def write_dicom() -> Callable[..., Path]:
    """The ``write_slice`` function, for tests that need one hand-made DICOM file."""
    return write_slice


@pytest.fixture
def write_series() -> SeriesWriter:
    """write_series(folder, n, ...) -> files of a CT series whose slice k holds stored value 1024 + 10*k.

    Positions run along the normal of ``orientation`` (k * spacing from ``start``); file names and
    InstanceNumbers are both shuffled so that only the positions give the true order. ``skip``
    leaves slice indices out (missing slices); ``z_of`` overrides the distance of slice k.
    """

    def write(
        folder: Path,
        n: int,
        *,
        size: tuple[int, int] = (6, 5),
        z_spacing: float = 2.5,
        orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
        start: tuple[float, float, float] = (-10.0, -20.0, -30.0),
        skip: tuple[int, ...] = (),
        z_of: Callable[[int], float] | None = None,
        study: str | None = None,
        series: str | None = None,
        series_number: int = 1,
        seed: int = 0,
        **kwargs,
    ) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        study = study or generate_uid()
        series = series or generate_uid()
        normal = np.cross(orientation[:3], orientation[3:])
        rng = random.Random(seed)
        kept = [k for k in range(n) if k not in skip]
        names = rng.sample(range(10_000, 99_999), len(kept))
        instances = rng.sample(range(1, 10 * n + 1), len(kept))
        files = []
        for j, k in enumerate(kept):
            dist = z_of(k) if z_of else k * z_spacing
            position = tuple(np.asarray(start) + dist * normal)
            pixels = np.full(size, 1024 + 10 * k, dtype=np.int16)
            path = folder / f"IMG{names[j]}"
            files.append(write_slice(
                path, pixels, study=study, series=series, position=position, orientation=orientation,
                instance=instances[j], series_number=series_number, **kwargs,
            ))
        return files

    return write
