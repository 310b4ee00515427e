"""Measurements on a slice: length, angle and region-of-interest statistics, Qt-free.

Every measurement lies on one slice of one plane (``plane``, ``slice_index``) and keeps its points
as voxel indices (z, y, x) of the volume, pixel centres at integers. Points in voxel space do not
change when the reader rotates or mirrors the view, so a measurement drawn on a turned image is
the same measurement on the upright one, and the DICOM SR writer can place it on the stored frame
(``Measurement.image_points``).

Lengths and areas are in millimetres from the file's pixel spacing, and ``Calibration`` says which
attribute gave it (PixelSpacing, or ImagerPixelSpacing for projection radiographs, which is the
size at the detector, magnified by the divergent beam, unless the file's magnification factor takes
it to the patient: ``covidviewer.io.pixel_spacing``); without any spacing they are in pixels.
ROI statistics are Hounsfield units on CT and the file's stored values otherwise (``RoiValues``).
The geometry and statistics themselves are numpy functions in ``measurement_geometry``.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Sequence

from covidviewer.imaging.measurement_geometry import (
    ROI_SHAPES,
    RoiStats,
    angle_deg,
    in_plane,
    length_mm,
    roi_mask,
    roi_stats,
    slice_pixels,
)
from covidviewer.imaging.window_presets import uses_hu
from covidviewer.io.pixel_spacing import IMAGER_PIXEL_SPACING, MAGNIFICATION_CORRECTED
from covidviewer.io.volume import Volume

Point = tuple[float, float, float]  # (z, y, x) voxel index, pixel centres at integers
__all__ = [  # the geometry is re-exported: callers import everything measurement-related from here
    "ROI_SHAPES", "Angle", "Calibration", "Length", "Measurement", "RegionOfInterest", "RoiStats", "RoiValues",
    "angle_deg", "calibration_of", "image_outline", "in_plane", "length_mm", "measure_angle", "measure_length", "measure_roi",
    "roi_mask", "roi_stats", "roi_values", "slice_pixels",
]
PIXEL_UNIT = "px"
MM_UNIT = "mm"


# ---------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class Calibration:
    """How voxel indices become millimetres for one volume.

    spacing: (z, y, x) size of a voxel in ``unit`` ("mm", or "px" when the file gives no spacing:
        then every voxel is 1 x 1 x 1).
    source: the attribute the spacing came from ("PixelSpacing", "ImagerPixelSpacing",
        "PixelSpacing (functional groups)", "NIfTI header", ...), or "none".
    note: what the reader should know, in mm beginning with the attribute ("ImagerPixelSpacing: sizes at the
        detector, ..."), so that "Sizes in mm from " + note reads as one sentence.
    """

    spacing: tuple[float, float, float]
    unit: str
    source: str
    note: str = ""

    @property
    def area_unit(self) -> str:
        return f"{self.unit}\u00b2"


IMAGER_NOTE = "ImagerPixelSpacing: sizes at the detector, not corrected for the beam's magnification"
DETECTOR_NOTE = "PixelSpacing, equal to ImagerPixelSpacing: sizes at the detector, not corrected for the beam's magnification"


def _dicom_note(meta: dict) -> str:
    """What a length in mm means on this file (``covidviewer.io.pixel_spacing`` chose the spacing)."""
    source = meta.get("spacing_source")
    if source == IMAGER_PIXEL_SPACING:
        return IMAGER_NOTE
    if source == MAGNIFICATION_CORRECTED:
        return (f"ImagerPixelSpacing divided by the file's magnification factor {meta.get('magnification_factor'):.3g}: "
                "sizes estimated at the patient, not exact (anatomy nearer the detector is magnified less)")
    calibration = meta.get("spacing_calibration") or ""
    if calibration == "detector":
        return DETECTOR_NOTE
    if calibration:
        return f"PixelSpacing calibrated by the modality ({calibration})"
    return ""


def calibration_of(volume: Volume) -> Calibration:
    """The calibration of ``volume``: millimetres when its file states a spacing, else pixels; for a DICOM, the
    attribute the reader took it from and what that means."""
    meta = volume.meta or {}
    pixels_only = Calibration((1.0, 1.0, 1.0), PIXEL_UNIT, "none", "the file gives no pixel spacing: sizes in pixels")
    kind = meta.get("format")
    if kind == "image":
        return pixels_only
    spacing = tuple(float(s) for s in volume.spacing)
    if kind == "dicom":
        if meta.get("pixel_spacing_known") is False:
            return replace_note(pixels_only, "no PixelSpacing or ImagerPixelSpacing in the file: sizes in pixels")
        source = meta.get("spacing_source") or "PixelSpacing or ImagerPixelSpacing"
        return Calibration(spacing, MM_UNIT, source, _dicom_note(meta))  # type: ignore[arg-type]
    if kind is None:
        return Calibration(spacing, MM_UNIT, "voxel spacing")  # type: ignore[arg-type]
    return Calibration(spacing, MM_UNIT, f"{str(kind).upper()} header")  # type: ignore[arg-type]


def replace_note(calibration: Calibration, note: str) -> Calibration:
    """``calibration`` with another note."""
    return Calibration(calibration.spacing, calibration.unit, calibration.source, note)


# ---------------------------------------------------------------------- records
def _new_id() -> str:
    return uuid.uuid4().hex[:12]


def _number(value: float, unit: str = "") -> str:
    """One decimal below 1000 (40.2 HU, 12.5 mm); none above, where it is noise (11199 on a film)."""
    text = f"{value:.0f}" if abs(value) >= 1000 else f"{value:.1f}"
    return f"{text} {unit}" if unit else text


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """What every measurement has: where it lies and how it was calibrated.

    plane / slice_index: the slice it belongs to (shown only there); slice_axis: the volume index
    axis that plane cuts. points: (z, y, x) voxel indices. spacing_source: Calibration.source.
    """

    kind: ClassVar[str] = ""
    point_counts: ClassVar[tuple[int, ...]] = ()
    plane: str
    slice_index: int
    slice_axis: int = 0
    points: tuple[Point, ...]
    spacing_source: str = ""
    id: str = field(default_factory=_new_id)

    def __post_init__(self) -> None:
        points = tuple(tuple(float(v) for v in p) for p in self.points)
        if len(points) not in self.point_counts or any(len(p) != 3 for p in points):
            raise ValueError(f"{self.kind} needs {self.point_counts} points of (z, y, x), got {self.points!r}")
        object.__setattr__(self, "points", points)

    @property
    def value(self) -> float:
        raise NotImplementedError

    @property
    def unit(self) -> str:
        raise NotImplementedError

    def label(self) -> str:
        """The text drawn beside it and listed in the panel."""
        return _number(self.value, self.unit)

    def image_points(self) -> list[tuple[float, float]] | None:
        """(column, row) of each point on the stored frame ``slice_index``, DICOM SCOORD pixel
        convention (the image's top-left corner is (0, 0)); None on a reformatted plane."""
        if self.slice_axis != 0:
            return None
        return [(p[2] + 0.5, p[1] + 0.5) for p in self.points]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: kind, id, plane, slice_index, slice_axis, points ([z, y, x] voxel
        indices), value, unit, spacing_source, label, image_points (or None), and the kind's own fields."""
        data: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = [list(p) for p in value] if f.name == "points" else value
        data.update(value=self.value, unit=self.unit, label=self.label())
        points = self.image_points()
        data["image_points"] = None if points is None else [list(p) for p in points]
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Measurement:
        """The measurement a ``to_dict`` record describes; an unknown kind or field is an error."""
        kind = data.get("kind")
        cls = MEASUREMENT_KINDS.get(str(kind))
        if cls is None:
            raise ValueError(f"unknown measurement kind {kind!r}")
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names - DERIVED_KEYS
        if unknown:
            raise ValueError(f"unknown field(s) in a {kind} measurement: {', '.join(sorted(unknown))}")
        values = {k: v for k, v in data.items() if k in names}
        values["points"] = tuple(tuple(p) for p in values.get("points", ()))
        return cls(**values)


DERIVED_KEYS = {"kind", "value", "unit", "label", "image_points"}


@dataclass(frozen=True, kw_only=True)
class Length(Measurement):
    """A straight distance between two points."""

    kind: ClassVar[str] = "length"
    point_counts: ClassVar[tuple[int, ...]] = (2,)
    length: float
    length_unit: str = MM_UNIT

    @property
    def value(self) -> float:
        return self.length

    @property
    def unit(self) -> str:
        return self.length_unit


@dataclass(frozen=True, kw_only=True)
class Angle(Measurement):
    """Three points (the angle at the middle one) or two lines of two points each (Cobb)."""

    kind: ClassVar[str] = "angle"
    point_counts: ClassVar[tuple[int, ...]] = (3, 4)
    degrees: float

    @property
    def value(self) -> float:
        return self.degrees

    @property
    def unit(self) -> str:
        return "deg"

    def label(self) -> str:
        return f"{self.degrees:.1f}\u00b0"


@dataclass(frozen=True, kw_only=True)
class RegionOfInterest(Measurement):
    """An ellipse or rectangle (two opposite corners) with the statistics of the pixels inside.

    value_unit: "HU" on CT, "" for stored values; area_unit: "mm²" or "px²".
    """

    kind: ClassVar[str] = "roi"
    point_counts: ClassVar[tuple[int, ...]] = (2,)
    shape: str
    mean: float
    sd: float
    minimum: float
    maximum: float
    n_pixels: int
    area: float
    area_unit: str = "mm\u00b2"
    value_unit: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.shape not in ROI_SHAPES:
            raise ValueError(f"ROI shape must be one of {ROI_SHAPES}, got {self.shape!r}")

    @property
    def value(self) -> float:
        return self.mean

    @property
    def unit(self) -> str:
        return self.value_unit

    def label(self) -> str:
        unit = f" {self.value_unit}" if self.value_unit else ""
        return (f"mean {_number(self.mean)}{unit}  SD {_number(self.sd)}\nmin {self.minimum:.0f}  max {self.maximum:.0f}"
                f"  area {_number(self.area, self.area_unit)}")


def image_outline(measurement: Measurement, ellipse_points: int = 36) -> list[tuple[float, float]] | None:
    """What a DICOM SR draws of ``measurement`` on its stored frame, (column, row) SCOORD pixels:
    a length's ends, an angle's three points, an ROI's outline (4 corners, or ``ellipse_points``
    around an ellipse; open: the writer closes it). None on a reformatted plane, and for an angle
    between two lines, which one polyline cannot draw."""
    points = measurement.image_points()
    if points is None or (measurement.kind == "angle" and len(points) != 3):
        return None
    if measurement.kind != "roi":
        return points
    (c0, r0), (c1, r1) = points
    if getattr(measurement, "shape") == "rectangle":
        return [(c0, r0), (c1, r0), (c1, r1), (c0, r1)]
    centre_c, centre_r, half_c, half_r = (c0 + c1) / 2, (r0 + r1) / 2, abs(c1 - c0) / 2, abs(r1 - r0) / 2
    angles = [2 * math.pi * i / ellipse_points for i in range(ellipse_points)]
    return [(centre_c + half_c * math.cos(a), centre_r + half_r * math.sin(a)) for a in angles]


MEASUREMENT_KINDS: dict[str, type[Measurement]] = {cls.kind: cls for cls in (Length, Angle, RegionOfInterest)}


# ---------------------------------------------------------------------- building measurements
def measure_length(plane: str, slice_index: int, slice_axis: int, points: Sequence[Point],
                   calibration: Calibration) -> Length:
    """A Length between two (z, y, x) points of one slice."""
    return Length(plane=plane, slice_index=slice_index, slice_axis=slice_axis, points=tuple(points),
                  spacing_source=calibration.source, length=length_mm(points[0], points[1], calibration.spacing),
                  length_unit=calibration.unit)


def measure_angle(plane: str, slice_index: int, slice_axis: int, points: Sequence[Point],
                  calibration: Calibration) -> Angle:
    """An Angle from three points (vertex in the middle) or two lines (four points)."""
    return Angle(plane=plane, slice_index=slice_index, slice_axis=slice_axis, points=tuple(points),
                 spacing_source=calibration.source, degrees=angle_deg(points, calibration.spacing))


@dataclass(frozen=True)
class RoiValues:
    """How the viewer's pixel values become the values an ROI reports: ``offset + scale * pixel``.

    The reader keeps CT in HU (unit "HU"); other images are reported as stored in the file after
    the modality rescale, which for MONOCHROME1 means undoing the inversion made for display.
    note: what the numbers are, for the panel and the export.
    """

    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0
    note: str = ""

    def apply(self, stats: RoiStats) -> RoiStats:
        low, high = sorted((self.offset + self.scale * stats.minimum, self.offset + self.scale * stats.maximum))
        return RoiStats(self.offset + self.scale * stats.mean, abs(self.scale) * stats.sd, low, high,
                        stats.n_pixels, stats.area)


def roi_values(volume: Volume) -> RoiValues:
    """The value scale of ROI statistics on ``volume`` (see ``RoiValues``)."""
    meta = volume.meta or {}
    if uses_hu(volume):
        return RoiValues("HU", note="Hounsfield units")
    if volume.is_rgb:
        return RoiValues(note="mean of the red, green and blue values")
    if meta.get("voi_lut_applied"):
        return RoiValues(note="values after the file's VOI LUT (the stored values are not kept)")
    if meta.get("inverted_monochrome1"):
        bits = int(meta.get("bits_stored") or 0)
        if bits <= 0:
            return RoiValues(note="MONOCHROME1 values as displayed (inverted; the stored range is unknown)")
        signed = int(meta.get("pixel_representation") or 0) == 1
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        slope, intercept = float(meta.get("rescale_slope") or 1.0), float(meta.get("rescale_intercept") or 0.0)
        # the reader mirrored the values within the rescaled stored range; mirror them back
        span = (low * slope + intercept) + (high * slope + intercept)
        return RoiValues(scale=-1.0, offset=span, note="stored values (MONOCHROME1: brighter is lower)")
    if meta.get("format") == "dicom":
        return RoiValues(note="stored values after the modality rescale")
    return RoiValues(note="pixel values of the file")


def measure_roi(volume: Volume, plane: str, slice_index: int, slice_axis: int, points: Sequence[Point],
                shape: str, calibration: Calibration, values: RoiValues | None = None) -> RegionOfInterest:
    """ROI statistics of ``volume`` on one slice; ``points`` are two opposite corners.

    values: the value scale (default ``roi_values(volume)``: HU on CT, stored values otherwise).
    """
    values = values if values is not None else roi_values(volume)
    image = slice_pixels(volume.pixels, slice_axis, slice_index)
    size = in_plane(calibration.spacing, slice_axis)
    stats = values.apply(roi_stats(image, in_plane(points[0], slice_axis), in_plane(points[1], slice_axis), shape, size))
    return RegionOfInterest(
        plane=plane, slice_index=slice_index, slice_axis=slice_axis, points=tuple(points),
        spacing_source=calibration.source, shape=shape, mean=stats.mean, sd=stats.sd, minimum=stats.minimum,
        maximum=stats.maximum, n_pixels=stats.n_pixels, area=stats.area, area_unit=calibration.area_unit,
        value_unit=values.unit,
    )
