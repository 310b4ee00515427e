"""The Predictor: input gate (metadata, then the image-kind model's verdict on the pixels) -> trained
model (lazy, cached per device) -> preprocessing from the spec -> prediction and attention map on the
original grid -> cached ModelResult.

Progress/cancel protocol (the UI's worker drives it): ``analyse(..., progress, cancelled)`` calls
``progress(done, total, message)`` at every step ("dpn92_se: loading", "dpn92_se: LIME" with the
sample count...) and checks ``cancelled()`` between steps and between explainer batches; when it
turns true, :class:`covidviewer.io.cancel.Cancelled` is raised and nothing is cached.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from covidviewer.explain.base import part_of, report
from covidviewer.imaging.lung_box import shows_two_lungs
from covidviewer.inference.age_check import warn_on_child
from covidviewer.inference.cache import ResultCache, image_hash
from covidviewer.inference.cascade_result import cascade_result
from covidviewer.inference.calibrated import FeatureWatch, calibration_token, card_calibration
from covidviewer.inference.detail_check import warn_on_film_detail
from covidviewer.inference.device import choose_device, is_out_of_memory, release_accelerator_memory
from covidviewer.inference.era_check import exclude_covid_before_2019
from covidviewer.inference.film_hanging import FilmReading, mask_back, read_back
from covidviewer.inference.gate import (
    GateDecision,
    ImageKind,
    check_input,
    check_lung_pair,
    needs_lung_pair,
    telling_tags,
    unsure_kind_warning,
)
from covidviewer.inference.gate_verdicts import GateVerdicts
from covidviewer.inference.inputs import compute_lung_mask, prepare_model_input
from covidviewer.inference.network_result import calibrated_result, cascade_stages
from covidviewer.inference.results import (
    STATUS_ERROR,
    STATUS_OK,
    STATUS_REFUSED,
    STATUS_UNAVAILABLE,
    AnalysisResult,
    ModelResult,
)
from covidviewer.inference.runner import NO_EXPLANATION, RunOptions, run_network
from covidviewer.inference.size_check import LARGE_FILM_SIDE, warn_on_large_film
from covidviewer.inference.view_check import film_view, warn_on_ap_film, warn_on_pa_film
from covidviewer.inference.store import LoadedModel, ModelStore, ModelUnavailable, trainer_command
from covidviewer.inference.stress_record import recorded_style_stress
from covidviewer.io.cancel import CancelledFn, ProgressFn, raise_if_cancelled

if TYPE_CHECKING:
    import torch

    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import ModelSpec

SEGMENTER = "lung_unet"
ALL = "all"


class Predictor:
    """Runs registered models (and explanations) on loaded images; Qt-free, one call per worker.

    device: "auto" (CUDA -> MPS -> CPU), "cuda", "mps" or "cpu". precision: "fp32" or "bf16"
    (CPU autocast for plain forwards and LIME batches). store / cache may be shared between
    predictors (e.g. one per device).
    """

    def __init__(
        self,
        device: str = "auto",
        precision: str = "fp32",
        store: ModelStore | None = None,
        cache: ResultCache | None = None,
    ):
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
        self.device, self.device_warnings = choose_device(device)
        self.precision = precision
        self.store = store or ModelStore()
        self.cache = cache or ResultCache()
        self._lung_masks: dict[tuple[str, str], np.ndarray] = {}  # (image hash, segmenter) -> mask
        self.verdicts = GateVerdicts(self.store)

    # ------------------------------------------------------------------ catalogue
    def classifier_names(self) -> list[str]:
        """Registered models a user can ask for: classifiers and cascades, not segmenters, cascade parts
        or the gate's image-kind model (modality ANY_2D)."""
        from covidviewer.models import get_spec, list_models

        names = list_models()
        parts = {p for n in names for p in get_spec(n).parts.values()}
        return [
            n for n in names
            if get_spec(n).task in ("classification", "cascade") and get_spec(n).modality != "ANY_2D" and n not in parts
        ]

    def gate(self, volume: "Volume", name: str, slice_index: int | None = None) -> GateDecision:
        """The gate's decision on the film as the models would read it (turned, inverted or mirrored back)."""
        volume, _, digest = self.film_as_read(volume)
        return self._check(volume, self.store.spec(name), slice_index, digest)[0]

    def _check(
        self, volume: "Volume", spec: "ModelSpec", slice_index: int | None, digest: str
    ) -> tuple[GateDecision, ImageKind | None]:
        """(the gate's decision, the image-kind verdict) on the film as read: ``check_input``, and for a film the
        image-kind model is unsure of, tagged or not, the lung U-Net's two lungs (``check_lung_pair``; not without its
        weights)."""
        kind = self.image_kind(volume, spec, slice_index, digest)
        decision = check_input(volume, spec, slice_index, kind)
        if decision.accepted and needs_lung_pair(spec, kind) and self.store.availability(SEGMENTER).available:
            two_lungs = shows_two_lungs(self.cached_lung_mask(volume, digest, self.device))
            decision = check_lung_pair(kind, two_lungs, telling_tags(volume, spec))
        return decision, kind

    def image_kind(
        self, volume: "Volume", spec: "ModelSpec | None" = None, slice_index: int | None = None, digest: str | None = None
    ) -> ImageKind | None:
        """The image-kind model's verdict on the image ``spec``'s model would analyse (the middle slice
        of a volume unless a CT-slice model is given ``slice_index``); None without its trained weights
        or for colour images. Always on the CPU: the model is tiny and the verdict must not depend on
        the device."""
        return self.verdicts.image_kind(volume, spec, slice_index, digest or image_hash(volume))

    def film_as_read(self, volume: "Volume", digest: str | None = None) -> tuple["Volume", FilmReading, str]:
        """(the film the classifiers read, how it is read, that film's hash): a film stored turned, inverted or
        mirrored is read back (``covidviewer.inference.film_hanging``); any other image as stored."""
        return self.verdicts.reading(volume, digest or image_hash(volume))

    def applicable_models(self, volume: "Volume", slice_index: int | None = None) -> list[str]:
        """Classifier names whose gate accepts this input (whether or not they have weights)."""
        return [n for n in self.classifier_names() if self.gate(volume, n, slice_index).accepted]

    def availability(self, name: str) -> tuple[bool, str]:
        """(available, reason) including the lung U-Net for models that need its mask."""
        own = self.store.availability(name)
        if not own.available:
            return False, own.reason
        spec = self.store.spec(name)
        if spec.task != "cascade" and spec.needs_lung_unet:
            seg = self.store.availability(SEGMENTER)
            if not seg.available:
                return False, f"needs the lung U-Net ({SEGMENTER}): {seg.reason}"
        return True, ""

    # ------------------------------------------------------------------ analysis
    def analyse(
        self,
        volume: "Volume",
        models: str | Sequence[str] = ALL,
        options: RunOptions | None = None,
        *,
        source: str = "",
        slice_index: int | None = None,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> AnalysisResult:
        """Every requested model's result on one input. ``models="all"``: every classifier.

        Refused / unavailable / failing models get a ModelResult with that status and a reason;
        the others still run. Raises ``Cancelled`` when ``cancelled()`` turns true.
        """
        options = options or RunOptions()
        names = self.classifier_names() if models == ALL else [models] if isinstance(models, str) else list(models)
        stored_digest = image_hash(volume)
        result = AnalysisResult(input=source, status=STATUS_OK, image_hash=stored_digest, shape=tuple(volume.pixels.shape),
                                view=film_view(volume.meta) if volume.is_2d else "")
        result.warnings.extend(volume.warnings)  # what the loader noticed (missing slices, NaN pixels...)
        result.warnings.extend(self.device_warnings)
        volume, reading, digest = self.film_as_read(volume, stored_digest)  # as the classifiers were trained to read it
        result.hanging = reading
        for i, name in enumerate(names):
            raise_if_cancelled(cancelled)
            step = part_of(progress, i, len(names))
            report(step, 0, 1, f"{name}: starting")
            model_result = self._analyse_model(volume, name, options, digest, slice_index, step, cancelled)
            if options.date_check:  # a copy when it changes: cached results stay as the model gave them
                model_result = exclude_covid_before_2019(model_result, volume.meta)
            model_result = warn_on_child(model_result, volume.meta, _modality(name))
            model_result = self._warn_on_size(model_result, volume, name)
            if model_result.status == STATUS_OK:  # a model that did not run may not be registered
                model_result = warn_on_film_detail(model_result, self.store.spec(name), volume,
                                                   self._lung_masks.get((digest, _segmenter_of(self.store.spec(name)))))
                model_result = warn_on_ap_film(model_result, self.store.spec(name), volume.meta, _modality(name))
                model_result = warn_on_pa_film(model_result, self.store.spec(name), volume.meta, _modality(name),
                                               options.date_check)
            model_result = read_back(model_result, reading)
            if models == ALL and model_result.status == STATUS_REFUSED and not model_result.applicable:
                result.not_applicable.append(name)
            else:
                result.models.append(model_result)
        report(progress, len(names), len(names), "done")
        result.lung_mask = mask_back(self._shown_lung_mask(digest), reading)
        kind_index = slice_index if slice_index is not None and 0 <= slice_index < volume.shape[0] else volume.shape[0] // 2
        result.image_kind = self.verdicts.kind_seen(digest, kind_index)
        _summarise(result)
        return result

    def _warn_on_size(self, result: ModelResult, volume: "Volume", name: str) -> ModelResult:
        """``result`` with the style stress test's warning for a radiograph far larger than the training films."""
        film_side = max(volume.shape[1:])
        if result.status != STATUS_OK or not volume.is_2d or film_side < LARGE_FILM_SIDE:
            return result  # no card to read for a small film
        stress = recorded_style_stress(self.store.spec(name), result.weights_sha256)
        return warn_on_large_film(result, film_side, _modality(name), stress)

    def lung_mask(self, volume: "Volume") -> np.ndarray | None:
        """(H, W) lung probability of a radiograph (for agreement numbers); None without a trained U-Net."""
        if not volume.is_2d or not self.store.availability(SEGMENTER).available:
            return None
        read, reading, digest = self.film_as_read(volume)  # the U-Net, too, learnt films hung as read
        if read.is_rgb:
            return None
        return mask_back(self.cached_lung_mask(read, digest, self.device), reading)

    # ------------------------------------------------------------------ one model
    def _analyse_model(
        self,
        volume: "Volume",
        name: str,
        options: RunOptions,
        digest: str,
        slice_index: int | None,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> ModelResult:
        try:
            spec = self.store.spec(name)
        except KeyError as exc:
            return ModelResult(name, STATUS_ERROR, str(exc.args[0]))
        if spec.task == "segmentation":
            return ModelResult(name, STATUS_ERROR, f"{name} is a segmenter, not a classifier", version=spec.version)
        if spec.modality == "ANY_2D":
            return ModelResult(name, STATUS_ERROR, f"{name} is one of the input gate's networks, not a COVID-19 classifier", version=spec.version)
        decision, kind = self._check(volume, spec, slice_index, digest)
        if not decision.accepted:
            return ModelResult(name, STATUS_REFUSED, decision.reason, version=spec.version, applicable=decision.applicable)
        available, why = self.availability(name)
        if not available:
            return ModelResult(name, STATUS_UNAVAILABLE, why, version=spec.version, trainer_command=trainer_command(spec))
        start = time.perf_counter()
        try:
            result = self._run_with_fallback(volume, name, options, digest, slice_index, progress, cancelled, start)
        except ModelUnavailable as exc:
            return ModelResult(name, STATUS_UNAVAILABLE, str(exc), version=spec.version, trainer_command=trainer_command(spec))
        except (ValueError, RuntimeError) as exc:
            return ModelResult(name, STATUS_ERROR, f"{type(exc).__name__}: {exc}", version=spec.version)
        unsure = unsure_kind_warning(volume, spec, kind)  # a copy: the cached result stays as the model gave it
        return replace(result, warnings=[*result.warnings, unsure]) if unsure and result.status == STATUS_OK else result

    def _run_with_fallback(self, volume, name, options, digest, slice_index, progress, cancelled, start) -> ModelResult:  # type: ignore[no-untyped-def]
        """Run on the chosen device; a CUDA/MPS out-of-memory error retries on the CPU and says so."""
        import torch

        device = self.device
        try:
            return self._run_on(device, volume, name, options, digest, slice_index, progress, cancelled, start)
        except Exception as exc:
            if device.type == "cpu" or not is_out_of_memory(exc):
                raise
        release_accelerator_memory(device)
        self.store.evict(device)
        result = self._run_on(torch.device("cpu"), volume, name, options, digest, slice_index, progress, cancelled, start)
        result.warnings.append(f"out of memory on {device}; this result was computed on the CPU")
        return result

    def _run_on(
        self,
        device: "torch.device",
        volume: "Volume",
        name: str,
        options: RunOptions,
        digest: str,
        slice_index: int | None,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
        start: float,
    ) -> ModelResult:
        report(progress, 0, 1, f"{name}: loading")
        t0 = time.perf_counter()
        loaded = self.store.get(name, device)
        load_s = time.perf_counter() - t0
        spec = loaded.spec
        index = slice_index if spec.modality == "CT_SLICE" and not volume.is_2d else None
        if spec.modality == "CT_SLICE" and not volume.is_2d and index is None:
            index = volume.shape[0] // 2
        key = self.cache.key(digest, name, loaded.weights_sha256, options.method, slice=index,
                             calibration=calibration_token(spec), **options.cache_options())
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        inner = _prefixed(progress, name)
        if spec.task == "cascade":
            result = self._run_cascade(loaded, volume, digest, options, inner, cancelled)
        else:
            result = self._run_single(loaded, volume, digest, options, index, inner, cancelled)
        result.timings = {"load_s": load_s, **result.timings, "total_s": time.perf_counter() - start}
        self.cache.put(key, result)
        return result

    def _run_single(self, loaded: LoadedModel, volume, digest, options, slice_index, progress, cancelled) -> ModelResult:  # type: ignore[no-untyped-def]
        spec, timings, warnings = loaded.spec, {}, []
        lung = None
        wants_lungs = options.method == "lime" and options.lime.restrict_to_lungs
        if spec.needs_lung_unet or (wants_lungs and spec.modality == "CXR"):
            t0 = time.perf_counter()
            try:
                lung = self.cached_lung_mask(volume, digest, loaded.device)
            except ModelUnavailable as exc:
                if spec.needs_lung_mask:
                    raise
                warnings.append(f"LIME not restricted to the lungs: {exc}")
            timings["lung_mask_s"] = time.perf_counter() - t0
        if wants_lungs and lung is None:
            if spec.modality != "CXR":
                warnings.append("LIME lung restriction applies to radiographs only")
            options = replace(options, lime=replace(options.lime, restrict_to_lungs=False))
        t0 = time.perf_counter()
        model_input, index = prepare_model_input(volume, spec, lung, slice_index)
        timings["preprocess_s"] = time.perf_counter() - t0
        calibration, problem = card_calibration(spec, loaded.weights_sha256)
        with FeatureWatch(loaded.model, calibration, plain=options.method == NO_EXPLANATION) as watch:
            run = run_network(loaded.model, spec, model_input, self.effective_options(options), progress, cancelled)
        features = watch.result(model_input, self.effective_options(options).bf16)
        result = calibrated_result(loaded, spec, run, options, calibration, problem, features)
        result.slice_index = index
        result.timings.update(timings)
        result.warnings[:0] = warnings
        return result

    def _run_cascade(self, loaded: LoadedModel, volume, digest, options, progress, cancelled) -> ModelResult:  # type: ignore[no-untyped-def]
        """Both stages always run (all four probabilities are defined); the map shown for the cascade
        is the one of the stage that made the paper's hard decision."""
        t0 = time.perf_counter()
        lung = self.cached_lung_mask(volume, digest, loaded.device, loaded.model.segmenter)
        timings = {"lung_mask_s": time.perf_counter() - t0}
        stages: list[ModelResult] = []
        logits: list[np.ndarray] = []
        parts = cascade_stages(loaded)
        for part in parts:
            model_input, _ = prepare_model_input(volume, part.spec, lung)
            with FeatureWatch(part.model, part.calibration, plain=options.method == NO_EXPLANATION) as watch:
                run = run_network(part.model, part.spec, model_input, self.effective_options(options), progress, cancelled)
            features = watch.result(model_input, self.effective_options(options).bf16)
            stage_loaded = LoadedModel(part.model, part.spec, part.weights_sha256, loaded.device)
            stages.append(calibrated_result(stage_loaded, part.spec, run, options, part.calibration, part.problem, features))
            logits.append(run.logits / (part.calibration.temperature if part.calibration is not None else 1.0))
        return cascade_result(loaded, stages, logits, [part.spec for part in parts], options, timings)

    # ------------------------------------------------------------------ shared with batch prediction
    def effective_options(self, options: RunOptions) -> RunOptions:
        """``options`` as a run uses them: this Predictor's bf16 precision applies to every run."""
        return replace(options, bf16=options.bf16 or self.precision == "bf16")

    def cached_lung_mask(self, volume: "Volume", digest: str, device: "torch.device", segmenter=None) -> np.ndarray:  # type: ignore[no-untyped-def]
        """The lung mask of the image with hash ``digest``, computed once (by ``segmenter``, default the
        registered lung U-Net on ``device``) and kept for a few recent images. Kept per segmenter: a cascade may hold
        another lung U-Net than the shared one (its ``segmenter`` part), and each network must get the lungs it learnt
        from."""
        spec = getattr(segmenter, "spec", None)
        key = (digest, spec.name if spec is not None else SEGMENTER)
        if key not in self._lung_masks:
            if segmenter is None:
                segmenter = self.store.get(SEGMENTER, device).model
            if len(self._lung_masks) > 8:  # a few recent images are enough for compare views
                self._lung_masks.pop(next(iter(self._lung_masks)))
            self._lung_masks[key] = compute_lung_mask(segmenter, volume)
        return self._lung_masks[key]

    def _shown_lung_mask(self, digest: str) -> np.ndarray | None:
        """The lungs a result shows: the shared U-Net's where it ran on this image, else those of the one that did."""
        shared = self._lung_masks.get((digest, SEGMENTER))
        if shared is not None:
            return shared
        return next((mask for (image, _), mask in self._lung_masks.items() if image == digest), None)


def _segmenter_of(spec: "ModelSpec") -> str:
    """The segmenter whose lungs ``spec``'s model reads: a cascade's own part, else the shared lung U-Net."""
    return spec.parts.get("segmenter", SEGMENTER)


def _summarise(result: AnalysisResult) -> None:
    """Input-level status and reason from the per-model results."""
    if any(r.status == STATUS_OK for r in result.models):
        return
    refused = [r for r in result.models if r.status == STATUS_REFUSED]
    errors = [r for r in result.models if r.status == STATUS_ERROR]
    if refused:
        result.status, result.reason = STATUS_REFUSED, _common_reason(refused)
    elif errors:
        result.status, result.reason = STATUS_ERROR, "; ".join(f"{r.model}: {r.reason}" for r in errors)
    elif result.models:
        result.status, result.reason = STATUS_REFUSED, "not analysed: no applicable model has trained weights"
    else:
        result.status, result.reason = STATUS_REFUSED, "not analysed: no model reads this kind of image"


def _prefixed(progress: ProgressFn | None, name: str) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda done, total, message: progress(done, total, f"{name}: {message}")


def _common_reason(refused: list[ModelResult]) -> str:
    """One reason, or each distinct reason once with the models that gave it."""
    groups: dict[str, list[str]] = {}
    for r in refused:
        groups.setdefault(r.reason, []).append(r.model)
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{reason} ({', '.join(models)})" for reason, models in groups.items())


def _modality(name: str) -> str:
    """The model's modality ("" for a name the registry does not know: its result is an error already)."""
    from covidviewer.models import get_spec

    try:
        return get_spec(name).modality
    except KeyError:
        return ""
