"""Input/output: readers for DICOM, NIfTI/MHA/NRRD and images -> Volume; no torch, no Qt.

Public API (everything the UI, inference and trainer use):

- ``scan_folder(path, progress=None, cancelled=None) -> ScanResult``: recursive, header-only scan.
- ``load_series(series, max_bytes=None) -> Volume``: read one ``SeriesInfo`` found by a scan.
- ``load_path(path, max_bytes=None) -> Volume``: one file, or a folder holding exactly one series.
- ``thumbnail(series_or_volume, size=96) -> uint8 (size, size)`` for study lists (call in a worker).
- ``dicom_tags(path) -> [(tag, keyword, VR, value)]`` for the tag inspector.
- ``sample_paths() -> {"chest_cr": Path, "ct": Path, ...}``: built-in samples shipped with pydicom.
- ``LoadError``: raised with a user-readable message for every input that cannot be loaded.
"""
from __future__ import annotations

from covidviewer.io.errors import LoadError
from covidviewer.io.study import KINDS, ScanResult, SeriesInfo, StudyInfo
from covidviewer.io.volume import Volume

__all__ = [
    "KINDS",
    "LoadError",
    "ScanResult",
    "SeriesInfo",
    "StudyInfo",
    "Volume",
]
