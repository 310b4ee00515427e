"""Loading a 300-slice 512x512 int16 CT series: covidviewer.io.load_series vs SimpleITK.

Writes a generated series (shuffled file names) to a temporary folder, then times, on the same
files, SimpleITK's ImageSeriesReader (GDCM, the baseline) and our scan + load_series. Prints the
ratio ours / SimpleITK; the target is <= 1.5. Each timing is the best of ``--repeat`` runs so
that the (shared) disk cache state is the same for both.

    python bench/bench_load_series.py [--slices 300] [--size 512] [--repeat 3]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from covidviewer.io import load_series, scan_folder  # noqa: E402


def write_ct_series(folder: Path, slices: int, size: int, spacing: float = 1.25) -> None:
    """A synthetic CT series (a body ellipse with lungs) with realistic headers, shuffled names."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    yy, xx = np.mgrid[0:size, 0:size]
    body = ((yy - size / 2) / (0.38 * size)) ** 2 + ((xx - size / 2) / (0.45 * size)) ** 2 < 1
    lungs = (((yy - size / 2) / (0.25 * size)) ** 2 + ((np.abs(xx - size / 2) - 0.2 * size) / (0.12 * size)) ** 2) < 1
    names = list(range(slices))
    random.Random(0).shuffle(names)
    rng = np.random.default_rng(0)
    for k in range(slices):
        image = np.full((size, size), -1000, dtype=np.int16)
        image[body] = 40
        image[lungs] = -850
        image += rng.integers(-20, 20, size=image.shape, dtype=np.int16)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{names[k]:05d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.PatientName, ds.PatientID = "CT", "Bench^Patient", "BENCH"
        ds.SeriesNumber, ds.InstanceNumber = 1, names[k] + 1
        ds.ImagePositionPatient = [-size * 0.35, -size * 0.35, -200.0 + k * spacing]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], spacing
        ds.Rows, ds.Columns, ds.SamplesPerPixel = size, size, 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.PixelData = (image + 1024).astype(np.int16).tobytes()
        ds.save_as(folder / f"{names[k]:05d}.dcm", enforce_file_format=True)


def time_sitk(folder: Path) -> tuple[float, np.ndarray]:
    import SimpleITK as sitk

    start = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(folder))
    reader.SetFileNames(files)
    image = reader.Execute()
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    return time.perf_counter() - start, array


def time_ours(folder: Path) -> tuple[float, float, np.ndarray]:
    start = time.perf_counter()
    series = scan_folder(folder).series
    scanned = time.perf_counter()
    volume = load_series(series[0])
    return time.perf_counter() - start, scanned - start, volume.pixels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="covidviewer-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        write_ct_series(folder, args.slices, args.size)
        print(f"wrote {args.slices} x {args.size}x{args.size} int16 slices in {time.perf_counter() - t0:.1f} s")
        sitk_times, ours_times, scan_times = [], [], []
        for _ in range(args.repeat):
            t, ref = time_sitk(folder)
            sitk_times.append(t)
            t, t_scan, ours = time_ours(folder)
            ours_times.append(t)
            scan_times.append(t_scan)
        # The two readers must agree voxel for voxel (both in HU, same slice order).
        if ref.shape != ours.shape or not np.array_equal(ref, ours):
            print(f"MISMATCH: SimpleITK {ref.shape} vs ours {ours.shape}")
            return 1
        best_sitk, best_ours, best_scan = min(sitk_times), min(ours_times), min(scan_times)
        print(f"SimpleITK ImageSeriesReader: {best_sitk:.3f} s (best of {args.repeat})")
        print(f"covidviewer scan_folder + load_series: {best_ours:.3f} s (scan {best_scan:.3f} s)")
        print(f"ratio ours / SimpleITK = {best_ours / best_sitk:.2f} (target <= 1.5); "
              f"load_series alone = {(best_ours - best_scan) / best_sitk:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
