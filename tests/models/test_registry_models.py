"""Every registered model at a tiny input: shapes, finiteness, determinism, CAM layers, weights round trip,
and gradients to every parameter. C2's and C1's models alike: the list comes from the registry.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from model_inputs import expected_output_shape, make_inputs, small_input_shape
from torch import nn

from covidviewer.models import get_spec
from covidviewer.models.weights import (
    WEIGHTS_ENV,
    WeightsError,
    load_trained_model,
    load_weights,
    read_sidecar,
    save_weights,
    weights_status,
)

# Parameters that a model's forward(*inputs) legitimately never uses, with the reason.
GRAD_EXCEPTIONS = {
    # The lung mask is computed before forward (CascadeSEMEnet.prepare) and enters stage 2 as part of
    # its input image, so the segmenter is not on the differentiable path of the cascade's output.
    "cascade_semenet": ("segmenter.",),
}
SHARD_LIMIT = 15 * 2**20


def _forward_capturing(model: nn.Module, name: str, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, object]]:
    captured: dict[str, object] = {}
    hooks = [
        model.get_submodule(path).register_forward_hook(lambda _m, _i, out, path=path: captured.__setitem__(path, out))
        for path in get_spec(name).explain.cam_layers
    ]
    try:
        with torch.no_grad():
            out = model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return out, captured


def test_forward_shape_finite_and_cam_layers(model_name: str, small_model: nn.Module) -> None:
    inputs = make_inputs(model_name, batch=1)
    out, captured = _forward_capturing(small_model, model_name, inputs)
    assert tuple(out.shape) == expected_output_shape(model_name, 1)
    assert torch.isfinite(out).all()
    spatial_rank = len(small_input_shape(model_name)) - 1
    for path in get_spec(model_name).explain.cam_layers:
        act = captured.get(path)
        # CAM needs one (B, C, *spatial) tensor from the layer, not a tuple of paths
        assert isinstance(act, torch.Tensor), f"{path} gave {type(act).__name__}"
        assert act.ndim == 2 + spatial_rank and torch.isfinite(act).all()
    again, _ = _forward_capturing(small_model, model_name, inputs)
    assert torch.equal(out, again), "eval forward is not deterministic"


def test_save_load_round_trip(
    model_name: str, small_model: nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fp16 (the shipping format): loaded == reference rounded to fp16, bit for bit, every tensor.

    A composite goes the way the app loads it: each part saved into its own folder of a weights
    root, then ``load_trained_model``. fp32 mode is bit-exact through the same code
    (test_weights.py); doing both for every model would double the slowest test of the suite.
    """
    spec = get_spec(model_name)
    reference = copy.deepcopy(small_model.state_dict())
    parts = spec.parts
    saved = {attr: tmp_path / get_spec(part).weights for attr, part in parts.items()} or {"": tmp_path / "set"}
    for attr, folder in saved.items():
        part = small_model.get_submodule(attr) if attr else small_model
        save_weights(part, get_spec(parts[attr]) if attr else spec, folder, training={"test": True}, metrics={})
    if parts:
        monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
        assert weights_status(model_name) == "trained"
        loaded = load_trained_model(model_name).state_dict()
    else:
        _scramble(small_model)
        load_weights(small_model, saved[""])
        loaded = small_model.state_dict()
    for key, want in reference.items():
        got = loaded[key]
        assert got.dtype == want.dtype, key
        if want.is_floating_point():
            want = want.to(torch.float16).to(want.dtype)
        assert torch.equal(got, want), key
    for folder in saved.values():
        assert all(info["bytes"] <= SHARD_LIMIT for info in read_sidecar(folder)["shards"].values())
    # a flipped byte is refused (first shard: loading checks shards in order)
    folder = next(iter(saved.values()))
    victim = folder / sorted(read_sidecar(folder)["shards"])[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="SHA-256"):
        if parts:
            load_trained_model(model_name)
        else:
            load_weights(small_model, folder)


def _scramble(model: nn.Module) -> None:
    """Make every tensor differ from the saved values so a load that skips one is caught."""
    with torch.no_grad():
        for t in model.state_dict().values():
            t.add_(1)


def test_backward_reaches_every_parameter(model_name: str, small_model: nn.Module) -> None:
    inputs = make_inputs(model_name, batch=2)
    small_model.train()
    try:
        out = small_model(*inputs)
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
        (out * weights).sum().backward()
        exempt = GRAD_EXCEPTIONS.get(model_name, ())
        missing = [n for n, p in small_model.named_parameters() if p.grad is None and not n.startswith(exempt)]
        assert not missing, f"no gradient for {missing[:5]}"
    finally:
        small_model.zero_grad(set_to_none=True)
        small_model.eval()
