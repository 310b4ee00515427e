"""DICOMDIR (DICOM media directory) support: the image files a DICOMDIR references."""
from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage


def is_dicomdir_name(path: Path) -> bool:
    return path.name.upper() == "DICOMDIR"


def _resolve_case(base: Path, parts: list[str]) -> Path:
    """Join a ReferencedFileID; media often stores upper-case IDs for lower-case files."""
    candidate = base.joinpath(*parts)
    if candidate.exists():
        return candidate
    current = base
    for part in parts:
        match = None
        if current.is_dir():
            match = next((c for c in current.iterdir() if c.name.upper() == part.upper()), None)
        if match is None:
            return candidate
        current = match
    return current


def referenced_files(dicomdir: Path, ds: Dataset) -> tuple[list[Path], list[Path]]:
    """(existing, missing) files referenced by a DICOMDIR's directory records (image records)."""
    base = Path(dicomdir).parent
    existing: list[Path] = []
    missing: list[Path] = []
    for record in ds.get("DirectoryRecordSequence", []):
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else [str(p) for p in file_id]
        path = _resolve_case(base, parts)
        (existing if path.is_file() else missing).append(path)
    return existing, missing
