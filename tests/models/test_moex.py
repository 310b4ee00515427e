"""MoEx: identity in eval and when not armed; exchanges positional moments when the trainer asks."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from covidviewer.models.layers.moex import MomentExchange, forward_with_moex, moment_exchange, moex_layers, moex_loss
from covidviewer.models.seme import SEMEDenseNet, SEMEResNet


def tiny_seme_resnet() -> SEMEResNet:
    torch.manual_seed(0)
    return SEMEResNet(layers=(1, 1, 1, 1), num_classes=3)


def test_identity_in_eval_even_when_armed() -> None:
    layer = MomentExchange().eval()
    x = torch.randn(4, 8, 5, 5)
    layer.arm(torch.tensor([1, 0, 3, 2]))
    assert layer(x) is x


def test_identity_in_training_unless_armed() -> None:
    layer = MomentExchange().train()
    x = torch.randn(4, 8, 5, 5)
    assert layer(x) is x


def test_armed_forward_takes_the_partner_moments_once() -> None:
    layer = MomentExchange().train()
    x = torch.randn(3, 16, 6, 7) * torch.tensor([1.0, 3.0, 0.5]).view(3, 1, 1, 1) + torch.tensor([0.0, 2.0, -1.0]).view(3, 1, 1, 1)
    perm = torch.tensor([2, 0, 1])
    layer.arm(perm)
    out = layer(x)
    # PONO moments (over channels, per position) of every output sample are its partner's
    torch.testing.assert_close(out.mean(1), x.mean(1)[perm], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.std(1, unbiased=False), x.std(1, unbiased=False)[perm], rtol=1e-3, atol=1e-3)
    assert not layer.armed and layer(x) is x  # one forward only


def test_identity_permutation_changes_nothing() -> None:
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(moment_exchange(x, torch.arange(2)), x, rtol=1e-4, atol=1e-4)


def test_moment_exchange_rejects_a_wrong_permutation() -> None:
    with pytest.raises(ValueError, match="permutation"):
        moment_exchange(torch.randn(2, 4, 3, 3), torch.arange(3))


def test_seme_models_have_moex_after_the_first_conv() -> None:
    resnet = tiny_seme_resnet()
    assert len(moex_layers(resnet)) == 1
    dense = SEMEDenseNet(block_config=(1, 1), growth_rate=4, num_init_features=8)
    names = list(dense.features._modules)
    assert names[:2] == ["conv0", "moex0"]


def test_forward_with_moex_changes_training_output_and_returns_the_permutation() -> None:
    model = tiny_seme_resnet().train()
    x = torch.randn(4, 1, 64, 64)
    perm = torch.tensor([1, 2, 3, 0])
    plain = model(x)
    mixed, used = forward_with_moex(model, x, perm)
    assert torch.equal(used, perm)
    assert not torch.allclose(plain, mixed)
    assert not any(m.armed for m in moex_layers(model))
    again = model(x)  # not armed any more: a plain forward
    torch.testing.assert_close(again, plain)


def test_forward_with_moex_is_refused_in_eval() -> None:
    model = tiny_seme_resnet().eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        before = model(x)
    with pytest.raises(ValueError, match="training"):
        forward_with_moex(model, x)
    with torch.no_grad():
        assert torch.equal(model(x), before)


def test_forward_with_moex_needs_a_moex_layer() -> None:
    with pytest.raises(ValueError, match="no MoEx"):
        forward_with_moex(nn.Linear(3, 2).train(), torch.randn(2, 3))


def test_random_permutation_is_reproducible_with_a_generator() -> None:
    model = tiny_seme_resnet().train()
    x = torch.randn(4, 1, 64, 64)
    _, p1 = forward_with_moex(model, x, generator=torch.Generator().manual_seed(3))
    _, p2 = forward_with_moex(model, x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(p1, p2) and sorted(p1.tolist()) == [0, 1, 2, 3]


def test_moex_loss_mixes_the_two_labels() -> None:
    logits = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 1])
    perm = torch.tensor([3, 2, 1, 0])
    want = 0.9 * F.cross_entropy(logits, y) + 0.1 * F.cross_entropy(logits, y[perm])
    torch.testing.assert_close(moex_loss(F.cross_entropy, logits, y, perm, 0.9), want)
    torch.testing.assert_close(moex_loss(F.cross_entropy, logits, y, perm, 1.0), F.cross_entropy(logits, y))
