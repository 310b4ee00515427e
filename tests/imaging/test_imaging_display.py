"""Display helpers: windowing, presets, colormap tables and overlay compositing."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.imaging import (
    COLORMAPS,
    WINDOW_PRESETS,
    colormap_lut,
    composite_overlay,
    heat_colours,
    heat_to_index,
    window_from_range,
    window_to_uint8,
)
from covidviewer.imaging.preprocess import to_unit


def test_presets_are_the_standard_ct_windows():
    assert WINDOW_PRESETS == {"lung": (-600.0, 1500.0), "mediastinum": (40.0, 400.0), "bone": (400.0, 1800.0)}


def test_window_maps_low_high_and_center():
    hu = np.array([[-1000.0, -160.0, 40.0, 240.0, 3000.0]], dtype=np.float32)
    shown = window_to_uint8(hu, 40.0, 400.0)
    assert shown.dtype == np.uint8
    np.testing.assert_array_equal(shown, [[0, 0, 128, 255, 255]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint16, np.uint8, np.int32])
def test_window_matches_the_shared_preprocessing_mapping(dtype):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 250, size=(17, 23)).astype(dtype)
    shown = window_to_uint8(image, 100.0, 180.0)
    expected = np.round(to_unit(image, (100.0, 180.0)) * 255)
    assert np.max(np.abs(shown.astype(int) - expected)) <= 1


def test_window_writes_into_out_and_handles_views():
    image = np.linspace(-100, 100, 64, dtype=np.float32).reshape(8, 8)
    out = np.empty((8, 8), dtype=np.uint8)
    assert window_to_uint8(image, 0.0, 200.0, out=out) is out
    flipped = window_to_uint8(image[::-1, ::-1], 0.0, 200.0)
    np.testing.assert_array_equal(flipped, out[::-1, ::-1])
    with pytest.raises(ValueError):
        window_to_uint8(image, 0.0, 200.0, out=np.empty((4, 4), np.uint8))


def test_window_on_rgb_and_zero_width():
    rgb = np.zeros((2, 2, 3), dtype=np.float32)
    rgb[0, 0] = (255, 0, 128)
    assert window_to_uint8(rgb, 127.5, 255.0).shape == (2, 2, 3)
    # A zero width is a hard threshold at the center, not a division by zero.
    np.testing.assert_array_equal(window_to_uint8(np.array([[9.0, 11.0]]), 10.0, 0.0), [[0, 255]])


def test_window_from_range_ignores_non_finite():
    assert window_from_range(np.array([0.0, 100.0, np.nan, np.inf])) == (50.0, 100.0)


@pytest.mark.parametrize("name", ["jet", "inferno", "viridis", "hot"])
def test_colormap_tables(name):
    lut = colormap_lut(name)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert colormap_lut(name) is lut  # computed once
    assert not lut.flags.writeable


def test_colormap_endpoints():
    hot = colormap_lut("hot")
    assert hot[0, 0] < 20 and tuple(hot[0, 1:]) == (0, 0)  # matplotlib's hot starts at near-black red
    assert tuple(colormap_lut("hot")[255]) == (255, 255, 255)
    jet = colormap_lut("jet")
    assert jet[0, 2] > 100 and jet[0, 0] == 0 and jet[255, 0] > 100 and jet[255, 2] == 0
    with pytest.raises(ValueError, match="unknown colormap"):
        colormap_lut("rainbow-unicorn")
    assert set(COLORMAPS) >= {"jet", "inferno", "viridis", "hot"}


def test_overlay_blends_above_threshold_and_is_transparent_below():
    gray = np.full((2, 3), 100, dtype=np.uint8)
    heat = np.array([[0.0, 0.2, 0.5], [0.8, 1.0, 0.49]], dtype=np.float32)
    lut = colormap_lut("jet")
    out = composite_overlay(gray, heat, lut, opacity=0.5, threshold=0.5)
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    for (r, c) in [(0, 0), (0, 1), (1, 2)]:  # below 0.5: untouched grey
        np.testing.assert_array_equal(out[r, c], (100, 100, 100))
    for (r, c) in [(0, 2), (1, 0), (1, 1)]:
        colour = lut[int(round(heat[r, c] * 255))].astype(float)
        expected = 0.5 * 100 + 0.5 * colour
        assert np.max(np.abs(out[r, c] - expected)) <= 1


def test_overlay_opacity_extremes_and_buffer_reuse():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    heat = np.ones((3, 4), dtype=np.float32)
    lut = colormap_lut("viridis")
    buffer = np.empty((3, 4, 3), np.uint8)
    assert composite_overlay(gray, heat, lut, opacity=0.0, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, np.repeat(gray[..., None], 3, axis=2))
    full = composite_overlay(gray, heat, lut, opacity=1.0)
    np.testing.assert_array_equal(full, np.broadcast_to(lut[255], (3, 4, 3)))


def test_overlay_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        composite_overlay(np.zeros((4, 4), np.uint8), np.zeros((3, 4), np.float32), colormap_lut("jet"))
    with pytest.raises(ValueError, match="colour image shape"):
        composite_overlay(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.float32), colormap_lut("jet"),
                          colour=np.zeros((3, 4, 3), np.uint8))


def test_kept_colours_blend_exactly_as_a_fresh_lookup():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (40, 30), dtype=np.uint8)
    heat = rng.random((40, 30), dtype=np.float32)
    lut = colormap_lut("jet")
    colour = heat_colours(heat, lut)
    assert colour.shape == (40, 30, 3) and colour.dtype == np.uint8
    np.testing.assert_array_equal(colour[3, 4], lut[heat_to_index(heat)[3, 4]])
    for opacity, threshold in ((0.5, 0.0), (0.8, 0.3), (0.2, 0.9)):
        np.testing.assert_array_equal(composite_overlay(gray, heat, lut, opacity, threshold, colour=colour),
                                      composite_overlay(gray, heat, lut, opacity, threshold))


@pytest.mark.parametrize("value, grey", [(2000.0, 128), (3000.0, 225), (1000.0, 30), (1e9, 255), (-1e9, 0)])
def test_sigmoid_window_is_the_standard_s_curve(value, grey):
    """PS3.3 C.11.2.1.3.1: 255 / (1 + exp(-4 (x - c) / w)); at c +- w/2 it is 0.88 and 0.12 of white, not clipped."""
    from covidviewer.imaging.windowing import SIGMOID

    image = np.full((2, 3), value, dtype=np.float32)
    assert (window_to_uint8(image, 2000.0, 2000.0, function=SIGMOID) == grey).all()
    out = np.empty((2, 3), dtype=np.uint8)
    assert window_to_uint8(image, 2000.0, 2000.0, out=out, function=SIGMOID) is out and (out == grey).all()
