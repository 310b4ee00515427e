"""Whole-series CT: a CT-slice classifier over every lung slice of a series, and one answer per series.

A reader wants one answer per CT series, not one per slice. The slice model (DResUNet and its
ablations) runs over every axial slice that holds lung, in batches, in the caller's worker
(progress, cancel); each slice gets its calibrated COVID-19 probability, and the series gets one
score by the card's *series rule* (``series_rule`` on the model card, chosen on the validation split
by ``python -m trainer series-rule``; the rule named in the result either way).

Which slices hold lung: on a CT in Hounsfield units, a slice is scored when at least 2% of it is aerated lung
(-950..-400 HU) inside the body (``covidviewer.imaging.ct_lungs.aerated_lung_share``, the same test by which the gate
lets a slice that holds lung reach a CT model), so neck and abdomen slices are skipped, as the slice model never saw
them in training. Until session 49 the pixels in that range were counted over the whole slice, and blankets, the
table's pad and the edges of the air put 13-14% of every slice of the built-in scanner series in it: all 64 slices were
scored, the liver's and the neck's too (now 8-53). Without HU (a PNG stack) every slice is scored.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from covidviewer.explain.base import report
from covidviewer.imaging.ct_lungs import AERATED_LUNG_HU, MIN_AERATED_SHARE, aerated_lung_share
from covidviewer.imaging.window_presets import uses_hu
from covidviewer.inference.era_check import COVID, before_covid
from covidviewer.io.cancel import CancelledFn, ProgressFn, raise_if_cancelled

if TYPE_CHECKING:
    from covidviewer.inference.predictor import Predictor
    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import ModelSpec

CARD_KEY = "series_rule"
RULE_KINDS = ("max", "mean", "top_k_mean")


@dataclass(frozen=True)
class SeriesRule:
    """How slice scores become one series score: the highest, the mean, or the mean of the k highest."""

    kind: str = "top_k_mean"
    k: int = 3

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ValueError(f"series rule {self.kind!r} not in {RULE_KINDS}")
        if self.kind == "top_k_mean" and self.k < 1:
            raise ValueError(f"top-k mean needs k >= 1, got {self.k}")

    def aggregate(self, scores: np.ndarray) -> float:
        """One score from the finite slice scores (NaN when there are none)."""
        values = np.sort(np.asarray(scores, dtype=np.float64)[np.isfinite(scores)])[::-1]
        if values.size == 0:
            return float("nan")
        if self.kind == "max":
            return float(values[0])
        if self.kind == "mean":
            return float(values.mean())
        return float(values[: self.k].mean())

    def deciding(self, scores: np.ndarray) -> np.ndarray:
        """Indices of the slices whose scores make the series score (the highest, all, or the k highest)."""
        scores = np.asarray(scores, dtype=np.float64)
        finite = np.flatnonzero(np.isfinite(scores))
        if self.kind == "mean" or finite.size == 0:
            return finite
        ranked = finite[np.argsort(-scores[finite], kind="stable")]
        return ranked[: 1 if self.kind == "max" else self.k]

    def describe(self) -> str:
        if self.kind == "top_k_mean":
            return f"mean of the {self.k} highest slice scores"
        return {"max": "highest slice score", "mean": "mean slice score"}[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "k": self.k}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SeriesRule":
        return cls(str(data["kind"]), int(data.get("k", 1)))


DEFAULT_RULE = SeriesRule("top_k_mean", 3)


@dataclass
class SeriesScan:
    """Per-slice scores of one model over one series and the series answer.

    slice_scores: one calibrated probability of ``positive_class`` per slice, NaN for skipped slices.
    decision: the series label (the card's operating point on the series score, else > 0.5); ""
        when most scored slices, or most of the slices the rule reads (``deciding_ood`` of
        ``deciding_slices``), are out of distribution (``ood_flag``): no answer is then given.
    """

    model: str
    status: str
    reason: str = ""
    positive_class: str = ""
    slice_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    score: float = float("nan")
    decision: str = ""
    rule: str = ""
    rule_source: str = ""
    ood_slices: int = 0
    deciding_slices: int = 0
    deciding_ood: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return int(np.isfinite(self.slice_scores).sum())

    @property
    def peak_slice(self) -> int | None:
        finite = np.isfinite(self.slice_scores)
        return int(np.nanargmax(self.slice_scores)) if finite.any() else None

    def describe(self) -> str:
        """One line for a reader: the series answer, its score and rule, how many slices were read."""
        if self.status != "ok":
            return f"{self.model}: no series answer — {self.reason}"
        if self.ood_flag:
            return (f"{self.model}: no series answer — {self.unlike_text()} unlike the images it was trained on "
                    f"({self.positive_class} score {self.score:.2f}, not an answer)")
        unlike = f"; {self.ood_slices} of them unlike its training images" if self.ood_slices else ""
        return (f"{self.model}: {self.decision} for the series ({self.positive_class} {self.score:.2f}, "
                f"{self.rule}; {self.scored} of {len(self.slice_scores)} slices scored{unlike})")

    @property
    def ood_flag(self) -> bool:
        """Most scored slices, or most of the slices the answer rests on, are unlike the model's training
        images: the series gets no decision. A top-3 rule reads 3 slices of hundreds, so half a series in
        distribution does not vouch for an answer made of the other half."""
        if self.scored == 0:
            return False
        return self._most_slices_unlike or self.deciding_ood > self.deciding_slices / 2

    @property
    def _most_slices_unlike(self) -> bool:
        return self.ood_slices > self.scored / 2

    def unlike_text(self) -> str:
        """Which slices were unlike the training images, for the no-answer line."""
        if self._most_slices_unlike:
            return f"{self.ood_slices} of the {self.scored} lung slices are"
        return (f"{self.deciding_ood} of the {self.deciding_slices} slices the answer rests on "
                f"({self.ood_slices} of {self.scored} lung slices in all) are")

    def to_json(self) -> dict[str, Any]:
        scores = [None if not np.isfinite(s) else round(float(s), 4) for s in self.slice_scores]
        return {
            "model": self.model, "status": self.status, "reason": self.reason,
            "positive_class": self.positive_class, "series_score": None if not np.isfinite(self.score) else self.score,
            "decision": self.decision, "rule": self.rule, "rule_source": self.rule_source,
            "slices": len(self.slice_scores), "slices_scored": self.scored, "peak_slice": self.peak_slice,
            "ood_slices": self.ood_slices, "deciding_slices": self.deciding_slices, "deciding_ood": self.deciding_ood,
            "ood_flag": self.ood_flag, "slice_scores": scores, "warnings": list(self.warnings),
        }


def lung_slices(volume: "Volume") -> np.ndarray:
    """(D,) bool: the slices to score (HU: those that hold aerated lung inside the body; otherwise all)."""
    pixels = volume.pixels
    if not uses_hu(volume) or volume.is_rgb or float(np.min(pixels)) > AERATED_LUNG_HU[0]:
        return np.ones(volume.shape[0], dtype=bool)
    return np.array([aerated_lung_share(plane) >= MIN_AERATED_SHARE for plane in pixels])


def card_series_rule(spec: "ModelSpec") -> tuple[SeriesRule, str]:
    """(the card's series rule, where it came from); the default rule when the card has none."""
    from covidviewer.inference.calibrated import card_entry

    entry = card_entry(spec, CARD_KEY)
    if entry is not None:
        try:
            rule = SeriesRule.from_dict(entry)
        except (KeyError, TypeError, ValueError):
            return DEFAULT_RULE, "default rule (the card's series rule is unreadable)"
        chosen = entry.get("chosen_on", "the validation split")
        return rule, f"chosen on {chosen}"
    return DEFAULT_RULE, "default rule (not chosen on validation data: the card has none)"


def scan_series(
    predictor: "Predictor",
    volume: "Volume",
    name: str,
    *,
    batch_size: int = 16,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
    date_check: bool = True,
) -> SeriesScan:
    """Score every lung slice of ``volume`` with the CT-slice model ``name``; raises ``Cancelled``."""
    from covidviewer.inference.results import STATUS_ERROR, STATUS_REFUSED, STATUS_UNAVAILABLE

    try:
        spec = predictor.store.spec(name)
    except KeyError as exc:
        return SeriesScan(name, STATUS_ERROR, str(exc.args[0]))
    if spec.modality != "CT_SLICE" or len(spec.classes) != 2:
        return SeriesScan(name, STATUS_ERROR, f"{name} is not a two-class CT-slice classifier")
    if volume.is_2d or volume.is_rgb:
        return SeriesScan(name, STATUS_REFUSED, "a series answer needs a CT series of several slices")
    chosen = lung_slices(volume)
    if not chosen.any():
        return SeriesScan(name, STATUS_REFUSED, f"no slice holds aerated lung ({AERATED_LUNG_HU[0]:.0f}..{AERATED_LUNG_HU[1]:.0f} HU)")
    middle = int(np.flatnonzero(chosen)[chosen.sum() // 2])
    decision = predictor.gate(volume, name, middle)
    if not decision.accepted:
        return SeriesScan(name, STATUS_REFUSED, decision.reason)
    available, why = predictor.availability(name)
    if not available:
        return SeriesScan(name, STATUS_UNAVAILABLE, why)
    scan = _scan(predictor, volume, spec, chosen, batch_size, progress, cancelled)
    why = before_covid(volume.meta) if date_check else None
    if why and scan.decision == scan.positive_class == COVID:
        scan.decision = next(c for c in spec.classes if c != COVID)
        scan.warnings.append(f"{why}: COVID-19 is excluded; the series' COVID-19 score {scan.score:.2f} on it is a false alarm")
    return scan


def scan_all_series(predictor: "Predictor", volume: "Volume", models: "str | Sequence[str]",
                    progress: ProgressFn | None = None, cancelled: CancelledFn | None = None,
                    date_check: bool = True) -> list[SeriesScan]:
    """Series answers of the requested CT-slice models that have weights (none for a single image)."""
    if volume.is_2d or volume.is_rgb:
        return []
    names = predictor.classifier_names() if isinstance(models, str) and models == "all" else (
        [models] if isinstance(models, str) else list(models))
    wanted = [n for n in names if _is_slice_model(predictor, n) and predictor.availability(n)[0]]
    return [scan_series(predictor, volume, n, progress=progress, cancelled=cancelled, date_check=date_check) for n in wanted]


def _is_slice_model(predictor: "Predictor", name: str) -> bool:
    try:
        return predictor.store.spec(name).modality == "CT_SLICE"
    except KeyError:
        return False


def _scan(predictor, volume, spec, chosen, batch_size, progress, cancelled) -> SeriesScan:  # type: ignore[no-untyped-def]
    import torch

    from covidviewer.inference.results import STATUS_OK

    from covidviewer.inference.calibrated import card_calibration, card_warnings
    from covidviewer.inference.inputs import prepare_model_input
    from covidviewer.inference.runner import class_probabilities
    from covidviewer.models.features import capture_features

    loaded = predictor.store.get(spec.name, predictor.device)
    spec = loaded.spec  # the spec the weights were trained with (input size may differ from the registered one)
    calibration, problem = card_calibration(spec, loaded.weights_sha256)
    positive = spec.classes[1]
    rule, rule_source = card_series_rule(spec)
    indices = np.flatnonzero(chosen)
    scores = np.full(volume.shape[0], np.nan, dtype=np.float32)
    unlike = np.zeros(volume.shape[0], dtype=bool)
    wants_ood = calibration is not None and calibration.ood is not None
    for start in range(0, len(indices), batch_size):
        raise_if_cancelled(cancelled)
        report(progress, start, len(indices), f"{spec.name}: slices {start}/{len(indices)}")
        batch = indices[start:start + batch_size]
        tensors = np.stack([prepare_model_input(volume, spec, None, int(i))[0].tensor for i in batch])
        x = torch.from_numpy(tensors).to(loaded.device)
        watch = capture_features(loaded.model) if wants_ood else nullcontext()
        with torch.inference_mode(), watch as capture:
            logits = loaded.model(x).float().cpu().numpy()
            features = capture.take().cpu().numpy() if wants_ood else None
        if calibration is not None:
            probs = calibration.apply_temperature(logits)
        else:
            probs = np.stack([class_probabilities(z, spec) for z in logits])
        scores[batch] = probs[:, 1]
        if features is not None:
            unlike[batch] = calibration.ood.scores(features) > calibration.ood.threshold
    report(progress, len(indices), len(indices), f"{spec.name}: {len(indices)} slices scored")
    series = rule.aggregate(scores)
    ood = int(unlike.sum())
    deciding = rule.deciding(scores)
    result = SeriesScan(spec.name, STATUS_OK, positive_class=positive, slice_scores=scores, score=series,
                        rule=rule.describe(), rule_source=rule_source, ood_slices=ood,
                        deciding_slices=len(deciding), deciding_ood=int(unlike[deciding].sum()))
    result.decision = "" if result.ood_flag else _series_decision(series, spec.classes, calibration)
    result.warnings.extend([problem] if problem else [])
    result.warnings.extend(card_warnings(spec, loaded.weights_sha256))
    skipped = volume.shape[0] - len(indices)
    if skipped:
        result.warnings.append(f"{skipped} of {volume.shape[0]} slices hold no lung and were not scored")
    if ood:
        result.warnings.append(f"{ood} of {len(indices)} slices are unlike the images this model was trained on")
    return result


def _series_decision(score: float, classes: Sequence[str], calibration) -> str:  # type: ignore[no-untyped-def]
    """The card's decision applied to the series score as if it were one slice's probability."""
    if not np.isfinite(score):
        return ""
    probs = np.array([1.0 - score, score])
    if calibration is not None:
        return calibration.decision(probs)[0]
    return classes[int(score > 0.5)]
