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

from covidviewer.imaging.shutter import shutter_opening
from covidviewer.imaging.window_presets import FILE_WINDOW_PRESETS, preset_window
from covidviewer.io.volume import Volume
from covidviewer.viewer.events import EventedField, EventedState
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


# How the declared fields below check and compare what is assigned: validators take (state, value)
# and return the value to store; "same" functions take (old, new).
def _known_plane(state: ViewerState, plane: str) -> str:
    if plane not in PLANES:
        raise ValueError(f"plane {plane!r} not in {PLANES}")
    return plane


def _clamped_slice(state: ViewerState, index: int) -> int:
    if state.geometry is None:
        return state.slice_index  # no volume: nothing to scroll
    return int(min(max(int(index), 0), state.n_slices - 1))


def _valid_view_range(
    state: ViewerState, rect: tuple[float, float, float, float] | None
) -> tuple[float, float, float, float] | None:
    if rect is None:
        return None
    values = tuple(float(v) for v in rect)
    if len(values) != 4 or values[1] <= values[0] or values[3] <= values[2]:
        raise ValueError(f"view range must be (x0, x1, y0, y1) with x0 < x1, y0 < y1: {values}")
    return values  # type: ignore[return-value]


def _same_view_range(old: tuple[float, ...] | None, new: tuple[float, ...] | None) -> bool:
    if old is None or new is None:
        return old is new
    return bool(np.allclose(new, old, atol=1e-6))


def _playable(state: ViewerState, playing: bool) -> bool:
    return bool(playing) and state.n_slices > 1


def _clamped_fps(state: ViewerState, fps: float) -> float:
    return float(min(max(float(fps), MIN_CINE_FPS), MAX_CINE_FPS))


def _valid_overlay(state: ViewerState, layer: OverlayLayer | None) -> OverlayLayer | None:
    if layer is None:
        return None
    if state.volume is None:
        raise ValueError("set a volume before its overlay")
    data = np.asarray(layer.data)
    if data.ndim == 2:
        data = data[None]
    if tuple(data.shape) != tuple(state.volume.shape):
        raise ValueError(f"overlay shape {data.shape} does not match the volume {state.volume.shape}")
    return replace(layer, data=data, opacity=_unit(layer.opacity), threshold=_unit(layer.threshold),
                   visible=bool(layer.visible))


def _same_overlay(old: OverlayLayer | None, new: OverlayLayer | None) -> bool:
    # the same map with the same settings; two maps are never compared pixel by pixel
    if old is None or new is None:
        return old is new
    return old.data is new.data and old == new


class ViewerState(ReadingMixin, EventedState):
    """What one slice viewer shows. Its fields are declared once (``EventedField``): assigning one
    validates and clamps the value and emits ``events.<event>`` only when it really changed.

    view_range is the visible rectangle (x0, x1, y0, y1) in display millimetres of the current
    plane (x to the right, y downwards, origin at the top-left pixel corner); None means "fit".

    ``slice_index`` is the volume's own index along the plane (what analyses and overlays use);
    ``scroll`` and ``slice_number`` follow the reading direction instead (``scroll_toward_feet``:
    next = towards the feet on an axial CT, whatever order the file stored the slices in).
    """

    # event -> the attribute whose value it carries, in the order ``set_volume`` announces them:
    # volume(Volume | None), plane(str), slice(int), window((center, width)),
    # view_range((x0, x1, y0, y1) | None), overlay(OverlayLayer | None), cine((playing, fps)),
    # cursor((z, y, x) | None), display((rotation, mirrored, inverted)), shutter(bool: the file's display shutter shown),
    # overlay_planes(bool: the file's overlay planes shown).
    EVENTS = {
        "volume": "volume", "plane": "plane", "slice": "slice_index", "window": "window",
        "view_range": "view_range", "overlay": "overlay", "cine": "cine", "cursor": "cursor",
        "display": "display", "shutter": "shutter_shown", "overlay_planes": "overlay_planes_shown",
    }

    def _fit_new_plane(self, old_plane: str) -> None:
        # each plane keeps its own slice; another plane has another extent, so it is fitted
        self._slices[old_plane] = self._slice_index
        self._slice_index = self._slices.get(self._plane, 0)
        if self._volume is not None:
            self._geometry = self._plane_geometry(self._plane)
        self._view_range = None

    plane: EventedField[str] = EventedField(
        "axial", validate=_known_plane, then=_fit_new_plane, also=("slice", "view_range"))
    # the volume's own index along the current plane (the other planes' indices wait in ``_slices``)
    slice_index: EventedField[int] = EventedField(0, validate=_clamped_slice, event="slice")
    # (center, width) in the volume's units (HU for CT)
    window: EventedField[tuple[float, float]] = EventedField(
        (127.5, 255.0), validate=lambda _state, window: _valid_window(window))
    view_range: EventedField[tuple[float, float, float, float] | None] = EventedField(
        None, validate=_valid_view_range, same=_same_view_range)
    overlay: EventedField[OverlayLayer | None] = EventedField(None, validate=_valid_overlay, same=_same_overlay)
    cine_playing: EventedField[bool] = EventedField(False, validate=_playable, event="cine")
    cine_fps: EventedField[float] = EventedField(10.0, validate=_clamped_fps, event="cine")
    # voxel (z, y, x) under the mouse, set by the view, read by status bars and linked panes
    cursor: EventedField[tuple[int, int, int] | None] = EventedField(None)
    # a radiograph's display shutter (``covidviewer.imaging.shutter``) covers its unexposed border, as Weasis does
    shutter_shown: EventedField[bool] = EventedField(True, validate=lambda _state, shown: bool(shown), event="shutter")
    # a DICOM image's overlay planes (``Volume.overlay_planes``: markers, annotations) drawn over it, as Weasis does
    overlay_planes_shown: EventedField[bool] = EventedField(
        True, validate=lambda _state, shown: bool(shown), event="overlay_planes")

    def __init__(self) -> None:
        super().__init__()
        self._volume: Volume | None = None
        self._geometry: PlaneGeometry | None = None
        self._slices: dict[str, int] = {}
        self._replacing_volume = False
        self._rotation = 0  # quarter turns clockwise, applied before the mirror
        self._mirrored = False
        self._shutter: np.ndarray | None = None  # (1, H, W) bool, True where the film is shown
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
        self._shutter = _shutter_of(volume)
        if volume is None:
            self._geometry = None
            self._slices = {}
        else:
            self._slices = {p: plane_geometry(volume, p).n_slices // 2 for p in PLANES}
            self._geometry = self._plane_geometry(self._plane)
            self._window = _valid_window(window or volume.default_window)
        self._slice_index = self._slices.get(self._plane, 0)
        self._replacing_volume = True
        try:
            self.announce("plane", "slice", "window", "view_range", "overlay", "cine", "display")
        finally:
            self._replacing_volume = False
        self.announce("volume")

    @property
    def replacing_volume(self) -> bool:
        """True while ``set_volume`` emits the per-field events that precede ``volume``."""
        return self._replacing_volume

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

    def step_slice(self, delta: int, wrap: bool = False) -> None:
        """Move ``delta`` slices; ``wrap`` goes round from the last slice to the first (cine)."""
        if self.n_slices == 0:
            return
        target = self.slice_index + int(delta)
        self.slice_index = target % self.n_slices if wrap else target

    # ------------------------------------------------------------------ window / level
    def apply_preset(self, name: str) -> None:
        """Set a named window (``covidviewer.imaging.window_presets``): "default" (the file's own VOI),
        a CT window ("lung", "mediastinum", "bone"), a radiograph one ("auto" from the histogram of
        the shown slice, "full" data range) or the file's further windows ("file_2" ...). Unknown names raise
        KeyError."""
        if self._volume is None:
            if name == "default" or name in FILE_WINDOW_PRESETS:
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
    def fit(self) -> None:
        """Show the whole image (view range None); emits even when already None so views refit."""
        self._view_range = None
        self.announce("view_range")

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
    def set_overlay(
        self,
        data: np.ndarray | None,
        colormap: str = "jet",
        opacity: float = 0.5,
        threshold: float = 0.0,
        visible: bool = True,
    ) -> None:
        """Attach a float map in [0, 1] on the volume grid (z, y, x); None removes it.

        Announced even when nothing changed: a new map always redraws (``overlay = layer`` does not).
        """
        layer = None if data is None else OverlayLayer(data, colormap, opacity, threshold, visible)
        self._overlay = _valid_overlay(self, layer)
        self.announce("overlay")

    def update_overlay(self, **changes: object) -> None:
        """Change colormap / opacity / threshold / visible of the current overlay, keeping its data."""
        if self._overlay is not None:
            self.overlay = replace(self._overlay, **changes)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ cine
    @property
    def cine(self) -> tuple[bool, float]:
        """(playing, frames per second): what the ``cine`` event carries."""
        return (self._cine_playing, self._cine_fps)

    # ------------------------------------------------------------------ pixels
    def current_image(self) -> np.ndarray | None:
        """The displayed 2D image (rows, cols[, 3]) of the current plane and slice."""
        if self._volume is None or self._geometry is None:
            return None
        return self._geometry.cut(self._volume.pixels, self.slice_index)

    @property
    def voi_function(self) -> str:
        """How the window maps to grey: the file's VOI LUT Function ("SIGMOID"), else "LINEAR"."""
        return str((self._volume.meta or {}).get("voi_function") or "LINEAR") if self._volume is not None else "LINEAR"

    @property
    def has_shutter(self) -> bool:
        """Does the shown film's file give a display shutter?"""
        return self._shutter is not None

    def current_shutter(self) -> np.ndarray | None:
        """Where the displayed slice is shown (bool, True inside the shutter), or None when nothing is covered."""
        if self._shutter is None or not self.shutter_shown or self._geometry is None:
            return None
        return self._geometry.cut(self._shutter, self.slice_index)

    def current_overlay_planes(self) -> np.ndarray | None:
        """The file's overlay planes on the displayed slice (bool), or None when there are none or they are hidden."""
        planes = self._volume.overlay_planes if self._volume is not None else None
        if planes is None or not self.overlay_planes_shown or self._geometry is None:
            return None
        if self._geometry.slice_axis != 0:
            return None  # a reformatted plane: each image's graphics belong to that image (Weasis draws them there only)
        return self._geometry.cut(planes, self.slice_index)

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


def _shutter_of(volume: Volume | None) -> np.ndarray | None:
    """A 2D film's display shutter as a (1, H, W) mask, from its file's Display Shutter Module."""
    if volume is None or not volume.is_2d:
        return None
    opening = shutter_opening(volume.meta.get("display_shutter"), tuple(volume.shape[1:]))  # type: ignore[arg-type]
    return None if opening is None else opening[None]
