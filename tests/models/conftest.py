"""Fixtures for registry-driven model tests: every registered model, built once per test module.

The helpers (``small_input_shape``, ``make_inputs``, ...) live in model_inputs.py, a uniquely named
module, because several test folders have a ``conftest`` and importing one by name is ambiguous.
"""
from __future__ import annotations

import pytest
import torch
from model_inputs import build_small, expected_output_shape, make_inputs, small_input_shape, small_model_kwargs

from covidviewer.models import list_models

__all__ = ["build_small", "expected_output_shape", "make_inputs", "small_input_shape", "small_model_kwargs"]


@pytest.fixture(scope="module", params=list_models())
def model_name(request: pytest.FixtureRequest) -> str:
    """Every registered model; module scope so pytest groups the tests of one model together."""
    return request.param


@pytest.fixture(scope="module")
def small_model(model_name: str) -> torch.nn.Module:
    """The model built once per module for its small input, in eval mode."""
    return build_small(model_name).eval()
