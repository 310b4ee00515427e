"""LIME determinism and lung restriction, progress + cancellation, CAM's head check, agreement metrics."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from square_models import BrightnessNet
from torch import nn

from covidviewer.explain import (
    METHODS,
    ExplainError,
    create_explainer,
    explainer_class,
    lung_attention_share,
    top_region,
    top_region_iou,
)
from covidviewer.io.cancel import Cancelled, CancelToken
from covidviewer.explain.lime_explainer import LimeSettings, segment_superpixels


def _lime(spec, seed: int = 0, **kw):
    settings = LimeSettings(samples=120, batch=40, segments=48, seed=seed, **kw)
    return create_explainer("lime", BrightnessNet().eval(), spec, settings=settings)


def test_every_method_is_registered_and_returns_unit_float_map_of_original_shape(square_input) -> None:
    model_input, spec = square_input
    model = BrightnessNet().eval()
    for method in METHODS:
        options = {"settings": LimeSettings(samples=60, batch=30)} if method == "lime" else {}
        with create_explainer(method, model, spec, **options) as explainer:
            heat = explainer.explain(model_input).heatmap
        assert heat.shape == (300, 200) and heat.dtype == np.float32, method
        assert float(heat.min()) >= 0.0 and float(heat.max()) == pytest.approx(1.0), method


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_is_a_subclass_overriding_one_step(method: str) -> None:
    """grad-cam's style: one template per family; a method overrides one step (``_cam`` for the
    grad-cam family, ``_model_grid_map`` for CAM and LIME) and never the template itself."""
    from covidviewer.explain.base import Explainer
    from covidviewer.explain.gradcam import GradCamFamilyExplainer

    cls = explainer_class(method)
    assert cls.method == method and "explain" not in vars(cls)
    if issubclass(cls, GradCamFamilyExplainer):
        assert "_cam" in vars(cls) and "_model_grid_map" not in vars(cls)
    else:
        assert cls.__bases__ == (Explainer,) and "_model_grid_map" in vars(cls)


def test_unknown_method_is_a_clear_error(square_input) -> None:
    _, spec = square_input
    with pytest.raises(ValueError, match="unknown explanation method 'nope'"):
        create_explainer("nope", BrightnessNet(), spec)


def test_lime_is_deterministic_for_a_fixed_seed(square_input) -> None:
    model_input, spec = square_input
    with _lime(spec, seed=7) as a, _lime(spec, seed=7) as b:
        first, second = a.explain(model_input).heatmap, b.explain(model_input).heatmap
    np.testing.assert_array_equal(first, second)
    # and the seed matters (different perturbation samples -> a different surrogate fit)
    with _lime(spec, seed=8) as c:
        assert not np.array_equal(first, c.explain(model_input).heatmap)


def test_lime_reports_progress_and_cancels_between_batches(square_input) -> None:
    model_input, spec = square_input
    calls: list[tuple[int, int]] = []
    token = CancelToken()

    def progress(done: int, total: int, message: str) -> None:
        calls.append((done, total))
        if done >= 80:  # the user presses Cancel mid-run
            token.cancel()

    with _lime(spec) as explainer, pytest.raises(Cancelled):
        explainer.explain(model_input, progress=progress, cancelled=token)
    assert calls == [(40, 120), (80, 120)]  # the third batch never ran


def test_scorecam_reports_progress_and_cancels(square_input) -> None:
    model_input, spec = square_input
    seen: list[int] = []
    with create_explainer("scorecam", BrightnessNet().eval(), spec) as explainer:
        explainer.batch_size = 1
        explainer.explain(model_input, progress=lambda d, t, m: seen.append(d))
        assert seen == [1, 2, 3, 4]  # four channels, one per batch
        with pytest.raises(Cancelled):
            explainer.explain(model_input, progress=lambda d, t, m: None, cancelled=lambda: len(seen) > 4 or bool(seen.append(0)))


def test_cancel_before_start_raises_immediately(square_input) -> None:
    model_input, spec = square_input
    with create_explainer("gradcam", BrightnessNet().eval(), spec) as explainer, pytest.raises(Cancelled):
        explainer.explain(model_input, cancelled=lambda: True)


def test_superpixels_restricted_to_lungs() -> None:
    unit = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[10:40, 8:30] = 1.0
    for method in ("slic", "grid"):
        labels = segment_superpixels(unit, method, 16, mask)
        assert (labels[mask == 0] == 0).all() and (labels[mask == 1] > 0).all()
        assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))  # contiguous for lime
    np.testing.assert_array_equal(segment_superpixels(unit, "slic", 16), segment_superpixels(unit, "slic", 16))


def test_lime_restricted_to_lungs_puts_no_attention_outside(square_input) -> None:
    model_input, spec = square_input
    lungs = np.zeros(spec.preprocess.size, np.float32)
    lungs[:, :40] = 1.0  # the left part of the model grid, which holds the square
    model_input.lung_mask = lungs
    with _lime(spec, restrict_to_lungs=True) as explainer:
        result = explainer.explain(model_input)
    on_model = model_input.grid.to_original(lungs)
    assert result.heatmap[on_model == 0].max() == 0.0 and (on_model == 0).mean() > 0.3
    assert result.heatmap.max() == 1.0
    model_input.lung_mask = None
    with _lime(spec, restrict_to_lungs=True) as explainer, pytest.raises(ExplainError, match="lung mask"):
        explainer.explain(model_input)


class MLPHead(nn.Module):
    """Conv features -> GAP -> two linear layers: CAM's decomposition does not hold."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 2, stride=2), nn.ReLU())
        self.fc1, self.fc = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.fc1(self.features(x).mean((2, 3)))))


def test_cam_refuses_a_head_that_is_not_gap_plus_linear(square_input) -> None:
    model_input, spec = square_input
    torch.manual_seed(0)
    with create_explainer("cam", MLPHead().eval(), spec) as explainer, pytest.raises(ExplainError, match="use gradcam"):
        explainer.explain(model_input)
    with create_explainer("gradcam", MLPHead().eval(), spec) as explainer:
        assert explainer.explain(model_input).heatmap.shape == (300, 200)


def test_missing_cam_layer_is_a_clear_error(square_input) -> None:
    model_input, spec = square_input
    with create_explainer("gradcam", BrightnessNet().eval(), spec, layers=("nope",)) as explainer:
        with pytest.raises(ExplainError, match="CAM layer not found"):
            explainer.explain(model_input)


def test_lung_attention_share() -> None:
    heat = np.zeros((10, 10), np.float32)
    heat[2:4, 2:4] = 1.0
    heat[8, 8] = 1.0  # one of five units outside
    lungs = np.zeros((10, 10), np.float32)
    lungs[:5, :5] = 1.0
    assert lung_attention_share(heat, lungs) == pytest.approx(0.8)
    assert lung_attention_share(np.zeros((10, 10)), lungs) is None
    with pytest.raises(ValueError, match="share a grid"):
        lung_attention_share(heat, lungs[:5])


def test_top_region_iou() -> None:
    a = np.arange(100, dtype=np.float32).reshape(10, 10)
    assert top_region(a).sum() == 20 and top_region(a)[-2:].all()
    assert top_region_iou(a, a) == 1.0
    assert top_region_iou(a, a[::-1]) == 0.0  # top rows vs bottom rows
    b = np.roll(a, -1, axis=0)  # top-20% of b = rows 7..8: overlaps one of a's two rows
    assert top_region_iou(a, b) == pytest.approx(10 / 30)
    volume = np.random.default_rng(1).random((4, 8, 8))
    assert top_region_iou(volume, volume) == 1.0
