"""A cascade running its installed parts reads each stage's card as that stage's own answer would: its calibration, and
whatever every answer of that network carries (the lung-attention caveat, session 45), one input at a time or in a
batch alike; the cascade's own erased-chest figure stands for its stages' (session 46). Uses the shipped weights."""
from __future__ import annotations

from covidviewer.inference import Predictor, RunOptions
from covidviewer.inference import batch as batch_module
from covidviewer.inference.calibrated import card_warnings
from covidviewer.io import load_path, sample_paths
from covidviewer.models import get_spec
from covidviewer.models.weights import installed_weights_sha256


def test_each_stage_answers_with_its_installed_set_and_its_cards_caveats_reach_the_cascade() -> None:
    film = load_path(sample_paths()["chest_cr"])
    alone = Predictor(device="cpu").analyse(film, ["cascade_semenet"], RunOptions()).models[0]
    batched_predictor = Predictor(device="cpu")
    prefetched = batch_module.prefetch(batched_predictor, [film], ["cascade_semenet"], RunOptions())
    assert not prefetched.failed_batches and prefetched.computed
    batched = batched_predictor.analyse(film, ["cascade_semenet"], RunOptions())
    prefetched.complete(batched)
    for result in (alone, batched.models[0]):
        assert result.status == "ok"
        expected = []
        for stage in result.stages:
            spec = get_spec(stage.model)
            assert stage.weights_sha256 == installed_weights_sha256(stage.model)  # the set whose card spoke
            expected += [f"{stage.model}: {w}" for w in card_warnings(spec, stage.weights_sha256)]
        # stage 1 (SE-ResNet50) puts 0.51 of its Grad-CAM inside lungs covering 0.44 of its region: it says so
        assert any(w.startswith("seme_resnet50: where it looks:") for w in expected)
        # stage 2's erased-chest figure (COVID-19 against other viral pneumonia) gives way to the whole cascade's own
        # (adult COVID-19 against adult normal films: 0.61 [0.50, 0.72], within chance, session 46)
        assert any(w.startswith("seme_densenet169: what it reads:") for w in expected)
        looks = [w for w in expected if "what it reads" not in w]
        assert [w for w in result.warnings if "where it looks" in w or "what it reads" in w] == looks
