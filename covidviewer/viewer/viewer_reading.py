"""How a ``ViewerState`` is read: the reader's rotation / mirror / inversion and the reading order.

A mixin of ``ViewerState`` (Qt-free, like it): rotation and mirror become other axes and flips of
the plane geometry (``covidviewer.viewer.planes.plane_geometry``), so cutting, voxel lookup, overlays
and orientation markers follow without a second code path; "next slice" follows the plane's
reading direction (towards the feet on an axial CT) when ``scroll_toward_feet`` is set; and the
corner overlay's facts and markers are read from here. It uses the host's ``_volume``, ``_plane``,
``_geometry``, ``_window``, ``_view_range``, ``announce``, ``n_slices``, ``slice_index`` and
``step_slice``.
"""
from __future__ import annotations

from covidviewer.imaging.orientation import EdgeLabels, orientation_markers
from covidviewer.imaging.view_annotations import ViewFacts
from covidviewer.imaging.window_presets import uses_hu
from covidviewer.viewer.events import EventedField
from covidviewer.viewer.planes import PLANES, PlaneGeometry, plane_geometry, reading_sign, slice_position_mm


class ReadingMixin:
    """Rotation, mirror, inversion, reading order and corner-overlay facts of a ViewerState."""

    _rotation = 0  # quarter turns clockwise, applied before the mirror
    _mirrored = False
    scroll_toward_feet = True

    def _plane_geometry(self, plane: str) -> PlaneGeometry:
        return plane_geometry(self._volume, plane, self._rotation, self._mirrored)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ rotation, mirror, inversion
    @property
    def display(self) -> tuple[int, bool, bool]:
        """(rotation in degrees clockwise, mirrored left-right, grey levels inverted)."""
        return (90 * self._rotation, self._mirrored, self._inverted)

    def rotate(self, quarter_turns: int = 1) -> None:
        """Turn the shown image by ``quarter_turns`` x 90 degrees clockwise (negative: counter-clockwise)."""
        # shown = mirror(rotate^k(image)); rotating that clockwise equals mirror(rotate^(k-1)(image))
        self._set_display((self._rotation + (-1 if self._mirrored else 1) * int(quarter_turns)) % 4, self._mirrored)

    def mirror(self, vertical: bool = False) -> None:
        """Flip the shown image left-right (or top-bottom: a left-right flip plus half a turn)."""
        rotation = (self._rotation + 2) % 4 if vertical else self._rotation
        self._set_display(rotation, not self._mirrored)

    # grey levels drawn inverted (white bone on black becomes black on white); maps keep their colours
    inverted: EventedField[bool] = EventedField(False, validate=lambda _state, inverted: bool(inverted),
                                                event="display")

    def set_display(self, display: tuple[int, bool, bool]) -> None:
        """Show the image as another view's ``display`` says (rotation in degrees clockwise, mirrored,
        inverted): a compare pane takes the main view's."""
        rotation, mirrored, inverted = display
        inverted_changed = bool(inverted) != self._inverted
        self._inverted = bool(inverted)
        self._set_display((int(rotation) // 90) % 4, bool(mirrored), force_event=inverted_changed)

    def reset_display(self) -> None:
        """No rotation, no mirror, no inversion."""
        self._inverted = False
        self._set_display(0, False, force_event=True)

    def _set_display(self, rotation: int, mirrored: bool, force_event: bool = False) -> None:
        if (rotation, mirrored) == (self._rotation, self._mirrored):
            if force_event:
                self.announce("display")  # type: ignore[attr-defined]
            return
        self._rotation, self._mirrored = rotation, mirrored
        if self._volume is not None:
            self._geometry = self._plane_geometry(self._plane)
        self._view_range = None  # a quarter turn swaps width and height: fit again
        self.announce("display", "view_range")  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ reading order
    @property
    def reading_sign(self) -> int:
        """+1 when the next slice in reading order has a higher index, -1 when lower."""
        if self._volume is None or self._geometry is None or not self.scroll_toward_feet:
            return 1
        return reading_sign(self._volume, self._geometry)

    @property
    def slice_number(self) -> int:
        """1-based number of the shown slice in reading order (0 without a volume)."""
        return self.slice_number_of(self.slice_index)

    def slice_number_of(self, index: int) -> int:
        """1-based reading-order number of slice ``index`` of the current plane, as the view shows it
        (captions and notes that name a slice should use this, not ``index + 1``)."""
        if self.n_slices == 0:
            return 0
        return int(index) + 1 if self.reading_sign > 0 else self.n_slices - int(index)

    def slice_index_of_number(self, number: int) -> int:
        """The slice index shown as reading-order number ``number`` (the inverse of ``slice_number_of``)."""
        return int(number) - 1 if self.reading_sign > 0 else self.n_slices - int(number)  # type: ignore[attr-defined]

    @property
    def slice_position_mm(self) -> float | None:
        """Patient coordinate (mm) of the shown slice along the plane's axis, None when unknown."""
        if self._volume is None or self._geometry is None:
            return None
        return slice_position_mm(self._volume, self._geometry, self.slice_index)

    def view_facts(self, zoom: float | None = None) -> ViewFacts:
        """What the corner overlay says about this view; ``zoom`` = screen pixels per image pixel."""
        rotation, mirrored, inverted = self.display
        volume = self._volume
        return ViewFacts(
            plane=self._plane, slice_number=max(self.slice_number, 1), n_slices=max(self.n_slices, 1),
            position_mm=self.slice_position_mm, position_axis="zyx"[PLANES.index(self._plane)],
            window=self._window, unit="HU" if volume is not None and uses_hu(volume) else "",
            zoom=zoom, rotation=rotation, mirrored=mirrored, inverted=inverted,
        )

    def markers(self) -> EdgeLabels:
        """Orientation letters of the four edges as shown (empty when the file does not say)."""
        if self._volume is None or self._geometry is None:
            return EdgeLabels()
        return orientation_markers(self._volume, self._geometry)

    def scroll(self, steps: int) -> None:
        """Move ``steps`` slices in reading order (positive: wheel down / Down key, towards the feet)."""
        self.step_slice(int(steps) * self.reading_sign)
