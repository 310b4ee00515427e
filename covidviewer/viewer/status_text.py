"""Status-bar text for the voxel under the mouse (Qt-free, so it is tested without a GUI)."""
from __future__ import annotations

from covidviewer.viewer.viewer_state import ViewerState


def value_unit(state: ViewerState) -> str:
    """Unit of pixel values: HU for CT (after rescale), else the file's RescaleType, else none."""
    volume = state.volume
    if volume is None:
        return ""
    if volume.modality == "CT":
        return "HU"
    unit = str(volume.meta.get("rescale_type", "") or "")
    return "" if unit.upper() in ("US", "") else unit


def cursor_text(state: ViewerState, voxel: tuple[int, int, int] | None) -> str:
    """"(x, y, z) voxel  value HU  (L/P/S) mm" for the voxel under the mouse, or "" outside."""
    volume = state.volume
    if volume is None or voxel is None:
        return ""
    z, y, x = voxel
    value = state.value_at(voxel)
    if isinstance(value, tuple):
        value_part = "RGB " + ", ".join(f"{v:.0f}" for v in value)
    else:
        unit = value_unit(state)
        value_part = f"{value:.6g}" + (f" {unit}" if unit else "")
    position = volume.voxel_to_patient(z, y, x)
    position_part = "LPS " + ", ".join(f"{p:.1f}" for p in position) + " mm"
    return f"voxel (x {x}, y {y}, z {z})   {value_part}   {position_part}"
