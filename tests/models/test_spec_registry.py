"""Every field of every registered ModelSpec names something real (timm's default-cfg test), and every
weight card, old layout or new, reads into the typed fields.

Built on tiny inputs on CPU (model_inputs.py): CAM layers exist and give one activation tensor
(test_registry_models.py), the classifier is a Linear / 1x1 Conv with one output per logit, parts are
registered models held by the composite, the paper's map is a registered method, the depth-attention
attribute is set by a forward, declared cell centres are for a CAM layer of the right rank, and a
"forward_arg" model takes ``lung_mask=``.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from model_inputs import make_inputs, small_input_shape
from torch import nn

from covidviewer.explain import METHODS, explainer_class
from covidviewer.models import create_model, get_spec, list_models
from covidviewer.models.registry import takes_lung_mask
from covidviewer.models.spec import ModelSpec
from covidviewer.models.weights import WEIGHTS_ENV, load_trained_model, read_sidecar, save_weights, weights_status
from covidviewer.model_cards import SIDECAR

REPO = Path(__file__).resolve().parents[2]
CARDS = sorted((REPO / "resources" / "weights").glob(f"*/{SIDECAR}"))


def test_classifier_is_a_linear_or_pointwise_conv_with_one_output_per_logit(model_name: str, small_model: nn.Module) -> None:
    spec = get_spec(model_name)
    if not spec.explain.classifier:
        assert spec.explain.default_method != "cam", f"{model_name}: CAM is its paper's map but it names no classifier"
        return
    layer = small_model.get_submodule(spec.explain.classifier)
    if isinstance(layer, nn.Linear):
        outputs = layer.out_features
    else:
        assert isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and all(k == 1 for k in layer.kernel_size), (
            f"{model_name}: classifier {spec.explain.classifier} is a {type(layer).__name__}")
        outputs = layer.out_channels
    assert outputs == spec.num_outputs


def test_default_method_is_a_registered_explainer(model_name: str) -> None:
    method = get_spec(model_name).explain.default_method
    assert method in METHODS
    assert explainer_class(method).method == method


def test_parts_are_registered_models_held_by_the_composite(model_name: str, small_model: nn.Module) -> None:
    spec = get_spec(model_name)
    registered = set(list_models())
    for attr, part in spec.parts.items():
        assert part in registered and part != model_name
        child = small_model.get_submodule(attr)
        assert type(child) is type(create_model(part)), f"{model_name}.{attr} is not a {part}"
    # one positional input per stage: each names a part; a single-input model takes "image"
    assert spec.inputs == ("image",) or set(spec.inputs) <= set(spec.parts)
    assert (spec.task == "cascade") == bool(spec.parts)


def test_outputs_and_depth_attention_after_a_forward(model_name: str, small_model: nn.Module) -> None:
    spec = get_spec(model_name)
    inputs = make_inputs(model_name, batch=1)
    kwargs: dict[str, Any] = {}
    if spec.lung_mask == "forward_arg":  # the mask reaches forward as a keyword the model accepts
        kwargs["lung_mask"] = torch.ones((1, 1, *inputs[0].shape[2:]))
    with torch.no_grad():
        out = small_model(*inputs, **kwargs)
    if spec.outputs == "log_probabilities":
        torch.testing.assert_close(out.exp().sum(-1), torch.ones(out.shape[0]))
    if spec.explain.depth_attention:
        gate = getattr(small_model, spec.explain.depth_attention)
        assert isinstance(gate, torch.Tensor) and gate.ndim == 3 and gate.shape[0] == 1, "expected a (B, C, D') depth gate"
    assert bool(spec.small_input_depth) <= (spec.modality == "CT_VOLUME")


def test_declared_cell_centres_are_for_a_cam_layer_of_the_inputs_rank(model_name: str) -> None:
    spec = get_spec(model_name)
    rank = len(small_input_shape(model_name)) - 1
    for layer, centres in spec.explain.cell_centres.items():
        assert layer in spec.explain.cam_layers
        assert len(centres.origin) == len(centres.stride) == rank


def test_lung_mask_use_matches_the_preprocessing(model_name: str) -> None:
    """A model that masks its image with the lungs is a 2D radiograph model; so is one taking the mask."""
    spec = get_spec(model_name)
    if spec.lung_mask != "none":
        assert spec.modality == "CXR" and spec.needs_lung_mask


@pytest.mark.parametrize("name", list_models())
def test_spec_round_trips_through_its_card_layout(name: str) -> None:
    spec = get_spec(name)
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize("card", CARDS, ids=[c.parent.name for c in CARDS])
def test_every_shipped_card_reads_into_the_typed_fields(card: Path) -> None:
    """The shipped cards hold the layout of before (``extra``, ``needs_lung_mask``, ``preprocess.lung_mask``):
    what they say about the lung mask, the CAM layers and the classifier is what the registry says."""
    from covidviewer.models.weights.installed import with_registered_centres

    registered = get_spec(json.loads(card.read_text(encoding="utf-8"))["spec"]["name"])
    # as loading reads it: a card written before the cell centres were declared gets the registered ones
    spec = with_registered_centres(ModelSpec.from_dict(json.loads(card.read_text(encoding="utf-8"))["spec"]), registered)
    assert (spec.explain, spec.parts, spec.outputs, spec.inputs) == (
        registered.explain, registered.parts, registered.outputs, registered.inputs)
    # a recipe may give the mask to a model whose forward takes it (DPN-SENet, session 21: pooled over the lungs)
    assert spec.lung_mask == registered.lung_mask or (spec.lung_mask == "forward_arg" and takes_lung_mask(spec.name))


def _untyped_layout(spec: ModelSpec, **extra: Any) -> dict[str, Any]:
    """``spec`` as cards were written before the fields were typed."""
    d = spec.to_dict()
    explain = d.pop("explain")
    d["cam_layers"] = explain["cam_layers"]
    d["needs_lung_mask"] = spec.needs_lung_mask
    d["preprocess"]["lung_mask"] = spec.lung_mask == "image"
    old_extra = {k: v for k, v in (("classifier", explain["classifier"]), ("depth_attention", explain["depth_attention"])) if v}
    if spec.lung_mask == "forward_arg":
        old_extra["forward_takes_lung_mask"] = True
    if spec.parts:
        old_extra.update(parts=d["parts"], output=d["outputs"], inputs=d["inputs"])
    if explain["cell_centres"]:
        old_extra["cell_geometry"] = explain["cell_centres"]
    if spec.small_input_depth:
        old_extra["small_input_depth"] = spec.small_input_depth
    for key in ("parts", "outputs", "inputs", "lung_mask", "small_input_depth"):
        d.pop(key)
    d["extra"] = {**old_extra, **extra}
    return d


@pytest.mark.parametrize("name", list_models())
def test_the_old_card_layout_maps_onto_the_typed_fields(name: str) -> None:
    spec = get_spec(name)
    assert ModelSpec.from_dict(_untyped_layout(spec, moex=True, segmenter="lung_unet", base_channels=32)) == spec


def test_unknown_keys_are_errors_that_name_them() -> None:
    spec = get_spec("vgg16_ga")
    with pytest.raises(ValueError, match="forward_takes_lung_masks"):
        ModelSpec.from_dict(_untyped_layout(spec, forward_takes_lung_masks=True))
    with pytest.raises(ValueError, match="'lung_masks' \\(did you mean 'lung_mask'\\?\\)"):
        ModelSpec.from_dict({**spec.to_dict(), "lung_masks": "forward_arg"})
    with pytest.raises(ValueError, match="'classifer' \\(did you mean 'classifier'\\?\\)"):
        ModelSpec.from_dict({**spec.to_dict(), "explain": {"classifer": "fc3"}})
    with pytest.raises(ValueError, match="lung_mask"):
        replace(spec, lung_mask="features")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a model does one"):  # the two old ways at once
        ModelSpec.from_dict(_untyped_layout(get_spec("seme_densenet169"), forward_takes_lung_mask=True))


def test_an_old_card_with_retired_keys_loads_as_the_registered_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lung U-Net card exported with ``extra={"base_channels": 32}`` (a key nothing read) loads."""
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    spec = get_spec("lung_unet")
    folder = tmp_path / spec.weights
    save_weights(create_model("lung_unet"), spec, folder, training={"test": True}, metrics={})
    sidecar = read_sidecar(folder)
    sidecar["spec"] = _untyped_layout(spec, base_channels=32)
    (folder / SIDECAR).write_text(json.dumps(sidecar), encoding="utf-8")
    assert weights_status("lung_unet", verify=True) == "trained"
    assert load_trained_model("lung_unet").spec == spec
