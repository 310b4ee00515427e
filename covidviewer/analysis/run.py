"""An analysis run: the models x methods one Analyse asked for (``AnalysisRequest``), everything it
produced for one image (``AnalysisRun``), and the calls that run it on a Predictor: ``run_analysis``
for the viewer (several methods) and ``analyse_input`` for ``covidviewer predict`` (one method).

Both resolve "default" (the paper's map) per model through ``covidviewer.analysis.methods``. The
functions here run in a worker thread (they import torch through covidviewer.inference the first
time); the widgets only read the plain objects they return.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from covidviewer.analysis.map_lungs import weigh_maps
from covidviewer.analysis.maps import MapKey, overlay_volume
from covidviewer.analysis.methods import PAPER_MAP, method_groups, method_label
from covidviewer.io.cancel import CancelledFn, ProgressFn

if TYPE_CHECKING:
    from covidviewer.inference import AnalysisResult, ModelResult, Predictor, RunOptions
    from covidviewer.inference.consensus import Consensus
    from covidviewer.inference.film_hanging import FilmReading
    from covidviewer.inference.gate import ImageKind
    from covidviewer.inference.series_scan import SeriesScan
    from covidviewer.io.volume import Volume

#: the devices an analysis may ask for ("auto": CUDA -> MPS -> CPU)
DEVICES = ("auto", "cpu")


@dataclass(frozen=True)
class AnalysisRequest:
    """What Analyse runs: models x methods on one device (slice_index: the axial slice for CT-slice models).

    LIME: at most ``lime_samples``, stopping once its top superpixels are steady (``lime_early_stop``;
    False draws them all, the paper's setting), superpixels inside the lung mask where the lung U-Net
    can draw one (``lime_lungs``).
    """

    models: tuple[str, ...]
    methods: tuple[str, ...] = (PAPER_MAP,)
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
    #: the lungs of each slice a CT-slice model read, for the agreement numbers (key None: a single CT image)
    slice_lungs: dict[int | None, np.ndarray | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    image_kind: "ImageKind | None" = None
    series: list["SeriesScan"] = field(default_factory=list)
    consensus: "Consensus | None" = None
    view: str = ""
    hanging: "FilmReading | None" = None
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
        merged.consensus = self.consensus
        merged.view = self.view
        merged.hanging = self.hanging
        return merged


def run_analysis(
    predictor: "Predictor",
    volume: "Volume",
    request: AnalysisRequest,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> AnalysisRun:
    """Run every requested model with every requested method (each pair once) -> AnalysisRun.

    Models are grouped per effective method (``method_groups``) so each group is one
    ``Predictor.analyse`` call (cached pairs come back at once). Raises
    covidviewer.io.cancel.Cancelled when cancelled.
    """
    from covidviewer.explain.base import part_of
    from covidviewer.explain import LimeSettings
    from covidviewer.inference import ALL, RunOptions, image_hash
    from covidviewer.inference.consensus import film_consensus
    from covidviewer.io.cancel import raise_if_cancelled

    if not request.models:  # nothing reads this image: let the Predictor say why, as the CLI does
        analysis = predictor.analyse(volume, ALL, RunOptions(), source=request.source, cancelled=cancelled)
        return AnalysisRun(analysis.image_hash, analysis.shape, request.source, analysis.status, analysis.reason,
                           analyses=[analysis], warnings=list(analysis.warnings), not_applicable=list(analysis.not_applicable),
                           image_kind=analysis.image_kind, view=analysis.view, hanging=analysis.hanging)

    groups = method_groups(predictor.store.spec, request.models, request.methods)
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

        lime = LimeSettings(samples=request.lime_samples, early_stop=request.lime_early_stop, restrict_to_lungs=request.lime_lungs)
        options = RunOptions(method=method, lime=lime, date_check=request.date_check)
        analysis = predictor.analyse(volume, names, options, source=request.source, slice_index=request.slice_index,
                                     progress=step, cancelled=cancelled)
        run.analyses.append(analysis)
        for result in analysis.models:
            run.results[(result.model, method)] = result
        run.warnings += [w for w in analysis.warnings if w not in run.warnings]
        run.image_kind = run.image_kind or analysis.image_kind
        run.view = run.view or analysis.view
        run.hanging = run.hanging or analysis.hanging
        if analysis.lung_mask is not None:
            run.lung_mask = analysis.lung_mask
    if series:
        from covidviewer.inference.series_scan import scan_all_series

        whole = part_of(progress, parts - 1, parts)
        run.series = scan_all_series(predictor, volume, list(request.models), _labelled(whole, "Whole series"), cancelled,
                                     date_check=request.date_check)
    run.consensus = film_consensus(run.model_results(), volume.meta, request.date_check)
    _summarise(run)
    lungs = weigh_maps(predictor, volume, run.maps().values(), run.lung_mask)
    run.lung_mask, run.slice_lungs = lungs.film, lungs.slices
    run.warnings += [w for w in lungs.warnings if w not in run.warnings]
    return run


def analyse_input(
    predictor: "Predictor",
    volume: "Volume",
    models: str | Sequence[str],
    options: "RunOptions",
    *,
    source: str = "",
    slice_index: int | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> "AnalysisResult":
    """``Predictor.analyse`` for one requested method, which may be PAPER_MAP: each model then runs
    its paper's map, as in the viewer (``method_groups``). What ``covidviewer predict`` calls. Each map
    gets its share of attention inside the lungs (``map_lungs``), as the compare grid shows it.

    When every model runs the same method this is one ``Predictor.analyse`` call. Otherwise (CAM for
    DARNet, Grad-CAM for the CT-slice models on a CT series) each method is one call and the results
    come back as one AnalysisResult in model order; with ``models="all"``, the models the gate finds
    not applicable are listed in ``not_applicable`` as the Predictor lists them.
    """
    from covidviewer.explain.base import part_of
    from covidviewer.inference import ALL
    from covidviewer.inference.consensus import film_consensus
    from covidviewer.io.cancel import raise_if_cancelled

    names = predictor.classifier_names() if models == ALL else [models] if isinstance(models, str) else list(models)
    not_applicable: list[str] = []
    if models == ALL:
        applicable = [n for n in names if predictor.gate(volume, n, slice_index).applicable]
        names, not_applicable = applicable, [n for n in names if n not in applicable]
    groups = method_groups(predictor.store.spec, names, (options.method,))
    if len(groups) <= 1:  # one method for every model: the Predictor's own call, "all" included
        method = next(iter(groups), options.method)
        single = predictor.analyse(volume, models, replace(options, method=method), source=source,
                                   slice_index=slice_index, progress=progress, cancelled=cancelled)
        single.consensus = film_consensus(single.models, volume.meta, options.date_check)
        return _weighed(predictor, volume, single)
    analyses = []
    for g, (method, group) in enumerate(groups.items()):
        raise_if_cancelled(cancelled)
        analyses.append(predictor.analyse(volume, group, replace(options, method=method), source=source,
                                          slice_index=slice_index, progress=part_of(progress, g, len(groups)),
                                          cancelled=cancelled))
    merged = analyses[0]
    for analysis in analyses[1:]:
        merged.models += analysis.models
        merged.warnings += [w for w in analysis.warnings if w not in merged.warnings]
        merged.image_kind = merged.image_kind or analysis.image_kind
        merged.hanging = merged.hanging or analysis.hanging
        merged.lung_mask = merged.lung_mask if merged.lung_mask is not None else analysis.lung_mask
    merged.models.sort(key=lambda result: names.index(result.model))
    merged.not_applicable = not_applicable
    merged.consensus = film_consensus(merged.models, volume.meta, options.date_check)
    if any(r.ok for r in merged.models):  # as the viewer's run: ok when any model answered,
        merged.status, merged.reason = "ok", ""
    else:  # else the first refusal or error
        worst = next((a for a in analyses if a.status != "ok"), analyses[0])
        merged.status, merged.reason = worst.status, worst.reason
    return _weighed(predictor, volume, merged)


def _weighed(predictor: "Predictor", volume: "Volume", result: "AnalysisResult") -> "AnalysisResult":
    """``result`` with each map's (and each cascade stage's map's) attention-in-lungs figure (``map_lungs.weigh_maps``)."""
    maps = [*result.models, *(stage for model in result.models for stage in model.stages)]
    lungs = weigh_maps(predictor, volume, maps, result.lung_mask)
    result.warnings += [w for w in lungs.warnings if w not in result.warnings]
    return result


def _labelled(progress: ProgressFn | None, label: str) -> ProgressFn | None:
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


