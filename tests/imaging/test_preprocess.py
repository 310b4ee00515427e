"""The shared preprocessing path: windowing, fit modes and exact inverse mapping of maps."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.imaging.preprocess import (
    Grid2D,
    Preprocess,
    prepare_image,
    prepare_volume,
    resize_volume,
    to_unit,
)


def test_to_unit_linear_window_clips() -> None:
    out = to_unit(np.array([-1400.0, -600.0, 150.0, 1000.0]), (-600.0, 1500.0))
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("fit", ["crop", "pad", "stretch"])
@pytest.mark.parametrize("shape", [(300, 200), (200, 300), (224, 224)])
def test_square_evidence_maps_back_to_the_same_pixels(fit: str, shape: tuple[int, int]) -> None:
    """A square drawn in the original lands in the model grid, and its map comes back on top of it."""
    image = np.zeros(shape, np.float32)
    image[90:130, 80:120] = 255.0
    pp = Preprocess(kind="cxr", size=(112, 112), mean=(0.0,), std=(1.0,), fit=fit)
    x, grid = prepare_image(image, pp, default_window=(127.5, 255.0))
    assert x.shape == (1, 112, 112)
    back = grid.to_original(x[0])
    assert back.shape == shape
    inside = back[95:125, 85:115].mean()
    square = np.zeros(shape, bool)
    square[80:140, 70:130] = True  # the square plus a margin for interpolation blur
    assert inside > 0.8 and back[~square].max() < 0.05


def test_crop_mode_fills_uncovered_original_with_zero() -> None:
    grid = Grid2D.fit((400, 200), (100, 100), "crop")
    back = grid.to_original(np.ones((100, 100), np.float32))
    assert back[0, 100] == 0.0 and back[-1, 100] == 0.0  # cropped top/bottom rows
    assert back[200, 100] == pytest.approx(1.0)


def test_lung_mask_is_required_and_applied() -> None:
    image = np.full((64, 64), 200.0, np.float32)
    pp = Preprocess(kind="cxr", size=(32, 32), mean=(0.0,), std=(1.0,))
    with pytest.raises(ValueError, match="lung mask"):
        prepare_image(image, pp, (127.5, 255.0), mask_image=True)
    mask = np.zeros((64, 64), np.float32)
    mask[:, :32] = 1.0
    x, _ = prepare_image(image, pp, (127.5, 255.0), lung_mask=mask, mask_image=True)
    assert x[0, :, :14].min() > 0.7 and x[0, :, 18:].max() == 0.0


def test_channels_replicate_with_per_channel_normalisation() -> None:
    pp = Preprocess(kind="cxr", size=(16, 16), channels=3, mean=(0.5, 0.4, 0.3), std=(0.5, 0.5, 0.5))
    x, _ = prepare_image(np.full((20, 20), 255.0), pp, (127.5, 255.0))
    np.testing.assert_allclose(x[:, 0, 0], [1.0, 1.2, 1.4], atol=1e-5)


def test_rgb_input_is_refused() -> None:
    pp = Preprocess(kind="cxr", size=(16, 16))
    with pytest.raises(ValueError, match="single-channel"):
        prepare_image(np.zeros((20, 20, 3)), pp, (127.5, 255.0))


def test_volume_maps_back_to_the_right_slices() -> None:
    vol = np.zeros((40, 50, 50), np.float32)
    vol[10:15] = 1000.0
    pp = Preprocess(kind="ct_volume", size=(8, 16, 16), window=(500.0, 1000.0), mean=(0.0,), std=(1.0,))
    x, grid = prepare_volume(vol, pp, (0.0, 1.0))
    assert x.shape == (1, 8, 16, 16)
    back = grid.to_original(x[0])
    assert back.shape == vol.shape
    per_slice = back.mean(axis=(1, 2))
    assert int(np.argmax(per_slice)) in range(10, 15)
    assert per_slice[30:].max() < 0.05
    assert grid.model_to_original_slice(2.0) == 12


def test_resize_volume_identity() -> None:
    vol = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    np.testing.assert_array_equal(resize_volume(vol, (5, 6, 7)), vol)


def test_preprocess_round_trips_through_dict() -> None:
    pp = Preprocess(kind="ct_volume", size=(64, 224, 224), window=(-600.0, 1500.0))
    assert Preprocess.from_dict(pp.to_dict()) == pp


def test_bad_preprocess_is_refused() -> None:
    with pytest.raises(ValueError):
        Preprocess(kind="mri", size=(1, 1))
    with pytest.raises(ValueError):
        Preprocess(kind="ct_volume", size=(224, 224))
    with pytest.raises(ValueError):
        Preprocess(kind="cxr", size=(2, 2), fit="zoom")
    with pytest.raises(ValueError, match="resample"):
        Preprocess(kind="cxr", size=(2, 2), resample="cubic")


def _film(side: int) -> np.ndarray:
    """A smooth 'chest' with ribs-like stripes at ``side`` px (the same anatomy at any size)."""
    yy, xx = np.mgrid[0:side, 0:side] / side
    return (2000 + 800 * np.sin(yy * 40) * np.exp(-((xx - 0.5) ** 2) * 8) + 300 * xx).astype(np.float32)


@pytest.mark.parametrize("clahe", [False, True])
def test_twice_gives_the_same_view_of_a_small_and_a_large_film(clahe: bool) -> None:
    """Session 23: with "area" a 224 px film's view differs from the same film at 3x its size (a bigger detector);
    with "twice" both reach the model through the same last step."""
    import cv2

    small = _film(224)
    large = cv2.resize(small, (672, 672), interpolation=cv2.INTER_CUBIC)

    def gap(resample: str) -> float:
        pp = Preprocess(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=clahe, resample=resample)
        a, _ = prepare_image(small, pp, (2000.0, 2000.0))
        b, _ = prepare_image(large, pp, (2000.0, 2000.0))
        return float(np.abs(a - b).mean())

    assert gap("twice") < 0.5 * gap("area")
    assert gap("twice") < 0.02


def test_twice_maps_evidence_back_as_area_does() -> None:
    """The geometry is the grid's: only the pixels' path changes, so maps land on the same original pixels."""
    film = _film(300)[:, :250]
    area, grid_a = prepare_image(film, Preprocess(kind="cxr", size=(64, 64), fit="crop"), (2000.0, 2000.0))
    twice, grid_t = prepare_image(film, Preprocess(kind="cxr", size=(64, 64), fit="crop", resample="twice"), (2000.0, 2000.0))
    assert grid_a == grid_t and area.shape == twice.shape
    assert np.corrcoef(area.ravel(), twice.ravel())[0, 1] > 0.99


def test_max_side_shrinks_a_large_film_before_its_window_and_leaves_a_small_one() -> None:
    """A 3x film under max_side takes the path of the film at its own size: its view moves much closer to that film's."""
    import cv2

    small = _film(224)
    large = cv2.resize(small, (672, 672), interpolation=cv2.INTER_CUBIC)
    plain = Preprocess(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=True)
    capped = Preprocess(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=True, max_side=224)
    view = {name: prepare_image(film, pp, (2000.0, 2000.0))[0] for name, film, pp in
            (("small", small, plain), ("small capped", small, capped), ("large", large, plain), ("large capped", large, capped))}
    assert np.array_equal(view["small"], view["small capped"])  # at or under max_side: untouched
    assert np.abs(view["large capped"] - view["small"]).mean() < 0.3 * np.abs(view["large"] - view["small"]).mean()


def test_max_side_above_shrinks_only_a_film_larger_than_it() -> None:
    """With max_side_above, a film of the training packs' sizes keeps its own view; a full-size film is shrunk."""
    import cv2

    films = {side: cv2.resize(_film(224), (side, side), interpolation=cv2.INTER_CUBIC) for side in (224, 400, 512, 672)}
    plain = Preprocess(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=True)
    above = Preprocess(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=True,
                       max_side=224, max_side_above=512)
    capped = Preprocess(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=True, max_side=224)
    view = {(side, name): prepare_image(film, pp, (2000.0, 2000.0))[0] for side, film in films.items()
            for name, pp in (("plain", plain), ("above", above), ("capped", capped))}
    for side in (224, 400, 512):  # at or under max_side_above: the film's own view
        assert np.array_equal(view[side, "above"], view[side, "plain"])
    assert not np.array_equal(view[400, "capped"], view[400, "plain"])  # max_side alone would shrink it
    assert np.array_equal(view[672, "above"], view[672, "capped"])  # above it: shrunk as max_side alone does
    assert Preprocess.from_dict(above.to_dict()) == above


def _eight_bit_film(side: int) -> np.ndarray:
    """``_film`` exported as an 8-bit file: whole numbers 0..255, as every film of the training packs is."""
    film = _film(side)
    return np.round((film - film.min()) / (film.max() - film.min()) * 255).astype(np.float32)


def test_grey_levels_leave_an_eight_bit_film_as_it_is() -> None:
    """256 levels of an 8-bit film's window (127.5, 255) are its own whole numbers: its view does not change."""
    film = _eight_bit_film(224)
    plain = Preprocess(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=True)
    levelled = Preprocess(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=True, grey_levels=256)
    assert np.array_equal(prepare_image(film, plain, (127.5, 255.0))[0], prepare_image(film, levelled, (127.5, 255.0))[0])
    assert Preprocess.from_dict(levelled.to_dict()) == levelled


def test_grey_levels_give_a_finer_film_the_view_of_its_eight_bit_export() -> None:
    """Session 25: the same film with detail under half an 8-bit step (a 12-bit detector) changes CLAHE's output,
    which the cascade's stage 2 reads; rounded to 256 levels it is its 8-bit export again, exactly."""
    film = _eight_bit_film(224)
    finer = film + np.random.default_rng(0).uniform(-0.49, 0.49, film.shape).astype(np.float32)
    plain = Preprocess(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=True)
    levelled = Preprocess(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=True, grey_levels=256)
    exported = prepare_image(film, plain, (127.5, 255.0))[0]
    assert np.abs(prepare_image(finer, plain, (127.5, 255.0))[0] - exported).mean() > 0.01
    assert np.array_equal(prepare_image(finer, levelled, (127.5, 255.0))[0], exported)


def test_grey_levels_round_a_shrunk_film_in_its_own_units() -> None:
    """A 16-bit film's 256 levels span its own window; a shrunk film is rounded after the shrink, as an export is."""
    from covidviewer.imaging.preprocess import on_grey_levels

    values = np.array([[1000.0, 1007.9, 1008.1, 5095.0]], np.float32)
    assert np.allclose(on_grey_levels(values, (3047.5, 4095.0), 256), [[1000.0, 1000.0, 1016.0588, 5095.0]])
    with pytest.raises(ValueError, match="grey_levels"):
        Preprocess(kind="cxr", size=(2, 2), grey_levels=1)


def test_max_side_of_shorter_shrinks_a_portrait_film_to_the_packs_shorter_side() -> None:
    """Every pack film has its shorter side at 224 px: a 3x portrait film shrunk by its shorter side comes back at its own
    size (its view as sent, nearly), where shrinking its longer side to 224 px would make it smaller than any of them."""
    import cv2

    film = _eight_bit_film(300)[:, :224]  # 300 x 224, a COVID-19 collection's shape
    large = cv2.resize(film, (672, 900), interpolation=cv2.INTER_CUBIC)
    common = dict(kind="cxr", size=(160, 160), fit="stretch", intensity="percentile", clahe=True, max_side=224,
                  max_side_above=512, grey_levels=256)
    shorter, longer = Preprocess(**common, max_side_of="shorter"), Preprocess(**common)
    sent = prepare_image(film, shorter, (127.5, 255.0))[0]
    assert np.array_equal(sent, prepare_image(film, longer, (127.5, 255.0))[0])  # under max_side_above: untouched
    gap = {name: np.abs(prepare_image(large, pp, (127.5, 255.0))[0] - sent).mean() for name, pp in
           (("shorter", shorter), ("longer", longer))}
    assert gap["shorter"] < 0.5 * gap["longer"]
    narrow = cv2.resize(film, (200, 1200), interpolation=cv2.INTER_CUBIC)  # longer side over 512, shorter under 224
    unshrunk = Preprocess(**{**common, "max_side": 0})
    assert np.array_equal(prepare_image(narrow, shorter, (127.5, 255.0))[0], prepare_image(narrow, unshrunk, (127.5, 255.0))[0])
    assert not np.array_equal(prepare_image(narrow, longer, (127.5, 255.0))[0], prepare_image(narrow, unshrunk, (127.5, 255.0))[0])
    assert Preprocess.from_dict(shorter.to_dict()) == shorter
    with pytest.raises(ValueError, match="max_side_of"):
        Preprocess(kind="cxr", size=(2, 2), max_side_of="both")
