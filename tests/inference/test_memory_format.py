"""Channels-last memory on the CPU (covidviewer/models/memory_format.py): the store's 2D networks run in it and
answer as in the default layout; 3D networks and other devices keep theirs; a pass that borrows the layout (LIME, the
trainer's evaluation) gives the weights back as they were."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from covidviewer.models.memory_format import channels_last_on_cpu, for_device
from covidviewer.inference.store import ModelStore
from covidviewer.models.weights import load_trained_model

CPU = torch.device("cpu")


def _channels_last(model: nn.Module) -> bool:
    """Every 4D weight is laid out channels-last, and some are not also contiguous (a 1x1 or one-channel weight is
    both)."""
    weights = [p for p in model.parameters() if p.dim() == 4]
    return (bool(weights) and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
            and not all(p.is_contiguous() for p in weights))


def test_a_2d_network_on_the_cpu_is_channels_last() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    assert not _channels_last(net) and _channels_last(for_device(net, CPU))


def test_a_3d_network_or_another_device_keeps_its_layout() -> None:
    volume_net = nn.Sequential(nn.Conv3d(2, 4, 3), nn.Conv3d(4, 4, 3))
    assert all(p.is_contiguous() for p in for_device(volume_net, CPU).parameters())
    net = nn.Conv2d(3, 8, 3)
    assert for_device(net, torch.device("meta")).weight.is_contiguous()


@pytest.mark.parametrize("name", ["dpn92_se", "small_cnn", "dresunet"])
def test_the_stores_network_answers_as_in_the_default_layout(name: str) -> None:
    loaded = ModelStore().get(name, CPU)
    assert _channels_last(loaded.model)
    reference = load_trained_model(name)  # the same weights, default layout
    pp = loaded.spec.preprocess
    x = torch.rand(2, pp.channels, *pp.size[-2:], generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        fast, plain = loaded.model(x).softmax(1), reference(x).softmax(1)
    assert torch.allclose(fast, plain, atol=1e-5)


def test_a_pass_on_the_cpu_borrows_the_layout_and_gives_it_back() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    with channels_last_on_cpu(net, CPU):
        assert _channels_last(net)
    assert all(p.is_contiguous() for p in net.parameters())  # an export after an evaluation saves plain tensors
    volume_net = nn.Conv3d(2, 4, 3)
    with channels_last_on_cpu(volume_net, CPU):  # a 3D network: nothing to borrow
        assert volume_net.weight.is_contiguous()
