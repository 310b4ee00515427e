"""Explain test set-up: the square-evidence radiograph as a model input (tests/explain/square_models.py)."""
from __future__ import annotations

import pytest
from square_models import square_image, tiny_spec

from covidviewer.explain import ModelInput
from covidviewer.imaging.preprocess import prepare_image

BOX = (120, 180, 30, 90)


@pytest.fixture
def square_input() -> tuple[ModelInput, object]:
    """(ModelInput of a dark 300 x 200 image with one bright rectangle at BOX, its tiny spec)."""
    spec = tiny_spec()
    tensor, grid = prepare_image(square_image((300, 200), BOX), spec.preprocess, (0.5, 1.0))
    return ModelInput(tensor, grid, spec.preprocess), spec
