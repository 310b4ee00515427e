"""The image-kind model: registered as the gate's helper (never offered as a COVID-19 classifier),
small, and shaped like the other model files (forward_features / forward_head)."""
from __future__ import annotations

import pytest
import torch

from covidviewer.inference.gate import EXPECTED_KIND, IMAGE_KIND_MODEL, OTHER_KIND
from covidviewer.models import create_model, get_spec, list_models
from covidviewer.models.image_kind import IMAGE_KINDS


def test_registered_as_a_four_class_helper_for_any_2d_image() -> None:
    assert IMAGE_KIND_MODEL in list_models()
    spec = get_spec(IMAGE_KIND_MODEL)
    assert spec.classes == IMAGE_KINDS and len(spec.classes) == 4
    assert spec.modality == "ANY_2D" and spec.preprocess.channels == 1
    assert spec.preprocess.size == (128, 128) and spec.preprocess.fit == "pad"
    # the gate's vocabulary is the model's
    assert set(EXPECTED_KIND.values()) | {OTHER_KIND} <= set(spec.classes)


@pytest.mark.parametrize(
    "kwargs, shape, features, logits",
    [
        [{}, (2, 1, 128, 128), (2, 128, 8, 8), (2, 4)],
        [{}, (1, 1, 96, 96), (1, 128, 6, 6), (1, 4)],
        [{"widths": (8, 16, 32)}, (1, 1, 64, 64), (1, 32, 8, 8), (1, 4)],
    ],
)
def test_shapes(kwargs: dict, shape: tuple[int, ...], features: tuple[int, ...], logits: tuple[int, ...]) -> None:
    model = create_model(IMAGE_KIND_MODEL, **kwargs).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        f = model.forward_features(x)
        assert tuple(f.shape) == features
        assert tuple(model.forward_head(f).shape) == logits
        assert tuple(model.forward_head(f, pre_logits=True).shape) == (shape[0], features[1])
        assert torch.allclose(model(x), model.forward_head(f))


def test_small() -> None:
    model = create_model(IMAGE_KIND_MODEL)
    assert 0.1e6 < sum(p.numel() for p in model.parameters()) < 0.3e6


def test_never_offered_as_a_covid_classifier(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from covidviewer.inference import Predictor
    from covidviewer.models.weights import WEIGHTS_ENV

    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    predictor = Predictor(device="cpu")
    assert IMAGE_KIND_MODEL not in predictor.classifier_names()
    assert "lung_unet" not in predictor.classifier_names()
    import numpy as np

    from covidviewer.io import Volume

    volume = Volume(np.zeros((1, 96, 96), np.float32), meta={"format": "image"})
    result = predictor.analyse(volume, IMAGE_KIND_MODEL).models[0]
    assert result.status == "error" and "not a COVID-19 classifier" in result.reason
