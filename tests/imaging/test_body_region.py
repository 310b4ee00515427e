"""Is there a body in it: the largest region clear of the dark background, holes filled; a star is not one."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from covidviewer.imaging.body_region import (
    CHEST_SHAPE_BELOW,
    MIN_BODY_SHARE,
    MIN_SOLID_SHARE,
    body_and_solid_shares,
    body_share,
)

CT_SLICES = Path(__file__).resolve().parents[3] / "shared" / "data" / "ct_slices"


def _disc(yy: np.ndarray, xx: np.ndarray, cy: int, cx: int, r: int) -> np.ndarray:
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r**2


def test_a_body_with_dark_lungs_counts_whole_and_stars_count_one_by_one() -> None:
    yy, xx = np.mgrid[:200, :200]
    body = _disc(yy, xx, 100, 100, 80).astype(np.float32) * 200
    body[_disc(yy, xx, 100, 70, 20) | _disc(yy, xx, 100, 130, 20)] = 10  # the lungs
    assert body_share(body) == pytest.approx(np.pi * 80**2 / 200**2, rel=0.02)
    stars = np.zeros((200, 200), np.float32)
    stars[tuple(np.random.default_rng(0).integers(0, 200, (2, 60)))] = 255  # 60 single-pixel stars
    assert body_share(stars) <= 1 / 200**2 + 1e-12
    assert body_share(np.full((8, 8), 7.0)) == 0.0


def test_in_a_mediastinal_window_the_grey_soft_tissue_is_the_body_not_the_bright_vessels() -> None:
    yy, xx = np.mgrid[:200, :200]
    slice_ = _disc(yy, xx, 100, 100, 80).astype(np.float32) * 60  # soft tissue, grey in a mediastinal window
    slice_[_disc(yy, xx, 100, 65, 25) | _disc(yy, xx, 100, 135, 25)] = 0  # the lungs, black
    slice_[_disc(yy, xx, 90, 100, 12)] = 250  # the contrast-filled heart: all that clears Otsu's threshold
    assert body_share(slice_) == pytest.approx(np.pi * 80**2 / 200**2, rel=0.02)


def test_a_glow_on_black_is_smaller_than_any_body() -> None:
    yy, xx = np.mgrid[:200, :200]
    galaxy = 255 * np.exp(-((yy - 100) ** 2 + (xx - 100) ** 2) / (2 * 15.0**2))  # a core fading into black
    assert body_share(galaxy.astype(np.float32)) < MIN_BODY_SHARE


def test_a_chest_is_solid_but_for_its_lungs_and_an_outline_is_mostly_hole() -> None:
    yy, xx = np.mgrid[:200, :200]
    chest = _disc(yy, xx, 100, 100, 80).astype(np.float32) * 200
    lungs = _disc(yy, xx, 100, 65, 25) | _disc(yy, xx, 100, 135, 25)
    chest[lungs] = 0  # black, as in a mediastinal window
    body, solid = body_and_solid_shares(chest)
    assert body == pytest.approx(np.pi * 80**2 / 200**2, rel=0.02)
    assert solid == pytest.approx(1 - 2 * 25**2 / 80**2, rel=0.03)
    outline = np.zeros((200, 200), np.float32)
    outline[_disc(yy, xx, 100, 100, 80) & ~_disc(yy, xx, 100, 100, 76)] = 255  # a drawn circle, 4 px wide
    body, solid = body_and_solid_shares(outline)
    assert body == pytest.approx(np.pi * 80**2 / 200**2, rel=0.02)
    assert solid < 0.15 < MIN_SOLID_SHARE
    assert body_and_solid_shares(np.full((8, 8), 7.0)) == (0.0, 0.0)


@pytest.mark.skipif(not (CT_SLICES / "labels.csv").is_file(), reason="../shared/data/ct_slices absent")
def test_every_real_ct_slice_shows_a_body_that_would_pass_even_in_a_frame_twice_its_area() -> None:
    import cv2

    rows = list(csv.DictReader((CT_SLICES / "labels.csv").open()))
    shares = [body_and_solid_shares(cv2.imread(str(CT_SLICES / r["path"]), cv2.IMREAD_GRAYSCALE)) for r in rows]
    bodies, solids = zip(*shares)
    assert len(shares) > 500 and min(bodies) >= 2 * MIN_BODY_SHARE
    # no real slice is held to the chest-shape check, and each would pass its solidity part if it were (0.49 or more)
    assert min(bodies) >= CHEST_SHAPE_BELOW and min(solids) >= MIN_SOLID_SHARE + 0.05
