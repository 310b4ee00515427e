"""Per-slice importance from a 3D model's depth attention (DARNet), on the original slices.

A model exposes its last depth gate through the attribute named by ``spec.explain.depth_attention``
(DARNet: ``last_depth_attention``, a (B, C, D') tensor from the last forward). Its channel mean is one
weight in [0, 1] per model depth step; we resample it, pixel-centre aligned, onto the original slices.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from covidviewer.imaging.preprocess import Grid3D, resize_volume

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.models.spec import ModelSpec


def read_depth_attention(model: "nn.Module", spec: "ModelSpec") -> np.ndarray | None:
    """(D',) channel-mean depth gate of the first sample of the last forward, or None."""
    attr = spec.explain.depth_attention
    if not attr:
        return None
    weights = getattr(model, attr, None)
    if weights is None:
        return None
    return weights[0].float().mean(0).cpu().numpy().astype(np.float32)


def slice_importance(depth_weights: np.ndarray, grid: Grid3D) -> tuple[np.ndarray, int]:
    """Resample (D',) depth weights onto the grid's original slices -> ((z,) weights, peak slice)."""
    column = np.asarray(depth_weights, dtype=np.float32)[:, None, None]
    per_slice = resize_volume(column, (grid.original[0], 1, 1))[:, 0, 0]
    per_slice = np.clip(per_slice, 0.0, 1.0).astype(np.float32)
    return per_slice, int(np.argmax(per_slice))
