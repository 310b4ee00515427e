"""A DICOM image's overlay planes (groups 6000-601E, PS3.3 C.9.2): graphics and text the modality drew beside the
pixels rather than into them (side markers, annotations, a region of interest), which Weasis and OHIF show over the
image. Read here as one bit mask on the image grid; the models never see them.
"""
from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from covidviewer.io import dicom_header as hdr

#: overlay groups are even, 6000 to 601E (PS3.5 7.6)
GROUPS = range(0x6000, 0x6020, 2)


def overlay_planes(ds: Dataset, rows: int, columns: int) -> np.ndarray | None:
    """(rows, columns) bool: every overlay plane of the file's first frame, at its origin; None when it has none.
    A plane that cannot be decoded is left out, the image is not (overlays are an aid, not the image)."""
    mask = np.zeros((rows, columns), dtype=bool)
    found = False
    for group in GROUPS:
        if (group, 0x3000) not in ds:  # OverlayData
            continue
        try:
            plane = np.asarray(ds.overlay_array(group))
        except Exception:  # pydicom raises several kinds for a damaged plane
            continue
        plane = plane[0] if plane.ndim == 3 else plane
        origin = hdr.floats(ds.get((group, 0x0050)).value if (group, 0x0050) in ds else None, 2) or (1.0, 1.0)
        top, left = int(origin[0]) - 1, int(origin[1]) - 1  # 1-based row and column of the plane's first pixel
        found |= _paste(mask, plane.astype(bool), top, left)
    return mask if found and mask.any() else None


def _paste(mask: np.ndarray, plane: np.ndarray, top: int, left: int) -> bool:
    """OR ``plane`` into ``mask`` at (top, left), cut to the image; False when nothing of it lies on the image."""
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + plane.shape[0], mask.shape[0]), min(left + plane.shape[1], mask.shape[1])
    if y1 <= y0 or x1 <= x0:
        return False
    mask[y0:y1, x0:x1] |= plane[y0 - top:y1 - top, x0 - left:x1 - left]
    return True
