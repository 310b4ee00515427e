"""Qt-free state of one slice viewer, observable through ``ViewerState.events``.

Everything a ``SliceView`` shows is decided here: which volume, plane and slice, the window
(center/width), the visible region (``view_range``), the reader's rotation / mirror / inversion,
the overlay layer and cine playback. Widgets
observe the state and write back user input; tests, controllers and linked compare panes drive it
without a GUI. This module must never import Qt.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from covidviewer.imaging.window_presets import preset_window
from covidviewer.io.volume import Volume
from covidviewer.viewer.events import Signal
from covidviewer.viewer.planes import PLANES, PlaneGeometry, plane_geometry
from covidviewer.viewer.viewer_reading import ReadingMixin

MIN_WINDOW_WIDTH = 1e-3
MIN_CINE_FPS, MAX_CINE_FPS = 1.0, 60.0


@dataclass(frozen=True)
class OverlayLayer:
    """A float map in [0, 1] on the volume grid (z, y, x), drawn over the image.

    colormap: a name understood by ``covidviewer.ui.overlay_colors`` (e.g. "jet", "inferno").
    opacity: 0..1 alpha of the drawn map; threshold: values below it are not drawn.
    """

    data: np.ndarray
    colormap: str = "jet"
    opacity: float = 0.5
    threshold: float = 0.0
    visible: bool = True


class ViewerEvents:
    """Signals of a ``ViewerState``; each is emitted only when its value really changed.

    volume(volume | None), plane(str), slice(int), window((center, width)),
    view_range((x0, x1, y0, y1) | None), overlay(OverlayLayer | None), cine((playing, fps)),
    cursor((z, y, x) | None), display((rotation, mirrored, inverted)).
    """

    def __init__(self) -> None:
        self.volume = Signal("volume")
        self.plane = Signal("plane")
        self.slice = Signal("slice")
        self.window = Signal("window")
        self.view_range = Signal("view_range")
        self.overlay = Signal("overlay")
        self.cine = Signal("cine")
        self.cursor = Signal("cursor")
        self.display = Signal("display")


class ViewerState(ReadingMixin):
    """What one slice viewer shows. All setters validate, clamp and emit on change.

    view_range is the visible rectangle (x0, x1, y0, y1) in display millimetres of the current
    plane (x to the right, y downwards, origin at the top-left pixel corner); None means "fit".

    ``slice_index`` is the volume's own index along the plane (what analyses and overlays use);
    ``scroll`` and ``slice_number`` follow the reading direction instead (``scroll_toward_feet``:
    next = towards the feet on an axial CT, whatever order the file stored the slices in).
    """

    def __init__(self) -> None:
        self.events = ViewerEvents()
        self._volume: Volume | None = None
        self._plane = "axial"
        self._geometry: PlaneGeometry | None = None
        self._slices: dict[str, int] = {}
        self._window: tuple[float, float] = (127.5, 255.0)
        self._view_range: tuple[float, float, float, float] | None = None
        self._overlay: OverlayLayer | None = None
        self._cine_playing = False
        self._cine_fps = 10.0
        self._cursor: tuple[int, int, int] | None = None
        self._replacing_volume = False
        self._rotation = 0  # quarter turns clockwise, applied before the mirror
        self._mirrored = False
        self._inverted = False
        self.scroll_toward_feet = True

    # ------------------------------------------------------------------ volume and plane
    @property
    def volume(self) -> Volume | None:
        return self._volume

    def set_volume(self, volume: Volume | None, window: tuple[float, float] | None = None) -> None:
        """Show ``volume`` on its axial (native for 2D) plane, middle slice, default window, fitted.

        The overlay is dropped because it belongs to the previous volume's grid. Every field's
        event is emitted (with ``replacing_volume`` True, so views may skip redrawing), then
        ``volume`` last: one full refresh per new volume.
        """
        self._volume = volume
        self._plane = "axial"
        self._overlay = None
        self._view_range = None
        self._cursor = None
        self._cine_playing = False
        self._rotation, self._mirrored, self._inverted = 0, False, False
        if volume is None:
            self._geometry = None
            self._slices = {}
        else:
            self._slices = {p: plane_geometry(volume, p).n_slices // 2 for p in PLANES}
            self._geometry = self._plane_geometry(self._plane)
            self._window = _valid_window(window or volume.default_window)
        self._replacing_volume = True
        try:
            self.events.plane.emit(self._plane)
            self.events.slice.emit(self.slice_index)
            self.events.window.emit(self._window)
            self.events.view_range.emit(None)
            self.events.overlay.emit(None)
            self.events.cine.emit((False, self._cine_fps))
            self.events.display.emit(self.display)
        finally:
            self._replacing_volume = False
        self.events.volume.emit(volume)

    @property
    def replacing_volume(self) -> bool:
        """True while ``set_volume`` emits the per-field events that precede ``volume``."""
        return self._replacing_volume

    @property
    def plane(self) -> str:
        return self._plane

    @plane.setter
    def plane(self, plane: str) -> None:
        if plane not in PLANES:
            raise ValueError(f"plane {plane!r} not in {PLANES}")
        if plane == self._plane:
            return
        self._plane = plane
        if self._volume is not None:
            self._geometry = self._plane_geometry(plane)
        self._view_range = None  # another plane has another extent: fit it
        self.events.plane.emit(plane)
        self.events.slice.emit(self.slice_index)
        self.events.view_range.emit(None)

    @property
    def can_reformat(self) -> bool:
        """Coronal/sagittal make sense only for a stack of more than one slice."""
        return self._volume is not None and not self._volume.is_2d

    @property
    def geometry(self) -> PlaneGeometry | None:
        """Display geometry of the current plane, rotation and mirror included (None without a volume)."""
        return self._geometry

    # ------------------------------------------------------------------ slice
    @property
    def n_slices(self) -> int:
        return self._geometry.n_slices if self._geometry is not None else 0

    @property
    def position_text(self) -> str:
        """"Axial slice 12/300  z -123.5 mm" for a stack; a single radiograph or photo has no slices to count.

        The number counts in reading order (slice 1 = the head end of an axial CT when scrolling
        towards the feet); the position is the slice's patient coordinate when the file gives it.
        """
        if self._volume is None:
            return ""
        if self._volume.is_2d:
            return f"{self._volume.modality} image" if self._volume.modality not in ("", "OT") else "Single image"
        text = f"{self._plane.capitalize()} slice {self.slice_number}/{self.n_slices}"
        position = self.slice_position_mm
        return text if position is None else f"{text}  {'zyx'[PLANES.index(self._plane)]} {position:.1f} mm"

    @property
    def slice_index(self) -> int:
        return self._slices.get(self._plane, 0)

    @slice_index.setter
    def slice_index(self, index: int) -> None:
        if self._geometry is None:
            return
        index = int(min(max(int(index), 0), self.n_slices - 1))
        if index == self.slice_index:
            return
        self._slices[self._plane] = index
        self.events.slice.emit(index)

    def step_slice(self, delta: int, wrap: bool = False) -> None:
        """Move ``delta`` slices; ``wrap`` goes round from the last slice to the first (cine)."""
        if self.n_slices == 0:
            return
        target = self.slice_index + int(delta)
        self.slice_index = target % self.n_slices if wrap else target

    # ------------------------------------------------------------------ window / level
    @property
    def window(self) -> tuple[float, float]:
        """(center, width) in the volume's units (HU for CT)."""
        return self._window

    @window.setter
    def window(self, window: tuple[float, float]) -> None:
        window = _valid_window(window)
        if window == self._window:
            return
        self._window = window
        self.events.window.emit(window)

    def apply_preset(self, name: str) -> None:
        """Set a named window (``covidviewer.imaging.window_presets``): "default" (the file's own VOI),
        a CT window ("lung", "mediastinum", "bone") or a radiograph one ("auto" from the histogram of
        the shown slice, "full" data range). Unknown names raise KeyError."""
        if self._volume is None:
            if name == "default":
                return
            preset_window(Volume(np.zeros((1, 1, 1), np.float32)), name)  # raises for an unknown name
            return
        image = self.current_image() if name in ("auto", "full") else None
        self.window = preset_window(self._volume, name, image)

    def drag_window(self, dx: float, dy: float, sensitivity: float | None = None) -> None:
        """Window/level from a mouse drag of (dx, dy) screen pixels: right widens, down raises level.

        The step scales with the current width so both a 400 HU and a 4000-unit window stay
        controllable.
        """
        center, width = self._window
        step = sensitivity if sensitivity is not None else max(width, 1.0) / 256.0
        self.window = (center + dy * step, width + dx * step)

    # ------------------------------------------------------------------ view range (zoom / pan)
    @property
    def view_range(self) -> tuple[float, float, float, float] | None:
        return self._view_range

    @view_range.setter
    def view_range(self, rect: tuple[float, float, float, float] | None) -> None:
        if rect is not None:
            rect = tuple(float(v) for v in rect)  # type: ignore[assignment]
            if len(rect) != 4 or rect[1] <= rect[0] or rect[3] <= rect[2]:
                raise ValueError(f"view range must be (x0, x1, y0, y1) with x0 < x1, y0 < y1: {rect}")
            if self._view_range is not None and np.allclose(rect, self._view_range, atol=1e-6):
                return
        elif self._view_range is None:
            return
        self._view_range = rect
        self.events.view_range.emit(rect)

    def fit(self) -> None:
        """Show the whole image (view range None); emits even when already None so views refit."""
        self._view_range = None
        self.events.view_range.emit(None)

    def reset(self) -> None:
        """Default window, fitted view, middle slice of the current plane, no rotation or inversion."""
        if self._volume is None:
            return
        if self.display != (0, False, False):
            self.reset_display()
        self.apply_preset("default")
        self.slice_index = self.n_slices // 2
        self.fit()

    @property
    def extent_mm(self) -> tuple[float, float]:
        """(width, height) of the displayed plane in millimetres."""
        g = self._geometry
        return (g.n_cols * g.col_mm, g.n_rows * g.row_mm) if g is not None else (1.0, 1.0)

    # ------------------------------------------------------------------ overlay
    @property
    def overlay(self) -> OverlayLayer | None:
        return self._overlay

    def set_overlay(
        self,
        data: np.ndarray | None,
        colormap: str = "jet",
        opacity: float = 0.5,
        threshold: float = 0.0,
        visible: bool = True,
    ) -> None:
        """Attach a float map in [0, 1] on the volume grid (z, y, x); None removes it."""
        if data is None:
            layer = None
        else:
            if self._volume is None:
                raise ValueError("set a volume before its overlay")
            data = np.asarray(data)
            if data.ndim == 2:
                data = data[None]
            if tuple(data.shape) != tuple(self._volume.shape):
                raise ValueError(f"overlay shape {data.shape} does not match the volume {self._volume.shape}")
            layer = OverlayLayer(data, colormap, _unit(opacity), _unit(threshold), bool(visible))
        self._overlay = layer
        self.events.overlay.emit(layer)

    def update_overlay(self, **changes: object) -> None:
        """Change colormap / opacity / threshold / visible of the current overlay, keeping its data."""
        if self._overlay is None:
            return
        for key in ("opacity", "threshold"):
            if key in changes:
                changes[key] = _unit(float(changes[key]))  # type: ignore[arg-type]
        layer = replace(self._overlay, **changes)  # type: ignore[arg-type]
        if layer != self._overlay:
            self._overlay = layer
            self.events.overlay.emit(layer)

    # ------------------------------------------------------------------ cine
    @property
    def cine_playing(self) -> bool:
        return self._cine_playing

    @cine_playing.setter
    def cine_playing(self, playing: bool) -> None:
        playing = bool(playing) and self.n_slices > 1
        if playing != self._cine_playing:
            self._cine_playing = playing
            self.events.cine.emit((playing, self._cine_fps))

    @property
    def cine_fps(self) -> float:
        return self._cine_fps

    @cine_fps.setter
    def cine_fps(self, fps: float) -> None:
        fps = float(min(max(float(fps), MIN_CINE_FPS), MAX_CINE_FPS))
        if fps != self._cine_fps:
            self._cine_fps = fps
            self.events.cine.emit((self._cine_playing, fps))

    # ------------------------------------------------------------------ pixels
    def current_image(self) -> np.ndarray | None:
        """The displayed 2D image (rows, cols[, 3]) of the current plane and slice."""
        if self._volume is None or self._geometry is None:
            return None
        return self._geometry.cut(self._volume.pixels, self.slice_index)

    def current_overlay(self) -> np.ndarray | None:
        """The overlay's 2D map on the displayed slice, or None when there is none or it is hidden."""
        if self._overlay is None or not self._overlay.visible or self._geometry is None:
            return None
        return self._geometry.cut(self._overlay.data, self.slice_index)

    def voxel_at(self, x_mm: float, y_mm: float) -> tuple[int, int, int] | None:
        """Voxel (z, y, x) under display position (x_mm, y_mm), or None outside the image."""
        g = self._geometry
        if g is None:
            return None
        col, row = int(np.floor(x_mm / g.col_mm)), int(np.floor(y_mm / g.row_mm))
        if not (0 <= row < g.n_rows and 0 <= col < g.n_cols):
            return None
        z, y, x = g.to_voxel(self.slice_index, row, col)
        return (int(z), int(y), int(x))

    @property
    def cursor(self) -> tuple[int, int, int] | None:
        """Voxel under the mouse, set by the view, read by status bars and linked panes."""
        return self._cursor

    @cursor.setter
    def cursor(self, voxel: tuple[int, int, int] | None) -> None:
        if voxel != self._cursor:
            self._cursor = voxel
            self.events.cursor.emit(voxel)

    def value_at(self, voxel: tuple[int, int, int]) -> float | tuple[float, ...]:
        """Pixel value at a voxel (after rescale, so HU for CT; a tuple for RGB)."""
        if self._volume is None:
            raise ValueError("no volume")
        value = self._volume.pixels[voxel]
        return tuple(float(v) for v in value) if np.ndim(value) else float(value)


def _valid_window(window: tuple[float, float]) -> tuple[float, float]:
    center, width = float(window[0]), float(window[1])
    if not (np.isfinite(center) and np.isfinite(width)):
        raise ValueError(f"window must be finite: {window}")
    return (center, max(width, MIN_WINDOW_WIDTH))


def _unit(value: float) -> float:
    return float(min(max(float(value), 0.0), 1.0))
