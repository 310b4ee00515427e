"""Result objects of an analysis: plain dataclasses the UI observes and the CLI writes as JSON.

Arrays (heatmaps, lung masks) stay numpy on the objects and are left out of ``to_json``; the CLI
writes them as .npy / PNG next to the JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from covidviewer.explain.base import Explanation
from covidviewer.inference.gate import ImageKind

STATUS_OK = "ok"
STATUS_REFUSED = "refused"
STATUS_UNAVAILABLE = "unavailable"
STATUS_ERROR = "error"
STATUS_CANCELLED = "cancelled"


@dataclass
class ModelResult:
    """One model's answer on one input (or why there is none).

    status: "ok", "refused" (gate), "unavailable" (no trained weights), "error", "cancelled".
    probabilities: class name -> probability (both classes for single-logit models).
    explanation: the attention map on the original grid (None without --explain or on failure).
    stages: for a cascade, each stage's own result (with its own probabilities and map).
    slice_index: for a CT-slice model run on a volume, the slice that was analysed.
    slice_importance / peak_slice: per original slice weights (3D models with depth attention).
    calibrated: probabilities are temperature-scaled by the model card's calibration; decision: the
    answer (COVID-19 when its calibrated probability reaches the card's operating threshold, else the
    most probable class), threshold: how it was decided; ood_score / ood_flag: Mahalanobis distance
    of the penultimate features to the training data, flagged above the card's threshold.
    """

    model: str
    status: str
    reason: str = ""
    version: str = ""
    classes: tuple[str, ...] = ()
    probabilities: dict[str, float] = field(default_factory=dict)
    label: str = ""
    weights_sha256: str = ""
    device: str = ""
    method: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    explanation: Explanation | None = None
    stages: list["ModelResult"] = field(default_factory=list)
    slice_index: int | None = None
    slice_importance: np.ndarray | None = None
    peak_slice: int | None = None
    trainer_command: str = ""
    from_cache: bool = False
    applicable: bool = True
    calibrated: bool = False
    ood_score: float | None = None
    ood_flag: bool = False
    decision: str = ""
    threshold: str = ""

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    @property
    def answer(self) -> str:
        """What the model answers: the decision (the card's operating threshold, the date check) where one was
        made, else the label. For the cascade the label stays the paper's rule, which a threshold can overrule."""
        return self.decision or self.label

    @property
    def heatmap(self) -> np.ndarray | None:
        return None if self.explanation is None else self.explanation.heatmap

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "status": self.status,
            "reason": self.reason,
            "version": self.version,
            "weights_sha256": self.weights_sha256,
        }
        if self.status == STATUS_OK:
            out.update(
                probabilities={k: round(float(v), 6) for k, v in self.probabilities.items()},
                label=self.label,
                classes=list(self.classes),
                device=self.device,
                method=self.method or "none",
                calibrated=self.calibrated,
                decision=self.answer,
                threshold=self.threshold,
                ood_score=None if self.ood_score is None else round(float(self.ood_score), 4),
                ood_flag=self.ood_flag,
            )
            if self.explanation is not None:
                out["explained_class"] = self._explained_class()
                out.update(self._analysed_region())
                details = self.explanation.details
                if "attention_in_lungs" in details:  # analysis.map_lungs: the map's share inside the lungs
                    out["attention_in_lungs"] = dict(details["attention_in_lungs"])
                if "num_samples" in details:  # LIME: how many perturbed images it scored (it may stop early)
                    out["lime_samples"] = {"used": int(details["num_samples"]),
                                           "most": int(details.get("max_samples", details["num_samples"]))}
            if self.slice_index is not None:
                out["slice_index"] = self.slice_index
            if self.slice_importance is not None:
                out["slice_importance"] = [round(float(v), 4) for v in self.slice_importance]
                out["peak_slice"] = self.peak_slice
            if self.stages:
                out["stages"] = [stage.to_json() for stage in self.stages]
        if self.trainer_command:
            out["trainer_command"] = self.trainer_command
        out["timings"] = {k: round(float(v), 4) for k, v in self.timings.items()}
        out["warnings"] = list(self.warnings)
        return out

    def _analysed_region(self) -> dict[str, Any]:
        """Where the map can be non-zero: the original pixels the model saw (a 2D model's lung box or
        centre crop; ``Explanation.analysed_box``), with the box's edges named; nothing for a volume."""
        explanation = self.explanation
        if explanation is None or explanation.analysed_box is None:
            return {}
        y0, x0, y1, x1 = (int(v) for v in explanation.analysed_box)
        return {"analysed_box": {"y0": y0, "x0": x0, "y1": y1, "x1": x1}, "analysed_region": explanation.analysed_region}

    def _explained_class(self) -> str:
        index = self.explanation.target_index if self.explanation else -1
        return self.classes[index] if 0 <= index < len(self.classes) else str(index)


@dataclass
class AnalysisResult:
    """Everything one Analyse produced for one input.

    status: "ok" when at least one model answered, "refused" when none did because the input was
    refused or no applicable model has trained weights (``reason`` says why), "error" when the
    models that should have run failed.
    not_applicable: with "all", the models skipped because they read another kind of input.
    image_kind: the image-kind model's verdict on the analysed image (the middle slice of a volume
        unless a slice was chosen); None without its trained weights or for colour images.
    lung_mask: (H, W) lung probability on the original grid when the lung U-Net ran.
    series: whole-series answers of CT-slice models (``covidviewer.inference.series_scan.SeriesScan``).
    consensus: the consensus of the chest X-ray models that have one (``covidviewer.inference.consensus.Consensus``),
        when all its members answered; else None. Set over the whole run (``covidviewer.analysis.run``), whose
        method groups may each be one ``Predictor.analyse`` call.
    view: the film's view as its header tells it ("AP", "PA", "lateral"; "" when it tells none, as a PNG or JPEG
        never does), which the view checks read: in the JSON, so that answers can be counted per view.
    hanging: how the models read the film (``covidviewer.inference.film_hanging.FilmReading``: turned, inverted or
        mirrored back, and the mirror check's verdict); None where the Predictor did not say.
    """

    input: str
    status: str
    reason: str = ""
    models: list[ModelResult] = field(default_factory=list)
    image_hash: str = ""
    shape: tuple[int, ...] = ()
    lung_mask: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    image_kind: ImageKind | None = None
    series: list[Any] = field(default_factory=list)
    consensus: Any = None
    view: str = ""
    hanging: Any = None

    def result(self, model: str) -> ModelResult | None:
        return next((r for r in self.models if r.model == model), None)

    def to_json(self) -> dict[str, Any]:
        from covidviewer import RESEARCH_NOTICE, __version__

        return {
            "input": self.input,
            "status": self.status,
            "reason": self.reason,
            "image_sha256": self.image_hash,
            "shape": list(self.shape),
            "image_kind": None if self.image_kind is None else self.image_kind.to_json(),
            "view": self.view,
            **({"hanging": self.hanging.to_json()} if self.hanging is not None else {}),
            "models": [r.to_json() for r in self.models if r.status != STATUS_UNAVAILABLE],
            "unavailable": [r.to_json() for r in self.models if r.status == STATUS_UNAVAILABLE],
            "not_applicable": list(self.not_applicable),
            **({"series": [scan.to_json() for scan in self.series]} if self.series else {}),
            **({"consensus": self.consensus.to_json()} if self.consensus is not None else {}),
            "warnings": list(self.warnings),
            "notice": RESEARCH_NOTICE,
            "covidviewer_version": __version__,
        }
