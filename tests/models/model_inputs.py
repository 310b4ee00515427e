"""Tiny inputs per registered model for the registry-driven tests (imported by conftest and tests).

Input sizes are chosen here, not from the spec (whose sizes are the papers' 224-512 px, 64-slice
inputs): 64 x 64 for every 2D network, 16 x 32 x 32 for 3D ones (depth-attention models are built
for that depth through ``spec.small_input_depth``).
"""
from __future__ import annotations

import torch

from covidviewer.models import create_model, get_spec

SMALL_2D = 64
SMALL_3D = (16, 32, 32)


def small_input_shape(name: str) -> tuple[int, ...]:
    """(C, H, W) or (C, D, H, W) of one small input image for model ``name`` (per stage for a cascade)."""
    spec = get_spec(name)
    channels = spec.preprocess.channels
    if spec.modality == "CT_VOLUME":
        depth = spec.small_input_depth or SMALL_3D[0]
        return (channels, depth, *SMALL_3D[1:])
    return (channels, SMALL_2D, SMALL_2D)


def small_model_kwargs(name: str) -> dict[str, object]:
    """Builder arguments that fit ``small_input_shape`` (only a fixed-depth 3D model needs any)."""
    spec = get_spec(name)
    if spec.modality == "CT_VOLUME" and spec.small_input_depth:
        return {"input_depth": spec.small_input_depth}
    return {}


def build_small(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model(name, **small_model_kwargs(name))


def make_inputs(name: str, batch: int = 2, seed: int = 1) -> tuple[torch.Tensor, ...]:
    """The positional inputs of ``model(*inputs)``: one image batch, or one per stage for a cascade."""
    g = torch.Generator().manual_seed(seed)
    shape = (batch, *small_input_shape(name))
    n_inputs = len(get_spec(name).inputs)
    return tuple(torch.randn(shape, generator=g) for _ in range(n_inputs))


def expected_output_shape(name: str, batch: int) -> tuple[int, ...]:
    spec = get_spec(name)
    if spec.task == "segmentation":
        return (batch, spec.num_outputs, *small_input_shape(name)[1:])
    return (batch, spec.num_outputs if spec.task != "cascade" else len(spec.classes))
