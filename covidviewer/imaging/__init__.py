"""Numpy/OpenCV image operations: windowing, CLAHE, resampling, model preprocessing, overlays.

Display helpers used by the viewer and the explanation exports: ``window_to_uint8``,
``WINDOW_PRESETS``, ``reformat`` / ``plane_cut``, ``colormap_lut``, ``composite_overlay``.
"""
from __future__ import annotations

from covidviewer.imaging.colormaps import COLORMAPS, colormap_lut
from covidviewer.imaging.overlay import composite_overlay, heat_colours, heat_to_index
from covidviewer.imaging.reformat import PLANES, PlaneCut, plane_cut, reformat
from covidviewer.imaging.windowing import WINDOW_PRESETS, window_from_range, window_to_uint8

__all__ = [
    "COLORMAPS",
    "PLANES",
    "PlaneCut",
    "WINDOW_PRESETS",
    "colormap_lut",
    "composite_overlay",
    "heat_colours",
    "heat_to_index",
    "plane_cut",
    "reformat",
    "window_from_range",
    "window_to_uint8",
]
