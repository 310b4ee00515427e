"""Recursive, header-only folder scan: DICOM grouped by study/series/stack, plus other image files.

Nothing is written anywhere; one unreadable file never stops the scan of the others.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from covidviewer.io import dicom_header as hdr
from covidviewer.io.cancel import CancelledFn, ProgressFn
from covidviewer.io.dicomdir import DICOMDIR_SOP_CLASS, is_dicomdir_name, referenced_files
from covidviewer.io.errors import LoadError, exception_detail
from covidviewer.io.files import DICOM_LIKE_SUFFIXES, EMPTY_FILE, NOT_REGULAR_FILE, path_problem, resolved
from covidviewer.io.grouping import group_dicom
from covidviewer.io.itk_volume import itk_kind, read_itk_info
from covidviewer.io.raster import is_image_file, read_image_info
from covidviewer.io.study import (
    KIND_IMAGE,
    ScanResult,
    SeriesInfo,
    StudyInfo,
)

# Obviously not images: skipped without opening them.
_NON_IMAGE_SUFFIXES = {
    ".txt", ".csv", ".json", ".md", ".py", ".xml", ".html", ".htm", ".pdf", ".zip", ".tar", ".7z",
    ".raw", ".zraw", ".log", ".ini", ".cfg", ".yaml", ".yml", ".doc", ".docx", ".xls", ".xlsx", ".exe",
    ".dll", ".so", ".pt", ".pth", ".safetensors", ".npy", ".npz", ".pkl", ".h5",
}
_MAX_THREADS = 4
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _list_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return found


# One file's outcome: ("dicom", info) | ("series", SeriesInfo) | ("dicomdir", paths)
# | ("unreadable", reason) | ("skipped", reason)
_Outcome = tuple[str, object]


def _examine(path: Path) -> _Outcome:
    suffix = path.suffix.lower()
    problem = path_problem(path)
    if problem is not None:
        looks_like_image = suffix in DICOM_LIKE_SUFFIXES or itk_kind(path) is not None or is_image_file(path)
        skip = problem == NOT_REGULAR_FILE or (problem == EMPTY_FILE and not looks_like_image)
        return ("skipped" if skip else "unreadable"), problem
    try:
        kind = itk_kind(path)
        if kind is not None:
            info = read_itk_info(path)
            size = info["size"] + (1, 1)
            return "series", SeriesInfo(
                uid=str(path), kind=kind, files=[path], description=path.name,
                num_images=int(size[2]) if info["dimension"] >= 3 else 1, rows=int(size[1]),
                columns=int(size[0]), samples_per_pixel=3 if info["components"] >= 3 else 1,
            )
        if is_image_file(path):
            info = read_image_info(path)
            return "series", SeriesInfo(
                uid=str(path), kind=KIND_IMAGE, files=[path], description=path.name, rows=info["rows"],
                columns=info["columns"], samples_per_pixel=info["channels"],
            )
        if suffix in _NON_IMAGE_SUFFIXES and not is_dicomdir_name(path):
            return "skipped", "not an image file"
        # Deferred read instead of stop_before_pixels: the pixel data element's length and offset
        # are known (to spot truncated files) without reading the pixels themselves.
        ds = hdr.read_dataset(path, defer_size=hdr.SCAN_DEFER_BYTES)
    except hdr.NotDicomError as e:
        if suffix in DICOM_LIKE_SUFFIXES:  # named as DICOM, so the user meant it as one: say why it is not
            return "unreadable", str(e).split(": ", 1)[-1]
        return "skipped", "not a DICOM or image file"
    except LoadError as e:
        return "unreadable", str(e).split(": ", 1)[-1] if str(e).startswith(path.name) else str(e)
    sop_class = str(ds.file_meta.get("MediaStorageSOPClassUID", "")) if hasattr(ds, "file_meta") else ""
    if sop_class == DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        return "dicomdir", referenced_files(path, ds)
    if "SOPClassUID" not in ds and "Modality" not in ds:
        return "unreadable", "corrupt or incomplete DICOM header (no SOP Class UID or Modality)"
    has_pixels = any(k in ds for k in _PIXEL_KEYWORDS)
    if "Rows" in ds and "Columns" in ds and not has_pixels:
        return "unreadable", "image attributes but no pixel data (truncated file?)"
    if not has_pixels:
        return "skipped", f"DICOM without an image (Modality {hdr.text(ds, 'Modality', '?')}, {hdr.text(ds, 'SOPClassUID', '?')})"
    try:
        problem = hdr.pixel_data_problem(ds, path.stat().st_size)
    except OSError as e:
        return "unreadable", f"cannot read the file ({e})"
    if problem is not None:
        return "unreadable", problem
    return "dicom", hdr.file_info(path, ds)


def scan_folder(
    path: Path | str,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> ScanResult:
    """Scan a folder (recursively) or one file for studies and series; headers only.

    progress(done, total, message) is called after each file; cancelled() is checked between
    files and stops the scan (``result.cancelled`` is then True). Raises LoadError only when
    ``path`` does not exist or cannot be listed.
    """
    root = Path(path)
    problem = path_problem(root)
    if problem is not None and problem != EMPTY_FILE:  # an empty file is reported like any other
        raise LoadError(f"{root}: {problem}", root)
    try:
        files = _list_files(root)
    except OSError as e:
        raise LoadError(f"{root}: cannot list the folder ({e})", root) from e
    result = ScanResult(root=root)
    if not files:
        result.warnings.append(f"{root} is empty: no files found")
        return result

    dicom_infos: list[hdr.DicomFileInfo] = []
    others: list[SeriesInfo] = []
    dicomdir_files: dict[Path, Path] = {}  # referenced file -> the DICOMDIR that lists it
    seen = {resolved(f) for f in files}
    queue = list(files)
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, min(_MAX_THREADS, os.cpu_count() or 1))) as pool:
        while queue:
            batch, queue = queue, []
            for i, (file, (what, payload)) in enumerate(zip(batch, pool.map(_guarded_examine(cancelled), batch))):
                if what == "cancelled":
                    result.cancelled = True
                    break
                done += 1
                if what == "dicom":
                    dicom_infos.append(payload)  # type: ignore[arg-type]
                elif what == "series":
                    others.append(payload)  # type: ignore[arg-type]
                elif what == "unreadable":
                    result.unreadable.append((file, str(payload)))
                elif what == "skipped":
                    result.skipped.append((file, str(payload)))
                else:  # a DICOMDIR: its referenced files join the scan if the walk did not find them
                    listed, missing = payload  # type: ignore[misc]
                    for ref in listed:
                        dicomdir_files[resolved(ref)] = file
                        if resolved(ref) not in seen:
                            seen.add(resolved(ref))
                            queue.append(ref)
                    if missing:
                        result.warnings.append(
                            f"{file}: DICOMDIR lists {len(missing)} file(s) that do not exist (e.g. {missing[0]})"
                        )
                if progress is not None:
                    progress(done, done + len(queue) + len(batch) - i - 1, file.name)
            if result.cancelled:
                break

    studies, warnings = group_dicom(dicom_infos, dicomdir_files)
    result.warnings.extend(warnings)
    for series in others:
        studies.append(StudyInfo(uid=series.uid, description=series.files[0].name, series=[series]))
    result.studies = studies
    return result


def _guarded_examine(cancelled: CancelledFn | None):
    def run(path: Path) -> _Outcome:
        if cancelled is not None and cancelled():
            return "cancelled", None
        try:
            return _examine(path)
        except Exception as e:  # one odd file must never stop the scan of the others
            return "unreadable", f"corrupt or unsupported file ({exception_detail(e)})"

    return run
