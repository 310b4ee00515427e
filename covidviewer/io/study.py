"""What a folder scan finds: studies, their series, and the files that could not be read.

These are light, header-only records (no pixels), built by ``scan_folder`` and handed to
``load_series`` to read one series into a ``Volume``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# What kind of reader a series needs.
KIND_DICOM = "dicom"        # one or more DICOM files (single- or multi-frame)
KIND_NIFTI = "nifti"        # .nii / .nii.gz via SimpleITK
KIND_METAIMAGE = "metaimage"  # .mha / .mhd via SimpleITK
KIND_NRRD = "nrrd"          # .nrrd / .nhdr via SimpleITK
KIND_IMAGE = "image"        # PNG / JPEG / TIFF / BMP via OpenCV
KINDS = (KIND_DICOM, KIND_NIFTI, KIND_METAIMAGE, KIND_NRRD, KIND_IMAGE)

@dataclass
class SeriesInfo:
    """One loadable stack of images: a DICOM series (or one consistent part of it) or one file.

    uid: SeriesInstanceUID for DICOM, the file path for other kinds.
    stack: 0 unless a DICOM series mixed orientations or image sizes and was split into several
        stacks; then each stack is its own SeriesInfo with the same uid and stack = 0, 1, ...
    files: every file holding pixels of this series (DICOM: unsorted; load_series sorts them by
        position, never by name).
    num_images: number of 2D images (frames summed over multi-frame files).
    rows/columns: image size; estimated_bytes: float32 size of the loaded volume, known before
        decoding pixels so a too-large series can be refused early.
    """

    uid: str
    kind: str
    files: list[Path]
    modality: str = "OT"
    description: str = ""
    number: int | None = None
    body_part: str = ""
    view_position: str = ""
    num_images: int = 1
    rows: int = 0
    columns: int = 0
    samples_per_pixel: int = 1
    photometric: str = ""
    transfer_syntax: str = ""
    stack: int = 0
    study_uid: str = ""
    patient_name: str = ""
    patient_id: str = ""
    from_dicomdir: Path | None = None
    warnings: list[str] = field(default_factory=list)
    # Position of each file along the slice normal (mm), aligned with ``files``; None when the
    # files carry no geometry. Lets a thumbnail pick the middle slice without re-reading headers.
    positions_along_normal: list[float] | None = None
    # a CT localizer (ImageType LOCALIZER): said in the label, whatever its series description calls it
    localizer: bool = False

    @property
    def key(self) -> str:
        """Unique id of this stack within a scan (uid plus the split index)."""
        return f"{self.uid}#{self.stack}" if self.stack else self.uid

    @property
    def estimated_bytes(self) -> int:
        """float32 bytes of the loaded pixels (colour kept as 3 channels)."""
        channels = 3 if self.samples_per_pixel == 3 else 1
        return int(self.num_images) * int(self.rows) * int(self.columns) * channels * 4

    @property
    def label(self) -> str:
        """Short text for lists: modality, number, description and image count."""
        parts = [self.modality]
        if self.number is not None:
            parts.append(f"#{self.number}")
        parts.append(self.description or (self.files[0].name if self.files else self.uid))
        if self.view_position:
            parts.append(self.view_position)
        if self.localizer:
            parts.append("localizer")
        parts.append(f"({self.num_images} img)")
        return " ".join(p for p in parts if p)


@dataclass
class StudyInfo:
    """A DICOM study (StudyInstanceUID) or, for non-DICOM files, one file treated as a study."""

    uid: str
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    description: str = ""
    accession: str = ""
    series: list[SeriesInfo] = field(default_factory=list)

    @property
    def modalities(self) -> set[str]:
        """Modalities of all series in the study."""
        return {s.modality for s in self.series}

    @property
    def num_images(self) -> int:
        return sum(s.num_images for s in self.series)


@dataclass
class ScanResult:
    """Everything a recursive folder scan found.

    unreadable: (path, reason) for files that look like images but could not be read (corrupt or
        truncated DICOM, broken image files).
    skipped: (path, reason) for files that are not images at all (text, archives, DICOM
        reports without pixels); listed for information, not errors.
    warnings: scan-level problems (split series, unreadable DICOMDIR, ...).
    cancelled: True when the scan stopped early because ``cancelled()`` returned True.
    """

    root: Path
    studies: list[StudyInfo] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def series(self) -> list[SeriesInfo]:
        """All series of all studies, in study order."""
        return [s for study in self.studies for s in study.series]
