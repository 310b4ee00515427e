"""The largest bright region of an image, holes filled: a body on a CT slice, a star on a star field."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from covidviewer.imaging.body_region import MIN_BODY_SHARE, largest_region_share

CT_SLICES = Path(__file__).resolve().parents[3] / "shared" / "data" / "ct_slices"


def test_a_body_with_dark_lungs_counts_whole_and_stars_count_one_by_one() -> None:
    yy, xx = np.mgrid[:200, :200]
    body = ((yy - 100) ** 2 + (xx - 100) ** 2 < 80**2).astype(np.float32) * 200
    body[((yy - 100) ** 2 + (xx - 70) ** 2 < 20**2) | ((yy - 100) ** 2 + (xx - 130) ** 2 < 20**2)] = 10  # the lungs
    assert largest_region_share(body) == pytest.approx(np.pi * 80**2 / 200**2, rel=0.02)
    stars = np.zeros((200, 200), np.float32)
    stars[tuple(np.random.default_rng(0).integers(0, 200, (2, 60)))] = 255  # 60 single-pixel stars
    assert largest_region_share(stars) <= 1 / 200**2 + 1e-12
    assert largest_region_share(np.full((8, 8), 7.0)) == 0.0


@pytest.mark.skipif(not (CT_SLICES / "labels.csv").is_file(), reason="../shared/data/ct_slices absent")
def test_every_real_ct_slice_shows_a_body() -> None:
    import cv2

    rows = list(csv.DictReader((CT_SLICES / "labels.csv").open()))
    shares = [largest_region_share(cv2.imread(str(CT_SLICES / r["path"]), cv2.IMREAD_GRAYSCALE)) for r in rows]
    assert len(shares) > 500 and min(shares) >= 3 * MIN_BODY_SHARE
