"""Inference test set-up: tiny-config builds of registered models with UNTRAINED weights saved into a
temporary weights folder (never the app's resources), and the square-evidence test models."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "explain"))  # square_models

TINY_BUILDS: dict[str, tuple[Callable[..., object], tuple[int, ...]]] = {}


def _tiny_builders() -> dict[str, tuple[Callable[..., object], tuple[int, ...]]]:
    """name -> (builder of a small same-family network, small input size)."""
    from covidviewer.models.darnet import DARNet
    from covidviewer.models.dpn import DPNSE
    from covidviewer.models.seme import SEMEDenseNet, SEMEResNet
    from covidviewer.models.unet import UNet

    return {
        "dpn92_se": (lambda **kw: DPNSE(k_sec=(1, 1, 1, 1), inc_sec=(4, 4, 4, 4), k_r=8, groups=4, num_init_features=8, **kw), (64, 64)),
        "seme_resnet50": (lambda **kw: SEMEResNet(layers=(1, 1, 1, 1), **kw), (64, 64)),
        "seme_densenet169": (lambda **kw: SEMEDenseNet(block_config=(1, 1, 1, 1), growth_rate=8, num_init_features=8, **kw), (64, 64)),
        "lung_unet": (lambda **kw: UNet(in_chans=1, out_chans=1, base_channels=4), (64, 64)),
        "darnet": (lambda **kw: DARNet(input_depth=16, widths=(4, 8, 8, 16), **kw), (16, 64, 64)),
    }


@pytest.fixture
def tiny_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], Path]:
    """Swap in tiny builds of the registered models and return ``install(name)``, which saves that
    model's untrained weights into a temporary weights folder ($COVIDVIEWER_WEIGHTS_DIR).

    These weights are random: they exist only so the loading, hashing and CLI paths run for real.
    """
    from covidviewer.models import registry
    from covidviewer.models.weights import WEIGHTS_ENV, save_weights

    root = tmp_path / "weights"
    monkeypatch.setenv(WEIGHTS_ENV, str(root))
    registry._ensure_loaded()
    for name, (builder, size) in _tiny_builders().items():
        spec = registry._SPECS[name]
        monkeypatch.setitem(registry._BUILDERS, name, builder)
        monkeypatch.setitem(registry._SPECS, name, replace(spec, preprocess=replace(spec.preprocess, size=size)))

    def install(name: str) -> Path:
        from covidviewer.models import create_model, get_spec

        spec = get_spec(name)
        return save_weights(
            create_model(name), spec, root / spec.weights,
            training={"note": "UNTRAINED tiny test fixture"}, metrics={},
        )

    return install


@pytest.fixture
def no_installed_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty weights folder: hand-made models on synthetic images, with no installed card or
    image-kind model taking part (the shipped image-kind model would, rightly, refuse a white
    square as a radiograph)."""
    from covidviewer.models.weights import WEIGHTS_ENV

    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "no-weights"))
