"""Orientation markers: which patient direction each edge of a displayed image faces (Qt-free).

Directions are vectors in DICOM's patient system (LPS: +x towards the patient's Left, +y Posterior,
+z Superior). A marker is the letter of the direction a vector points to: R/L, A/P and H/F (head /
feet, the letters DICOM's PatientOrientation uses). An oblique vector gets two letters, the main
direction first ("LA"); components smaller than ``OBLIQUE_MIN`` are left out, so a 3-degree gantry
tilt still reads "A", not "AH".

Where the orientation comes from (``index_directions``):

- a volume whose reader recorded the direction cosines (``meta["orientation"]``: DICOM
  ImageOrientationPatient, NIfTI/MHA/NRRD headers): ``Volume.direction``;
- a radiograph with PatientOrientation (0020,0020), e.g. "L\\F" = rows run towards the patient's
  left, columns towards the feet (a PA chest film hung as read: patient's right on the viewer's left);
- nothing else: no markers (a PNG does not say which side is which, and a guess is worse than none).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from covidviewer.imaging.reformat import PlaneCut
from covidviewer.io.volume import Volume

# (letter towards -axis, letter towards +axis) for the LPS axes x, y, z.
AXIS_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))
OBLIQUE_MIN = 0.3  # |cosine| a secondary direction needs to be named (about 17 degrees)
_LETTER_VECTORS = {
    "L": (1.0, 0.0, 0.0), "R": (-1.0, 0.0, 0.0),
    "P": (0.0, 1.0, 0.0), "A": (0.0, -1.0, 0.0),
    "H": (0.0, 0.0, 1.0), "F": (0.0, 0.0, -1.0),
    "S": (0.0, 0.0, 1.0), "I": (0.0, 0.0, -1.0),  # superior / inferior, accepted as H / F
}


@dataclass(frozen=True)
class EdgeLabels:
    """The patient direction each edge of the displayed image faces ("" when unknown)."""

    left: str = ""
    right: str = ""
    top: str = ""
    bottom: str = ""

    def __bool__(self) -> bool:
        return bool(self.left or self.right or self.top or self.bottom)


def direction_letters(vector, max_letters: int = 2) -> str:
    """Letters of the patient direction ``vector`` (LPS) points to, strongest first: (1, 0, 0) -> "L".

    A zero vector gives "".
    """
    v = np.asarray(vector, dtype=float)
    norm = float(np.linalg.norm(v))
    if norm == 0.0 or not np.isfinite(norm):
        return ""
    v = v / norm
    letters = []
    for axis in np.argsort(-np.abs(v), kind="stable")[:max_letters]:
        component = float(v[axis])
        if letters and abs(component) < OBLIQUE_MIN:
            break
        letters.append(AXIS_LETTERS[axis][1 if component > 0 else 0])
    return "".join(letters)


def edge_labels(right, down) -> EdgeLabels:
    """Markers of the four edges, from the patient directions of screen-right and screen-down."""
    return EdgeLabels(
        left=direction_letters(-np.asarray(right, dtype=float)),
        right=direction_letters(right),
        top=direction_letters(-np.asarray(down, dtype=float)),
        bottom=direction_letters(down),
    )


def patient_orientation_vectors(text: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(row direction, column direction) in LPS from a PatientOrientation value such as "L\\F".

    Each part may combine letters for an oblique direction ("LF"); None when the value is absent
    or does not name two independent directions.
    """
    parts = [p.strip().upper() for p in str(text or "").replace("/", "\\").split("\\")]
    if len(parts) != 2 or not all(parts) or not all(c in _LETTER_VECTORS for p in parts for c in p):
        return None
    vectors = []
    for part in parts:
        v = np.sum([_LETTER_VECTORS[c] for c in part], axis=0)
        vectors.append(v / np.linalg.norm(v))
    if np.linalg.norm(np.cross(vectors[0], vectors[1])) < 1e-6:
        return None
    return vectors[0], vectors[1]


def index_directions(volume: Volume) -> np.ndarray | None:
    """3x3 matrix whose columns are the patient (LPS) directions of the x, y, z index axes.

    None when the file does not say how the patient lies in the image (see the module docstring).
    """
    meta = volume.meta or {}
    if meta.get("orientation") is not None:
        return np.asarray(volume.direction, dtype=float)
    vectors = patient_orientation_vectors(meta.get("patient_orientation", ""))
    if vectors is None:
        return None
    row, col = vectors
    return np.stack([row, col, np.cross(row, col)], axis=1)


def displayed_directions(volume: Volume, cut: PlaneCut) -> tuple[np.ndarray, np.ndarray] | None:
    """Patient directions of screen-right and screen-down for a displayed ``cut`` of ``volume``."""
    directions = index_directions(volume)
    if directions is None:
        return None
    # cut axes count (z, y, x); direction columns are (x, y, z)
    right = directions[:, 2 - cut.col_axis] * (-1.0 if cut.flip_cols else 1.0)
    down = directions[:, 2 - cut.row_axis] * (-1.0 if cut.flip_rows else 1.0)
    return right, down


def orientation_markers(volume: Volume, cut: PlaneCut) -> EdgeLabels:
    """Edge markers of the displayed ``cut`` (empty labels when the orientation is unknown)."""
    directions = displayed_directions(volume, cut)
    return EdgeLabels() if directions is None else edge_labels(*directions)
