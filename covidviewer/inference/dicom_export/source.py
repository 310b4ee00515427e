"""The source DICOM instances an output refers to, read header-only from the files a Volume came from."""
from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

from covidviewer.io.dicom_header import orientation_of, position_of, read_dataset
from covidviewer.io.geometry import order_stack

if TYPE_CHECKING:
    from covidviewer.io.volume import Volume

_REQUIRED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


class DicomExportError(Exception):
    """A DICOM output cannot be written (no DICOM source, a refused folder, an unsafe anonymisation)."""


@dataclass
class DicomSource:
    """Header-only datasets of the source images, by volume slice index.

    shown_slice: the slice the Secondary Capture shows (its dataset is ``shown``).
    files: every file the volume was read from; outputs are never written beside them.
    frames: for a multi-frame file (Enhanced CT), slice index -> frame number (1-based), in the
        order the reader stacked the frames; empty for single-frame files.
    """

    datasets: dict[int, Dataset]
    shown_slice: int
    files: tuple[Path, ...] = ()
    frames: dict[int, int] = field(default_factory=dict)

    @property
    def shown(self) -> Dataset:
        return self.datasets[self.shown_slice]

    def dataset_for(self, slice_index: int) -> Dataset:
        """The dataset of ``slice_index``; DicomExportError for a slice that was not read."""
        try:
            return self.datasets[slice_index]
        except KeyError:
            raise DicomExportError(f"slice {slice_index + 1} is not part of this export's source") from None

    def frame_numbers(self, slice_index: int) -> list[int] | None:
        """[frame number] of ``slice_index`` in a multi-frame file, None for a single-frame one."""
        return [self.frames[slice_index]] if slice_index in self.frames else None

    def instances(self) -> list[Dataset]:
        """Each distinct source instance once (a multi-frame file is one instance)."""
        unique: dict[str, Dataset] = {}
        for ds in self.datasets.values():
            unique.setdefault(str(ds.SOPInstanceUID), ds)
        return list(unique.values())


def dicom_source(volume: "Volume", shown_slice: int, other_slices: Iterable[int] = ()) -> DicomSource:
    """Read the headers of the shown slice (and ``other_slices``, e.g. measured ones) of ``volume``.

    Raises DicomExportError when the volume was not read from DICOM files or a header lacks the
    study / series / instance UIDs that every output must reference.
    """
    if volume.meta.get("format") != "dicom":
        raise DicomExportError("DICOM outputs need a DICOM source: they belong to the source study and series")
    per_slice = [Path(p) for p in volume.meta.get("slice_sources") or volume.sources]
    if not per_slice:
        raise DicomExportError("the volume does not name the DICOM files it was read from")
    multiframe = len(set(per_slice)) == 1 and volume.shape[0] > 1
    wanted = sorted({shown_slice, *other_slices})
    read: dict[Path, Dataset] = {}
    datasets: dict[int, Dataset] = {}
    for z in wanted:
        if not 0 <= z < volume.shape[0]:
            raise DicomExportError(f"slice {z + 1} is outside the volume (1..{volume.shape[0]})")
        path = per_slice[0] if multiframe else per_slice[min(z, len(per_slice) - 1)]
        if path not in read:
            read[path] = _header(path)
        datasets[z] = read[path]
    files = tuple(dict.fromkeys([*map(Path, volume.sources), *per_slice]))
    frames: dict[int, int] = {}
    if multiframe:
        order = frame_order(datasets[shown_slice], volume.shape[0])
        frames = {z: order[z] + 1 for z in wanted}
    return DicomSource(datasets, shown_slice, files, frames)


def frame_order(ds: Dataset, n_frames: int) -> list[int]:
    """Frame index of each volume slice of a multi-frame file: the reader's order (by position
    along the slice normal when every frame has one, else the stored order)."""
    per_frame = "PerFrameFunctionalGroupsSequence" in ds
    positions = [position_of(ds, frame=i) if per_frame else None for i in range(n_frames)]
    return list(order_stack(positions, orientation_of(ds), file_order=True).order)


def _header(path: Path) -> Dataset:
    try:
        ds = read_dataset(path, stop_before_pixels=True)
    except Exception as exc:  # the file moved or changed since it was loaded
        raise DicomExportError(f"cannot read the source header {path.name}: {exc}") from exc
    missing = [k for k in _REQUIRED if not ds.get(k)]
    if missing:
        raise DicomExportError(f"{path.name} has no {', '.join(missing)}: outputs could not reference it")
    return ds


def orientation_letters(cosines: Iterable[float]) -> str:
    """Patient-orientation letters (LPS: L, P, H positive) of a direction, most dominant first."""
    letters = []
    axes = sorted(enumerate(cosines), key=lambda item: -abs(item[1]))
    for axis, value in axes:
        if abs(value) >= 0.25:
            letters.append(("RL", "AP", "FH")[axis][value > 0])
    return "".join(letters)


def patient_orientation(ds: Dataset) -> tuple[str, str] | None:
    """(row direction, column direction) letters of the source image as stored, None if unknown."""
    stored = ds.get("PatientOrientation")
    if stored is not None and len(stored) == 2 and all(stored):
        return str(stored[0]), str(stored[1])
    iop = ds.get("ImageOrientationPatient")
    if iop is not None and len(iop) == 6:
        row, col = orientation_letters(map(float, iop[:3])), orientation_letters(map(float, iop[3:]))
        if row and col:
            return row, col
    return None


def with_unambiguous_names(ref: Dataset) -> Dataset:
    """A copy of ``ref`` whose one-component person names end with "^" (PS3.5 6.2.1.2: "ward" is a
    family name), as highdicom asks; the values are otherwise unchanged."""
    copy = deepcopy(ref)  # Dataset(ref) would share (and change) the source's elements
    for keyword in ("PatientName", "ReferringPhysicianName"):
        value = str(copy.get(keyword) or "")
        if value and "^" not in value and "=" not in value:
            setattr(copy, keyword, value + "^")
    return copy
