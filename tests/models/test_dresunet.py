"""DResUNet and its ablations: shapes, flags, deformable offsets, attention blocks."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from covidviewer.models import create_model, get_spec
from covidviewer.models.dresunet import FeaturePyramidRefinement
from covidviewer.models.layers.attention import ECAsE, EfficientChannelAttention, eca_kernel_size
from covidviewer.models.layers.deform import DeformableConv2d

VARIANTS = ("dresunet", "resunet", "resunet_ecsa", "resunet_fprm")


@pytest.mark.parametrize("name", VARIANTS)
def test_forward_gives_one_logit(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 64, 64))
    assert out.shape == (2, 1) and torch.isfinite(out).all()
    spec = get_spec(name)
    assert spec.binary_logit and spec.num_outputs == 1 and spec.classes == ("non-COVID", "COVID-19")
    for path in spec.explain.cam_layers:
        model.get_submodule(path)


def test_odd_input_size_is_padded_in_the_decoder() -> None:
    model = create_model("resunet").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 72, 90)).shape == (1, 1)


@pytest.mark.parametrize(
    ("name", "deform", "ecase", "fprm"),
    [("dresunet", True, True, True), ("resunet", False, False, False),
     ("resunet_ecsa", False, True, False), ("resunet_fprm", False, False, True)],
)
def test_ablation_flags_change_the_modules(name: str, deform: bool, ecase: bool, fprm: bool) -> None:
    kinds = {type(m) for m in create_model(name).modules()}
    assert (DeformableConv2d in kinds) is deform
    assert (ECAsE in kinds) is ecase
    assert (FeaturePyramidRefinement in kinds) is fprm


def test_deformable_offsets_start_at_zero() -> None:
    layers = [m for m in create_model("dresunet").modules() if isinstance(m, DeformableConv2d)]
    assert len(layers) == 5  # x2..x5 first convs + the 1x1 neck
    for m in layers:
        assert not m.offset.weight.any() and not m.offset.bias.any()
        assert m.conv.weight.abs().sum() > 0


def test_zero_offset_deformable_conv_equals_a_plain_conv() -> None:
    torch.manual_seed(0)
    layer = DeformableConv2d(3, 4, kernel_size=3, stride=2)
    x = torch.randn(1, 3, 9, 11)
    expected = F.conv2d(x, layer.conv.weight, stride=2, padding=1)
    assert torch.allclose(layer(x), expected, atol=1e-5)


def test_eca_kernel_follows_the_paper() -> None:
    assert eca_kernel_size(256) == 5 and eca_kernel_size(64) == 3 and eca_kernel_size(512) == 5


@pytest.mark.parametrize(("spatial_dims", "shape"), [(2, (2, 16, 5, 6)), (3, (2, 16, 3, 4, 5))])
def test_ecase_keeps_shape_in_2d_and_3d(spatial_dims: int, shape: tuple[int, ...]) -> None:
    block = ECAsE(16, spatial_dims=spatial_dims)
    x = torch.randn(*shape)
    assert block(x).shape == x.shape


def test_eca_uses_max_pooling_when_asked() -> None:
    """Same channel means, different maxima: only the max+avg gate tells them apart."""
    torch.manual_seed(0)
    with_max, avg_only = EfficientChannelAttention(16, use_max=True), EfficientChannelAttention(16, use_max=False)
    flat = torch.zeros(1, 16, 4, 4)
    peaky = flat.clone()
    peaky[0, ::2, 0, 0], peaky[0, ::2, 1, 1] = 5.0, -5.0
    assert torch.allclose(avg_only.weights(flat), avg_only.weights(peaky))
    assert not torch.allclose(with_max.weights(flat), with_max.weights(peaky))
