"""SliceView: the image view of one ``ViewerState``, with an overlay layer.

The widget owns no viewing state: it draws what the state says and writes user input back to it,
so several views can be linked through their states (see ``covidviewer.viewer.linking``).

Mouse: wheel scrolls slices in reading order (down = towards the feet on an axial CT, see
``ViewerState.scroll``), Ctrl+wheel zooms; drags follow the canvas' ``mouse_map`` (Weasis / OHIF:
left window / level, middle pan, right zoom). Keys (when focused): Up/Down, PgUp/PgDn, Home/End.
Scene coordinates are millimetres of the displayed plane, so reformats keep their true aspect.
Corner text (patient, study, slice and position, window, zoom) and orientation markers are drawn
over the image (``set_annotations_visible``, ``set_anonymised``) and into ``export_image``.
The plane buttons, slice slider and cine controls under the image are ``SliceControls`` (``controls``).

Rendering: the slice is windowed to uint8 and, when an overlay is visible, blended with its
colour-mapped map on the CPU (``covidviewer.imaging.window_to_uint8`` / ``composite_overlay``, the
same functions exports use), then drawn as ONE image item. One opaque image per frame is cheaper
for Qt to paint than two alpha-blended ones, and what is on screen equals what is exported.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from covidviewer.imaging import colormap_lut, composite_overlay, heat_colours, window_to_uint8
from covidviewer.imaging.view_annotations import corner_text
from covidviewer.ui.image_canvas import ImageCanvas, array_from_qimage
from covidviewer.ui.slice_controls import PAGE_STEP, SliceControls
from covidviewer.ui.view_image import export_image
from covidviewer.viewer.viewer_state import ViewerState

ZOOM_STEP = 1.25
FIT_PADDING = 0.01


class SliceView(QWidget):
    """Shows the current slice of ``state`` with its window, overlay, zoom and pan.

    state: the ``ViewerState`` to observe (a new one when None); public, so controllers and compare
        grids drive and link views through it.
    show_controls: show ``controls`` (``SliceControls``: plane buttons, slider and cine) under the
        image (a compact pane for compare grids passes False).
    Signal ``imageShown(int)``: emitted after a new slice has been pushed to the image item.
    """

    imageShown = Signal(int)
    # What a new view starts with; the main window keeps these equal to the reader's preferences,
    # so compare panes built later read, scroll and anonymise like the main view.
    defaults = {"annotations": True, "anonymised": False, "mouse_map": "weasis", "scroll_toward_feet": True}

    def __init__(self, state: ViewerState | None = None, parent: QWidget | None = None, show_controls: bool = True):
        super().__init__(parent)
        self.state = state if state is not None else ViewerState()
        self.state.scroll_toward_feet = bool(self.defaults["scroll_toward_feet"])
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.canvas = ImageCanvas()
        self.canvas.mouse_map = str(self.defaults["mouse_map"])
        self.setFocusProxy(self.canvas)  # a click on the image focuses the view for its keys
        self._gray: np.ndarray | None = None  # windowed uint8 slice, reused between frames
        self._heat_colours: tuple[tuple, np.ndarray, np.ndarray] | None = None  # (key, map, colours)
        self._hover_scene = None  # scene position under the mouse, so the readout follows scrolling
        self._annotations_visible = bool(self.defaults["annotations"])
        self._anonymised = bool(self.defaults["anonymised"])
        # () -> the measurements drawn on the shown slice, burned into exports; the measurement
        # overlay of the main view sets it (compare panes have none)
        self.shown_measurements = lambda: []

        self.caption = QLabel()
        self.caption.setStyleSheet("font-weight: bold")
        self.caption.hide()
        self.info_label = QLabel("No image")
        self.info_label.setObjectName("sliceInfo")
        # slice / W-L text may be cut rather than widen the view: side-by-side compare panes stay equal
        self.info_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # built before this view connects to the state, so the slider has moved when imageShown fires
        self.controls = SliceControls(self.state)
        self.controls.setVisible(show_controls)
        self._build_layout()
        self._connect()
        self._on_volume(self.state.volume)

    # ------------------------------------------------------------------ public API
    def set_overlay(self, volume_map, colormap: str = "jet", opacity: float = 0.5, threshold: float = 0.0, visible: bool = True):
        """Draw ``volume_map`` ((z, y, x) floats in [0, 1] on the volume's grid; None removes it).

        The overlay follows slice, plane, zoom and pan; values below ``threshold`` are transparent.
        Change colormap/opacity/threshold/visibility later with ``state.update_overlay(...)``.
        """
        self.state.set_overlay(volume_map, colormap=colormap, opacity=opacity, threshold=threshold, visible=visible)

    def set_caption(self, text: str) -> None:
        """A bold title above the image (compare grid panes); empty hides it."""
        self.caption.setText(text)
        self.caption.setVisible(bool(text))

    def zoom(self, factor: float) -> None:
        """Zoom in (factor > 1) or out around the view centre; recorded in the state's view_range."""
        if self.state.volume is None:
            return
        self.canvas.zoom_by(factor)
        self._store_range()

    def displayed_image(self) -> np.ndarray | None:
        """What is drawn: (rows, cols) uint8 windowed slice, or (rows, cols, 3) with the overlay."""
        return self.canvas.image.array

    # ------------------------------------------------------------------ corner text and markers
    @property
    def annotations_visible(self) -> bool:
        return self._annotations_visible

    def set_annotations_visible(self, visible: bool) -> None:
        """Show or hide the corner text and orientation markers (Ctrl+T)."""
        self._annotations_visible = bool(visible)
        self._update_annotations()

    @property
    def anonymised(self) -> bool:
        return self._anonymised

    def set_anonymised(self, anonymised: bool) -> None:
        """Leave the patient's name, ID, sex, age, the study date and the descriptions out of the corner text."""
        self._anonymised = bool(anonymised)
        self._update_annotations()

    def corner_text(self, zoom: float | None = None):
        """The corner text of the current view (``covidviewer.imaging.view_annotations.CornerText``)."""
        volume = self.state.volume
        return corner_text(volume.meta if volume is not None else {}, self.state.view_facts(zoom), self._anonymised)

    def export_image(self, anonymise: bool | None = None) -> QImage | None:
        """The whole current slice at native resolution and true aspect, as drawn (window, inversion,
        rotation, overlay), with its measurements and, when shown, the corner text and markers burned
        in (``covidviewer.ui.view_image``)."""
        return export_image(self, anonymise)

    def refresh_reading_order(self) -> None:
        """Redraw what follows ``state.scroll_toward_feet``: slider direction, slice number, corner text."""
        if self.state.geometry is None:
            return
        self.controls.sync_slider()
        self._update_info()

    def _zoom_factor(self) -> float | None:
        geometry = self.state.geometry
        return None if geometry is None else self.canvas.scale_factor * geometry.col_mm

    def _update_annotations(self) -> None:
        if not self._annotations_visible or self.state.volume is None:
            self.canvas.set_annotations(None, None)
            return
        self.canvas.set_annotations(self.corner_text(self._zoom_factor()), self.state.markers())

    def rendered_rgba(self) -> np.ndarray:
        """The viewport as drawn, (h, w, 4) uint8 (what the user sees, overlays included)."""
        return array_from_qimage(self.canvas.viewport().grab().toImage())

    # ------------------------------------------------------------------ layout and wiring
    def _build_layout(self) -> None:
        header = QHBoxLayout()
        header.setContentsMargins(4, 2, 4, 2)
        header.addWidget(self.caption)
        header.addWidget(self.info_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.controls)

    def _connect(self) -> None:
        events = self.state.events
        events.volume.connect(self._on_volume)
        events.plane.connect(self._on_plane)
        events.slice.connect(self._on_slice)
        events.window.connect(self._on_window)
        events.view_range.connect(self._on_view_range)
        events.overlay.connect(self._on_overlay)
        events.display.connect(self._on_display)
        events.shutter.connect(lambda _shown: self._render())
        events.overlay_planes.connect(lambda _shown: self._render())
        self.canvas.userViewChanged.connect(self._store_range)
        self.canvas.scaleChanged.connect(lambda _scale: self._update_annotations())
        self.canvas.hovered.connect(self._on_hover)
        self.canvas.wheelSteps.connect(self.state.scroll)
        self.canvas.windowDrag.connect(self.state.drag_window)

    def disconnect_state(self) -> None:
        """Stop observing the state (call before dropping a view whose state lives on)."""
        events = self.state.events
        for signal, slot in (
            (events.volume, self._on_volume), (events.plane, self._on_plane), (events.slice, self._on_slice),
            (events.window, self._on_window), (events.view_range, self._on_view_range),
            (events.overlay, self._on_overlay), (events.display, self._on_display),
        ):
            signal.disconnect(slot)
        self.controls.disconnect_state()

    # ------------------------------------------------------------------ state -> view
    def _on_volume(self, volume) -> None:
        if volume is None:
            self.canvas.set_image(None)
            self.canvas.set_annotations(None, None)
            self.info_label.setText("No image")
            return
        self._on_plane(self.state.plane)

    def _on_plane(self, plane: str) -> None:
        if self.state.replacing_volume:
            return  # one full refresh follows on the volume event
        if self.state.geometry is None:
            return
        self._gray = None  # another plane has another shape
        self._show_slice()
        self._apply_range(self.state.view_range)

    def _on_slice(self, index: int) -> None:
        if self.state.replacing_volume:
            return  # one full refresh follows on the volume event
        self._show_slice()

    def _show_slice(self) -> None:
        if self._render():
            self._update_info()
            self._refresh_cursor()
            self.imageShown.emit(self.state.slice_index)

    def _render(self) -> bool:
        """Window the current slice (and blend the overlay) into the image item."""
        image = self.state.current_image()
        if image is None:
            return False
        center, width = self.state.window
        if self._gray is None or self._gray.shape != image.shape:
            self._gray = np.empty(image.shape, dtype=np.uint8)
        gray = window_to_uint8(image, center, width, out=self._gray, function=self.state.voi_function)
        if self.state.inverted:
            np.subtract(255, gray, out=gray)
        layer, heat = self.state.overlay, self.state.current_overlay()
        if layer is not None and heat is not None:
            lut = colormap_lut(layer.colormap)
            shown = composite_overlay(gray, heat, lut, layer.opacity, layer.threshold, colour=self._colours(heat, lut))
        else:
            shown, self._heat_colours = gray, None  # the kept slice would keep a removed map's volume alive
        opening = self.state.current_shutter()
        if opening is not None:  # the unexposed border in the shutter's grey, over the map too
            shown[~opening] = round(255 * float(self.state.volume.meta["display_shutter"]["value"]))
        drawn = self.state.current_overlay_planes()
        if drawn is not None:  # the file's markers and annotations, white over everything
            shown[drawn] = 255
        self.canvas.set_image(shown, QRectF(0.0, 0.0, *self.state.extent_mm))
        return True

    def _colours(self, heat: np.ndarray, lut: np.ndarray) -> np.ndarray:
        """The heat map's colours, looked up again only for another map or colour table: dragging the
        opacity, threshold or window over a 2000 x 2000 film then re-blends without the lookup."""
        # the slice is a new view of the same memory on every call: key on where it points; holding the view
        # keeps that memory alive, so no other map can take its address while it is kept
        key = (heat.__array_interface__["data"][0], heat.strides, heat.shape, id(lut))
        kept = self._heat_colours
        if kept is None or kept[0] != key:
            kept = self._heat_colours = (key, heat, heat_colours(heat, lut))
        return kept[2]

    def _on_window(self, window) -> None:
        if self.state.replacing_volume:
            return  # one full refresh follows on the volume event
        self._render()
        self._update_info()

    def _on_display(self, _display) -> None:
        if self.state.replacing_volume:
            return  # one full refresh follows on the volume event
        self._gray = None  # a quarter turn swaps rows and columns
        self._show_slice()  # the view_range event that follows refits

    def _on_overlay(self, layer) -> None:
        if self.state.replacing_volume:
            return  # one full refresh follows on the volume event
        self._render()

    def _on_view_range(self, rect) -> None:
        if self.state.replacing_volume:
            return  # one full refresh follows on the volume event
        self._apply_range(rect)

    def _apply_range(self, rect) -> None:
        width, height = self.state.extent_mm
        if rect is None:
            pad_w, pad_h = width * FIT_PADDING, height * FIT_PADDING
            target = QRectF(-pad_w, -pad_h, width + 2 * pad_w, height + 2 * pad_h)
        else:
            target = QRectF(rect[0], rect[2], rect[1] - rect[0], rect[3] - rect[2])
        self.canvas.show_rect(target)

    def _update_info(self) -> None:
        if self.state.volume is None:
            return
        center, width = self.state.window
        self.info_label.setText(
            f"{self.state.position_text}   W {width:.0f}  L {center:.0f}"
        )
        self._update_annotations()

    # ------------------------------------------------------------------ view -> state
    def _store_range(self) -> None:
        if self.state.volume is None:
            return
        visible = self.canvas.visible_rect()
        self.state.view_range = (visible.left(), visible.right(), visible.top(), visible.bottom())

    def _on_hover(self, scene_pos) -> None:
        self._hover_scene = scene_pos
        self._refresh_cursor()

    def _refresh_cursor(self) -> None:
        """The voxel under the (still) mouse on the slice shown now: scrolling moves it in z."""
        if self.state.volume is None:
            return
        pos = self._hover_scene
        self.state.cursor = None if pos is None else self.state.voxel_at(pos.x(), pos.y())

    def handle_slice_key(self, key: int) -> bool:
        """Up/Down, PgUp/PgDn, Home/End in reading order; False for any other key."""
        steps = {
            Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1,
            Qt.Key.Key_PageDown: PAGE_STEP, Qt.Key.Key_PageUp: -PAGE_STEP,
        }
        state = self.state
        if key in steps:
            state.scroll(steps[key])
        elif key in (Qt.Key.Key_Home, Qt.Key.Key_End):
            first = 0 if state.reading_sign > 0 else state.n_slices - 1
            state.slice_index = first if key == Qt.Key.Key_Home else state.n_slices - 1 - first
        else:
            return False
        return True

    def keyPressEvent(self, event) -> None:
        if self.handle_slice_key(event.key()):
            event.accept()
        else:
            super().keyPressEvent(event)
