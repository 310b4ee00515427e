"""Named display windows (center, width) offered by the viewer's View menu and shortcuts."""
from __future__ import annotations

# CT windows in HU as in common radiology practice; "default" (the file's own VOI window) is
# handled by ViewerState because it depends on the volume.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "bone": (400.0, 1800.0),
}
