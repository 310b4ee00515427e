"""``ModelSpec.extra``: every key a registered model sets is one the code reads (timm's default-cfg
test), and weight cards exported while the specs still carried keys nobody read keep loading."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from covidviewer.models import create_model, get_spec, list_models
from covidviewer.models.spec import ModelSpec
from covidviewer.models.weights import WEIGHTS_ENV, load_trained_model, save_weights, weights_status

REPO = Path(__file__).resolve().parents[2]

# Each key a spec may set in ``extra``, with files that read it (a key set but read nowhere is a
# setting that silently does nothing). ``default_explainer`` is read but no model sets it yet.
EXTRA_READERS = {
    "classifier": ("covidviewer/explain/cam.py", "covidviewer/models/features.py"),
    "parts": ("covidviewer/models/weights/installed.py", "covidviewer/inference/store.py"),
    "output": ("covidviewer/inference/runner.py",),
    "inputs": ("tests/models/model_inputs.py", "bench/bench_model_sizes.py"),
    "forward_takes_lung_mask": ("covidviewer/inference/inputs.py",),
    "depth_attention": ("covidviewer/explain/depth.py",),
    "cell_geometry": ("covidviewer/explain/base.py",),
    "small_input_depth": ("tests/models/model_inputs.py",),
    "default_explainer": ("covidviewer/explain/__init__.py",),
}

# Keys that registered specs once carried and cards exported then still hold.
RETIRED_KEYS = {"moex": True, "segmenter": "lung_unet", "base_channels": 32}


@pytest.mark.parametrize("name", list_models())
def test_every_extra_key_is_read_somewhere(name: str) -> None:
    unread = sorted(set(get_spec(name).extra) - set(EXTRA_READERS))
    assert not unread, f"{name}: extra key(s) {unread} are read by no code (add the reader to EXTRA_READERS, or drop them)"


@pytest.mark.parametrize("key", sorted(EXTRA_READERS))
def test_named_readers_read_the_key(key: str) -> None:
    for reader in EXTRA_READERS[key]:
        source = (REPO / reader).read_text(encoding="utf-8")
        assert f'"{key}"' in source, f"{reader} no longer reads extra[{key!r}]: update EXTRA_READERS"


def test_a_card_with_retired_keys_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lung U-Net card exported with ``extra={"base_channels": 32}`` loads, and the model keeps the
    card's spec as exported (the loader feeds a model as it was trained)."""
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    spec = get_spec("lung_unet")
    old_spec = replace(spec, extra={**spec.extra, **RETIRED_KEYS})
    assert ModelSpec.from_dict(old_spec.to_dict()) == old_spec
    model = create_model("lung_unet")
    save_weights(model, old_spec, tmp_path / spec.weights, training={"test": True}, metrics={})
    assert weights_status("lung_unet", verify=True) == "trained"
    loaded = load_trained_model("lung_unet")
    assert loaded.spec.extra == {**spec.extra, **RETIRED_KEYS}
