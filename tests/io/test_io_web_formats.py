"""WebP and GIF films (saved from a web page or a teaching file), files of several frames or pages, and the message
for a file the app cannot read at all."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from covidviewer.io import LoadError, load_path, scan_folder


def _film(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.linspace(0, 200, 48 * 40).reshape(48, 40) + rng.integers(0, 40, (48, 40))).astype(np.uint8)


@pytest.mark.parametrize("name, options", [("film.webp", {"lossless": True}), ("film.gif", {})])
def test_a_webp_or_gif_film_is_read_as_its_grey_pixels(tmp_path, name, options) -> None:  # type: ignore[no-untyped-def]
    film = _film()
    Image.fromarray(film).save(tmp_path / name, **options)
    volume = load_path(tmp_path / name)
    assert volume.pixels.shape == (1, 48, 40) and not volume.is_rgb
    np.testing.assert_array_equal(volume.pixels[0], film)
    assert volume.warnings == []
    (series,) = scan_folder(tmp_path).series  # the study browser and `predict DIR` list it
    assert series.files[0].name == name


@pytest.mark.parametrize("name", ["frames.gif", "pages.tif"])
def test_a_file_of_several_frames_is_read_as_its_first_and_says_so(tmp_path, name) -> None:  # type: ignore[no-untyped-def]
    frames = [Image.fromarray(_film(seed)) for seed in range(3)]
    frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:])
    volume = load_path(tmp_path / name)
    np.testing.assert_array_equal(volume.pixels[0], _film(0))
    assert "the file holds 3 frames (pages); only the first is shown and analysed" in volume.warnings


def test_a_file_of_no_format_the_app_reads_says_which_it_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "film.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(200))
    with pytest.raises(LoadError) as found:
        load_path(tmp_path / "film.heic")
    message = str(found.value)
    assert message.startswith("film.heic: not a DICOM file, nor an image or volume this app reads (")
    assert "*.png" in message and "*.webp" in message and "*.nii.gz" in message
    for name in ("film.dcm", "film"):  # named as DICOM, or no name to go by: the DICOM reader's own word
        (tmp_path / name).write_bytes(b"hello" * 100)
        with pytest.raises(LoadError, match="not a DICOM file") as plain:
            load_path(tmp_path / name)
        assert "nor an image" not in str(plain.value)
