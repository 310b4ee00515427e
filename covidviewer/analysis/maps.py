"""The attention maps of an analysis run: the key that names one (model, method, cascade stage) and
the map placed on the image grid as a (z, y, x) volume (what the main view and the compare panes draw)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from covidviewer.analysis.methods import method_label

if TYPE_CHECKING:
    from covidviewer.inference import ModelResult


@dataclass(frozen=True)
class MapKey:
    """Names one attention map of a run: model, method id, and the cascade stage ("" for the model's own)."""

    model: str
    method: str
    stage: str = ""

    def label(self) -> str:
        """Human name: "model[ / stage] · method"."""
        stage = f" / {self.stage}" if self.stage else ""
        return f"{self.model}{stage} \u00b7 {method_label(self.method)}"


def overlay_volume(result: "ModelResult", shape: tuple[int, int, int]) -> np.ndarray | None:
    """A result's map as a (z, y, x) float32 volume on the image grid (what SliceView.set_overlay takes).

    A radiograph map is (H, W) -> (1, H, W); a CT-slice model's map lands on its analysed slice only
    (zero elsewhere); a 3D map is used as is.
    """
    heat = result.heatmap
    if heat is None:
        return None
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim == 3:
        return heat if heat.shape == tuple(shape) else _shape_error(heat, shape)
    if shape[0] == 1:
        return heat[None] if heat.shape == tuple(shape[1:]) else _shape_error(heat, shape)
    if result.slice_index is None or heat.shape != tuple(shape[1:]):
        return _shape_error(heat, shape)
    volume_map = np.zeros(shape, dtype=np.float32)
    volume_map[result.slice_index] = heat
    return volume_map


def _shape_error(heat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    raise ValueError(f"map shape {heat.shape} does not fit the image {tuple(shape)}")
