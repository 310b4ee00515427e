"""Status-bar text for the voxel under the mouse: value with its unit and the patient position."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.io.volume import Volume
from covidviewer.viewer.status_text import cursor_text, value_unit
from covidviewer.viewer.viewer_state import ViewerState


def shown(volume: Volume) -> ViewerState:
    state = ViewerState()
    state.set_volume(volume)
    return state


@pytest.mark.parametrize(
    "modality, meta, unit",
    [("CT", {}, "HU"), ("MR", {}, ""), ("PT", {"rescale_type": "BQML"}, "BQML"), ("CR", {"rescale_type": "US"}, "")],
)
def test_value_unit_is_hu_for_ct_else_the_files_rescale_type(modality, meta, unit):
    assert value_unit(shown(Volume(np.zeros((1, 2, 2), np.float32), modality=modality, meta=meta))) == unit


def test_cursor_text_names_voxel_value_and_position_and_is_empty_outside():
    pixels = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 1000
    state = shown(Volume(pixels, spacing=(2.0, 0.5, 0.5), direction=np.eye(3), modality="CT"))
    assert cursor_text(state, None) == ""
    text = cursor_text(state, (1, 2, 3))
    assert text.startswith("voxel (x 3, y 2, z 1)") and "-977 HU" in text and text.endswith(" mm")
    assert "LPS " in text
    rgb = shown(Volume(np.full((1, 2, 2, 3), 7, np.uint8)))
    assert "RGB 7, 7, 7" in cursor_text(rgb, (0, 1, 1))
