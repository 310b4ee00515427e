"""The mirror check in the predictor: a film the check finds mirrored is read by the models mirrored back,
and every map, box and lung mask lands on the film as stored; below the bar nothing changes."""
from __future__ import annotations

import numpy as np
import pytest
from square_models import BrightnessNet, square_image, tiny_spec

from covidviewer.explain.base import Explanation
from covidviewer.inference import Predictor, RunOptions
from covidviewer.inference import predictor as predictor_module
from covidviewer.inference.film_hanging import FilmReading, read_back
from covidviewer.inference.film_mirror import MAYBE_MIRRORED_AT, MIRRORED_AT, FilmSide
from covidviewer.inference.gate_verdicts import GateVerdicts
from covidviewer.inference.results import ModelResult
from covidviewer.io import Volume

pytestmark = pytest.mark.usefixtures("no_installed_weights")

BOX = (120, 180, 30, 90)  # rows, then columns 30..89 of a film 200 wide: left of the middle


def _film() -> Volume:
    return Volume(square_image((300, 200), BOX)[None], modality="DX", default_window=(0.5, 1.0), meta={"modality": "DX"})


def _run(monkeypatch: pytest.MonkeyPatch, p_mirrored: float | None):
    predictor = Predictor(device="cpu")
    predictor.store.add(BrightnessNet(), tiny_spec(), "a" * 64)
    side = None if p_mirrored is None else FilmSide(p_mirrored)
    monkeypatch.setattr(GateVerdicts, "film_side", lambda self, volume, digest: side)
    seen = []
    prepare = predictor_module.prepare_model_input

    def spy(volume, *args, **kwargs):
        seen.append(np.asarray(volume.pixels[0]).copy())
        return prepare(volume, *args, **kwargs)

    monkeypatch.setattr(predictor_module, "prepare_model_input", spy)
    film = _film()
    analysis = predictor.analyse(film, "tiny_cxr", RunOptions(method="gradcam"))
    np.testing.assert_array_equal(film.pixels, _film().pixels)  # the loaded film is never changed
    return analysis, seen[0]


def test_a_mirrored_film_is_read_mirrored_back_and_its_map_lies_on_the_film_as_stored(monkeypatch):
    analysis, read = _run(monkeypatch, 0.99)
    np.testing.assert_array_equal(read, _film().pixels[0][:, ::-1])  # the model read it mirrored back
    (result,) = analysis.models
    r0, r1, c0, c1 = BOX
    heat = result.heatmap
    assert heat[r0:r1, c0:c1].mean() > 0.5 and heat[:, 110:].max() == 0.0  # where the square is stored
    assert any("mirror check" in w and "dextrocardia" in w for w in result.warnings)
    hanging = analysis.to_json()["hanging"]
    assert hanging["mirror_check"] == {"p_mirrored": 0.99, "read_mirrored_back": True, "patient_orientation": ""}
    assert (hanging["read_back"], hanging["stored"], hanging["mirrored"]) == (True, "mirrored", True)


@pytest.mark.parametrize("p_mirrored, says", [(None, ""), (0.2, ""), (MAYBE_MIRRORED_AT, "may be stored mirrored"),
                                              (MIRRORED_AT - 0.01, "may be stored mirrored")])
def test_below_the_bar_the_film_is_read_as_stored(monkeypatch, p_mirrored, says):
    analysis, read = _run(monkeypatch, p_mirrored)
    np.testing.assert_array_equal(read, _film().pixels[0])
    (result,) = analysis.models
    notes = [w for w in result.warnings if "mirror check" in w]
    assert (notes and says in notes[0]) if says else not notes
    assert analysis.to_json()["hanging"]["read_back"] is False


def test_mirroring_back_moves_maps_boxes_and_stages_and_leaves_the_cached_result_alone():
    heat = np.zeros((4, 10), dtype=np.float32)
    heat[:, :3] = 1.0
    stage = ModelResult("stage", "ok", explanation=Explanation("gradcam", heat.copy(), 0, analysed_box=(0, 0, 4, 3)))
    result = ModelResult("cascade", "ok", stages=[stage],
                         explanation=Explanation("gradcam", heat.copy(), 0, analysed_box=(1, 2, 3, 5)))
    back = read_back(result, FilmReading(side=FilmSide(0.99)))
    assert back.explanation.analysed_box == (1, 5, 3, 8)
    assert back.explanation.heatmap[:, 7:].min() == 1.0 and back.explanation.heatmap[:, :7].max() == 0.0
    assert back.stages[0].explanation.analysed_box == (0, 7, 4, 10)
    assert len(back.warnings) == 1 and not back.stages[0].warnings  # the note once, on the answer
    assert result.explanation.heatmap[:, :3].min() == 1.0 and not result.warnings  # the original is untouched
    refused = read_back(ModelResult("m", "refused", "not a chest film"), FilmReading(side=FilmSide(0.99)))
    assert not refused.warnings


def test_the_lung_mask_for_the_agreement_numbers_is_made_on_the_film_as_read(monkeypatch):
    predictor = Predictor(device="cpu")
    monkeypatch.setattr(GateVerdicts, "film_side", lambda self, volume, digest: FilmSide(0.99))
    monkeypatch.setattr(type(predictor.store), "availability", lambda self, name: type("A", (), {"available": True})())
    seen = []

    def left_half(volume, digest, device):  # "lung" on the left half of whatever film it is given
        seen.append(np.asarray(volume.pixels[0]).copy())
        mask = np.zeros(volume.shape[1:], dtype=np.float32)
        mask[:, : volume.shape[2] // 2] = 1.0
        return mask

    monkeypatch.setattr(predictor, "cached_lung_mask", left_half)
    mask = predictor.lung_mask(_film())
    np.testing.assert_array_equal(seen[0], _film().pixels[0][:, ::-1])  # the U-Net read the film mirrored back
    assert mask[:, 100:].min() == 1.0 and mask[:, :100].max() == 0.0  # and its mask lies on the film as stored
