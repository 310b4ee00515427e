"""The lung bounding box a lung-cropping model analyses (issue 12: crop to the lungs).

Borders, burned-in text, side markers, neck, shoulders and the abdomen tell a classifier which
hospital or which age group a film comes from; the lungs tell it about the disease. The box is
the bounding box of the two largest connected lung regions of the U-Net's mask (speckle ignored),
grown by a margin so the costophrenic angles and the apices stay in frame. The app and the trainer
both reach it through ``prepare_image`` only.
"""
from __future__ import annotations

import cv2
import numpy as np

#: a region smaller than this share of the image is speckle, not a lung
MIN_REGION_SHARE = 0.005
#: lungs covering less than this share of the image are "no lungs found": the whole image is used
MIN_LUNG_SHARE = 0.02


#: a frontal film shows two lungs side by side: its two largest lung regions each cover this share of the image or more
#: (5% or more on every one of the 1,651 real frontal films of both packs but one, whose lungs the mask joins)
MIN_PAIRED_LUNG_SHARE = 0.02
#: ... and their centres lie this share of the image's width apart or more (0.26 or more on those films)
MIN_LUNG_SPACING = 0.13


def _two_largest(lung_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stats, centroids, labels in order) of the two largest connected regions of ``lung_mask`` (probability or 0/1,
    thresholded at 0.5): ``cv2.connectedComponentsWithStats``' rows, largest first."""
    mask = (np.asarray(lung_mask, dtype=np.float32) > 0.5).astype(np.uint8)
    _, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    order = 1 + np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1][:2]
    return stats, centroids, order


def shows_two_lungs(lung_mask: np.ndarray) -> bool:
    """Does the U-Net's mask hold two lungs side by side (``MIN_PAIRED_LUNG_SHARE``, ``MIN_LUNG_SPACING``)? A full
    Moon gets one disc (session 50)."""
    h, w = np.shape(lung_mask)
    stats, centroids, order = _two_largest(lung_mask)
    if len(order) < 2 or stats[order[1], cv2.CC_STAT_AREA] < MIN_PAIRED_LUNG_SHARE * h * w:
        return False
    return abs(float(centroids[order[0], 0] - centroids[order[1], 0])) >= MIN_LUNG_SPACING * w


def lung_box(lung_mask: np.ndarray, margin: float = 0.08) -> tuple[int, int, int, int] | None:
    """(y0, x0, y1, x1) of the lungs in ``lung_mask`` (probability or 0/1, thresholded at 0.5),
    grown by ``margin`` of the box's height / width on each side and clipped to the image;
    None when no lungs are found (the caller then analyses the whole image)."""
    h, w = np.shape(lung_mask)
    stats, _, order = _two_largest(lung_mask)
    keep = [int(i) for i in order if stats[i, cv2.CC_STAT_AREA] >= MIN_REGION_SHARE * h * w]
    if not keep or sum(int(stats[i, cv2.CC_STAT_AREA]) for i in keep) < MIN_LUNG_SHARE * h * w:
        return None
    y0 = min(int(stats[i, cv2.CC_STAT_TOP]) for i in keep)
    x0 = min(int(stats[i, cv2.CC_STAT_LEFT]) for i in keep)
    y1 = max(int(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT]) for i in keep)
    x1 = max(int(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH]) for i in keep)
    dy, dx = round((y1 - y0) * margin), round((x1 - x0) * margin)
    return max(0, y0 - dy), max(0, x0 - dx), min(h, y1 + dy), min(w, x1 + dx)
