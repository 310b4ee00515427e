"""PNG / JPEG / TIFF loading: bit depth, grey vs colour, default windows; real CXR JPEGs."""
from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from covidviewer.io import LoadError, load_path, scan_folder


def test_png_8bit_grey(tmp_path):
    image = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    cv2.imwrite(str(tmp_path / "g.png"), image)
    volume = load_path(tmp_path / "g.png")
    assert volume.pixels.shape == (1, 3, 4) and not volume.is_rgb
    np.testing.assert_array_equal(volume.pixels[0], image)
    assert volume.default_window == (127.5, 255.0)
    assert volume.meta["bit_depth"] == 8


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_grey_uses_the_data_range(tmp_path, suffix):
    image = np.array([[1000, 2000], [3000, 5000]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / f"g{suffix}"), image)
    volume = load_path(tmp_path / f"g{suffix}")
    np.testing.assert_array_equal(volume.pixels[0], image)
    assert volume.default_window == (3000.0, 4000.0)
    assert volume.meta["bit_depth"] == 16


def test_colour_file_that_is_really_grey_becomes_grey(tmp_path):
    grey = np.random.default_rng(0).integers(0, 255, (5, 6), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), cv2.merge([grey, grey, grey]))
    volume = load_path(tmp_path / "c.png")
    assert not volume.is_rgb and volume.pixels.shape == (1, 5, 6)
    np.testing.assert_array_equal(volume.pixels[0], grey)


def test_genuine_colour_keeps_rgb_channel_order(tmp_path):
    bgr = np.zeros((4, 4, 3), dtype=np.uint8)
    bgr[0, 0] = (0, 0, 255)  # red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    volume = load_path(tmp_path / "red.png")
    assert volume.is_rgb and volume.pixels.shape == (1, 4, 4, 3)
    np.testing.assert_array_equal(volume.pixels[0, 0, 0], (255, 0, 0))


def test_png_with_alpha_drops_alpha(tmp_path):
    bgra = np.zeros((3, 3, 4), dtype=np.uint8)
    bgra[..., 0] = 50
    bgra[..., 3] = 255
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    volume = load_path(tmp_path / "a.png")
    assert volume.is_rgb and volume.pixels.shape == (1, 3, 3, 3)
    np.testing.assert_array_equal(volume.pixels[0, 0, 0], (0, 0, 50))


def test_truncated_and_fake_images_raise_load_error(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image)
    (tmp_path / "cut.jpg").write_bytes(encoded.tobytes()[:40])
    (tmp_path / "fake.png").write_text("not an image")
    for name in ("cut.jpg", "fake.png"):
        with pytest.raises(LoadError, match=name):
            load_path(tmp_path / name)
    result = scan_folder(tmp_path)
    assert sorted(p.name for p, _ in result.unreadable) == ["cut.jpg", "fake.png"]


def test_non_ascii_file_name(tmp_path):
    cv2.imencode(".png", np.full((2, 2), 7, np.uint8))[1].tofile(str(tmp_path / "poumon_é.png"))
    assert load_path(tmp_path / "poumon_é.png").pixels.max() == 7


def test_real_cxr_jpegs_from_shared_data(shared_data):
    with open(shared_data / "cxr" / "labels.csv", newline="") as f:
        rows = [row for _, row in zip(range(3), csv.DictReader(f))]
    for row in rows:
        volume = load_path(shared_data / "cxr" / row["path"])
        # The README promises 8-bit greyscale JPEGs with a short side of 224 px.
        assert not volume.is_rgb and volume.pixels.ndim == 3 and volume.shape[0] == 1
        assert min(volume.shape[1:]) == 224
        assert volume.default_window == (127.5, 255.0)
        assert 0 <= volume.pixels.min() < volume.pixels.max() <= 255


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_exif_orientation_is_applied_as_photo_viewers_show_it(tmp_path, orientation, suffix):
    from PIL import Image, ImageOps

    stored = np.zeros((30, 20), dtype=np.uint8)
    stored[:6, :4] = 255  # a bright corner: where it lands tells the turn and the mirror
    # the EXIF specification's upright view of each orientation
    upright = {1: stored, 2: stored[:, ::-1], 3: stored[::-1, ::-1], 4: stored[::-1], 5: stored.T,
               6: np.rot90(stored, -1), 7: np.rot90(stored, 2).T, 8: np.rot90(stored)}[orientation]
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}{suffix}"
    image.save(path, exif=exif, **({"quality": 100} if suffix == ".jpg" else {}))
    if suffix != ".tif":  # Pillow's transpose of a TIFF it wrote turned lands elsewhere; of a JPEG or PNG it agrees
        with Image.open(path) as written:
            assert np.abs(np.asarray(ImageOps.exif_transpose(written)).astype(int) - upright).max() < 40
    volume = load_path(path)
    assert volume.pixels.shape[1:] == upright.shape
    assert np.abs(volume.pixels[0] - upright.astype(np.float32)).max() < 40  # JPEG's ringing at the corner
    (series,) = scan_folder(tmp_path).series
    assert (series.rows, series.columns) == upright.shape  # the study list's size is the film's as shown
    assert volume.meta["exif_orientation"] == orientation
    assert (orientation == 1) == (not any("EXIF orientation" in w for w in volume.warnings))
