"""What a model's card says about trusting its outputs: temperature, a COVID-19 operating point, an
out-of-distribution (OOD) score. numpy only (no torch): the Predictor applies it to logits and
penultimate features it already has.

- Temperature scaling (Guo et al., On Calibration of Modern Neural Networks, ICML 2017): softmax(z / T)
  (sigmoid(z / T) for a single-logit model), T fitted on the validation rows by the trainer.
- Operating point: the COVID-19 class is decided by a threshold on its calibrated probability chosen
  on validation for a target sensitivity; below it the decision is the most probable other class.
- OOD score (Lee et al., A Simple Unified Framework for Detecting Out-of-Distribution Samples,
  NeurIPS 2018): Mahalanobis distance of the penultimate features to the nearest training-class mean
  under one shared covariance, after a PCA projection that keeps the card small; flagged above the
  99th percentile of the validation scores.

In a weights folder the scalars sit under ``"calibration"`` in ``model.json``; the OOD arrays
(projection, means, precision) go to ``calibration.npz`` next to it, named with its SHA-256 in the
card (a DPN-92 projection is 2,688 x 64 floats: too big for readable JSON).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from covidviewer.models.same_source import held_out_caveats, same_source_caveat

CARD_KEY = "calibration"
ARRAYS_FILE = "calibration.npz"
_ARRAY_NAMES = ("center", "projection", "group_means", "precision")


class CalibrationError(ValueError):
    """A card's calibration is malformed, names an unknown key, or does not fit the model."""


def _strict(data: Mapping[str, Any], cls: type, where: str) -> dict[str, Any]:
    """``data`` as keyword arguments of dataclass ``cls``; an unknown or missing key is named."""
    if not isinstance(data, Mapping):
        raise CalibrationError(f"{where}: expected an object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CalibrationError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return dict(data)


@dataclass(frozen=True)
class OperatingPoint:
    """The COVID-19 threshold on the calibrated probability, and what it gave on validation.

    threshold None: no threshold met ``min_specificity`` at the target sensitivity, so the decision
    stays the most probable class (``note`` says so); sensitivity / specificity are then the argmax's.
    same_source, same_source_pneumonia: the same-source checks at this threshold (adult normal films; adult
    non-COVID pneumonia films), when recorded (``covidviewer.models.same_source``). held_out_sources: the
    leave-one-source-out checks (another network of the model, trained without a source), by held-out source
    (trainer/held_out_source.py).
    """

    class_name: str
    threshold: float | None
    target_sensitivity: float
    min_specificity: float
    sensitivity: float
    specificity: float
    note: str = ""
    same_source: dict[str, Any] | None = None
    same_source_pneumonia: dict[str, Any] | None = None
    held_out_sources: dict[str, Any] | None = None

    def caveats(self) -> list[str]:
        """The warnings a ``class_name`` answer by this threshold carries (none when none is due)."""
        if self.threshold is None:
            return []
        found = [same_source_caveat(check, self.class_name) for check in (self.same_source, self.same_source_pneumonia)]
        found.append(held_out_caveats((self.held_out_sources or {}).values(), self.class_name))
        return [caveat for caveat in found if caveat]

    def describe(self) -> str:
        """E.g. "operating threshold 0.41 (validation: sensitivity 0.83 for a 0.80 target, specificity 0.76)"."""
        if self.threshold is None:
            return f"highest probability ({self.note})" if self.note else "highest probability"
        return (f"operating threshold {self.threshold:.2f} (validation: sensitivity {self.sensitivity:.2f} "
                f"for a {self.target_sensitivity:.2f} target, specificity {self.specificity:.2f})")

    def decide(self, probs: Mapping[str, float], otherwise: str | None = None) -> tuple[str, str]:
        """(label, how it was decided): ``class_name`` when its probability reaches the threshold, else
        ``otherwise`` (a rule of the model's own, e.g. the cascade's) unless that is ``class_name``, else
        the most probable other class. Without a threshold: ``otherwise`` or the most probable class."""
        if self.threshold is None:
            return otherwise or max(probs, key=probs.__getitem__), self.describe()
        p = probs[self.class_name]
        if p >= self.threshold:
            # the note says whom the specificity was measured against, and what else reaches the threshold (e.g.
            # a third of adult non-COVID pneumonias): what a reader needs beside a COVID-19 answer
            said = f"{self.class_name} p {p:.2f} \u2265 {self.describe()}"
            return self.class_name, f"{said}; {self.note}" if self.note else said
        if otherwise is not None and otherwise != self.class_name:
            return otherwise, f"{self.class_name} p {p:.2f} < {self.describe()}"
        rest = {c: v for c, v in probs.items() if c != self.class_name}
        return max(rest, key=rest.__getitem__), f"{self.class_name} p {p:.2f} < {self.describe()}; most probable other class"


@dataclass(frozen=True, eq=False)
class OODModel:
    """Feature-space density of the training rows: ``z = (f - center) @ projection``, then the
    Mahalanobis distance to the nearest of ``group_means`` (one per training label: a class, or a
    coarse label's set of classes) with the shared ``precision``. Flag above ``threshold``.
    flag_rates: share flagged per named image set measured at export (each validation source, the
    other kind of images: CT slices for a radiograph model and the reverse)."""

    center: np.ndarray  # (D,)
    projection: np.ndarray  # (D, P)
    group_names: tuple[str, ...]
    group_means: np.ndarray  # (G, P)
    precision: np.ndarray  # (P, P)
    threshold: float
    percentile: float = 99.0
    validation_flag_rate: float = 0.0
    flag_rates: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flag_rates", {str(k): float(v) for k, v in dict(self.flag_rates).items()})
        for name in _ARRAY_NAMES:
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        d, p = self.projection.shape
        if self.center.shape != (d,) or self.precision.shape != (p, p) or self.group_means.shape != (len(self.group_names), p):
            raise CalibrationError(
                f"OOD arrays do not fit: center {self.center.shape}, projection {self.projection.shape}, "
                f"group_means {self.group_means.shape} for {len(self.group_names)} groups, precision {self.precision.shape}"
            )

    @property
    def feature_dim(self) -> int:
        return int(self.projection.shape[0])

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N,) distance to the nearest group mean."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.feature_dim:
            raise CalibrationError(f"OOD model expects (N, {self.feature_dim}) features, got {x.shape}")
        z = (x - self.center) @ self.projection
        diff = z[:, None, :] - self.group_means[None]  # (N, G, P)
        d2 = np.einsum("ngp,pq,ngq->ng", diff, self.precision, diff)
        return np.sqrt(np.maximum(d2.min(axis=1), 0.0))

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in _ARRAY_NAMES}

    def scalars(self) -> dict[str, Any]:
        return {"group_names": list(self.group_names), "threshold": self.threshold, "percentile": self.percentile,
                "validation_flag_rate": self.validation_flag_rate, "flag_rates": dict(self.flag_rates)}


@dataclass(frozen=True)
class Calibration:
    """Everything a card says about calibrating one classifier's outputs (see the module docstring).

    output: "softmax" over ``classes``, or "sigmoid" for a single-logit model (probabilities
    [1 - p, p] over two classes).
    """

    classes: tuple[str, ...]
    temperature: float
    output: str = "softmax"
    operating_point: OperatingPoint | None = None
    ood: OODModel | None = None
    ece_before: float = float("nan")
    ece_after: float = float("nan")
    nll_before: float = float("nan")
    nll_after: float = float("nan")
    n_validation: int = 0
    reliability_diagram: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        if not np.isfinite(self.temperature) or self.temperature <= 0:
            raise CalibrationError(f"temperature must be a positive number, got {self.temperature!r}")
        if self.output not in ("softmax", "sigmoid"):
            raise CalibrationError(f"output must be 'softmax' or 'sigmoid', got {self.output!r}")
        if self.output == "sigmoid" and len(self.classes) != 2:
            raise CalibrationError(f"a sigmoid output has two classes, got {list(self.classes)}")
        op = self.operating_point
        if op is not None and op.class_name not in self.classes:
            raise CalibrationError(f"operating point class {op.class_name!r} is not one of {list(self.classes)}")

    # ------------------------------------------------------------------ use
    def apply_temperature(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities over ``classes`` from (K,) or (N, K) logits."""
        z = np.asarray(logits, dtype=np.float64) / self.temperature
        if self.output == "sigmoid":
            p = 1.0 / (1.0 + np.exp(-z[..., 0]))
            return np.stack([1.0 - p, p], axis=-1)
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    def ood_score(self, features: np.ndarray) -> float:
        """Mahalanobis distance of one input's (D,) penultimate features to the nearest training mean."""
        if self.ood is None:
            raise CalibrationError("this card has no OOD model")
        return float(self.ood.scores(np.asarray(features).reshape(1, -1))[0])

    def ood_flag(self, score: float) -> bool:
        return self.ood is not None and score > self.ood.threshold

    def decision(self, probabilities: Mapping[str, float] | np.ndarray) -> tuple[str, str]:
        """(label, how it was decided): COVID-19 when its calibrated probability reaches the
        operating threshold (the text names the threshold), else the most probable other class."""
        probs = _as_mapping(probabilities, self.classes)
        if self.operating_point is None:
            return max(probs, key=probs.__getitem__), "highest probability (no operating threshold on the card)"
        return self.operating_point.decide(probs)

    # ------------------------------------------------------------------ (de)serialise
    def to_dict(self, *, arrays_file: str | None = None) -> dict[str, Any]:
        """JSON-ready dict. OOD arrays inline as lists, or (``arrays_file``) only the file's name
        (write it with ``write_card``)."""
        out: dict[str, Any] = {
            "classes": list(self.classes), "temperature": self.temperature, "output": self.output,
            "operating_point": None if self.operating_point is None else dict(vars(self.operating_point)),
            "ood": None, "ece_before": self.ece_before, "ece_after": self.ece_after,
            "nll_before": self.nll_before, "nll_after": self.nll_after, "n_validation": self.n_validation,
            "reliability_diagram": self.reliability_diagram,
        }
        if self.ood is not None:
            ood = self.ood.scalars()
            if arrays_file:
                ood["arrays"] = arrays_file
            else:
                ood.update({k: v.tolist() for k, v in self.ood.arrays().items()})
            out["ood"] = ood
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], folder: str | Path | None = None) -> "Calibration":
        """Inverse of ``to_dict``; an OOD part stored in a file is read from ``folder`` (hash checked)."""
        kwargs = _strict(data, cls, "calibration")
        try:
            if kwargs.get("operating_point") is not None:
                kwargs["operating_point"] = OperatingPoint(**_strict(kwargs["operating_point"], OperatingPoint, "calibration.operating_point"))
            if kwargs.get("ood") is not None:
                kwargs["ood"] = _ood_from_dict(kwargs["ood"], folder)
            return cls(**kwargs)
        except TypeError as exc:  # a required key missing
            raise CalibrationError(f"calibration: {exc}") from None

    def write_card(self, folder: str | Path) -> dict[str, Any]:
        """Write the OOD arrays to ``folder/calibration.npz``; returns the dict for ``model.json["calibration"]``."""
        if self.ood is None:
            return self.to_dict()
        path = Path(folder) / ARRAYS_FILE
        np.savez(path, **{k: v.astype(np.float32) for k, v in self.ood.arrays().items()})
        out = self.to_dict(arrays_file=ARRAYS_FILE)
        out["ood"]["arrays_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out


def _as_mapping(probabilities: Mapping[str, float] | np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    if isinstance(probabilities, Mapping):
        missing = [c for c in classes if c not in probabilities]
        if missing:
            raise CalibrationError(f"probabilities lack class(es) {missing}")
        return {c: float(probabilities[c]) for c in classes}
    values = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if len(values) != len(classes):
        raise CalibrationError(f"{len(values)} probabilities for {len(classes)} classes")
    return dict(zip(classes, (float(v) for v in values)))


def _ood_from_dict(data: Mapping[str, Any], folder: str | Path | None) -> OODModel:
    allowed = {f.name for f in fields(OODModel)} | {"arrays", "arrays_sha256"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CalibrationError(f"calibration.ood: unknown key {unknown[0]!r}")
    kwargs = {k: v for k, v in data.items() if k not in ("arrays", "arrays_sha256")}
    kwargs["group_names"] = tuple(kwargs.get("group_names", ()))
    if "arrays" in data:
        if folder is None:
            raise CalibrationError(f"calibration.ood: arrays are in {data['arrays']!r} but no folder was given")
        path = Path(folder) / str(data["arrays"])
        if Path(str(data["arrays"])).name != str(data["arrays"]) or not path.is_file():
            raise CalibrationError(f"calibration.ood: arrays file {path} missing")
        raw = path.read_bytes()
        if data.get("arrays_sha256") and hashlib.sha256(raw).hexdigest() != data["arrays_sha256"]:
            raise CalibrationError(f"{path}: SHA-256 does not match the card")
        with np.load(path, allow_pickle=False) as npz:
            kwargs.update({name: np.asarray(npz[name]) for name in _ARRAY_NAMES if name in npz.files})
    try:
        return OODModel(**kwargs)
    except TypeError as exc:
        raise CalibrationError(f"calibration.ood: {exc}") from None


def read_calibration(weights_dir: str | Path, classes: Sequence[str] | None = None) -> Calibration | None:
    """The calibration on a weights folder's card, or None when the card has none.

    Raises CalibrationError when it is malformed or its classes differ from ``classes``.
    """
    folder = Path(weights_dir)
    sidecar = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    data = sidecar.get(CARD_KEY)
    if data is None:
        return None
    calibration = Calibration.from_dict(data, folder)
    if classes is not None and tuple(classes) != calibration.classes:
        raise CalibrationError(f"{folder}: calibration is for classes {list(calibration.classes)}, the model has {list(classes)}")
    return calibration
