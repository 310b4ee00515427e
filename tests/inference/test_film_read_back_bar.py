"""How sure the image-kind model must be of a frontal film before a film "other" as stored is read turned or inverted
back: session 49 found a star field and a dark-mode dialog box at 0.92 and 0.94 once inverted, read back as films and
called COVID-19; of 1,651 real frontal films, upright, 9 score between 0.9 and 0.95 (stored turned, now refused)."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.inference import gate_verdicts
from covidviewer.inference.film_hanging import TURNED_AT
from covidviewer.inference.gate import FRONTAL, OTHER_KIND, ImageKind
from covidviewer.inference.gate_verdicts import GateVerdicts
from covidviewer.io import Volume


@pytest.mark.parametrize("p_frontal, read_back", [(0.92, False), (0.94, False), (TURNED_AT, True), (0.99, True)])
def test_a_film_is_read_back_only_where_the_image_kind_model_is_sure_of_it(monkeypatch, p_frontal: float, read_back: bool) -> None:
    def verdict(model, spec, volume, index=0, x=None):  # noqa: ANN001  every way of reading it scores p_frontal
        return ImageKind(FRONTAL, p_frontal, {FRONTAL: p_frontal, OTHER_KIND: 1.0 - p_frontal})

    monkeypatch.setattr(gate_verdicts, "classify_image_kind", verdict)
    monkeypatch.setattr(GateVerdicts, "_loaded", lambda self, model: type("Loaded", (), {"model": None, "spec": None})())
    stars = Volume(np.random.default_rng(0).integers(0, 255, (1, 96, 96)).astype(np.float32), default_window=(127.5, 255.0))
    as_stored = ImageKind(OTHER_KIND, 1.0, {OTHER_KIND: 1.0})
    turned = GateVerdicts(store=None)._turned(stars, as_stored)
    assert (turned is not None) is read_back
    if read_back:
        assert turned.p_read_back == p_frontal
