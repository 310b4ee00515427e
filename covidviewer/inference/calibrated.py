"""A model card's calibration applied to a result: calibrated probabilities, the decision with the
threshold that made it, and the out-of-distribution score of the input's penultimate features.

A model whose card has no ``calibration`` keeps its raw probabilities and argmax label
(``calibrated`` False, no OOD score). The card is read once per change of its ``model.json`` and is
used only when the card's weight set is the one loaded (an explicitly added model never picks up an
installed card by name).
"""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from covidviewer.card_checks import lung_attention_caveats
from covidviewer.model_cards import SIDECAR, weight_set_sha256, weights_root
from covidviewer.models.calibration import CARD_KEY, Calibration, CalibrationError, OperatingPoint

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.inference.inputs import ModelInput
    from covidviewer.inference.results import ModelResult
    from covidviewer.models.spec import ModelSpec

UNLIKE_TRAINING = "unlike the images this model was trained on"  # the viewer says the same (no import: no torch there)

_lock = threading.Lock()
_cards: dict[Path, tuple[int, dict[str, Any] | None]] = {}


def _sidecar(folder: Path) -> dict[str, Any] | None:
    """The parsed model.json of a weights folder (cached per mtime), None if absent or unreadable."""
    path = folder / SIDECAR
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    with _lock:
        cached = _cards.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None
    with _lock:
        _cards[path] = (mtime, data)
    return data


def _folders(spec: "ModelSpec") -> list[tuple[str, Path]]:
    from covidviewer.models import get_spec

    parts = spec.parts
    try:
        specs = [get_spec(p) for p in parts.values()] if parts else [spec]
    except KeyError:  # a hand-made composite whose parts are not registered has no cards
        return []
    return [(s.name, weights_root() / s.weights) for s in specs if s.weights]


def calibration_token(spec: "ModelSpec") -> str:
    """A short hash of the calibration on the card(s) of ``spec`` (composites: of every part), so a
    cached result is not reused after a card gains or changes its calibration; "" when none has one."""
    from covidviewer.model_cards import CASCADE_POINT_KEY

    entries = []
    for name, folder in _folders(spec):
        card = _sidecar(folder) or {}
        for key in (CARD_KEY, CASCADE_POINT_KEY):
            if card.get(key) is not None:
                entries.append(f"{name}:{key}:{json.dumps(card[key], sort_keys=True)}")
    return hashlib.sha256("\n".join(entries).encode("utf-8")).hexdigest()[:16] if entries else ""


def card_entry(spec: "ModelSpec", key: str) -> Any:
    """``key``'s value on the installed card of ``spec``'s weights (None without a card or the key)."""
    if not spec.weights:
        return None
    return (_sidecar(weights_root() / spec.weights) or {}).get(key)


def installed_card(spec: "ModelSpec", weights_sha256: str) -> dict[str, Any] | None:
    """The installed card of ``spec``'s weights when it describes the weight set that ran (``weights_sha256``), else
    None: a card's figures were measured on its own weights."""
    if not spec.weights:
        return None
    card = _sidecar(weights_root() / spec.weights)
    if not card or not isinstance(card.get("shards"), dict) or weight_set_sha256(card["shards"]) != weights_sha256:
        return None
    return card


def card_warnings(spec: "ModelSpec", weights_sha256: str) -> list[str]:
    """What every answer of this weight set carries from its card whatever the answer: a lung-attention record that
    shows its maps in the lungs no more than elsewhere, or its score telling COVID-19 images apart with the chest erased
    (``card_checks.lung_attention_caveats``); one slice's answer and a whole series' alike."""
    card = installed_card(spec, weights_sha256) or {}
    return lung_attention_caveats((card.get("metrics") or {}).get("lung_attention"))


def card_calibration(spec: "ModelSpec", weights_sha256: str) -> tuple[Calibration | None, str]:
    """(the calibration on the installed card of this weight set or None, a warning when the card's
    calibration could not be used)."""
    card = installed_card(spec, weights_sha256)
    if not card or card.get(CARD_KEY) is None:
        return None, ""
    folder = weights_root() / spec.weights
    try:
        calibration = Calibration.from_dict(card[CARD_KEY], folder)
    except (CalibrationError, OSError, ValueError) as exc:
        return None, f"calibration on the card not used: {exc}"
    if calibration.classes != tuple(spec.classes):
        return None, f"calibration on the card not used: it is for classes {list(calibration.classes)}"
    return calibration, ""


class FeatureWatch:
    """Penultimate features of the analysed input for the OOD score, at no extra cost on a plain
    prediction: the classifier layer is hooked during that forward. An explained run (whose
    forwards see perturbed or batched inputs) gets one extra plain forward instead."""

    def __init__(self, model: "nn.Module", calibration: Calibration | None, plain: bool):
        self.model = model
        self.wanted = calibration is not None and calibration.ood is not None
        self._context: Any = None
        self._capture: Any = None
        self._plain = plain
        self.features: np.ndarray | None = None

    def __enter__(self) -> "FeatureWatch":
        if self.wanted and self._plain:
            from covidviewer.models.features import capture_features

            self._context = capture_features(self.model)
            self._capture = self._context.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._context is not None:
            try:
                if exc[0] is None:
                    self.features = self._capture.take()[0].cpu().numpy()
            except RuntimeError:
                self.features = None  # the forward did not reach the layer (an explainer's fallback)
            finally:
                self._context.__exit__(*exc)

    def result(self, model_input: "ModelInput", bf16: bool) -> np.ndarray | None:
        """(F,) features of ``model_input``; a forward of its own when none was captured."""
        if not self.wanted:
            return None
        if self.features is None:
            from covidviewer.inference.runner import forward_logits
            from covidviewer.models.features import capture_features

            with capture_features(self.model) as capture:
                forward_logits(self.model, model_input, bf16)
                self.features = capture.take()[0].cpu().numpy()
        return self.features


def apply_calibration(result: "ModelResult", logits: np.ndarray, calibration: Calibration | None,
                      features: np.ndarray | None = None) -> None:
    """Fill ``calibrated``, ``decision``, ``threshold``, ``ood_score`` / ``ood_flag`` of an ok result;
    with a calibration, replace its probabilities by the calibrated ones and its label by the decision."""
    if calibration is None:
        result.calibrated, result.decision, result.threshold = False, result.label, ""
        return
    probs = calibration.apply_temperature(np.asarray(logits, dtype=np.float64).reshape(-1))
    result.probabilities = {c: float(p) for c, p in zip(calibration.classes, probs)}
    result.decision, result.threshold = calibration.decision(probs)
    result.label = result.decision
    result.calibrated = True
    add_caveat(result, calibration.operating_point)
    if calibration.ood is not None and features is not None:
        try:
            result.ood_score = calibration.ood_score(features)
        except CalibrationError as exc:
            result.warnings.append(f"no OOD score: {exc}")
            return
        result.ood_flag = calibration.ood_flag(result.ood_score)


def add_caveat(result: "ModelResult", point: OperatingPoint | None) -> None:
    """Warn beside a COVID-19 answer made by ``point``'s threshold for each of the point's recorded same-source
    checks that missed the bars for unseen hospitals (``covidviewer.models.same_source``)."""
    if point is not None and result.decision == point.class_name:
        result.warnings.extend(point.caveats())
