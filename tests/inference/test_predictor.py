"""Predictor: predictions + maps on the original grid, cache hits, CUDA OOM fallback, device choice,
unavailable models, CT slice / volume inputs, lung masks, cancellation and progress."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from square_models import CUBE, BrightnessNet, cube_volume, square_image, tiny_spec
from torch import nn

from covidviewer.explain import LimeSettings
from covidviewer.inference import Predictor, RunOptions
from covidviewer.inference import device as device_module
from covidviewer.io.cancel import Cancelled, CancelToken
from covidviewer.inference.device import choose_device
from covidviewer.inference.predictor import SEGMENTER
from covidviewer.io import Volume
from covidviewer.models import get_spec

BOX = (120, 180, 30, 90)


pytestmark = pytest.mark.usefixtures("no_installed_weights")


def _radiograph() -> Volume:
    meta = {"format": "dicom", "modality": "DX", "view_position": "PA", "body_part": "CHEST"}
    return Volume(square_image((300, 200), BOX)[None], modality="DX", default_window=(0.5, 1.0), meta=meta)


def _predictor(*models: tuple[nn.Module, object], sha: str = "a" * 64) -> Predictor:
    predictor = Predictor(device="cpu")
    for model, spec in models:
        predictor.store.add(model, spec, sha)
    return predictor


class ThresholdSegmenter(nn.Module):
    """Stands in for the lung U-Net: 'lung' wherever the radiograph is bright."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(20.0)
            self.conv.bias.fill_(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _segmenter_spec():
    spec = get_spec(SEGMENTER)
    return replace(spec, preprocess=replace(spec.preprocess, size=(64, 64)))


def test_predict_and_gradcam_on_the_original_grid() -> None:
    predictor = _predictor((BrightnessNet(), tiny_spec()))
    analysis = predictor.analyse(_radiograph(), "tiny_cxr", RunOptions(method="gradcam"), source="generated")
    assert analysis.status == "ok"
    (result,) = analysis.models
    assert result.status == "ok" and result.label == "square" and result.method == "gradcam"
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert result.weights_sha256 == "a" * 64 and result.device == "cpu"
    heat = result.heatmap
    assert heat.shape == (300, 200) and heat.dtype == np.float32
    r0, r1, c0, c1 = BOX
    assert heat[r0:r1, c0:c1].mean() > 0.5 and heat[:100].max() == 0.0
    assert {"load_s", "preprocess_s", "explain_s", "total_s"} <= set(result.timings)
    assert result.to_json()["explained_class"] == "square"


def test_binary_logit_model_reports_both_classes() -> None:
    predictor = _predictor((BrightnessNet(binary_logit=True), tiny_spec(binary_logit=True)))
    (result,) = predictor.analyse(_radiograph(), "tiny_cxr").models
    assert set(result.probabilities) == {"no square", "square"}
    assert sum(result.probabilities.values()) == pytest.approx(1.0) and result.label == "square"


def test_result_cache_hits_on_same_image_model_weights_and_method() -> None:
    predictor = _predictor((BrightnessNet(), tiny_spec()))
    volume = _radiograph()
    first = predictor.analyse(volume, "tiny_cxr", RunOptions(method="gradcam")).models[0]
    again = predictor.analyse(volume, "tiny_cxr", RunOptions(method="gradcam")).models[0]
    assert not first.from_cache and again.from_cache and predictor.cache.hits == 1
    np.testing.assert_array_equal(first.heatmap, again.heatmap)
    assert again.probabilities == first.probabilities
    assert not predictor.analyse(volume, "tiny_cxr", RunOptions(method="cam")).models[0].from_cache  # other method
    changed = Volume(volume.pixels.copy(), modality="DX", default_window=(0.5, 1.0), meta=volume.meta)
    changed.pixels[0, 0, 0] = 1.0
    assert not predictor.analyse(changed, "tiny_cxr", RunOptions(method="gradcam")).models[0].from_cache  # other image
    predictor.store.add(BrightnessNet(), tiny_spec(), "b" * 64)  # new weights
    assert not predictor.analyse(volume, "tiny_cxr", RunOptions(method="gradcam")).models[0].from_cache


def test_cuda_out_of_memory_falls_back_to_cpu_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = _predictor((BrightnessNet(), tiny_spec()))
    predictor.device = torch.device("cuda")  # as if choose_device had found a GPU
    original = Predictor._run_on
    tried: list[str] = []

    def run_on(self, device, *args, **kwargs):  # type: ignore[no-untyped-def]
        tried.append(device.type)
        if device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, device, *args, **kwargs)

    monkeypatch.setattr(Predictor, "_run_on", run_on)
    (result,) = predictor.analyse(_radiograph(), "tiny_cxr", RunOptions(method="gradcam")).models
    assert tried == ["cuda", "cpu"]
    assert result.status == "ok" and result.device == "cpu"
    assert any("out of memory on cuda" in w for w in result.warnings)


def test_other_runtime_errors_are_reported_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = _predictor((BrightnessNet(), tiny_spec()))
    predictor.device = torch.device("cuda")

    def broken(self, device, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR")

    monkeypatch.setattr(Predictor, "_run_on", broken)
    analysis = predictor.analyse(_radiograph(), "tiny_cxr")
    assert analysis.status == "error" and "CUDNN_STATUS_INTERNAL_ERROR" in analysis.models[0].reason


def test_device_choice_order_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)
    assert choose_device("auto") == (torch.device("cpu"), [])
    device, warnings = choose_device("cuda")
    assert device.type == "cpu" and "no CUDA GPU" in warnings[0]
    monkeypatch.setattr(device_module, "_mps_available", lambda: True)
    assert choose_device("auto")[0].type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device("auto")[0].type == "cuda"
    assert choose_device("cpu")[0].type == "cpu"  # the override wins over an available GPU
    with pytest.raises(ValueError, match="unknown device"):
        choose_device("tpu")


def test_model_without_trained_weights_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("COVIDVIEWER_WEIGHTS_DIR", str(tmp_path))
    import covidviewer.models.weights  # noqa: F401 - imported before the patch, so it keeps the real builder

    built: list[str] = []
    monkeypatch.setattr("covidviewer.models.registry.create_model", lambda name, **kw: built.append(name))
    predictor = Predictor(device="cpu")
    analysis = predictor.analyse(_radiograph(), "dpn92_se", RunOptions(method="gradcam"))
    (result,) = analysis.models
    assert result.status == "unavailable" and "no trained weights" in result.reason
    assert "python -m trainer fit dpn92_se" in result.trainer_command
    assert not result.probabilities and result.heatmap is None and built == []
    assert analysis.status == "refused" and "no applicable model has trained weights" in analysis.reason
    assert predictor.availability("vgg16_ga")[0] is False


def test_ct_slice_model_reads_the_middle_or_chosen_slice() -> None:
    spec = tiny_spec("tiny_ct_slice", "ct_slice", (64, 64), fit="pad")
    spec = replace(spec, preprocess=replace(spec.preprocess, window=(-600.0, 1500.0)))
    predictor = _predictor((BrightnessNet(), spec))
    volume = Volume(cube_volume((9, 300, 300), (slice(4, 5), slice(100, 160), slice(40, 100))), spacing=(5.0, 1.0, 1.0),
                    modality="CT", default_window=(-600, 1500), meta={"format": "dicom", "pixel_spacing": (1.0, 1.0)})
    middle = predictor.analyse(volume, "tiny_ct_slice", RunOptions(method="gradcam")).models[0]
    assert middle.slice_index == 4 and middle.label == "square" and middle.heatmap.shape == (300, 300)
    assert middle.heatmap[100:160, 40:100].mean() > 0.5
    other = predictor.analyse(volume, "tiny_ct_slice", slice_index=0).models[0]
    assert other.slice_index == 0 and other.label == "no square"


def test_ct_volume_cam_maps_to_every_original_slice_with_peak() -> None:
    spec = tiny_spec("tiny_ct", "ct_volume", (8, 32, 32))
    predictor = _predictor((BrightnessNet(spatial_dims=3), spec))
    volume = Volume(cube_volume((32, 96, 96), (CUBE[0], slice(30, 60), slice(40, 70))), spacing=(5.0, 4.0, 4.0),
                    modality="CT", default_window=(-600, 1500), meta={"format": "dicom", "pixel_spacing": (4.0, 4.0)})
    result = predictor.analyse(volume, "tiny_ct", RunOptions(method="cam", target_index=1)).models[0]
    assert result.status == "ok" and result.heatmap.shape == (32, 96, 96)
    per_slice = result.heatmap.sum(axis=(1, 2))
    assert CUBE[0].start <= int(np.argmax(per_slice)) < CUBE[0].stop
    assert result.slice_importance.shape == (32,) and CUBE[0].start <= result.peak_slice < CUBE[0].stop
    assert result.to_json()["peak_slice"] == result.peak_slice
    plain = predictor.analyse(volume, "tiny_ct").models[0]  # no map: depth attention still reported
    assert plain.heatmap is None and plain.peak_slice == result.peak_slice


def test_lung_mask_goes_to_the_models_forward_and_to_lime() -> None:
    spec = tiny_spec(lung_mask="forward_arg")
    predictor = _predictor((BrightnessNet(extra_arg=True), spec), (ThresholdSegmenter(), _segmenter_spec()))
    analysis = predictor.analyse(_radiograph(), "tiny_cxr", RunOptions(method="lime", lime=LimeSettings(samples=60, batch=30,
                                                                                                   restrict_to_lungs=True)))
    (result,) = analysis.models
    assert result.status == "ok" and "lung_mask_s" in result.timings
    lungs = analysis.lung_mask
    assert lungs.shape == (300, 200) and lungs[130:170, 40:80].min() > 0.9 and lungs[:50].max() < 0.1
    assert set(np.unique(lungs)) <= {0.0, 1.0}  # the 0/1 mask the models were trained with
    # LIME superpixels only inside the mask: no heat farther than one model pixel (300 / 64 px) from the lungs,
    # where mapping the 64 x 64 map back onto the film interpolates across the mask's edge
    near_lungs = cv2.dilate(lungs.astype(np.uint8), np.ones((11, 11), np.uint8)) > 0
    assert result.heatmap[~near_lungs].max() == 0.0 and result.heatmap[lungs > 0].max() > 0.0
    no_segmenter = _predictor((BrightnessNet(extra_arg=True), spec))
    no_segmenter.store._status[SEGMENTER] = no_segmenter.store._check("__missing__")
    (missing,) = no_segmenter.analyse(_radiograph(), "tiny_cxr").models
    assert missing.status == "unavailable" and "lung U-Net" in missing.reason


def test_cancel_mid_lime_raises_and_caches_nothing() -> None:
    predictor = _predictor((BrightnessNet(), tiny_spec()))
    token = CancelToken()
    messages: list[str] = []

    def progress(done: int, total: int, message: str) -> None:
        messages.append(message)
        if "samples" in message and done >= 40:
            token.cancel()

    with pytest.raises(Cancelled):
        predictor.analyse(_radiograph(), "tiny_cxr", RunOptions(method="lime", lime=LimeSettings(samples=200, batch=20)),
                          progress=progress, cancelled=token)
    assert "tiny_cxr: loading" in messages and messages[-1].startswith("tiny_cxr: 20/200 samples")
    assert len(predictor.cache) == 0


def test_bf16_autocast_is_close_to_fp32() -> None:
    volume = _radiograph()
    fp32 = _predictor((BrightnessNet(), tiny_spec())).analyse(volume, "tiny_cxr").models[0]
    predictor = Predictor(device="cpu", precision="bf16")
    predictor.store.add(BrightnessNet(), tiny_spec(), "a" * 64)
    bf16 = predictor.analyse(volume, "tiny_cxr").models[0]
    assert bf16.probabilities["square"] == pytest.approx(fp32.probabilities["square"], abs=0.02)


def test_segmenter_is_not_run_as_a_classifier() -> None:
    (result,) = Predictor(device="cpu").analyse(_radiograph(), SEGMENTER).models
    assert result.status == "error" and "segmenter, not a classifier" in result.reason and not result.probabilities


def test_weights_installed_while_running_are_picked_up_without_a_restart(tiny_weights) -> None:
    """A researcher exports a model while the viewer is open: the next check sees it."""
    from covidviewer.inference.store import ModelStore

    store = ModelStore()
    assert not store.availability("dresunet").available
    tiny_weights("dresunet")
    assert store.availability("dresunet").available
    first = store.get("dresunet", torch.device("cpu"))
    assert store.get("dresunet", torch.device("cpu")) is first  # cached while nothing changes


def test_progress_over_several_models_only_moves_forward(tiny_weights) -> None:
    """One bar for the whole job: model 2's LIME must not send it back to zero."""
    for name in ("dpn92_se", "seme_resnet50"):
        tiny_weights(name)
    seen: list[float] = []
    Predictor(device="cpu").analyse(
        _radiograph(), ["dpn92_se", "seme_resnet50"], RunOptions(method="lime", lime=LimeSettings(samples=20)),
        progress=lambda done, total, message: seen.append(done / total if total else 0.0),
    )
    assert len(seen) > 4 and seen[-1] == 1.0
    assert all(b >= a for a, b in zip(seen, seen[1:])), seen


def test_darnet_is_listed_as_needing_training_on_ct_volumes(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("COVIDVIEWER_WEIGHTS_DIR", str(tmp_path))
    from covidviewer.inference.store import ModelStore

    status = ModelStore().availability("darnet")
    assert not status.available and "needs training on your CT volumes" in status.reason
    assert status.trainer_command.startswith("python -m trainer fit darnet")


def test_a_cards_calibration_changes_the_shown_probabilities_decision_and_ood(tiny_weights) -> None:
    """Same weights, same image: once the card carries a temperature, an operating point and an OOD
    model, the result is calibrated (not a stale cached one), decided by the threshold and flagged."""
    import json

    from covidviewer.models.calibration import Calibration, OODModel, OperatingPoint
    from covidviewer.models.features import logits_and_features

    folder = tiny_weights("dpn92_se")
    predictor = Predictor(device="cpu")
    raw = predictor.analyse(_radiograph(), "dpn92_se").models[0]
    assert raw.ok and not raw.calibrated and raw.ood_score is None and raw.decision == raw.label
    assert raw.to_json()["calibrated"] is False and raw.to_json()["threshold"] == ""

    model = predictor.store.get("dpn92_se", torch.device("cpu")).model
    dim = logits_and_features(model, torch.zeros(1, 3, 64, 64))[1].shape[1]
    ood = OODModel(np.zeros(dim), np.eye(dim)[:, :2], ("normal",), np.array([[1e4, 0.0]]), np.eye(2), threshold=10.0)
    classes = tuple(raw.classes)
    op = OperatingPoint("COVID-19", 0.01, 0.8, 0.7, 0.85, 0.72)
    card = json.loads((folder / "model.json").read_text())
    card["calibration"] = Calibration(classes, 10.0, operating_point=op, ood=ood).write_card(folder)
    (folder / "model.json").write_text(json.dumps(card))

    result = predictor.analyse(_radiograph(), "dpn92_se").models[0]
    assert result.calibrated and not result.from_cache
    raw_logits = np.log([raw.probabilities[c] for c in classes])
    expected = np.exp(raw_logits / 10.0) / np.exp(raw_logits / 10.0).sum()
    assert [result.probabilities[c] for c in classes] == pytest.approx(expected, abs=1e-5)
    assert max(result.probabilities.values()) < max(raw.probabilities.values())
    assert result.label == result.decision == "COVID-19" and "operating threshold 0.01" in result.threshold
    assert result.ood_flag and result.ood_score > 1e3
    out = result.to_json()
    assert out["calibrated"] is True and out["ood_flag"] is True and out["decision"] == "COVID-19"
    # an explained run's forwards see other inputs: its features come from a plain forward of its own
    from covidviewer.inference.calibrated import FeatureWatch
    from covidviewer.inference.inputs import prepare_model_input

    model_input, _ = prepare_model_input(_radiograph(), predictor.store.get("dpn92_se", torch.device("cpu")).spec)
    calibration = Calibration(classes, 10.0, ood=ood)
    with FeatureWatch(model, calibration, plain=True) as hooked:
        from covidviewer.inference.runner import forward_logits

        forward_logits(model, model_input)
    own = FeatureWatch(model, calibration, plain=False)
    assert calibration.ood_score(own.result(model_input, False)) == pytest.approx(result.ood_score, rel=1e-4)
    assert hooked.result(model_input, False) == pytest.approx(own.result(model_input, False), rel=1e-5)
