"""A radiograph's display shutter (PS3.3 C.7.6.11, Display Shutter Module) as plain values for ``Volume.meta``.

A CR or DX film is exposed through a collimator; the file can say which part of it is the exposed field (a rectangle,
a circle, a polygon, or several of them together), and a viewer covers the rest with the shutter's grey, as Weasis
and OHIF do. Without it the unexposed border shows as the detector left it, often bright. The geometry is turned
into a mask by ``covidviewer.imaging.shutter``; the models read the film as stored.
"""
from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from covidviewer.io import dicom_header as hdr

SHAPES = ("RECTANGULAR", "CIRCULAR", "POLYGONAL")


def display_shutter(ds: Dataset) -> dict[str, Any] | None:
    """{"shapes", "rectangle" (left, right, upper, lower; 1-based columns and rows), "circle" (row, column, radius),
    "polygon" [(row, column), ...], "value" (the shutter's grey, 0-1)} or None when the file has no usable shutter."""
    words = {str(w).strip().upper() for w in _values(ds.get("ShutterShape"))}
    shapes = [s for s in SHAPES if s in words]
    if not shapes:
        return None
    shutter: dict[str, Any] = {"shapes": shapes, "value": _presentation_value(ds)}
    if "RECTANGULAR" in shapes:
        edges = [hdr.first_float(ds.get(k)) for k in ("ShutterLeftVerticalEdge", "ShutterRightVerticalEdge",
                                                     "ShutterUpperHorizontalEdge", "ShutterLowerHorizontalEdge")]
        if any(e is None for e in edges):
            return None
        shutter["rectangle"] = tuple(float(e) for e in edges)  # type: ignore[arg-type]
    if "CIRCULAR" in shapes:
        centre, radius = hdr.floats(ds.get("CenterOfCircularShutter"), 2), hdr.first_float(ds.get("RadiusOfCircularShutter"))
        if centre is None or radius is None:
            return None
        shutter["circle"] = (centre[0], centre[1], radius)
    if "POLYGONAL" in shapes:
        values = [float(v) for v in _values(ds.get("VerticesOfThePolygonalShutter"))]
        if len(values) < 6 or len(values) % 2:
            return None
        shutter["polygon"] = [(values[i], values[i + 1]) for i in range(0, len(values), 2)]
    return shutter


def _values(value: Any) -> list[Any]:
    """A possibly multi-valued attribute's values as a list (a single value, or none, too)."""
    if value is None or value == "":
        return []
    return [value] if isinstance(value, (str, bytes, int, float)) else list(value)


def _presentation_value(ds: Dataset) -> float:
    """ShutterPresentationValue (a P-value, 0-0xFFFF) as a share of white; black when the file gives none."""
    value = hdr.first_float(ds.get("ShutterPresentationValue"))
    return 0.0 if value is None else min(max(value / 0xFFFF, 0.0), 1.0)
