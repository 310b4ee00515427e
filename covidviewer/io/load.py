"""Load one series found by a scan, or one path given on the command line, into a Volume."""
from __future__ import annotations

from pathlib import Path

from covidviewer.io.cancel import CancelledFn, ProgressFn
from covidviewer.io.dicom_header import NotDicomError
from covidviewer.io.dicom_series import load_dicom_files
from covidviewer.io.dicomdir import is_dicomdir_name
from covidviewer.io.errors import LoadError, reading
from covidviewer.io.files import DICOM_LIKE_SUFFIXES, IMAGE_PATTERNS, VOLUME_PATTERNS, path_problem
from covidviewer.io.itk_volume import itk_kind, load_itk
from covidviewer.io.memory import check_budget
from covidviewer.io.raster import is_image_file, load_image
from covidviewer.io.scan import scan_folder
from covidviewer.io.study import KIND_DICOM, KIND_IMAGE, SeriesInfo
from covidviewer.io.volume import Volume, checked_geometry


def load_series(
    series: SeriesInfo,
    max_bytes: int | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> Volume:
    """Read a series found by ``scan_folder`` into a Volume (pixels float32, (z, y, x)).

    The memory budget (``max_bytes``, default half the available RAM) is checked from the
    header sizes before any pixel is decoded. Raises LoadError (``Cancelled`` when cancelled),
    never anything else: whatever a third-party reader raises becomes a LoadError naming the file.
    """
    with reading(series.files[0] if series.files else None):
        return checked_geometry(_load_series(series, max_bytes, progress, cancelled))


def _load_series(
    series: SeriesInfo,
    max_bytes: int | None,
    progress: ProgressFn | None,
    cancelled: CancelledFn | None,
) -> Volume:
    if series.rows and series.columns:
        what = f"series '{series.description or series.uid}' ({series.num_images} x {series.rows} x {series.columns})"
        check_budget(series.estimated_bytes, what, max_bytes, series.files[0] if series.files else None)
    if not series.files:
        raise LoadError(f"series '{series.description or series.uid}' has no files")
    if series.kind == KIND_DICOM:
        volume = load_dicom_files(series.files, max_bytes=max_bytes, progress=progress, cancelled=cancelled)
    elif series.kind == KIND_IMAGE:
        volume = load_image(series.files[0], max_bytes=max_bytes)
    else:
        volume = load_itk(series.files[0], max_bytes=max_bytes)
    volume.warnings[:0] = series.warnings
    volume.meta["series_key"] = series.key
    volume.meta["stack"] = series.stack
    if series.from_dicomdir is not None:
        volume.meta["dicomdir"] = series.from_dicomdir
    return volume


def _load_dicom_file(path: Path, max_bytes: int | None) -> Volume:
    """A file of no image suffix, read as DICOM; one that is not says what the app reads instead (a .heic or .jp2
    would otherwise be told only that it is not DICOM)."""
    try:
        return load_dicom_files([path], max_bytes=max_bytes)
    except NotDicomError as err:
        if path.suffix.lower() in DICOM_LIKE_SUFFIXES or not path.suffix:
            raise
        raise NotDicomError(f"{path.name}: not a DICOM file, nor an image or volume this app reads ({IMAGE_PATTERNS}; "
                            f"{VOLUME_PATTERNS}): save it as PNG or DICOM", path) from err


def load_path(path: Path | str, max_bytes: int | None = None) -> Volume:
    """Load a single file (DICOM, NIfTI/MHA/NRRD, PNG/JPEG/TIFF) or a folder holding one series.

    A folder or DICOMDIR holding several series raises LoadError listing them; use scan_folder
    and load_series to choose one. Raises LoadError and nothing else.
    """
    path = Path(path)
    problem = path_problem(path)
    if problem is not None:
        raise LoadError(f"{path}: {problem}", path)
    if path.is_file() and not is_dicomdir_name(path):
        with reading(path):
            if itk_kind(path) is not None:
                volume = load_itk(path, max_bytes=max_bytes)
            elif is_image_file(path):
                volume = load_image(path, max_bytes=max_bytes)
            else:
                volume = _load_dicom_file(path, max_bytes)
            return checked_geometry(volume)
    result = scan_folder(path)
    found = result.series
    if not found:
        details = "; ".join(f"{p.name}: {why}" for p, why in result.unreadable[:3])
        message = result.warnings[0] if result.warnings else f"{path}: no loadable image or series found"
        raise LoadError(message + (f" (unreadable: {details})" if details else ""), path)
    if len(found) > 1:
        listing = "; ".join(s.label for s in found[:5]) + (" ..." if len(found) > 5 else "")
        raise LoadError(f"{path} holds {len(found)} series ({listing}); choose one with the study browser or inspect", path)
    return load_series(found[0], max_bytes=max_bytes)
