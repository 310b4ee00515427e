"""Batch prediction: plain forwards (no attention map) of many inputs through the same models, in
batches, with results identical (to float tolerance) to ``Predictor.analyse`` one input at a time.

``prefetch`` does for a list of loaded inputs what the Predictor does for one plain run: the same gate
verdicts, lung masks (``Predictor.cached_lung_mask``), ``prepare_model_input`` (the one preprocessing
path, once per input and preprocessing), cascade stages, results with calibration and OOD features
(``covidviewer.inference.network_result``) and cascade rule, except that every network's forwards run
as batches. Each finished ModelResult goes into the Predictor's result cache
under the key the Predictor itself uses, so ``Predictor.analyse`` on each input then finds it there:
refusals, unavailable models, errors, warnings and the input-level summary still come from the one
per-image code path. What the batch does not do (explained runs, 3D models, an input whose
preprocessing fails, a batch that fails, e.g. out of memory) is simply not cached and runs per image.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Hashable, Sequence

import numpy as np

from covidviewer.explain.base import bind_model, report
from covidviewer.inference.cache import image_hash
from covidviewer.inference.calibrated import calibration_token, card_calibration
from covidviewer.inference.cascade_result import cascade_result
from covidviewer.inference.device import is_out_of_memory, release_accelerator_memory
from covidviewer.inference.gate import check_input
from covidviewer.inference.inputs import prepare_model_input
from covidviewer.inference.network_result import calibrated_result, cascade_stages
from covidviewer.inference.predictor import ALL, Predictor
from covidviewer.inference.runner import NO_EXPLANATION, NetworkRun, RunOptions
from covidviewer.inference.store import LoadedModel
from covidviewer.io.cancel import ProgressFn

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.explain.base import ModelInput
    from covidviewer.inference.results import AnalysisResult, ModelResult
    from covidviewer.io.volume import Volume
    from covidviewer.models.calibration import Calibration
    from covidviewer.models.spec import ModelSpec

DEFAULT_BATCH = 16


@dataclass
class _Stage:
    """One network's forward for one input (a classifier, or one stage of a cascade)."""

    model: "nn.Module"
    spec: "ModelSpec"
    model_input: "ModelInput"
    calibration: "Calibration | None"
    problem: str
    weights_sha256: str = ""  # a cascade stage's installed weight set (network_result.CascadeStage)
    logits: np.ndarray | None = None
    features: np.ndarray | None = None
    predict_s: float = 0.0


@dataclass
class _Planned:
    """One (input, model) result waiting for its stages' batched forwards."""

    digest: str
    loaded: LoadedModel
    key: Hashable
    slice_index: int | None
    stages: list[_Stage]
    timings: dict[str, float]
    load_s: float
    input_digest: str = ""  # the input as stored, where the models read it turned, inverted or mirrored back


@dataclass
class Prefetched:
    """What ``prefetch`` left in the Predictor's cache; ``complete`` makes each input's analysis read
    as if computed per image (lung mask on the result, not marked as a cache hit)."""

    masks: dict[str, np.ndarray] = field(default_factory=dict)
    computed: set[tuple[str, str]] = field(default_factory=set)
    failed_batches: list[str] = field(default_factory=list)

    def complete(self, analysis: "AnalysisResult") -> None:
        if analysis.lung_mask is None:
            analysis.lung_mask = self.masks.get(analysis.image_hash)
        for result in analysis.models:
            if (analysis.image_hash, result.model) in self.computed:
                self.computed.discard((analysis.image_hash, result.model))
                result.from_cache = False


def batchable(options: RunOptions) -> bool:
    """Batches are for plain prediction; an explained run stays per image (its maps are per input)."""
    return options.method == NO_EXPLANATION


def prefetch(
    predictor: Predictor,
    volumes: Sequence["Volume"],
    models: str | Sequence[str] = ALL,
    options: RunOptions | None = None,
    *,
    slice_index: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: ProgressFn | None = None,
) -> Prefetched:
    """Run the 2D models' plain forwards of ``volumes`` in batches of ``batch_size`` and cache the
    results; never raises for one input or one batch (those run per image afterwards)."""
    options = options or RunOptions()
    out = Prefetched()
    if not batchable(options):
        return out
    names = predictor.classifier_names() if models == ALL else [models] if isinstance(models, str) else list(models)
    planned: list[_Planned] = []
    prepared: dict[tuple[Any, ...], tuple["ModelInput", int | None, float]] = {}
    for stored in volumes:
        stored_digest = image_hash(stored)
        volume, _, digest = predictor.film_as_read(stored, stored_digest)  # stored turned, inverted or mirrored: read back
        for name in names:
            plan = _plan(predictor, volume, digest, name, options, slice_index, out, prepared)
            if plan is not None:
                plan.input_digest = stored_digest
                planned.append(plan)
    groups: dict[int, list[_Stage]] = {}
    for plan in planned:
        for stage in plan.stages:
            groups.setdefault(id(stage.model), []).append(stage)
    bf16 = predictor.effective_options(options).bf16
    done = 0
    total = sum(len(g) for g in groups.values())
    for stages in groups.values():
        for start in range(0, len(stages), max(1, batch_size)):
            chunk = stages[start:start + max(1, batch_size)]
            report(progress, done, total, f"{chunk[0].spec.name}: batch of {len(chunk)}")
            try:
                _forward(chunk, bf16)
            except Exception as exc:  # e.g. out of memory: these inputs run per image instead
                if is_out_of_memory(exc):
                    release_accelerator_memory(predictor.device)
                out.failed_batches.append(f"{chunk[0].spec.name}: {type(exc).__name__}: {exc}")
            done += len(chunk)
    report(progress, total, total, "batches done")
    for plan in planned:
        if all(stage.logits is not None for stage in plan.stages):
            try:
                result = _result(plan, options)
            except Exception as exc:  # as above: computed again per image, which reports it
                out.failed_batches.append(f"{plan.loaded.spec.name}: {type(exc).__name__}: {exc}")
                continue
            predictor.cache.put(plan.key, result)
            out.computed.add((plan.input_digest or plan.digest, plan.loaded.spec.name))
    return out


def _plan(predictor: Predictor, volume: "Volume", digest: str, name: str, options: RunOptions, slice_index: int | None,
          out: Prefetched, prepared: dict) -> _Planned | None:  # type: ignore[type-arg]
    """The stages of ``name`` on ``volume`` when the Predictor would run its plain forward, else None."""
    try:
        spec = predictor.store.spec(name)
        if spec.task not in ("classification", "cascade") or spec.modality not in ("CXR", "CT_SLICE"):
            return None
        if not check_input(volume, spec, slice_index, predictor.image_kind(volume, spec, slice_index, digest)).accepted:
            return None
        if not predictor.availability(name)[0]:
            return None
        t0 = time.perf_counter()
        loaded = predictor.store.get(name, predictor.device)
        load_s = time.perf_counter() - t0
        index = slice_index if spec.modality == "CT_SLICE" and not volume.is_2d else None
        if spec.modality == "CT_SLICE" and not volume.is_2d and index is None:
            index = volume.shape[0] // 2
        key = predictor.cache.key(digest, name, loaded.weights_sha256, options.method, slice=index,
                                  calibration=calibration_token(loaded.spec), **options.cache_options())
        if predictor.cache.get(key) is not None:
            return None
        if loaded.spec.task == "cascade":
            return _plan_cascade(predictor, loaded, volume, digest, key, out, prepared, load_s)
        timings: dict[str, float] = {}
        lung = None
        if loaded.spec.needs_lung_unet:
            t0 = time.perf_counter()
            lung = predictor.cached_lung_mask(volume, digest, loaded.device)
            out.masks[digest] = lung
            timings["lung_mask_s"] = time.perf_counter() - t0
        model_input, used_index, prep_s = _prepared(volume, digest, loaded.spec, lung, index, prepared)
        timings["preprocess_s"] = prep_s
        calibration, problem = card_calibration(loaded.spec, loaded.weights_sha256)
        stage = _Stage(loaded.model, loaded.spec, model_input, calibration, problem)
        return _Planned(digest, loaded, key, used_index, [stage], timings, load_s)
    except Exception:  # the per-image path gives this input its unavailable / error result
        return None


def _plan_cascade(predictor: Predictor, loaded: LoadedModel, volume: "Volume", digest: str, key: Hashable,
                  out: Prefetched, prepared: dict, load_s: float) -> _Planned:  # type: ignore[type-arg]
    t0 = time.perf_counter()
    lung = predictor.cached_lung_mask(volume, digest, loaded.device, loaded.model.segmenter)
    out.masks[digest] = lung
    timings = {"lung_mask_s": time.perf_counter() - t0}
    stages = []
    for part in cascade_stages(loaded):
        model_input, _, _ = _prepared(volume, digest, part.spec, lung, None, prepared)
        stages.append(_Stage(part.model, part.spec, model_input, part.calibration, part.problem, part.weights_sha256))
    return _Planned(digest, loaded, key, None, stages, timings, load_s)


def _prepared(volume: "Volume", digest: str, spec: "ModelSpec", lung: np.ndarray | None, index: int | None,
              prepared: dict) -> tuple["ModelInput", int | None, float]:  # type: ignore[type-arg]
    """``prepare_model_input`` once per input and preprocessing (models of one family share it)."""
    key = (digest, spec.modality, spec.preprocess, spec.lung_mask, index, lung is not None)
    if key not in prepared:
        t0 = time.perf_counter()
        model_input, used_index = prepare_model_input(volume, spec, lung, index)
        prepared[key] = (model_input, used_index, time.perf_counter() - t0)
    return prepared[key]


def _forward(chunk: list[_Stage], bf16: bool) -> None:
    """One batched forward of the same network over ``chunk``: logits and, when a card's OOD check
    wants them, the penultimate features of each input (the hook the per-image FeatureWatch uses)."""
    import torch

    from covidviewer.models.features import capture_features

    model = chunk[0].model
    device = next(model.parameters()).device
    x = torch.from_numpy(np.stack([s.model_input.tensor for s in chunk])).to(device)
    first = chunk[0].model_input
    kwargs = {k: np.concatenate([s.model_input.forward_kwargs[k] for s in chunk]) for k in first.forward_kwargs}
    bound = bind_model(model, replace(first, forward_kwargs=kwargs))
    wants_features = any(s.calibration is not None and s.calibration.ood is not None for s in chunk)
    autocast = bf16 and device.type == "cpu"
    t0 = time.perf_counter()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        if wants_features:
            with capture_features(model) as capture:
                logits = bound(x).float().cpu().numpy()
                features = capture.take().cpu().numpy()
        else:
            logits, features = bound(x).float().cpu().numpy(), None
    share = (time.perf_counter() - t0) / len(chunk)
    for i, stage in enumerate(chunk):
        stage.logits, stage.predict_s = logits[i], share
        stage.features = None if features is None else features[i]


def _result(plan: _Planned, options: RunOptions) -> "ModelResult":
    """The ModelResult the Predictor would have built from the same forwards."""
    loaded = plan.loaded
    if loaded.spec.task == "cascade":
        stages, logits = [], []
        for stage in plan.stages:
            stage_result = _stage_result(LoadedModel(stage.model, stage.spec, stage.weights_sha256, loaded.device), stage, options)
            stages.append(stage_result)
            logits.append(stage.logits / (stage.calibration.temperature if stage.calibration is not None else 1.0))
        result = cascade_result(loaded, stages, logits, [s.spec for s in plan.stages], options, dict(plan.timings))
    else:
        result = _stage_result(loaded, plan.stages[0], options)
        result.slice_index = plan.slice_index
        result.timings.update(plan.timings)
    # this input's own share of the work (the batch's forward time divided among its inputs)
    result.timings = {"load_s": plan.load_s, **result.timings}
    result.timings["total_s"] = sum(result.timings.values())
    return result


def _stage_result(loaded: LoadedModel, stage: _Stage, options: RunOptions) -> "ModelResult":
    run = NetworkRun(np.asarray(stage.logits, dtype=np.float32), timings={"predict_s": stage.predict_s})
    wants = stage.calibration is not None and stage.calibration.ood is not None
    return calibrated_result(loaded, stage.spec, run, options, stage.calibration, stage.problem,
                             stage.features if wants else None)
