"""The lung crop (issue 12): one box from the U-Net mask, used by the app and the trainer alike."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from covidviewer.imaging.lung_box import lung_box
from covidviewer.imaging.preprocess import Grid2D, Preprocess, prepare_image


def two_lungs(shape=(200, 160)) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    cv2.ellipse(mask, (50, 100), (20, 50), 0, 0, 360, 1.0, -1)
    cv2.ellipse(mask, (110, 100), (20, 50), 0, 0, 360, 1.0, -1)
    return mask


def test_box_covers_both_lungs_with_margin_and_ignores_speckle():
    mask = two_lungs()
    mask[5:8, 5:8] = 1.0  # speckle in a corner (a marker the U-Net half-believed)
    y0, x0, y1, x1 = lung_box(mask, margin=0.1)
    assert (y0, x0) > (8, 8), "speckle must not stretch the box to the corner"
    assert y0 <= 50 - 10 and y1 >= 150 + 10 and x0 <= 30 - 8 and x1 >= 130 + 8


def test_no_lungs_means_whole_image():
    assert lung_box(np.zeros((100, 100), np.float32)) is None
    speck = np.zeros((100, 100), np.float32)
    speck[10:12, 10:12] = 1
    assert lung_box(speck) is None


@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
def test_grid_with_box_round_trips_and_blanks_outside(fit):
    box = (20, 10, 180, 150)
    grid = Grid2D.fit((200, 160), (64, 64), fit, box)
    image = np.zeros((200, 160), np.float32)
    image[60:140, 40:120] = 1.0
    back = grid.to_original(grid.to_model(image, cv2.INTER_LINEAR))
    assert back.shape == (200, 160)
    assert back[:20].max() == 0 and back[:, :10].max() == 0, "outside the box the model saw nothing"
    assert back[90:110, 70:90].mean() > 0.9


def test_prepare_image_crops_to_lungs_and_needs_the_mask():
    pixels = np.tile(50 + 0.5 * np.arange(160, dtype=np.float32), (200, 1))
    pixels[:15, :] = 255  # a burned-in label band above the lungs
    pp = Preprocess(kind="cxr", size=(32, 32), lung_crop=True, lung_crop_margin=0.0, intensity="percentile", fit="stretch")
    with pytest.raises(ValueError, match="lung mask"):
        prepare_image(pixels, pp, (127.5, 255.0))
    x, grid = prepare_image(pixels, pp, (127.5, 255.0), lung_mask=two_lungs())
    assert x.shape == (1, 32, 32) and grid.box is not None and grid.box[0] >= 40
    unit = x[0] * 0.5 + 0.5
    assert unit.min() < 0.05 and unit.max() > 0.95, "the percentile window spans the analysed box, not the label band"


def test_percentile_intensity_removes_a_global_brightness_shift():
    rng = np.random.default_rng(1)
    pixels = rng.normal(100, 20, (64, 64)).astype(np.float32)
    pp = Preprocess(kind="cxr", size=(32, 32), intensity="percentile", fit="stretch")
    a, _ = prepare_image(pixels, pp, (127.5, 255.0))
    b, _ = prepare_image(pixels * 0.7 + 40, pp, (127.5, 255.0))
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_preprocess_from_dict_names_an_unknown_key():
    d = Preprocess(kind="cxr", size=(8, 8)).to_dict()
    d["lung_cropp"] = True
    with pytest.raises(ValueError, match="lung_cropp"):
        Preprocess.from_dict(d)


def _discs(*centres: tuple[int, int], r: int = 30) -> np.ndarray:
    yy, xx = np.mgrid[:200, :200]
    return np.any([(yy - cy) ** 2 + (xx - cx) ** 2 < r**2 for cy, cx in centres], axis=0).astype(np.float32)


@pytest.mark.parametrize(
    "mask, two",
    [
        [_discs((100, 60), (100, 140)), True],  # two lungs side by side
        [_discs((100, 100), r=70), False],  # one disc: a full Moon
        [_discs((60, 100), (140, 100)), False],  # one above the other: no pair side by side
        [np.maximum(_discs((100, 60)), _discs((100, 140), r=5)), False],  # a lung and a speck
        [np.zeros((200, 200), np.float32), False],
    ],
)
def test_two_lungs_side_by_side(mask: np.ndarray, two: bool) -> None:
    from covidviewer.imaging.lung_box import shows_two_lungs

    assert shows_two_lungs(mask) == two
