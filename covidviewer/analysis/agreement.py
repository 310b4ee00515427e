"""Agreement numbers for the compare grid (Qt-free): share of attention in the lungs per map and the
top-20% IoU between maps, through covidviewer.explain's agreement functions.

Maps are compared where they are both defined: a CT-slice model's map exists on its analysed slice
only, so a pair involving one is compared on that slice (and not at all when the slices differ).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from covidviewer.explain.agreement import TOP_FRACTION, lung_attention_share, top_region


@dataclass(frozen=True)
class PaneMap:
    """One pane's map on the image grid: (z, y, x) volume; ``slice_index`` set for a single-slice map."""

    label: str
    volume_map: np.ndarray
    slice_index: int | None = None


@dataclass
class Agreement:
    """lung_share[i]: fraction of map i's attention inside the lungs (None: no lungs found, or a 3D map).
    iou[i][j]: top-20% IoU of maps i and j (None when they share no slice)."""

    labels: list[str]
    lung_share: list[float | None]
    iou: list[list[float | None]]
    fraction: float = TOP_FRACTION


def compute_agreement(
    maps: list[PaneMap],
    lung_mask: np.ndarray | None = None,
    fraction: float = TOP_FRACTION,
    check: Callable[[], None] | None = None,
    slice_lungs: dict[int | None, np.ndarray | None] | None = None,
) -> Agreement:
    """Lung shares and the pairwise top-``fraction`` IoU matrix.

    The lungs: a radiograph's ``lung_mask`` (the lung U-Net's); for a CT-slice map, ``slice_lungs`` of its slice
    (key None: a single CT image; ``analysis.run``'s CT lungs). A map on a grid its lungs do not share has no share.

    The IoU equals ``covidviewer.explain.top_region_iou`` for every pair; each map's top region is
    computed once (``top_region`` sorts the whole map, seconds for a CT volume), so N maps cost N
    sorts, not N^2. ``check()`` is called between sorts (a worker's cancellation check).
    """
    shares: list[float | None] = []
    for item in maps:
        plane, lungs = _plane_and_lungs(item, lung_mask, slice_lungs or {})
        fits = lungs is not None and plane is not None and plane.shape == np.shape(lungs)
        shares.append(lung_attention_share(plane, lungs) if fits else None)
    regions: dict[tuple[int, int | None], np.ndarray] = {}

    def region(index: int, z: int | None) -> np.ndarray:
        if (index, z) not in regions:
            if check is not None:
                check()
            data = maps[index].volume_map
            regions[(index, z)] = top_region(data if z is None else data[z], fraction)
        return regions[(index, z)]

    n = len(maps)
    iou: list[list[float | None]] = [[None] * n for _ in range(n)]
    for i in range(n):
        iou[i][i] = 1.0
        for j in range(i + 1, n):
            slices = {s for s in (maps[i].slice_index, maps[j].slice_index) if s is not None}
            if len(slices) > 1:
                continue  # maps on different slices share no pixels to compare
            z = slices.pop() if slices else None
            a, b = region(i, z), region(j, z)
            union = int(np.logical_or(a, b).sum())
            iou[i][j] = iou[j][i] = float(np.logical_and(a, b).sum() / union) if union else 0.0
    return Agreement([m.label for m in maps], shares, iou, fraction)


def _plane_and_lungs(item: PaneMap, lung_mask: np.ndarray | None,
                     slice_lungs: dict[int | None, np.ndarray | None]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The (H, W) map of ``item`` and the lungs to weigh it by; (None, None) for a map over a whole volume."""
    if item.slice_index in slice_lungs:
        return item.volume_map[item.slice_index or 0], slice_lungs[item.slice_index]
    if item.volume_map.shape[0] == 1:
        return item.volume_map[0], lung_mask
    return None, None
