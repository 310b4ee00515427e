"""Cascade-SEMEnet: probabilities multiply through the stages; run() uses the shared preprocessing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from covidviewer.imaging.preprocess import prepare_image
from covidviewer.imaging.window_presets import film_reading_window
from covidviewer.models import get_spec
from covidviewer.models.cascade import CLASSES, PARTS, CascadeSEMEnet, cascade_log_probs, hard_cascade_label
from covidviewer.models.seme import SEMEDenseNet, SEMEResNet
from covidviewer.models.unet import UNet, lung_mask
from covidviewer.models.weights import WEIGHTS_ENV, WeightsError, load_trained_model, save_weights, weights_status


def test_probabilities_multiply_through_the_cascade() -> None:
    g = torch.Generator().manual_seed(0)
    l1, l2 = torch.randn(5, 3, generator=g) * 3, torch.randn(5, 2, generator=g) * 3
    p = cascade_log_probs(l1, l2).exp()
    p1, p2 = F.softmax(l1, 1), F.softmax(l2, 1)
    torch.testing.assert_close(p.sum(1), torch.ones(5))
    torch.testing.assert_close(p[:, 0], p1[:, 0])  # normal
    torch.testing.assert_close(p[:, 1], p1[:, 1])  # bacterial
    torch.testing.assert_close(p[:, 2], p1[:, 2] * p2[:, 1])  # viral non-COVID
    torch.testing.assert_close(p[:, 3], p1[:, 2] * p2[:, 0])  # COVID-19 = p(viral) p(COVID | viral)
    assert CLASSES == ("normal", "bacterial pneumonia", "viral pneumonia (non-COVID)", "COVID-19")


@pytest.mark.parametrize(
    ("p1", "p2", "label"),
    [
        ([0.6, 0.3, 0.1], [0.9, 0.1], "normal"),
        ([0.2, 0.5, 0.3], [0.9, 0.1], "bacterial pneumonia"),
        ([0.35, 0.2, 0.45], [0.6, 0.4], "COVID-19"),  # product says normal; the paper's rule says COVID-19
        ([0.1, 0.1, 0.8], [0.3, 0.7], "viral pneumonia (non-COVID)"),
    ],
)
def test_hard_rule_follows_stage_one_then_stage_two(p1: list[float], p2: list[float], label: str) -> None:
    assert hard_cascade_label(np.array(p1), np.array(p2)) == label


def test_cam_layers_are_the_stages_own() -> None:
    spec = get_spec("cascade_semenet")
    assert spec.explain.cam_layers == (
        "stage1." + get_spec(PARTS["stage1"]).explain.cam_layers[0],
        "stage2." + get_spec(PARTS["stage2"]).explain.cam_layers[0],
    )


def tiny_cascade() -> CascadeSEMEnet:
    """The real composite around tiny parts that carry the real parts' specs (so real preprocessing)."""
    torch.manual_seed(0)
    stage1 = SEMEResNet(layers=(1, 1, 1, 1))
    segmenter = UNet(base_channels=4)
    stage2 = SEMEDenseNet(block_config=(1, 1), growth_rate=4, num_init_features=8)
    for part, name in ((stage1, PARTS["stage1"]), (segmenter, PARTS["segmenter"]), (stage2, PARTS["stage2"])):
        part.spec = get_spec(name)
    return CascadeSEMEnet(stage1, segmenter, stage2)


def test_run_feeds_each_stage_its_own_preprocessing() -> None:
    model = tiny_cascade().train()
    rng = np.random.default_rng(0)
    pixels = (rng.random((300, 240)) * 4000).astype(np.float32)
    window = (2000.0, 4000.0)
    run = model.run(pixels, window)
    assert model.training, "run() must restore the caller's mode"
    model.eval()
    lung = lung_mask(model.segmenter, pixels, window)
    np.testing.assert_array_equal(run.lung_mask, lung)
    read = film_reading_window(pixels, window)  # a film of 4,000 grey levels: its own range, as the app reads it
    assert read != window
    x1, g1 = prepare_image(pixels, get_spec("seme_resnet50").preprocess, read)
    x2, g2 = prepare_image(pixels, get_spec("seme_densenet169").preprocess, read, lung_mask=lung, mask_image=True)
    np.testing.assert_array_equal(run.stage1.input[0].numpy(), x1)
    np.testing.assert_array_equal(run.stage2.input[0].numpy(), x2)
    assert run.stage1.grid == g1 and run.stage2.grid == g2
    assert run.stage1.input.shape == (1, 1, 512, 512) and not run.stage1.input.requires_grad
    with torch.no_grad():
        want = model(run.stage1.input, run.stage2.input).exp()[0].numpy()
    np.testing.assert_allclose(run.probabilities, want, rtol=1e-5, atol=1e-7)
    assert run.probabilities.shape == (4,) and abs(run.probabilities.sum() - 1) < 1e-5
    assert run.cascade_label == hard_cascade_label(run.stage1.probabilities, run.stage2.probabilities)


def test_composite_is_trained_only_when_every_part_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert weights_status("cascade_semenet") == "missing"
    torch.manual_seed(0)
    unet = UNet(base_channels=32)
    unet.spec = get_spec("lung_unet")
    save_weights(unet, unet.spec, tmp_path / "lung_unet", training={}, metrics={})
    assert weights_status("lung_unet") == "trained"
    assert weights_status("cascade_semenet") == "missing"  # the two classifiers are not installed
    with pytest.raises(WeightsError, match=r"no trained weights for seme_resnet50 \(part of cascade_semenet\).*trainer fit seme_resnet50"):
        load_trained_model("cascade_semenet")
