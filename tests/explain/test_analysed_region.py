"""Which pixels a 2D model saw: ``Explanation.analysed_box`` / ``analysed_region`` for every fit and the
lung crop, and the map is zero outside that box (the viewer outlines it; issue 17.6)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from square_models import BrightnessNet, square_image, tiny_spec

from covidviewer.explain import ModelInput, create_explainer
from covidviewer.explain.base import analysed_box, analysed_region
from covidviewer.imaging.preprocess import Grid2D, Preprocess, prepare_image

PP = Preprocess(kind="cxr", size=(64, 64), lung_crop=True, lung_crop_margin=0.08)


@pytest.mark.parametrize(
    ("original", "size", "fit", "box", "expected", "words"),
    [
        ((320, 256), (64, 64), "crop", None, (32, 0, 288, 256), "centre square"),  # portrait: strips top and bottom
        ((256, 320), (64, 64), "crop", None, (0, 32, 256, 288), "centre square"),  # landscape: both sides
        ((320, 256), (64, 32), "crop", None, (0, 45, 320, 206), "centre crop"),
        ((320, 256), (64, 64), "pad", None, (0, 0, 320, 256), "whole image"),
        ((320, 256), (64, 64), "stretch", None, (0, 0, 320, 256), "whole image"),
        ((256, 256), (64, 64), "crop", None, (0, 0, 256, 256), "whole image"),
        ((1955, 1841), (128, 128), "stretch", (26, 0, 1670, 1815), (26, 0, 1670, 1815), "lung box + 8%"),
        ((1955, 1841), (128, 128), "crop", (26, 0, 1670, 1815), (26, 77, 1670, 1725), "lung box + 8%, centre square"),
    ],
)
def test_analysed_box_and_words_for_every_fit(original, size, fit, box, expected, words) -> None:
    grid = Grid2D.fit(original, size, fit, box)
    assert analysed_box(grid) == expected
    assert analysed_region(grid, PP) == words


def _explain(image: np.ndarray, spec, lung_mask=None):
    tensor, grid = prepare_image(image, spec.preprocess, (0.5, 1.0), lung_mask)
    with create_explainer("gradcam", BrightnessNet().eval(), spec) as explainer:
        return explainer.explain(ModelInput(tensor, grid, spec.preprocess))


def test_a_centre_crop_map_is_zero_outside_the_box_it_names() -> None:
    explanation = _explain(square_image((300, 200), (120, 180, 30, 90)), tiny_spec(fit="crop"))
    assert explanation.analysed_box == (50, 0, 250, 200) and explanation.analysed_region == "centre square"
    assert not explanation.covers_whole_image()
    y0, x0, y1, x1 = explanation.analysed_box
    heat = explanation.heatmap
    outside = heat.copy()
    outside[y0:y1, x0:x1] = 0
    assert outside.max() == 0.0 and heat[y0:y1, x0:x1].max() == pytest.approx(1.0)


def test_a_lung_crop_map_names_the_lung_box_and_a_stretched_one_the_whole_image() -> None:
    image = square_image((300, 200), (120, 180, 30, 90))
    lungs = np.zeros_like(image)
    lungs[100:200, 20:80] = 1.0
    lungs[100:200, 120:180] = 1.0
    spec = replace(tiny_spec(fit="stretch"), preprocess=Preprocess(kind="cxr", size=(64, 64), fit="stretch",
                                                                   lung_crop=True, lung_crop_margin=0.1))
    cropped = _explain(image, spec, lungs)
    assert cropped.analysed_box == (90, 4, 210, 196) and cropped.analysed_region == "lung box + 10%"
    whole = _explain(image, tiny_spec(fit="stretch"))
    assert whole.analysed_box == (0, 0, 300, 200) and whole.analysed_region == "whole image"
    assert whole.covers_whole_image()


def test_predict_json_names_the_analysed_box_with_its_edges() -> None:
    from covidviewer.inference import ModelResult

    explanation = _explain(square_image((300, 200), (120, 180, 30, 90)), tiny_spec(fit="crop"))
    result = ModelResult("tiny_cxr", "ok", classes=("no square", "square"), probabilities={"no square": 0.1, "square": 0.9},
                         label="square", explanation=explanation)
    doc = result.to_json()
    assert doc["analysed_box"] == {"y0": 50, "x0": 0, "y1": 250, "x1": 200} and doc["analysed_region"] == "centre square"
    assert "analysed_box" not in ModelResult("tiny_cxr", "ok", classes=("no square", "square")).to_json()
