"""SliceControls: the row under a ``SliceView`` that moves through the stack of one ``ViewerState``.

Plane buttons (axial / coronal / sagittal), a slice slider that counts in reading order (its left
end is slice 1, the head end of an axial CT), and cine playback: a play button, a speed box and
the timer that steps the slice. Like the view, it owns no viewing state: it shows what the state
says and writes user input back to it. A narrow view puts the slider on a row of its own.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QButtonGroup, QDoubleSpinBox, QHBoxLayout, QSlider, QToolButton, QVBoxLayout, QWidget

from covidviewer.ui.wheel_guard import guard_wheel
from covidviewer.viewer.planes import PLANES
from covidviewer.viewer.viewer_state import ViewerState

PAGE_STEP = 10
# Under this width the slice slider gets a row of its own instead of shrinking to a stub.
TWO_ROW_CONTROLS_BELOW_PX = 620
MIN_SLIDER_PX = 160


class SliceControls(QWidget):
    """Plane buttons, reading-order slice slider and cine play / speed for ``state``.

    The cine timer lives here even when the controls are hidden (compare panes), so a hidden
    pane still plays when its state is told to.
    """

    def __init__(self, state: ViewerState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.plane_buttons = QButtonGroup(self)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("sliceSlider")
        self.slider.setMinimumWidth(MIN_SLIDER_PX)
        self.play_button = QToolButton(text="Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Cine play / pause (P)")
        self.fps_spin = QDoubleSpinBox(suffix=" fps", decimals=0, minimum=1, maximum=60, value=state.cine_fps)
        self.fps_spin.setToolTip("Cine speed in frames per second ([ slower, ] faster)")
        guard_wheel(self.slider, self.fps_spin)  # the wheel over the image scrolls; over these, only once clicked
        self.cine_timer = QTimer(self)
        self.cine_timer.timeout.connect(self._cine_tick)
        self._build_layout()
        self._connect()
        self._on_volume(state.volume)

    # ------------------------------------------------------------------ layout and wiring
    def _build_layout(self) -> None:
        buttons = QHBoxLayout()
        buttons.setContentsMargins(4, 2, 4, 2)
        for plane, key in zip(PLANES, ("A", "C", "S")):
            button = QToolButton(text=plane.capitalize())
            button.setCheckable(True)
            button.setToolTip(f"{plane.capitalize()} plane ({key})")
            button.setObjectName(f"plane_{plane}")
            self.plane_buttons.addButton(button)
            buttons.addWidget(button)
        self._slot = buttons.count()  # where the slider sits when the row is wide enough
        buttons.addWidget(self.slider, 1)
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.fps_spin)
        self._slider_row = QHBoxLayout()
        self._slider_row.setContentsMargins(4, 2, 4, 0)
        self._button_row = buttons
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(0)
        rows.addLayout(self._slider_row)
        rows.addLayout(buttons)

    def _connect(self) -> None:
        events = self.state.events
        events.volume.connect(self._on_volume)
        events.plane.connect(self._on_plane)
        events.slice.connect(self._on_slice)
        events.cine.connect(self._on_cine)
        self.slider.valueChanged.connect(self._on_slider)
        self.plane_buttons.buttonClicked.connect(self._on_plane_button)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.fps_spin.valueChanged.connect(self._on_fps_spin)

    def disconnect_state(self) -> None:
        """Stop observing the state and stop playing (before dropping a view whose state lives on)."""
        events = self.state.events
        for signal, slot in ((events.volume, self._on_volume), (events.plane, self._on_plane),
                             (events.slice, self._on_slice), (events.cine, self._on_cine)):
            signal.disconnect(slot)
        self.cine_timer.stop()

    # ------------------------------------------------------------------ state -> controls
    def _on_volume(self, volume) -> None:
        has = volume is not None
        single = has and volume.is_2d  # a radiograph, a photo, a CT localizer: one image, no plane to choose
        for button in self.plane_buttons.buttons():
            stack = button.objectName() == "plane_axial"
            button.setEnabled(has and (stack or self.state.can_reformat))
            button.setVisible(stack or not single)
            if stack:  # "Axial" on a chest film is not what a reader sees: the one image is "Image"
                button.setText("Image" if single else "Axial")
                button.setToolTip("The image as stored" if single else "Axial plane (A)")
        if has:
            self._on_plane(self.state.plane)

    def _on_plane(self, plane: str) -> None:
        if self.state.replacing_volume:
            return  # one full refresh follows on the volume event
        for button in self.plane_buttons.buttons():
            button.setChecked(button.objectName() == f"plane_{plane}")
        geometry = self.state.geometry
        if geometry is None:
            return
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(geometry.n_slices - 1, 0))
        self.slider.setPageStep(PAGE_STEP)
        self.slider.setEnabled(geometry.n_slices > 1)
        self.slider.blockSignals(False)
        self.play_button.setEnabled(geometry.n_slices > 1)
        self.sync_slider()

    def _on_slice(self, _index: int) -> None:
        if not self.state.replacing_volume:
            self.sync_slider()

    def sync_slider(self) -> None:
        """Put the slider on the shown slice, in reading order (also after the order changed)."""
        if self.state.geometry is None:
            return
        self.slider.blockSignals(True)
        self.slider.setValue(self.state.slice_number - 1)
        self.slider.blockSignals(False)

    def _on_cine(self, cine) -> None:
        playing, fps = cine
        self.play_button.blockSignals(True)
        self.play_button.setChecked(playing)
        self.play_button.setText("Pause" if playing else "Play")
        self.play_button.blockSignals(False)
        self.fps_spin.blockSignals(True)
        self.fps_spin.setValue(fps)
        self.fps_spin.blockSignals(False)
        self.cine_timer.setInterval(int(round(1000.0 / fps)))
        if playing and not self.cine_timer.isActive():
            self.cine_timer.start()
        elif not playing:
            self.cine_timer.stop()

    # ------------------------------------------------------------------ controls -> state
    def _on_slider(self, value: int) -> None:
        self.state.slice_index = self.state.slice_index_of_number(value + 1)

    def _on_plane_button(self, button) -> None:
        self.state.plane = button.objectName().removeprefix("plane_")

    def _on_play_toggled(self, playing: bool) -> None:
        self.state.cine_playing = playing

    def _on_fps_spin(self, fps: float) -> None:
        self.state.cine_fps = fps

    def _cine_tick(self) -> None:
        self.state.step_slice(self.state.reading_sign, wrap=True)

    # ------------------------------------------------------------------ narrow views
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place_slider(self.width() < TWO_ROW_CONTROLS_BELOW_PX)

    def _place_slider(self, own_row: bool) -> None:
        """A narrow view puts the slider on a row of its own, so it never shrinks to a stub."""
        in_own_row = self._slider_row.indexOf(self.slider) >= 0
        if own_row == in_own_row:
            return
        if own_row:
            self._button_row.removeWidget(self.slider)
            self._slider_row.addWidget(self.slider)
            self._button_row.insertStretch(self._slot, 1)
        else:
            self._slider_row.removeWidget(self.slider)
            stretch = self._button_row.itemAt(self._slot)
            self._button_row.removeItem(stretch)
            self._button_row.insertWidget(self._slot, self.slider, 1)
