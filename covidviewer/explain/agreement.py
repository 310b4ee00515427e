"""Agreement numbers for the compare view: how much attention falls in the lungs, how much maps overlap.

Both work on maps in [0, 1] on the same (original) grid, 2D or 3D.
"""
from __future__ import annotations

import numpy as np

TOP_FRACTION = 0.2


def lung_attention_share(heatmap: np.ndarray, lung_mask: np.ndarray) -> float | None:
    """Fraction of the map's total attention that lies inside the lung mask (0..1).

    None for an empty map: a model whose Grad-CAM is all zero looks nowhere, which is not the same
    as looking outside the lungs, so it must not count as 0.
    """
    heat, lungs = _same_shape(heatmap, lung_mask)
    total = float(heat.sum())
    if total <= 0:
        return None
    return float((heat * (lungs > 0.5)).sum() / total)


def lungs_cover(lung_mask: np.ndarray, box: tuple[int, int, int, int] | None = None) -> float:
    """The share of the region a map covers (``Explanation.analysed_box``, (y0, x0, y1, x1); None: the whole image)
    that the lung mask (or any 0/1 mask: the trainer's check also weighs the outside of a CT slice's body) covers:
    what a map that looked everywhere alike would put inside it."""
    inside = np.asarray(lung_mask, dtype=np.float32) > 0.5
    if box is not None:
        y0, x0, y1, x1 = box
        inside = inside[y0:y1, x0:x1]
    return float(inside.mean()) if inside.size else 0.0


def top_region(heatmap: np.ndarray, fraction: float = TOP_FRACTION) -> np.ndarray:
    """Boolean mask of the ``fraction`` of pixels with the highest attention (ties broken by order)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    flat = np.asarray(heatmap, dtype=np.float32).ravel()
    count = max(int(round(fraction * flat.size)), 1)
    region = np.zeros(flat.size, dtype=bool)
    region[np.argsort(flat, kind="stable")[::-1][:count]] = True
    return region.reshape(np.shape(heatmap))


def top_region_iou(map_a: np.ndarray, map_b: np.ndarray, fraction: float = TOP_FRACTION) -> float:
    """IoU of the top-``fraction`` regions of two maps (1 = they point at the same pixels)."""
    a, b = _same_shape(map_a, map_b)
    region_a, region_b = top_region(a, fraction), top_region(b, fraction)
    union = np.logical_or(region_a, region_b).sum()
    return float(np.logical_and(region_a, region_b).sum() / union) if union else 0.0


def _same_shape(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"maps must share a grid: {a.shape} vs {b.shape}")
    return a, b
