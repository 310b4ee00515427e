"""``covidviewer predict --explain default`` runs, for every registered classifier, the method the
viewer's "Paper's map" runs: both resolve it through covidviewer.analysis.methods."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from covidviewer.__main__ import main
from covidviewer.analysis.methods import PAPER_MAP, effective_method
from covidviewer.analysis.run import AnalysisRequest, run_analysis
from covidviewer.inference import AnalysisResult, ModelResult, Predictor
from covidviewer.io import load_path, sample_paths


@pytest.fixture
def asked_methods(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """model -> the methods Predictor.analyse was asked to run for it; nothing runs (every model is
    answered "refused"), so no weights are needed."""
    asked: dict[str, list[str]] = {}

    def analyse(self, volume, models="all", options=None, *, source="", slice_index=None, progress=None, cancelled=None):
        names = [models] if isinstance(models, str) else list(models)
        for name in names:
            asked.setdefault(name, []).append(options.method)
        result = AnalysisResult(input=source, status="refused", reason="not analysed: recorded only")
        result.models = [ModelResult(name, "refused", "not analysed: recorded only") for name in names]
        return result

    monkeypatch.setattr(Predictor, "analyse", analyse)
    return asked


def test_predict_default_runs_the_viewers_paper_map_for_every_model(asked_methods, tmp_path: Path) -> None:
    chest_cr = sample_paths()["chest_cr"]
    predictor = Predictor(device="cpu")
    names = predictor.classifier_names()
    run_analysis(predictor, load_path(chest_cr), AnalysisRequest(models=tuple(names), methods=(PAPER_MAP,)))
    viewer = {name: methods for name, methods in asked_methods.items()}
    asked_methods.clear()
    argv = ["predict", str(chest_cr), "--model", ",".join(names), "--explain", PAPER_MAP, "--out", str(tmp_path / "out"),
            "--device", "cpu", "--quiet", "--no-series"]
    assert main(argv) == 0
    assert asked_methods == viewer
    assert asked_methods == {name: [effective_method(PAPER_MAP, predictor.store.spec(name))] for name in names}
    # both kinds of paper's map are among the registered models: CAM (DARNet) and Grad-CAM, one
    # Predictor call each, and the JSON lists the models in the order asked
    assert {"cam", "gradcam"} <= {method for (method,) in asked_methods.values()}
    doc = json.loads((tmp_path / "out" / "RG1_UNCI.json").read_text())
    assert [model["model"] for model in doc["models"]] == names


def test_all_models_with_the_paper_map_lists_the_not_applicable_ones_as_the_predictor_does(asked_methods, monkeypatch) -> None:
    from types import SimpleNamespace

    from covidviewer.analysis.run import analyse_input
    from covidviewer.inference import ALL, RunOptions

    predictor = Predictor(device="cpu")
    names = predictor.classifier_names()
    ct_models = [n for n in names if predictor.store.spec(n).modality.startswith("CT")]
    monkeypatch.setattr(Predictor, "gate", lambda self, volume, name, slice_index=None: SimpleNamespace(applicable=name in ct_models))
    volume = load_path(sample_paths()["chest_cr"])  # the recording Predictor never reads it
    result = analyse_input(predictor, volume, ALL, RunOptions(method=PAPER_MAP))
    assert len({method for (method,) in asked_methods.values()}) == 2  # CAM for DARNet, Grad-CAM for the slice models
    assert [r.model for r in result.models] == ct_models
    assert result.not_applicable == [n for n in names if n not in ct_models]
    assert result.status == "refused" and result.reason == "not analysed: recorded only"
