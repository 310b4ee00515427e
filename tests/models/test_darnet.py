"""DARNet: Table III parameter counts, attention flags, depth-attention read-out, CAM."""
from __future__ import annotations

import pytest
import torch

from covidviewer.models import create_model, get_spec
from covidviewer.models.darnet import DARNet, class_activation_map
from covidviewer.models.layers.attention import DepthAttention
from covidviewer.models.layers.se import SqueezeExcite

# Shi et al. 2021, Table III (millions of parameters).
PAPER_PARAMS_M = {"darnet": 35.24, "darnet_no_ca": 35.15, "darnet_no_da": 33.24, "darnet_plain": 33.15}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(PAPER_PARAMS_M))
def test_parameter_count_matches_paper(name: str) -> None:
    with torch.device("meta"):  # real shapes, no 140 MB of weights to initialise
        model = create_model(name)
    millions = n_params(model) / 1e6
    assert abs(millions - PAPER_PARAMS_M[name]) / PAPER_PARAMS_M[name] < 0.01, millions
    assert round(millions, 2) == PAPER_PARAMS_M[name]  # our derivation reproduces the table exactly


@pytest.mark.parametrize(
    ("kwargs", "n_ca", "n_da"),
    [({}, 8, 8), ({"channel_attention": False}, 0, 8), ({"depth_attention": False}, 8, 0),
     ({"channel_attention": False, "depth_attention": False}, 0, 0)],
)
def test_attention_flags_change_structure(kwargs: dict, n_ca: int, n_da: int) -> None:
    model = DARNet(input_depth=16, widths=(8, 16, 32, 64), **kwargs)
    assert sum(isinstance(m, SqueezeExcite) for m in model.modules()) == n_ca
    assert sum(isinstance(m, DepthAttention) for m in model.modules()) == n_da


def test_tiny_forward_shapes_and_depth_attention_readout() -> None:
    torch.manual_seed(0)
    model = DARNet(input_depth=16, widths=(8, 16, 32, 64)).eval()
    x = torch.randn(2, 1, 16, 32, 32)
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model.forward_head(feats)
    # depth /8, height and width /16 at the last stage
    assert feats.shape == (2, 64, 2, 2, 2)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    gate = model.last_depth_attention
    assert gate is not None and gate.shape == (2, 64, 2) and not gate.requires_grad
    assert ((gate > 0) & (gate < 1)).all()
    maps = model.depth_attention_maps()
    assert [v.shape[-1] for v in maps.values()] == [16, 16, 8, 8, 4, 4, 2, 2]


def test_no_depth_attention_reports_none() -> None:
    model = DARNet(input_depth=16, widths=(8, 16, 32, 64), depth_attention=False).eval()
    with torch.no_grad():
        model(torch.randn(1, 1, 16, 32, 32))
    assert model.last_depth_attention is None and model.depth_attention_maps() == {}


def test_depth_attention_scales_each_channel_depth_map() -> None:
    da = DepthAttention(channels=2, depth=3)
    x = torch.randn(1, 2, 3, 4, 4)
    y = da(x)
    assert torch.allclose(y, x * da.last_weights[..., None, None])
    with pytest.raises(ValueError, match="depth"):
        da(torch.randn(1, 2, 5, 4, 4))


def test_wrong_input_depth_is_refused_with_a_clear_message() -> None:
    model = DARNet(input_depth=16, widths=(8, 16, 32, 64))
    with pytest.raises(ValueError, match="16"):
        model(torch.randn(1, 1, 24, 32, 32))


def test_class_activation_map_averages_to_the_logit() -> None:
    """For a GAP + linear head, mean(CAM_k) + bias_k is exactly logit_k."""
    model = DARNet(input_depth=16, widths=(8, 16, 32, 64)).eval()
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 1, 16, 32, 32))
        logits = model.forward_head(feats)
        for k in range(3):
            cam = class_activation_map(feats, model.head.fc.weight, k)
            assert cam.shape == (1, 2, 2, 2)
            assert torch.allclose(cam.mean() + model.head.fc.bias[k], logits[0, k], atol=1e-5)


def test_spec_points_at_existing_layers() -> None:
    spec = get_spec("darnet")
    assert spec.preprocess.size == (64, 224, 224) and spec.classes[0] == "COVID-19"
    model = DARNet(input_depth=16, widths=(8, 16, 32, 64))
    for path in spec.explain.cam_layers + (spec.explain.classifier,):
        model.get_submodule(path)
