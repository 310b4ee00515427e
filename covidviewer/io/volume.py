"""The Qt-free data model every reader returns and every other layer consumes.

Geometry follows DICOM's patient coordinate system (LPS, millimetres). Pixel arrays are always
indexed (z, y, x): z = slice, y = row, x = column. A 2D radiograph or photo is a volume with z = 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: ``meta["presentation_intent"]`` of a DX image that is the detector's raw data (PS3.3 C.8.11.1), not for reading
FOR_PROCESSING = "FOR PROCESSING"


@dataclass
class Volume:
    """A loaded image or series in canonical (z, y, x) order.

    pixels: float32 after RescaleSlope/Intercept (HU for CT), MONOCHROME1 already inverted so that
        larger always means brighter; RGB inputs keep a trailing channel axis (z, y, x, 3) and set
        ``is_rgb``.
    spacing: (z, y, x) voxel size in mm (z = distance between slice centres along the normal).
    origin: patient position (LPS, mm) of the centre of voxel (0, 0, 0).
    direction: 3x3 matrix whose *columns* are the patient-space unit vectors of the x, y and z
        index axes (so ``origin + direction @ (spacing[::-1] * (x, y, z))`` is a voxel's position).
    default_window: (center, width) to show on opening: the file's VOI window, else the data range.
    overlay_planes: (Z, H, W) bool, each DICOM image's overlay planes (markers and annotations the modality stored
        beside the pixels: ``covidviewer.io.overlay_planes``), drawn over it by the viewer in the plane the images were
        taken in; None when no image has any.
    """

    pixels: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    modality: str = "OT"
    default_window: tuple[float, float] = (127.5, 255.0)
    is_rgb: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)
    overlay_planes: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(z, y, x) size, ignoring any colour axis."""
        return tuple(self.pixels.shape[:3])  # type: ignore[return-value]

    @property
    def is_2d(self) -> bool:
        return self.pixels.shape[0] == 1

    def voxel_to_patient(self, z: float, y: float, x: float) -> np.ndarray:
        """Patient (LPS, mm) position of a voxel index (fractional indices allowed)."""
        steps = np.array([x * self.spacing[2], y * self.spacing[1], z * self.spacing[0]])
        return np.asarray(self.origin, dtype=float) + np.asarray(self.direction, dtype=float) @ steps


def replace_non_finite(pixels: np.ndarray, warnings: list[str]) -> None:
    """Set NaN / Inf pixels to 0 in place and say how many, so a volume can always be windowed."""
    bad = ~np.isfinite(pixels)
    count = int(np.count_nonzero(bad))
    if count:
        pixels[bad] = 0
        warnings.append(f"{count} non-finite pixel{'s' if count != 1 else ''} (NaN or Inf) set to 0")


def checked_geometry(volume: Volume) -> Volume:
    """Replace a spacing, origin or default window that is not a usable number (a damaged header),
    with a warning: everything downstream may then assume finite, positive values."""
    spacing = tuple(float(s) for s in volume.spacing)
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        volume.spacing = tuple(s if np.isfinite(s) and s > 0 else 1.0 for s in spacing)  # type: ignore[assignment]
        volume.warnings.append(f"voxel spacing {spacing} is not usable; 1 mm assumed where it is not a positive number")
    if not np.isfinite(np.asarray(volume.origin, dtype=float)).all():
        volume.origin = (0.0, 0.0, 0.0)
        volume.warnings.append("image position is not a number; the origin is set to 0")
    if not np.isfinite(np.asarray(volume.direction, dtype=float)).all():
        volume.direction = np.eye(3)
        volume.warnings.append("image orientation is not a number; axial orientation assumed")
    center, width = (float(v) for v in volume.default_window)
    if not (np.isfinite(center) and np.isfinite(width) and width > 0):
        pixels = volume.pixels
        vmin, vmax = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 1.0)
        volume.default_window = ((vmin + vmax) / 2, max(vmax - vmin, 1.0))
        volume.warnings.append(f"the file's default window ({center:g}, {width:g}) is not usable; the data range is used")
    return volume
