"""Guided-attention VGG-16: the lung mask gates the features; the GAIN attention-mining loss."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from covidviewer.models import create_model, get_spec
from covidviewer.models.vgg_ga import (
    erase_attended,
    gain_forward,
    gradcam_attention,
    guided_attention_loss,
    soft_mask,
)


@pytest.fixture(scope="module")
def vgg() -> nn.Module:
    torch.manual_seed(0)
    return create_model("vgg16_ga").eval()


def test_zero_mask_makes_scores_independent_of_the_image(vgg: nn.Module) -> None:
    zero = torch.zeros(2, 1, 64, 64)
    with torch.no_grad():
        a = vgg(torch.randn(2, 3, 64, 64), zero)
        b = vgg(torch.randn(2, 3, 64, 64) * 3, zero)
        c = vgg(torch.randn(2, 3, 64, 64), torch.ones(2, 1, 64, 64))
    assert a.shape == (2, 3)
    assert torch.allclose(a, b)
    assert not torch.allclose(a, c)


def test_mask_multiplies_the_feature_grid(vgg: nn.Module) -> None:
    x = torch.randn(1, 3, 64, 64)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :, :32] = 1.0  # left half lung
    with torch.no_grad():
        raw = vgg.features(x)
        gated = vgg.forward_features(x, mask)
        assert torch.equal(vgg.forward_features(x, None), raw)
        assert torch.allclose(vgg(x), vgg(x, torch.ones(1, 1, 64, 64)))
    assert raw.shape == (1, 512, 2, 2)
    assert torch.equal(gated[..., 0], raw[..., 0]) and not gated[..., 1].any()


def test_bad_mask_shape_is_refused(vgg: nn.Module) -> None:
    with pytest.raises(ValueError, match="lung mask"):
        vgg(torch.randn(2, 3, 64, 64), torch.ones(3, 1, 64, 64))


def test_spec_wants_the_mask_on_features_not_the_image() -> None:
    spec = get_spec("vgg16_ga")
    assert spec.lung_mask == "forward_arg" and spec.needs_lung_mask
    assert spec.preprocess.size == (224, 224) and spec.preprocess.channels == 3
    assert spec.classes == ("normal", "pneumonia", "COVID-19")


def test_gain_loss_is_finite_and_trains_every_parameter() -> None:
    torch.manual_seed(0)
    model = create_model("vgg16_ga").train()
    x, y = torch.randn(2, 3, 64, 64), torch.tensor([0, 2])
    out = gain_forward(model, x, y, torch.ones(2, 1, 64, 64))
    loss = guided_attention_loss(out.logits, y, out.am_scores, alpha=1.0)
    assert torch.isfinite(loss)
    assert out.attention.shape == (2, 1, 2, 2) and out.masked_images.shape == x.shape
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_gain_forward_works_in_a_no_grad_validation_loop(vgg: nn.Module) -> None:
    with torch.no_grad():
        out = gain_forward(vgg, torch.randn(1, 3, 64, 64), torch.tensor([1]))
    assert not out.am_scores.requires_grad and 0 <= out.am_scores.item() <= 1


class BrightSpotDetector(nn.Module):
    """Toy classifier: class 1 ("disease") logit = total brightness of 4x4-pooled features."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward_features(self, x: torch.Tensor, lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        return F.avg_pool2d(x, 4)

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        s = self.scale * f.flatten(1).sum(1) - 4.0
        return torch.stack([torch.zeros_like(s), s], dim=1)

    def forward(self, x: torch.Tensor, lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def test_attention_mining_score_is_low_only_when_attention_covers_the_evidence() -> None:
    """GAIN: erase what Grad-CAM attends; if that was the evidence, the class score collapses."""
    detector = BrightSpotDetector()
    image = torch.zeros(1, 1, 32, 32)
    image[..., 4:12, 20:28] = 1.0  # the evidence: a bright patch top-right
    target = torch.tensor([1])
    out = gain_forward(detector, image, target)  # type: ignore[arg-type]
    peak = divmod(int(out.attention.flatten().argmax()), 8)
    assert 1 <= peak[0] <= 2 and 5 <= peak[1] <= 6  # Grad-CAM found the patch (8x8 feature grid)

    elsewhere = torch.zeros(1, 1, 8, 8)
    elsewhere[..., 5:8, 0:3] = 1.0  # attention on an empty bottom-left corner
    missed = erase_attended(image, elsewhere)
    with torch.no_grad():
        p_original = detector(image).softmax(1)[0, 1]
        p_missed = detector(missed).softmax(1)[0, 1]
    assert out.am_scores.item() < 0.1 < p_original.item()
    assert p_missed.item() > 0.9  # evidence left in the image: L_am stays large
    assert guided_attention_loss(out.logits, target, out.am_scores, 1.0) < guided_attention_loss(
        out.logits, target, p_missed.view(1), 1.0
    )


def test_gradcam_attention_is_scaled_to_unit_range_and_differentiable() -> None:
    f = torch.rand(2, 4, 3, 3, requires_grad=True)
    scores = (f * torch.arange(4.0).view(1, 4, 1, 1)).sum(dim=(1, 2, 3))
    a = gradcam_attention(f, scores)
    assert a.shape == (2, 1, 3, 3) and a.min() >= 0 and torch.isclose(a.max(), torch.tensor(1.0))
    a.sum().backward()
    assert f.grad is not None and torch.isfinite(f.grad).all()
    assert soft_mask(torch.tensor(1.0)) > 0.99 and soft_mask(torch.tensor(0.0)) < 0.01
