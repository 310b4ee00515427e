"""The Qt-free viewer model: state, plane geometry and linking, tested without a QApplication."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from covidviewer.io.volume import Volume
from covidviewer.viewer.linking import link_states
from covidviewer.viewer.planes import plane_geometry
from covidviewer.viewer.viewer_state import ViewerState


def ramp_volume(shape=(4, 5, 6), spacing=(3.0, 0.5, 0.8), direction=None) -> Volume:
    """Voxel value = 100 z + 10 y + x, so every cut can be checked by value."""
    z, y, x = np.indices(shape)
    pixels = (100 * z + 10 * y + x).astype(np.float32)
    return Volume(
        pixels,
        spacing=spacing,
        direction=np.eye(3) if direction is None else direction,
        modality="CT",
        default_window=(40.0, 400.0),
    )


def test_viewer_modules_import_without_qt():
    code = (
        "import sys; import covidviewer.viewer.viewer_state, covidviewer.viewer.linking; "
        "bad = [m for m in ('PySide6', 'pyqtgraph', 'superqt', 'torch') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_axial_plane_is_stored_layout_for_identity_direction():
    vol = ramp_volume()
    g = plane_geometry(vol, "axial")
    assert (g.n_slices, g.n_rows, g.n_cols) == (4, 5, 6)
    assert not g.flip_rows and not g.flip_cols
    np.testing.assert_array_equal(g.cut(vol.pixels, 2), vol.pixels[2])
    assert g.aspect == pytest.approx(0.5 / 0.8)


@pytest.mark.parametrize(
    "plane, shape, top_left_voxel, row_mm, col_mm",
    [
        # superior (largest z for an identity direction) at the top, patient left on the right
        ("coronal", (4, 6), (3, 1, 0), 3.0, 0.8),
        ("sagittal", (4, 5), (3, 0, 2), 3.0, 0.5),
    ],
)
def test_reformats_put_superior_on_top_with_spacing_aspect(plane, shape, top_left_voxel, row_mm, col_mm):
    vol = ramp_volume()
    g = plane_geometry(vol, plane)
    index = 1 if plane == "coronal" else 2
    image = g.cut(vol.pixels, index)
    assert image.shape == shape
    assert (g.row_mm, g.col_mm) == (row_mm, col_mm)
    assert image[0, 0] == vol.pixels[top_left_voxel]
    # round trip between displayed pixels and voxels
    z, y, x = g.to_voxel(index, 1, 2)
    assert image[1, 2] == vol.pixels[int(z), int(y), int(x)]
    assert g.from_voxel(z, y, x) == (index, 1.0, 2.0)


def test_feet_first_stack_is_flipped_so_anterior_stays_on_top():
    # rows running posterior -> anterior (column direction cosine -P): axial must flip rows
    direction = np.diag([1.0, -1.0, 1.0])
    vol = ramp_volume(direction=direction)
    g = plane_geometry(vol, "axial")
    assert g.flip_rows and not g.flip_cols
    assert g.cut(vol.pixels, 0)[0, 0] == vol.pixels[0, 4, 0]


def test_radiograph_is_never_reoriented():
    cr = Volume(np.arange(12, dtype=np.float32).reshape(1, 3, 4), direction=np.diag([-1.0, -1.0, 1.0]))
    g = plane_geometry(cr, "axial")
    np.testing.assert_array_equal(g.cut(cr.pixels, 0), cr.pixels[0])


def test_state_scroll_clamps_and_emits_only_on_change():
    state = ViewerState()
    seen = []
    state.events.slice.connect(seen.append)
    state.set_volume(ramp_volume())
    assert state.slice_index == 2 and seen == [2]
    state.step_slice(+10)
    state.step_slice(+1)
    assert state.slice_index == 3 and seen == [2, 3]
    state.slice_index = -5
    assert state.slice_index == 0
    state.step_slice(-1, wrap=True)
    assert state.slice_index == 3
    np.testing.assert_array_equal(state.current_image(), ramp_volume().pixels[3])


def test_planes_keep_their_own_slice_index():
    state = ViewerState()
    state.set_volume(ramp_volume())
    state.slice_index = 1
    state.plane = "coronal"
    assert state.n_slices == 5 and state.slice_index == 2
    state.slice_index = 4
    state.plane = "axial"
    assert state.slice_index == 1


def test_window_presets_drag_and_default():
    state = ViewerState()
    windows = []
    state.events.window.connect(windows.append)
    state.set_volume(ramp_volume())
    state.apply_preset("lung")
    assert state.window == (-600.0, 1500.0)
    state.apply_preset("bone")
    assert state.window == (400.0, 1800.0)
    state.drag_window(dx=10, dy=-20)
    center, width = state.window
    assert width > 1800.0 and center < 400.0
    state.apply_preset("default")
    assert state.window == (40.0, 400.0)
    state.window = (0.0, -5.0)
    assert state.window[1] > 0
    assert windows[0] == (40.0, 400.0) and len(windows) == 6
    with pytest.raises(KeyError):
        state.apply_preset("brain-ish")


def test_overlay_follows_plane_and_slice_and_validates_shape():
    vol = ramp_volume()
    state = ViewerState()
    state.set_volume(vol)
    heat = vol.pixels / vol.pixels.max()
    state.set_overlay(heat, colormap="inferno", opacity=1.7, threshold=0.2)
    assert state.overlay.opacity == 1.0 and state.overlay.threshold == 0.2
    state.plane = "sagittal"
    state.slice_index = 3
    np.testing.assert_array_equal(state.current_overlay(), state.current_image() / vol.pixels.max())
    state.update_overlay(visible=False)
    assert state.current_overlay() is None
    with pytest.raises(ValueError):
        state.set_overlay(np.zeros((2, 2, 2)))
    state.set_volume(ramp_volume())
    assert state.overlay is None  # a new volume drops the old volume's map


def test_voxel_under_cursor_uses_millimetres():
    state = ViewerState()
    state.set_volume(ramp_volume())
    # x 2.0 mm / 0.8 mm -> column 2; y 1.2 mm / 0.5 mm -> row 2; slice 2
    assert state.voxel_at(2.0, 1.2) == (2, 2, 2)
    assert state.value_at((2, 2, 2)) == 222.0
    assert state.voxel_at(-0.1, 0.0) is None
    assert state.voxel_at(0.0, 5 * 0.5 + 0.01) is None


def test_view_range_and_cine_validation():
    state = ViewerState()
    state.set_volume(ramp_volume())
    with pytest.raises(ValueError):
        state.view_range = (5.0, 1.0, 0.0, 1.0)
    state.view_range = (0.0, 2.0, 0.0, 1.0)
    state.fit()
    assert state.view_range is None
    state.cine_fps = 500
    assert state.cine_fps == 60.0
    state.cine_playing = True
    assert state.cine_playing


def test_set_display_takes_another_views_rotation_mirror_and_inversion():
    a, b = ViewerState(), ViewerState()
    for s in (a, b):
        s.set_volume(ramp_volume())
    a.rotate(-1)
    a.mirror(vertical=True)
    a.inverted = True
    seen = []
    b.events.display.connect(seen.append)
    b.set_display(a.display)
    assert b.display == a.display and b.geometry == a.geometry and seen == [a.display]
    b.set_display((0, False, True))  # only the rotation and mirror go: one event, the inversion kept
    assert b.display == (0, False, True) and len(seen) == 2
    b.set_display((0, False, False))  # only the inversion changes: still one event
    assert b.display == (0, False, False) and len(seen) == 3


def test_linked_display_turns_every_state():
    a, b = ViewerState(), ViewerState()
    for s in (a, b):
        s.set_volume(ramp_volume())
    link = link_states([a, b], ("plane", "slice", "display"))
    b.rotate(1)
    b.inverted = True
    assert a.display == (90, False, True)
    link.unlink()
    a.reset_display()
    assert b.display == (90, False, True)


def test_linked_states_mirror_slice_window_plane_and_range_until_unlinked():
    a, b, c = ViewerState(), ViewerState(), ViewerState()
    for s in (a, b, c):
        s.set_volume(ramp_volume())
    a.slice_index = 0
    link = link_states([a, b, c])
    assert b.slice_index == 0 and c.slice_index == 0
    b.slice_index = 3
    assert a.slice_index == 3 and c.slice_index == 3
    c.window = (10.0, 20.0)
    assert a.window == b.window == (10.0, 20.0)
    a.plane = "coronal"
    assert b.plane == c.plane == "coronal"
    b.view_range = (0.0, 1.0, 0.0, 2.0)
    assert a.view_range == c.view_range == (0.0, 1.0, 0.0, 2.0)
    link.unlink()
    a.slice_index = 1
    assert a.slice_index == 1 and b.slice_index == 2


def test_a_film_s_display_shutter_follows_the_display_and_can_be_turned_off():
    pixels = np.arange(20 * 30, dtype=np.float32).reshape(1, 20, 30)
    shutter = {"shapes": ["RECTANGULAR"], "rectangle": (3, 25, 2, 18), "value": 0.0}  # 1-based columns, rows
    film = Volume(pixels, modality="DX", default_window=(300.0, 600.0), meta={"display_shutter": shutter})
    state = ViewerState()
    seen = []
    state.events.shutter.connect(seen.append)
    state.set_volume(film)
    opening = state.current_shutter()
    assert state.has_shutter and opening.shape == (20, 30)
    assert opening[1:18, 2:25].all() and opening.sum() == 17 * 23
    state.rotate(1)  # the mask turns with the film, as a map does
    np.testing.assert_array_equal(state.current_shutter(), np.rot90(opening, -1))
    state.shutter_shown = False
    assert state.current_shutter() is None and seen == [False]
    state.set_volume(Volume(pixels, modality="DX"))
    assert not state.has_shutter and state.current_shutter() is None


def test_a_series_overlay_planes_follow_the_slice_and_stay_out_of_reformatted_planes():
    volume = ramp_volume()
    planes = np.zeros(volume.shape, dtype=bool)
    planes[2, 1, 3] = True  # one slice's graphic
    volume.overlay_planes = planes
    state = ViewerState()
    state.set_volume(volume)
    state.slice_index = 2
    assert state.current_overlay_planes()[1, 3] and state.current_overlay_planes().sum() == 1
    state.slice_index = 1
    assert not state.current_overlay_planes().any()
    state.plane = "coronal"  # a cut across the images would draw each one's graphic as a line through the others
    assert state.current_overlay_planes() is None
