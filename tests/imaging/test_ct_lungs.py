"""The lungs of an axial CT slice as the dark regions its body encloses (covidviewer.imaging.ct_lungs)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from covidviewer.imaging.body_region import largest_bright_region
from covidviewer.imaging.ct_lungs import MIN_LUNG_SHARE, ct_body_and_lungs, ct_lung_region

CT_SLICES = Path(__file__).resolve().parents[3] / "shared" / "data" / "ct_slices"


def phantom(lung_value: float = 20.0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A 200 px lung-window slice: an elliptic body (tissue 200) with two dark lungs, a bright lesion in a bay of the
    left lung, a dark gap and a bright table under the body, a small dark bubble (the trachea) and dark air around."""
    yy, xx = np.mgrid[:200, :200]
    parts = {
        "body": ((yy - 95) / 70.0) ** 2 + ((xx - 100) / 85.0) ** 2 < 1,
        "right lung": ((yy - 95) / 45.0) ** 2 + ((xx - 60) / 28.0) ** 2 < 1,
        "left lung": ((yy - 95) / 45.0) ** 2 + ((xx - 140) / 28.0) ** 2 < 1,
        "table": (yy >= 180) & (yy < 188) & (xx > 10) & (xx < 190),
        "trachea": (yy - 60) ** 2 + (xx - 100) ** 2 < 5**2,
    }
    lesion = ((yy - 95) / 12.0) ** 2 + ((xx - 118) / 8.0) ** 2 < 1  # fills the left lung's inner edge: a bay
    image = np.full((200, 200), 5.0, np.float32)
    image[parts["body"]] = 200
    for name in ("right lung", "left lung", "trachea"):
        image[parts[name]] = lung_value
    image[lesion & parts["left lung"]] = 200
    image[parts["table"]] = 220
    parts["lesion"] = lesion & parts["left lung"]
    # noise, as on any slice (and Otsu's threshold, a bin centre, would otherwise cut through a flat grey level)
    image += np.random.default_rng(0).normal(0.0, 4.0, image.shape).astype(np.float32)
    return image, parts


def test_the_lungs_are_found_and_the_table_trachea_and_outside_air_are_not() -> None:
    image, parts = phantom()
    lungs = ct_lung_region(image)
    assert lungs is not None and lungs.dtype == bool and lungs.shape == image.shape
    both = parts["right lung"] | parts["left lung"]
    assert (lungs & both).sum() / both.sum() > 0.98
    assert not (lungs & parts["table"]).any()
    assert not (lungs & ~parts["body"]).any()  # the air around the body and under it
    assert not (lungs & parts["trachea"]).any()  # under MIN_PART_SHARE
    # the lesion in the left lung's bay is lung: it is inside that lung's hull
    assert (lungs & parts["lesion"]).sum() / parts["lesion"].sum() > 0.9


def test_body_and_lungs_in_one_pass_are_those_found_apart() -> None:
    image, parts = phantom()
    body, lungs = ct_body_and_lungs(image)
    assert np.array_equal(body, largest_bright_region(image)) and np.array_equal(lungs, ct_lung_region(image))
    assert (body & parts["body"]).sum() / parts["body"].sum() > 0.98 and not (body & parts["table"]).any()
    cut = image.copy()
    cut[parts["right lung"] | parts["left lung"]] = 200.0  # a slice below the lungs: a body, no lungs
    body, lungs = ct_body_and_lungs(cut)
    assert lungs is None and body is not None and body.any()
    assert ct_body_and_lungs(np.full((64, 64), 3.0, np.float32)) == (None, None)


def test_the_same_lungs_on_any_grey_scale() -> None:
    image, _ = phantom()
    lungs = ct_lung_region(image)
    assert np.array_equal(lungs, ct_lung_region(image / 255.0))  # a [0, 1] slice, as the models read it
    assert np.array_equal(lungs, ct_lung_region(image * 4.0 - 1000.0))


def test_no_lungs_where_the_body_encloses_none() -> None:
    image, parts = phantom()
    cut = image.copy()
    cut[:, 130:] = 5.0  # cropped through the left lung and the chest wall: neither lung's air is shut in any more
    cut[parts["right lung"]] = 200.0  # and the right lung filled (a slice below the lungs)
    assert ct_lung_region(cut) is None
    assert ct_lung_region(np.full((64, 64), 3.0, np.float32)) is None  # flat
    assert ct_lung_region(np.zeros((0, 0), np.float32)) is None
    tiny, _ = phantom()
    tiny[parts["right lung"] | parts["left lung"]] = 200.0
    yy, xx = np.mgrid[:200, :200]
    tiny[(yy - 95) ** 2 + (xx - 60) ** 2 < 8**2] = 20.0  # one small dark pocket: under MIN_LUNG_SHARE of the slice
    assert np.pi * 8**2 / 200**2 < MIN_LUNG_SHARE and ct_lung_region(tiny) is None


@pytest.mark.skipif(not (CT_SLICES / "labels.csv").is_file(), reason="../shared/data/ct_slices absent")
def test_real_ct_slices_get_lungs_of_a_plausible_size() -> None:
    import cv2

    rows = [r for r in csv.DictReader((CT_SLICES / "labels.csv").open()) if r["split"] == "val"]
    regions = [ct_lung_region(cv2.imread(str(CT_SLICES / r["path"]), cv2.IMREAD_GRAYSCALE)) for r in rows]
    found = [m.mean() for m in regions if m is not None]
    assert len(found) >= 0.9 * len(rows)  # 109 of 118: the rest are cropped through the chest wall
    assert 0.2 < float(np.median(found)) < 0.5
