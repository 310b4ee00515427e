"""Test-only models for the analysis GUI tests.

Hand-set "square evidence" networks from tests/explain/square_models.py (bright pixels push the
"square" class up) are registered at test time under tiny_* names, with their weights saved by
``covidviewer.models.weights.save_weights`` into tmp_path ($COVIDVIEWER_WEIGHTS_DIR). They are
never written to resources/ and never presented as trained COVID-19 classifiers; every real
registered model stays "unavailable" in these tests because the temporary weights folder holds
only the test models.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "explain"))  # square_models

from square_models import BrightnessNet, tiny_spec  # noqa: E402

from covidviewer.io.volume import Volume  # noqa: E402
from covidviewer.ui.analysis import install_analysis  # noqa: E402
from covidviewer.ui.main_window import MainWindow  # noqa: E402
from covidviewer.ui.settings import ViewerSettings  # noqa: E402

GATE_TIMEOUT_S = 30.0
RUN_TIMEOUT_MS = 60000


class GatedNet(BrightnessNet):
    """BrightnessNet whose forward blocks until the test opens ``gate``: a model exactly as slow as
    the test needs, without sleeping. ``entered`` is set on the first forward; ``calls`` counts them."""

    gate = threading.Event()
    entered = threading.Event()
    calls = 0

    def forward(self, x, lung_mask=None):  # type: ignore[override]
        type(self).calls += 1
        type(self).entered.set()
        if not type(self).gate.wait(GATE_TIMEOUT_S):
            raise RuntimeError("the test never opened the gate")
        return super().forward(x, lung_mask)


class FailingNet(BrightnessNet):
    """A model whose forward fails, as a broken or mismatched network would."""

    def forward(self, x, lung_mask=None):  # type: ignore[override]
        raise RuntimeError("simulated failure inside the network")


def radiograph_volume(shape=(320, 256), view="PA", rgb=False) -> Volume:
    """A generated frontal (or lateral) chest 'radiograph': dark background, bright square."""
    image = np.full(shape, 200.0, dtype=np.float32)
    image[shape[0] // 3: shape[0] // 2, shape[1] // 4: shape[1] // 2] = 3000.0
    meta = {"format": "dicom", "modality": "DX", "view_position": view, "body_part": "CHEST"}
    # colour: red, far from grey (a grey image saved in colour, or one with a mild cast, is read as grey)
    pixels = (image[None, ..., None] * np.array([1.0, 0.3, 0.3], np.float32)) if rgb else image[None]
    return Volume(pixels, spacing=(1.0, 0.5, 0.5), modality="DX", default_window=(1600.0, 3200.0), meta=meta, is_rgb=rgb)


def chest_ct_volume(shape=(24, 64, 64), spacing=(5.0, 5.0, 5.0)) -> Volume:
    """A generated chest-sized CT (air with a soft-tissue block on slices 12..17)."""
    pixels = np.full(shape, -1000.0, dtype=np.float32)
    pixels[12:18, 20:40, 24:44] = 40.0
    return Volume(pixels, spacing=spacing, modality="CT", default_window=(-600.0, 1500.0), meta={"modality": "CT"})


@pytest.fixture
def square_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Registers tiny_cxr (radiograph), tiny_ctslice (one CT slice), tiny_ct3d (CT volume with depth
    attention), slow_cxr (GatedNet) and broken_cxr (FailingNet) with weights in tmp_path; returns
    the names. The gate starts open: a test that wants a slow model
    closes it (``GatedNet.gate.clear()``); it is opened again on teardown."""
    import torch

    from covidviewer.models import registry
    from covidviewer.models.weights import WEIGHTS_ENV, save_weights

    root = tmp_path / "weights"
    monkeypatch.setenv(WEIGHTS_ENV, str(root))
    registry._ensure_loaded()
    GatedNet.gate.set()
    GatedNet.entered.clear()
    GatedNet.calls = 0
    models = {
        "tiny_cxr": (lambda **kw: BrightnessNet(), tiny_spec("tiny_cxr", "cxr")),
        "tiny_ct3d": (lambda **kw: BrightnessNet(spatial_dims=3), tiny_spec("tiny_ct3d", "ct_volume", size=(16, 32, 32))),
        "slow_cxr": (lambda **kw: GatedNet(), tiny_spec("slow_cxr", "cxr")),
        "broken_cxr": (lambda **kw: FailingNet(), tiny_spec("broken_cxr", "cxr")),
        "tiny_ctslice": (lambda **kw: BrightnessNet(), tiny_spec("tiny_ctslice", "ct_slice")),
    }
    for name, (builder, spec) in models.items():
        monkeypatch.setitem(registry._BUILDERS, name, builder)
        monkeypatch.setitem(registry._SPECS, name, spec)
        model = builder()
        model.spec = spec
        save_weights(model, spec, root / spec.weights, training={"note": "hand-set test network, not trained"},
                     metrics={}, dtype=torch.float32)
    yield list(models)
    GatedNet.gate.set()  # never leave a worker blocked


@pytest.fixture
def app_window(qtbot):
    """(MainWindow, AnalysisController): a shown 1400 x 900 window with the Analysis dock installed."""
    window = MainWindow(ViewerSettings())
    window.persist_settings = False
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    analysis = install_analysis(window)
    yield window, analysis
    GatedNet.gate.set()
    analysis.shutdown()


def show(qtbot, window, analysis, volume):
    """Show ``volume`` and wait until the model list for it has arrived."""
    with qtbot.waitSignal(analysis.modelsListed, timeout=RUN_TIMEOUT_MS):
        window.state.set_volume(volume)


def tick(analysis, *names):
    """Tick exactly ``names`` in the model picker."""
    for name, box in analysis.panel.models.boxes.items():
        box.setChecked(name in names)


def analyse_and_wait(qtbot, analysis):
    with qtbot.waitSignal(analysis.runEnded, timeout=RUN_TIMEOUT_MS):
        assert analysis.analyse()
