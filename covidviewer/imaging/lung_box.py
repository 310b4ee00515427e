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


def lung_box(lung_mask: np.ndarray, margin: float = 0.08) -> tuple[int, int, int, int] | None:
    """(y0, x0, y1, x1) of the lungs in ``lung_mask`` (probability or 0/1, thresholded at 0.5),
    grown by ``margin`` of the box's height / width on each side and clipped to the image;
    None when no lungs are found (the caller then analyses the whole image)."""
    mask = (np.asarray(lung_mask, dtype=np.float32) > 0.5).astype(np.uint8)
    h, w = mask.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1][:2]
    keep = [int(i) + 1 for i in order if areas[i] >= MIN_REGION_SHARE * h * w]
    if not keep or sum(int(stats[i, cv2.CC_STAT_AREA]) for i in keep) < MIN_LUNG_SHARE * h * w:
        return None
    y0 = min(int(stats[i, cv2.CC_STAT_TOP]) for i in keep)
    x0 = min(int(stats[i, cv2.CC_STAT_LEFT]) for i in keep)
    y1 = max(int(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT]) for i in keep)
    x1 = max(int(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH]) for i in keep)
    dy, dx = round((y1 - y0) * margin), round((x1 - x0) * margin)
    return max(0, y0 - dy), max(0, x0 - dx), min(h, y1 + dy), min(w, x1 + dx)
