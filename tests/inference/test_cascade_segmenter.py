"""Each segmenter keeps its own lung mask of an image: a cascade given another lung U-Net (``CascadeSEMEnet(segmenter=
...)``, or a future part of its own) never reads the shared U-Net's mask of the same film, nor the other way round."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

import covidviewer.inference.predictor as predictor_module
from covidviewer.inference.predictor import SEGMENTER, Predictor
from covidviewer.models import get_spec


def _segmenter(name: str) -> SimpleNamespace:
    return SimpleNamespace(spec=replace(get_spec(SEGMENTER), name=name))


def test_each_segmenter_keeps_its_own_mask_of_an_image(monkeypatch: pytest.MonkeyPatch) -> None:
    found: list[str] = []

    def mask_of(segmenter, volume):  # type: ignore[no-untyped-def]
        found.append(segmenter.spec.name)
        return np.full((2, 2), float(len(found)), np.float32)

    monkeypatch.setattr(predictor_module, "compute_lung_mask", mask_of)
    predictor = Predictor(device="cpu")
    shared = predictor.cached_lung_mask(None, "film", predictor.device, _segmenter(SEGMENTER))  # type: ignore[arg-type]
    own = predictor.cached_lung_mask(None, "film", predictor.device, _segmenter("style_unet"))  # type: ignore[arg-type]
    assert found == [SEGMENTER, "style_unet"] and not np.array_equal(shared, own)
    assert predictor.cached_lung_mask(None, "film", predictor.device, _segmenter("style_unet")) is own  # type: ignore[arg-type]
    assert len(found) == 2  # each computed once
    assert predictor._shown_lung_mask("film") is shared  # the view shows the shared U-Net's lungs


def test_the_view_shows_the_only_lungs_found_when_the_shared_unet_did_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(predictor_module, "compute_lung_mask", lambda segmenter, volume: np.ones((2, 2), np.float32))
    predictor = Predictor(device="cpu")
    own = predictor.cached_lung_mask(None, "film", predictor.device, _segmenter("style_unet"))  # type: ignore[arg-type]
    assert predictor._shown_lung_mask("film") is own and predictor._shown_lung_mask("other film") is None
