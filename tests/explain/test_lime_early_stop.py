"""LIME's fast path: same weights as lime_image without the early stop, an early stop that keeps the
top superpixels, the stability rule itself, and the model's layout put back afterwards."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from square_models import BrightnessNet

from covidviewer.explain import ModelInput, create_explainer
from covidviewer.explain.base import ClassTarget
from covidviewer.explain.lime_explainer import LimeSettings, StableRanking, sample_rows, segment_superpixels
from covidviewer.models.memory_format import channels_last


def _weights(explainer, model_input: ModelInput) -> np.ndarray:
    return explainer._model_grid_map(model_input, ClassTarget(None, False), None, None).values


def test_without_early_stop_the_weights_are_lime_images(square_input) -> None:
    """The paper's fixed-sample run gives exactly what lime_image.explain_instance gives."""
    from lime import lime_image

    model_input, spec = square_input
    model = BrightnessNet().eval()
    settings = LimeSettings(samples=90, batch=25, segments=24, seed=3, early_stop=False)
    with create_explainer("lime", model, spec, settings=settings) as explainer:
        ours = _weights(explainer, model_input)
    unit = model_input.unit_image()
    segments = segment_superpixels(unit, "slic", 24)

    def probabilities(images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(model_input.from_unit(images[..., 0].astype(np.float32)))
        with torch.no_grad():
            return torch.softmax(model(x), dim=1).numpy().astype(np.float64)

    explanation = lime_image.LimeImageExplainer(random_state=3).explain_instance(
        unit.astype(np.float64), probabilities, labels=(1,), top_labels=None, hide_color=0.0,
        num_features=int(segments.max()) + 1, num_samples=90, batch_size=25,
        segmentation_fn=lambda _image: segments, random_seed=3)
    theirs = np.zeros(int(segments.max()) + 1)
    for segment, weight in explanation.local_exp[1]:
        theirs[segment] = weight
    np.testing.assert_allclose(ours, theirs[segments], rtol=1e-4, atol=1e-6)


def test_early_stop_uses_fewer_samples_and_keeps_the_top_superpixels(square_input) -> None:
    model_input, spec = square_input
    settings = LimeSettings(samples=600, batch=50, segments=24, min_samples=100, stable_for=150, stable_top=3)
    messages: list[tuple[int, int, str]] = []
    with create_explainer("lime", BrightnessNet().eval(), spec, settings=settings) as explainer:
        quick = explainer.explain(model_input, progress=lambda d, t, m: messages.append((d, t, m)))
    exact = replace(settings, early_stop=False)
    with create_explainer("lime", BrightnessNet().eval(), spec, settings=exact) as explainer:
        full = explainer.explain(model_input)
    used = quick.details["num_samples"]
    assert quick.details["stopped_early"] and 250 <= used < 600 and quick.details["max_samples"] == 600
    assert full.details["num_samples"] == 600 and not full.details["stopped_early"]
    assert messages[-1][:2] == (600, 600) and "stopping early" in messages[-1][2]  # the bar ends full
    assert messages[0][2] == "50/600 samples, may stop sooner (top 3 steady for 0)"
    # the two maps agree (the square's superpixels lead both)
    assert np.corrcoef(quick.heatmap.ravel(), full.heatmap.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("segments", [None, 12])
def test_a_run_segments_at_about_the_count_asked_for(square_input, segments) -> None:
    """24 superpixels by default at any input size (finer ones made the map depend on the seed); a count
    asked for is kept."""
    model_input, spec = square_input
    settings = LimeSettings(samples=40) if segments is None else LimeSettings(samples=40, segments=segments)
    wanted = 24 if segments is None else segments
    with create_explainer("lime", BrightnessNet().eval(), spec, settings=settings) as explainer:
        used = explainer.explain(model_input).details["superpixels"]
    assert abs(used - wanted) <= wanted // 3  # slic gives about the number asked for


def test_paired_samples_are_complements_and_the_run_begins_with_the_image() -> None:
    rows = sample_rows(np.random.RandomState(0), 7, 5, paired=True, first=True)
    assert rows.shape == (7, 5) and set(np.unique(rows)) <= {0, 1}
    np.testing.assert_array_equal(rows[4:], 1 - rows[:3])
    assert rows[0].all() and not rows[4].any()  # the image itself, then every superpixel hidden
    later = sample_rows(np.random.RandomState(0), 4, 5, paired=True, first=False)
    np.testing.assert_array_equal(later[2:], 1 - later[:2])
    # lime's own draw, unpaired: what lime_image draws from the same random state
    plain = sample_rows(np.random.RandomState(1), 4, 5, paired=False, first=False)
    np.testing.assert_array_equal(plain, np.random.RandomState(1).randint(0, 2, 20).reshape(4, 5))


def test_the_early_stop_pairs_its_samples_and_the_fixed_run_does_not(square_input) -> None:
    model_input, spec = square_input
    settings = LimeSettings(samples=200, batch=20, segments=12, min_samples=60, stable_for=60, stable_top=3)
    assert settings.cache_options()["paired"] and not replace(settings, early_stop=False).cache_options()["paired"]
    assert replace(settings, paired=False).cache_options() != settings.cache_options()  # another map, another key
    for early_stop in (True, False):
        with create_explainer("lime", BrightnessNet().eval(), spec,
                              settings=replace(settings, early_stop=early_stop)) as explainer:
            assert explainer.explain(model_input).details["paired"] is early_stop


def test_settings_refuse_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        LimeSettings(samples=1)
    with pytest.raises(ValueError, match="at least 2 superpixels"):
        LimeSettings(segments=1)
    with pytest.raises(ValueError, match="segmentation"):
        LimeSettings(segmentation="quickshift")


def test_stable_ranking_waits_for_patience_and_restarts_on_a_change() -> None:
    ranking = StableRanking(k=2, patience=100, ignore=(0,))
    w = np.array([9.0, 3.0, 2.0, 1.0, 0.0])  # feature 0 is the restored background: never ranked
    assert not ranking.update(100, w) and ranking.top == {1, 2}
    assert not ranking.update(150, w) and ranking.stable_for(150) == 50
    assert not ranking.update(160, np.array([9.0, 2.0, 3.0, 1.0, 0.0]))  # a swap inside the top 2 is no change
    assert ranking.stable_for(160) == 60
    assert not ranking.update(180, np.array([9.0, 2.0, 1.0, 3.0, 0.0]))  # feature 3 came in: count again
    assert ranking.top == {1, 3} and ranking.stable_for(180) == 0
    assert not ranking.update(279, np.array([9.0, 2.0, 1.0, 3.0, 1.5]))
    assert ranking.update(280, np.array([0.0, 2.9, 0.1, 3.0, 2.7]))  # below the top 2 things may move


def test_channels_last_puts_the_models_layout_back() -> None:
    model = BrightnessNet().eval()
    x = torch.rand(2, 1, 16, 16)
    before = model(x).detach()
    with channels_last(model):
        assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
        inside = model(x.contiguous(memory_format=torch.channels_last)).detach()
    assert model.conv.weight.is_contiguous()
    torch.testing.assert_close(before, inside)
