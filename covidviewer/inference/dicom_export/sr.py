"""Comprehensive SR holding a TID 1500 Measurement Report of one analysis: per model (and cascade
stage) a TID 1501 group with the algorithm (name, version, weights SHA-256, method), the class
probabilities, the answer and its decision rule, the out-of-distribution flag and score; per viewer
measurement a TID 1410 planar ROI group whose region points into its source image."""
from __future__ import annotations

from copy import deepcopy

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from highdicom.sr import (
    AlgorithmIdentification,
    ComprehensiveSR,
    DeviceObserverIdentifyingAttributes,
    ImageRegion,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    PlanarROIMeasurementsAndQualitativeEvaluations,
    QualitativeEvaluation,
    SourceImageForMeasurementGroup,
    SourceImageForRegion,
    TextContentItem,
    TrackingIdentifier,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from covidviewer import RESEARCH_NOTICE
from covidviewer.inference.dicom_export import codes as cv
from covidviewer.inference.dicom_export.source import DicomExportError, DicomSource, with_unambiguous_names
from covidviewer.inference.results import ModelResult

_GRAPHIC = {"length": "POLYLINE", "angle": "POLYLINE", "roi": "POLYLINE"}  # an ROI: closed polyline
_MIN_POINTS = {"length": 2, "angle": 3, "roi": 3}


@dataclass(frozen=True)
class MeasurementRecord:
    """One measurement drawn on a source image, as the SR stores it.

    kind: "length", "angle" or "roi".
    slice_index: the volume slice it was drawn on.
    points: (column, row) pixel positions on that slice's source image: a line's two ends, an
        angle's three points (vertex in the middle), an ROI's outline (closed by the writer).
    values: "length" (mm), "angle" (deg), "area" (mm2), "mean" / "sd" / "min" / "max" -> value.
    unit: unit of the intensity statistics, "HU" for CT, "" for stored values.
    label: the reader's name for it (tracking identifier in the SR).
    """

    kind: str
    slice_index: int
    points: tuple[tuple[float, float], ...]
    values: dict[str, float] = field(default_factory=dict)
    unit: str = ""
    label: str = ""


def analysis_report(
    result: ModelResult,
    source: DicomSource,
    *,
    series_uid: str,
    sop_uid: str,
    series_number: int,
    manufacturer: str,
    software_version: str,
    measurements: Sequence[MeasurementRecord] = (),
    evidence: Sequence[Dataset] = (),
) -> ComprehensiveSR:
    """The Comprehensive SR of ``result`` on ``source`` (and ``measurements``), in the source study.

    evidence: further instances of the same study the report refers to (the Secondary Capture),
    listed with the source images in the Current Requested Procedure Evidence Sequence.
    """
    if not result.ok:
        raise DicomExportError(f"{result.model} has no result to report ({result.status})")
    device = DeviceObserverIdentifyingAttributes(
        uid=generate_uid(), name="CovidViewer", manufacturer_name=manufacturer, model_name=cv.plain(result.model)[:64]
    )
    context = ObservationContext(observer_device_context=ObserverContext(codes.DCM.Device, device))
    groups: list = [_model_group(result, source, software_version)]
    groups += [_model_group(stage, source, software_version) for stage in result.stages if stage.ok]
    groups += [_measurement_group(m, source) for m in measurements]
    report = MeasurementReport(
        observation_context=context,
        procedure_reported=cv.PROCEDURE,
        imaging_measurements=groups,
        referenced_images=[_library_entry(ds) for ds in source.instances()],
    )
    report[0].ContentSequence.append(
        TextContentItem(name=cv.COMMENT, value=cv.plain(f"{RESEARCH_NOTICE}. Scores of a research classifier, "
                                                         "not a diagnosis."), relationship_type="CONTAINS"))
    sr = ComprehensiveSR(
        evidence=[*map(with_unambiguous_names, source.instances()), *evidence],
        content=report,
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer=manufacturer,
        is_complete=True,
        is_final=False,
        is_verified=False,
    )
    sr.SeriesDescription = f"CovidViewer result - {cv.plain(RESEARCH_NOTICE)}"[:64]
    sr.SoftwareVersions = software_version
    sr.CodingSchemeIdentificationSequence = [_private_scheme()]
    return sr


def algorithm_of(result: ModelResult, software_version: str) -> AlgorithmIdentification:
    """TID 4019 algorithm identification: model name and version; weights SHA-256, attention-map
    method, calibration and decision rule (threshold) as parameters."""
    parameters = [
        f"weights_sha256={result.weights_sha256 or 'unknown'}", f"map_method={result.method or 'none'}",
        f"calibrated={'yes' if result.calibrated else 'no'}",
        cv.plain(f"decision_rule={result.threshold or 'highest probability'}"),
    ]
    return AlgorithmIdentification(
        name=cv.plain(result.model)[:64], version=cv.plain(result.version or "unversioned")[:64],
        parameters=parameters, manufacturer=f"CovidViewer {software_version}",
    )


def _model_group(result: ModelResult, source: DicomSource, software_version: str) -> MeasurementsAndQualitativeEvaluations:
    shown = source.shown
    frames = source.frame_numbers(source.shown_slice)  # the shown slice is the analysed one
    probabilities = [
        Measurement(name=cv.class_code(name), value=float(p), unit=cv.PROBABILITY)
        for name, p in result.probabilities.items()
    ]
    answer = result.answer
    evaluations = [QualitativeEvaluation(cv.DECISION, cv.class_code(answer))] if answer else []
    if result.ood_score is not None:  # the card has an OOD model: the flag means something
        probabilities.append(Measurement(name=cv.OOD_SCORE, value=float(result.ood_score), unit=cv.NO_UNITS))
        evaluations.append(QualitativeEvaluation(cv.OOD_FLAG, cv.YES if result.ood_flag else cv.NO))
    group = MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier=cv.plain(f"{result.model} {result.method}".strip())),
        algorithm_id=algorithm_of(result, software_version),
        measurements=probabilities,
        qualitative_evaluations=evaluations,
        source_images=[SourceImageForMeasurementGroup.from_source_image(shown, referenced_frame_numbers=frames)],
    )
    return group


def _measurement_group(record: MeasurementRecord, source: DicomSource) -> PlanarROIMeasurementsAndQualitativeEvaluations:
    if record.kind not in _GRAPHIC:
        raise DicomExportError(f"unknown measurement kind {record.kind!r} (length, angle or roi)")
    if len(record.points) < _MIN_POINTS[record.kind]:
        raise DicomExportError(f"a {record.kind} measurement needs at least {_MIN_POINTS[record.kind]} points")
    points = np.asarray(record.points, dtype=float)
    if record.kind == "roi" and not np.array_equal(points[0], points[-1]):
        points = np.vstack([points, points[:1]])  # an SR area outline is a closed POLYLINE
    image = source.dataset_for(record.slice_index)
    frames = source.frame_numbers(record.slice_index)
    region = ImageRegion(
        graphic_type=_GRAPHIC[record.kind], graphic_data=points,
        source_image=SourceImageForRegion.from_source_image(image, referenced_frame_numbers=frames),
    )
    values = []
    for name, value in record.values.items():
        if name not in cv.MEASUREMENT_CODES:
            raise DicomExportError(f"unknown measurement value {name!r} ({', '.join(cv.MEASUREMENT_CODES)})")
        concept, unit = cv.MEASUREMENT_CODES[name]
        if name in ("mean", "sd", "min", "max"):
            unit = cv.UNIT_CODES.get(record.unit, cv.NO_UNITS)
        values.append(Measurement(name=concept, value=float(value), unit=unit))
    label = cv.plain(record.label or f"{record.kind} on slice {record.slice_index + 1}")[:64]
    return PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier=label),
        referenced_region=region,
        measurements=values,
    )


_PROJECTION = ("CR", "DX", "IO", "MG", "PX", "RF", "RG", "XA")
_CROSS_SECTIONAL = ("CT", "MR", "PT")
_GEOMETRY = ("PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient", "SliceThickness")


def _library_entry(ds: Dataset) -> Dataset:
    """A copy of ``ds`` that highdicom's image library can describe.

    highdicom adds the modality-specific descriptors (TID 1603 / 1604) by the Modality attribute and
    reads ImagerPixelSpacing of every radiograph, which CR images do not have (their PixelSpacing is
    measured at the imager). The copy takes PixelSpacing then; where the geometry is still
    incomplete its Modality is blanked so that only the general descriptors are written (the
    Modality descriptor itself comes from the SOP class).
    """
    copy = deepcopy(ds)  # Dataset(ds) would share (and change) the source's elements
    modality = str(ds.get("Modality", ""))
    if modality in _PROJECTION:
        if "ImagerPixelSpacing" not in copy and ds.get("PixelSpacing"):
            copy.ImagerPixelSpacing = ds.PixelSpacing
        complete = len(copy.get("ImagerPixelSpacing") or []) == 2 and len(ds.get("PatientOrientation") or []) == 2
    else:
        complete = modality not in _CROSS_SECTIONAL or all(ds.get(k) not in (None, "") for k in _GEOMETRY)
    if not complete:
        copy.Modality = ""
    return copy


def _private_scheme() -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator = cv.PRIVATE_SCHEME
    item.CodingSchemeName = cv.PRIVATE_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = "CovidViewer project"
    return item
