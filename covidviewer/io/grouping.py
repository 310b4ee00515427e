"""Group DICOM file headers into studies, series and loadable stacks.

A series is split into separate stacks rather than mixed when its files differ in orientation,
image size or colour; each multi-frame file in a multi-file series is a stack of its own; each
projection image (radiograph, photo) without a patient position is a stack of its own, and so is a CT localizer
stored in its axial series (a scanner's usual export, not a series that "mixes orientations").
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from covidviewer.io.dicom_header import DicomFileInfo
from covidviewer.io.files import resolved
from covidviewer.io.study import KIND_DICOM, SeriesInfo, StudyInfo

# Direction cosines closer than this are one orientation (about 0.6 degrees).
ORIENTATION_MATCH = 0.01
# Modalities whose images are projections or photos: never stacked into a volume by themselves.
PROJECTION_MODALITIES = {"CR", "DX", "MG", "RG", "IO", "PX", "XA", "RF", "US", "ES", "XC", "OP", "SC", "OT", "DG"}


def _stack_groups(infos: list[DicomFileInfo]) -> tuple[list[list[DicomFileInfo]], str | None]:
    """Split one series' files into stacks; returns (stacks, reason when split unexpectedly)."""
    if len(infos) == 1:
        return [infos], None
    singles: list[list[DicomFileInfo]] = []
    groups: list[tuple[tuple, np.ndarray | None, list[DicomFileInfo]]] = []
    for info in infos:
        no_geometry = info.position is None or info.orientation is None
        if info.frames > 1 or info.localizer or (no_geometry and info.modality in PROJECTION_MODALITIES):
            singles.append([info])
            continue
        shape = (info.rows, info.columns, info.samples_per_pixel, no_geometry)
        iop = np.asarray(info.orientation) if info.orientation is not None else None
        for key, ref_iop, members in groups:
            same_iop = (iop is None and ref_iop is None) or (
                iop is not None and ref_iop is not None and float(np.max(np.abs(iop - ref_iop))) < ORIENTATION_MATCH
            )
            if key == shape and same_iop:
                members.append(info)
                break
        else:
            groups.append((shape, iop, [info]))
    stacks = [members for _, _, members in groups] + singles
    reason = None
    if len(groups) > 1:
        sizes = {g[0][:3] for g in groups}
        reason = "mixes image sizes" if len(sizes) > 1 else "mixes orientations"
    elif groups and singles and any(s[0].frames > 1 for s in singles):
        reason = "mixes multi-frame and single-frame files"
    return stacks, reason


def _first_instance(stack: list[DicomFileInfo]) -> tuple[int, str]:
    numbers = [i.instance_number for i in stack if i.instance_number is not None]
    return (min(numbers) if numbers else 0, str(stack[0].path))


def _series_from_stack(stack: list[DicomFileInfo], index: int, dicomdir: Path | None) -> SeriesInfo:
    first = stack[0]
    along = None
    if first.orientation is not None and all(i.position is not None for i in stack):
        normal = np.cross(np.asarray(first.orientation[:3]), np.asarray(first.orientation[3:]))
        along = [float(np.dot(i.position, normal)) for i in stack]  # type: ignore[arg-type]
    tsyntaxes = sorted({i.transfer_syntax for i in stack})
    return SeriesInfo(
        uid=first.series_uid,
        kind=KIND_DICOM,
        files=[i.path for i in stack],
        modality=first.modality,
        description=first.series_description,
        number=first.series_number,
        body_part=first.body_part,
        view_position=first.view_position,
        num_images=sum(i.frames for i in stack),
        rows=first.rows,
        columns=first.columns,
        samples_per_pixel=first.samples_per_pixel,
        photometric=first.photometric,
        transfer_syntax=", ".join(tsyntaxes),
        stack=index,
        study_uid=first.study_uid,
        patient_name=first.patient_name,
        patient_id=first.patient_id,
        from_dicomdir=dicomdir,
        positions_along_normal=along,
        localizer=all(i.localizer for i in stack),
    )


def group_dicom(
    infos: list[DicomFileInfo], dicomdir_files: dict[Path, Path] | None = None
) -> tuple[list[StudyInfo], list[str]]:
    """Build studies (sorted by patient, date) of series (by number) of stacks; plus scan warnings."""
    warnings: list[str] = []
    dicomdir_files = dicomdir_files or {}
    unique: dict[str, DicomFileInfo] = {}
    duplicates = 0
    for info in infos:
        if info.sop_uid in unique:
            duplicates += 1
            continue
        unique[info.sop_uid] = info
    if duplicates:
        warnings.append(f"{duplicates} file(s) are copies of other files (same SOPInstanceUID) and were ignored")

    by_series: dict[tuple[str, str], list[DicomFileInfo]] = defaultdict(list)
    for info in unique.values():
        by_series[(info.study_uid, info.series_uid)].append(info)

    studies: dict[str, StudyInfo] = {}
    for (study_uid, series_uid), members in by_series.items():
        first = members[0]
        study = studies.get(study_uid)
        if study is None:
            study = studies[study_uid] = StudyInfo(
                uid=study_uid, patient_name=first.patient_name, patient_id=first.patient_id,
                study_date=first.study_date, description=first.study_description, accession=first.accession,
            )
        stacks, reason = _stack_groups(members)
        stacks.sort(key=_first_instance)
        for index, stack in enumerate(stacks):
            dicomdir = dicomdir_files.get(resolved(stack[0].path))
            series = _series_from_stack(stack, index, dicomdir)
            if reason is not None:
                message = (
                    f"series {first.series_number if first.series_number is not None else series_uid} "
                    f"{reason}: split into {len(stacks)} stacks (this is stack {index + 1})"
                )
                series.warnings.append(message)
                if index == 0:
                    warnings.append(message.split(" (this")[0])
            study.series.append(series)

    for study in studies.values():
        study.series.sort(key=lambda s: (s.number if s.number is not None else 1 << 30, s.description, s.stack))
    ordered = sorted(studies.values(), key=lambda s: (s.patient_name, s.patient_id, s.study_date, s.uid))
    return ordered, warnings
