"""Agreement numbers for the compare grid (Qt-free): share of attention in the lungs per map and the
top-20% IoU between maps, through covidviewer.explain's agreement functions.

Maps are compared where they are both defined: a CT-slice model's map exists on its analysed slice
only, so a pair involving one is compared on that slice (and not at all when the slices differ).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from covidviewer.explain.agreement import TOP_FRACTION, lung_attention_share, top_region_iou


@dataclass(frozen=True)
class PaneMap:
    """One pane's map on the image grid: (z, y, x) volume; ``slice_index`` set for a single-slice map."""

    label: str
    volume_map: np.ndarray
    slice_index: int | None = None


@dataclass
class Agreement:
    """lung_share[i]: fraction of map i's attention inside the lung mask (None: no mask / not 2D).
    iou[i][j]: top-20% IoU of maps i and j (None when they share no slice)."""

    labels: list[str]
    lung_share: list[float | None]
    iou: list[list[float | None]]
    fraction: float = TOP_FRACTION


def compute_agreement(maps: list[PaneMap], lung_mask: np.ndarray | None = None, fraction: float = TOP_FRACTION) -> Agreement:
    """Lung shares (radiographs with a lung mask) and the pairwise top-``fraction`` IoU matrix."""
    shares: list[float | None] = []
    for item in maps:
        if lung_mask is not None and item.volume_map.shape[0] == 1 and item.volume_map.shape[1:] == np.shape(lung_mask):
            shares.append(lung_attention_share(item.volume_map[0], lung_mask))
        else:
            shares.append(None)
    n = len(maps)
    iou: list[list[float | None]] = [[None] * n for _ in range(n)]
    for i in range(n):
        iou[i][i] = 1.0
        for j in range(i + 1, n):
            a, b = _comparable(maps[i], maps[j])
            value = None if a is None else top_region_iou(a, b, fraction)
            iou[i][j] = iou[j][i] = value
    return Agreement([m.label for m in maps], shares, iou, fraction)


def _comparable(a: PaneMap, b: PaneMap) -> tuple[np.ndarray | None, np.ndarray | None]:
    slices = {s for s in (a.slice_index, b.slice_index) if s is not None}
    if len(slices) > 1:
        return None, None
    if slices:
        z = slices.pop()
        return a.volume_map[z], b.volume_map[z]
    return a.volume_map, b.volume_map
