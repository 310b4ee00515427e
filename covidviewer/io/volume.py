"""The Qt-free data model every reader returns and every other layer consumes.

Geometry follows DICOM's patient coordinate system (LPS, millimetres). Pixel arrays are always
indexed (z, y, x): z = slice, y = row, x = column. A 2D radiograph or photo is a volume with z = 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


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
