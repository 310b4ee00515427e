"""A chest erased from an image: the region trainer.lungs_erased scores images without, and the copies
``augment.erased_copies`` trains on (trainer.data.datasets). Plain numpy and OpenCV, so that the data sets need
nothing of the audit."""
from __future__ import annotations

import numpy as np

#: the erased region is widened by this share of the image's shorter side: a lung finder leaves out consolidation at
#: the lungs' outer edge (dense lung reads as tissue), which is lung all the same
MARGIN = 0.05
#: a CT slice's body loses its inside too, all but a rim this share of the shorter side deep (skin, fat, muscle): the
#: CT lung finder can miss a whole lung full of consolidation, and the body's rim holds no lung
BODY_RIM = 0.03
FILL = (f"the lungs' joint convex hull, widened by {MARGIN:.0%} of the image's shorter side, filled with the mean grey of "
        f"the image outside it; on a CT slice also the body's inside, all but a rim {BODY_RIM:.0%} of that side deep")


def _disc(radius: int) -> np.ndarray:
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def erased_region(lung: np.ndarray, body: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool: the convex hull of every lung pixel (> 0.5) together (both lungs and the mediastinum between them),
    dilated by ``MARGIN`` of the shorter side, and given a CT slice's ``body``, the body eroded by ``BODY_RIM``."""
    import cv2

    inside = np.asarray(lung) > 0.5
    side = min(inside.shape)
    region = np.zeros(inside.shape, np.uint8)
    points = cv2.findNonZero(inside.astype(np.uint8))
    if points is not None:
        cv2.fillConvexPoly(region, cv2.convexHull(points), 1)
        region = cv2.dilate(region, _disc(max(1, round(MARGIN * side))))
    if body is not None:
        region |= cv2.erode(np.asarray(body, np.uint8), _disc(max(1, round(BODY_RIM * side))))
    return region.astype(bool)


def erase_lungs(pixels: np.ndarray, lung: np.ndarray, body: np.ndarray | None = None) -> np.ndarray:
    """``pixels`` with ``erased_region(lung, body)`` set to the mean of the pixels outside it (of every pixel where the
    region is the whole image: a slice cut close around the chest has nothing else to read)."""
    region = erased_region(lung, body)
    erased = np.array(pixels, dtype=np.float32, copy=True)
    if region.any():
        erased[region] = float(erased[~region].mean() if (~region).any() else erased.mean())
    return erased
