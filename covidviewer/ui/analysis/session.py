"""Qt-free model of an analysis in the viewer: which models exist for the shown image, what the user
asked for, and every (model, method) result of one run.

The functions here run in a worker thread (they import torch through covidviewer.inference the
first time); the widgets only read the plain objects they return.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from covidviewer.explain import METHODS

if TYPE_CHECKING:
    from covidviewer.inference.gate import ImageKind
    from covidviewer.inference import AnalysisResult, ModelResult, Predictor
    from covidviewer.inference.series_scan import SeriesScan
    from covidviewer.io.volume import Volume

#: the method choice that gives each model the map its paper shows (CAM for DARNet, else Grad-CAM)
PAPER_DEFAULT = "default"
#: method id -> label shown in the UI: explain's own names plus the two choices that are not methods
METHOD_LABELS: dict[str, str] = {
    PAPER_DEFAULT: "Paper's map (CAM for DARNet, Grad-CAM otherwise)",
    **METHODS,
    "none": "No map (probabilities only)",
}
SHORT_METHOD_LABELS = {"cam": "CAM", PAPER_DEFAULT: "Paper's map", "none": "No map"}
DEVICES = ("auto", "cpu")


def method_label(method: str, short: bool = True) -> str:
    """Human name of a method id ("gradcampp" -> "Grad-CAM++")."""
    if short and method in SHORT_METHOD_LABELS:
        return SHORT_METHOD_LABELS[method]
    return METHOD_LABELS.get(method, method)


@dataclass(frozen=True)
class ModelChoice:
    """One classifier as the model picker lists it for the shown image.

    applicable: the model reads this kind of image (a CT model is not applicable to a radiograph).
    refusal: the gate's "not analysed: ..." reason for an applicable model, "" when accepted.
    available / reason / trainer_command: whether trained weights are installed, and how to train.
    """

    name: str
    version: str
    modality: str
    description: str
    applicable: bool
    refusal: str
    available: bool
    reason: str = ""
    trainer_command: str = ""
    #: the paper's model this one is an ablation of ("" for a paper's own model)
    ablation_of: str = ""

    @property
    def runnable(self) -> bool:
        """Applicable and with trained weights installed."""
        return self.applicable and self.available


@dataclass(frozen=True)
class AnalysisRequest:
    """What Analyse runs: models x methods on one device (slice_index: the axial slice for CT-slice models).

    LIME: at most ``lime_samples``, stopping once its top superpixels are steady (``lime_early_stop``;
    False draws them all, the paper's setting), superpixels inside the lung mask where the lung U-Net
    can draw one (``lime_lungs``).
    """

    models: tuple[str, ...]
    methods: tuple[str, ...] = (PAPER_DEFAULT,)
    device: str = "auto"
    slice_index: int | None = None
    lime_samples: int = 1000
    lime_early_stop: bool = True
    lime_lungs: bool = True
    source: str = ""
    #: CT-slice models also score every lung slice of a CT series and give one answer for it
    whole_series: bool = False
    #: no COVID-19 answer on an image dated before the pandemic (covidviewer.inference.era_check)
    date_check: bool = True


@dataclass(frozen=True)
class MapKey:
    """Names one attention map of a run: model, method id, and the cascade stage ("" for the model's own)."""

    model: str
    method: str
    stage: str = ""

    def label(self) -> str:
        """Human name: "model[ / stage] · method"."""
        stage = f" / {self.stage}" if self.stage else ""
        return f"{self.model}{stage} \u00b7 {method_label(self.method)}"


@dataclass
class AnalysisRun:
    """Everything one Analyse produced for one image.

    results: (model, method) -> ModelResult, in request order. predictions are method-independent,
    so ``model_results()`` gives one result per model for the results panel. status / reason:
    "ok", or "refused" / "error" with the reason, as covidviewer.inference reports it.
    """

    image_hash: str
    shape: tuple[int, ...]
    source: str = ""
    status: str = "ok"
    reason: str = ""
    results: dict[tuple[str, str], "ModelResult"] = field(default_factory=dict)
    analyses: list["AnalysisResult"] = field(default_factory=list)
    lung_mask: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    image_kind: "ImageKind | None" = None
    series: list["SeriesScan"] = field(default_factory=list)
    _overlays: dict[MapKey, np.ndarray | None] = field(default_factory=dict, repr=False)

    def model_results(self) -> list["ModelResult"]:
        """One result per model (its first method's): probabilities do not depend on the method."""
        seen: dict[str, "ModelResult"] = {}
        for (model, _method), result in self.results.items():
            seen.setdefault(model, result)
        return list(seen.values())

    def maps(self, include_stages: bool = True) -> dict[MapKey, "ModelResult"]:
        """Every result that carries a map (cascade stages as their own entries)."""
        out: dict[MapKey, "ModelResult"] = {}
        for (model, method), result in self.results.items():
            if result.heatmap is not None:
                out[MapKey(model, method)] = result
            if include_stages:
                for stage in result.stages:
                    if stage.heatmap is not None:
                        out[MapKey(model, method, stage.model)] = stage
        return out

    def overlay(self, key: MapKey, shape: tuple[int, int, int]) -> np.ndarray | None:
        """``key``'s map as a (z, y, x) volume on the image grid, built once per run and shared by
        the main view and the compare panes (a CT-sized map is hundreds of MB)."""
        if key not in self._overlays:
            result = self.maps().get(key)
            self._overlays[key] = None if result is None else overlay_volume(result, shape)
        return self._overlays[key]

    def methods_of(self, model: str) -> list[str]:
        """Method ids that ``model`` has a result for, in run order."""
        return [method for (name, method) in self.results if name == model]

    def merged(self) -> "AnalysisResult":
        """One AnalysisResult holding every (model, method) result, for JSON export in the CLI's schema."""
        from covidviewer.inference import AnalysisResult

        merged = AnalysisResult(self.source, self.status, self.reason, image_hash=self.image_hash, shape=self.shape)
        merged.models = list(self.results.values())
        merged.lung_mask = self.lung_mask
        merged.warnings = list(self.warnings)
        merged.not_applicable = list(self.not_applicable)
        merged.image_kind = self.image_kind
        return merged


def build_catalogue(predictor: "Predictor", volume: "Volume", slice_index: int | None = None) -> list[ModelChoice]:
    """Every classifier with its gate decision and availability for ``volume`` (applicable and
    runnable ones first)."""
    from covidviewer.inference.store import trainer_command

    choices = []
    for name in predictor.classifier_names():
        spec = predictor.store.spec(name)
        decision = predictor.gate(volume, name, slice_index)
        available, why = predictor.availability(name)
        choices.append(ModelChoice(
            name=name, version=spec.version, modality=spec.modality, description=spec.description or spec.paper,
            applicable=decision.applicable, refusal="" if decision.accepted else decision.reason,
            available=available, reason=why, trainer_command="" if available else trainer_command(spec),
            ablation_of=spec.ablation_of,
        ))
    return sorted(choices, key=lambda c: (not c.applicable, not c.available))


def effective_method(method: str, spec_default: str) -> str:
    """The method a model really runs: the paper's default for PAPER_DEFAULT."""
    return spec_default if method == PAPER_DEFAULT else method


def run_analysis(
    predictor: "Predictor",
    volume: "Volume",
    request: AnalysisRequest,
    progress: Callable[[int, int, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> AnalysisRun:
    """Run every requested model with every requested method (each pair once) -> AnalysisRun.

    Models are grouped per effective method so each group is one ``Predictor.analyse`` call
    (cached pairs come back at once). Raises covidviewer.io.cancel.Cancelled when cancelled.
    """
    from covidviewer.explain import default_method
    from covidviewer.explain.base import part_of
    from covidviewer.io.cancel import raise_if_cancelled
    from covidviewer.inference import ALL, RunOptions, image_hash

    if not request.models:  # nothing reads this image: let the Predictor say why, as the CLI does
        analysis = predictor.analyse(volume, ALL, RunOptions(), source=request.source, cancelled=cancelled)
        return AnalysisRun(analysis.image_hash, analysis.shape, request.source, analysis.status, analysis.reason,
                           analyses=[analysis], warnings=list(analysis.warnings), not_applicable=list(analysis.not_applicable),
                           image_kind=analysis.image_kind)

    groups: dict[str, list[str]] = {}
    for method in request.methods:
        for name in request.models:
            real = effective_method(method, default_method(predictor.store.spec(name)))
            if name not in groups.setdefault(real, []):
                groups[real].append(name)
    run = AnalysisRun(image_hash(volume), tuple(volume.pixels.shape), request.source)
    series = request.whole_series and not volume.is_2d
    parts = len(groups) + int(series)
    for g, (method, names) in enumerate(groups.items()):
        raise_if_cancelled(cancelled)
        label = method_label(method)
        whole = part_of(progress, g, parts)

        def step(done: int, total: int, message: str, label: str = label, whole=whole) -> None:  # type: ignore[no-untyped-def]
            if whole is not None:
                whole(done, total, f"{label} \u00b7 {message}")

        options = RunOptions(method=method, lime_samples=request.lime_samples, lime_early_stop=request.lime_early_stop,
                             lime_restrict_to_lungs=request.lime_lungs, date_check=request.date_check)
        analysis = predictor.analyse(volume, names, options, source=request.source, slice_index=request.slice_index,
                                     progress=step, cancelled=cancelled)
        run.analyses.append(analysis)
        for result in analysis.models:
            run.results[(result.model, method)] = result
        run.warnings += [w for w in analysis.warnings if w not in run.warnings]
        run.image_kind = run.image_kind or analysis.image_kind
        if analysis.lung_mask is not None:
            run.lung_mask = analysis.lung_mask
    if series:
        from covidviewer.inference.series_scan import scan_all_series

        whole = part_of(progress, parts - 1, parts)
        run.series = scan_all_series(predictor, volume, list(request.models), _labelled(whole, "Whole series"), cancelled,
                                     date_check=request.date_check)
    _summarise(run)
    if run.lung_mask is None and volume.is_2d and run.maps(include_stages=False):
        try:  # the agreement numbers need the lungs; None without a trained lung U-Net
            run.lung_mask = predictor.lung_mask(volume)
        except (ValueError, RuntimeError) as exc:
            run.warnings.append(f"no lung mask for the agreement numbers: {exc}")
    return run


def _labelled(progress: Callable[[int, int, str], None] | None, label: str) -> Callable[[int, int, str], None] | None:
    if progress is None:
        return None
    return lambda done, total, message: progress(done, total, f"{label} \u00b7 {message}")


def lime_samples_note(run: AnalysisRun) -> str:
    """"LIME samples used: dpn92_se 412 of at most 1000" over the LIME maps of ``run`` (each cascade
    stage by name); "" when the run has none."""
    notes = []
    for (model, method), result in run.results.items():
        if method != "lime":
            continue
        parts = [(f"{model} / {stage.model}", stage) for stage in result.stages] or [(model, result)]
        for name, part in parts:
            details = part.explanation.details if part.explanation is not None else {}
            if "num_samples" in details:
                used, most = details["num_samples"], details.get("max_samples", details["num_samples"])
                notes.append(f"{name} {used}" + (f" of at most {most}" if most != used else ""))
    return f"LIME samples used: {', '.join(notes)}" if notes else ""


def _summarise(run: AnalysisRun) -> None:
    """Run-level status: ok when any model answered, else the first analysis's refusal/error."""
    if any(r.ok for r in run.results.values()) or not run.analyses:
        return
    worst = next((a for a in run.analyses if a.status != "ok"), run.analyses[0])
    run.status, run.reason = worst.status, worst.reason


def overlay_volume(result: "ModelResult", shape: tuple[int, int, int]) -> np.ndarray | None:
    """A result's map as a (z, y, x) float32 volume on the image grid (what SliceView.set_overlay takes).

    A radiograph map is (H, W) -> (1, H, W); a CT-slice model's map lands on its analysed slice only
    (zero elsewhere); a 3D map is used as is.
    """
    heat = result.heatmap
    if heat is None:
        return None
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim == 3:
        return heat if heat.shape == tuple(shape) else _shape_error(heat, shape)
    if shape[0] == 1:
        return heat[None] if heat.shape == tuple(shape[1:]) else _shape_error(heat, shape)
    if result.slice_index is None or heat.shape != tuple(shape[1:]):
        return _shape_error(heat, shape)
    volume_map = np.zeros(shape, dtype=np.float32)
    volume_map[result.slice_index] = heat
    return volume_map


def _shape_error(heat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    raise ValueError(f"map shape {heat.shape} does not fit the image {tuple(shape)}")
