"""The shortcut audit of the whole Cascade-SEMEnet, run exactly as the app runs it.

The cascade has no weights of its own (stage 1, the lung U-Net and stage 2 are separate sets), so
``export`` audits each stage on its own classes; what a reader sees is the cascade's answer over
COVID-19 / normal / bacterial / viral. This runs ``CascadeSEMEnet.run`` (the app's code path) on the
validation films of the 4-class split (the split every CXR model shares) and audits its
probabilities (from the stages' temperature-scaled logits, as the app shows them), its hard decision
(the paper's rule: stage 1, then stage 2 for viral films) and the features of both stages. It also
chooses the threshold on p(COVID-19) that finds 0.80 of adult COVID-19 films, the way every radiograph
card's operating point is chosen; ``--write`` records it on stage 2's card with both stages' weight
hashes, and the app decides by it (covidviewer.inference.cascade_result).

    python -m trainer audit-cascade --data cxr/labels.csv --data cxr_adult/labels.csv [--out DIR] [--write]
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from covidviewer.card_checks import LUNGS_ERASED_KEY
from trainer.audit import shortcut_audit
from trainer.card_edit import edited_card

#: the 4-class recipe whose label map and split the cascade is scored on
REFERENCE_MODEL = "dpn92_se"
REFERENCE_CONFIG = Path(__file__).resolve().parent / "recipes" / "cpu_budget" / "dpn92_se.toml"


def audit_cascade(csv_paths: Sequence[Path | str], out_dir: Path | None = None, n_boot: int = 1000,
                  split: str = "val", at_recorded_threshold: bool | None = None,
                  views: Sequence[Path | str] = ()) -> dict[str, Any]:
    """{"soft": audit of the product probabilities, "hard": audit of the paper's decision, ...}.

    split "train": the training films instead (the stages saw them: a lower bound on what they read from
    source), audited at the threshold recorded on stage 2's card rather than one chosen on them.
    at_recorded_threshold: audit at the recorded threshold (default: on every split but "val", which chooses
    one); a check to be recorded on that threshold must be made at it, not at a re-chosen one that differs in
    the last bits (the stages' float sums are not bit-stable across runs).
    views: view tables (trainer.data.views), for the audit's adult figures per view."""
    from covidviewer.models.weights import installed_weights_sha256, load_trained_model

    bundle, rows = cascade_rows(csv_paths, split, views)
    model = load_trained_model("cascade_semenet").float().eval()
    probs, hard, feats = cascade_pass(model, rows, bundle.cache)
    report = {"weights": installed_weights_sha256("cascade_semenet"), "split": bundle.split.method,
              "stage_weights": part_weights(),
              "temperatures": list(stage_temperatures(model))}
    if at_recorded_threshold is None:
        at_recorded_threshold = split != "val"
    recorded = recorded_threshold(report["stage_weights"]) if at_recorded_threshold else None
    report.update(cascade_reports(probs, hard, feats, rows, n_boot, recorded))
    report["audited_split"] = split
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "cascade_audit.json").write_text(json.dumps(report, indent=2))
    return report


def cascade_rows(csv_paths: Sequence[Path | str], split: str, views: Sequence[Path | str] = ()) -> tuple[Any, list[Any]]:
    """(data bundle, rows of ``split`` in the cascade's classes): the 4-class split every CXR model shares; ``views``
    tables give the rows their views (the split is untouched)."""
    from covidviewer.models import get_spec
    from covidviewer.models.cascade import CLASSES
    from trainer.config import load_recipe
    from trainer.data.build import load_data

    recipe = load_recipe(REFERENCE_MODEL, REFERENCE_CONFIG)
    recipe.values["data"]["lung_masks"] = "none"  # the cascade computes its own lungs, as in the app
    recipe.values["input"]["preprocess"] = {}
    if views:
        recipe.values["data"]["view_tables"] = [str(p) for p in views]
    reference = get_spec(REFERENCE_MODEL)
    bundle = load_data(reference, recipe, [Path(p) for p in csv_paths], eval_split=split)
    return bundle, [_in_cascade_classes(row, reference.classes, CLASSES) for row in bundle.split.rows(split)]


def stress_cascade(csv_paths: Sequence[Path | str], n_boot: int = 200, shifts: Sequence[Any] | None = None) -> dict[str, Any]:
    """trainer.style_stress on the installed cascade, run as the app runs it, over the adult validation films,
    at the threshold recorded on stage 2's card (by the paper's rule where none is recorded for these parts), with
    the parts' weight hashes ("stage_weights"). shifts: trainer.style_stress.StyleShift list (default: all)."""
    from covidviewer.models.cascade import CLASSES
    from covidviewer.models.weights import load_trained_model
    from trainer.audit import is_adult
    from trainer.style_stress import SHIFTS, style_stress

    bundle, rows = cascade_rows(csv_paths, "val")
    adult = [row for row in rows if is_adult(row)]
    model = load_trained_model("cascade_semenet").float().eval()
    weights = part_weights()
    threshold = recorded_threshold(weights)
    chosen = SHIFTS if shifts is None else shifts
    stress = style_stress(lambda shift: cascade_pass(model, adult, bundle.cache, shift)[0], adult, CLASSES, threshold, n_boot, chosen)
    return {**stress, "stage_weights": weights}


def cascade_lungs_erased(csv_paths: Sequence[Path | str], n_boot: int = 1000) -> dict[str, Any]:
    """trainer.lungs_erased on the installed cascade, run as the app runs it, over the validation films: p(COVID-19)
    of each film as sent and with its chest erased, with the parts' weight hashes ("stage_weights")."""
    from covidviewer.models.cascade import CLASSES
    from covidviewer.models.weights import load_trained_model
    from trainer.lungs_erased import lungs_erased_record

    bundle, rows = cascade_rows(csv_paths, "val")
    model = load_trained_model("cascade_semenet").float().eval()
    covid = CLASSES.index("COVID-19")
    sent = cascade_pass(model, rows, bundle.cache)[0][:, covid]
    erased = cascade_pass(model, rows, bundle.cache, erase=True)[0][:, covid]
    return {**lungs_erased_record(rows, sent, erased, CLASSES, True, n_boot), "stage_weights": part_weights()}


def record_cascade_lungs_erased(record: dict[str, Any]) -> Path:
    """Keep the cascade's erased-chest figure on its operating point on stage 2's card, for the parts it was made
    with (the app's cascade answer says what it reads by it)."""
    from covidviewer.model_cards import CASCADE_POINT_KEY

    path = _stage2_card_path()
    with edited_card(path) as card:
        entry = card.get(CASCADE_POINT_KEY) or {}
        if entry.get("weights_sha256") != record.get("stage_weights"):
            raise ValueError(f"{path} holds no operating point for these parts (record one with --write first)")
        entry[LUNGS_ERASED_KEY] = {k: v for k, v in record.items() if k != "stage_weights"}
    return path


def record_cascade_stress(stress: dict[str, Any]) -> Path:
    """Keep a style stress test of the installed cascade on its operating point on stage 2's card, for the parts
    it was made with (the app warns by its grid-size figure beside an answer on a large film)."""
    from covidviewer.model_cards import CASCADE_POINT_KEY, STYLE_STRESS_KEY

    path = _stage2_card_path()
    with edited_card(path) as card:
        entry = card.get(CASCADE_POINT_KEY) or {}
        if entry.get("weights_sha256") != stress.get("stage_weights") or stress.get("threshold") != entry.get("threshold"):
            raise ValueError(f"{path} holds no operating point for these parts at this threshold (record one with --write first)")
        entry[STYLE_STRESS_KEY] = {k: v for k, v in stress.items() if k != "stage_weights"}
    return path


def cascade_pass(model: Any, rows: Sequence[Any], cache: Any, style: Any = None, erase: bool = False
                 ) -> tuple[np.ndarray, list[int], np.ndarray]:
    """(probabilities (N, 4) from the stages' temperature-scaled logits, the paper's hard decision per film,
    both stages' features (N, F)): ``CascadeSEMEnet.run`` on each film, as the app runs it.
    style: a trainer.style_stress.StyleShift to apply to each film first (its lungs are then found on the
    changed film, as the app would find them). erase: each film with its chest erased (trainer.lungs_erased), read
    with the lungs the cascade's segmenter finds on the film as sent, as the other models' check keeps theirs."""
    from covidviewer.models.cascade import CLASSES, cascade_log_probs
    from covidviewer.models.features import capture_features
    from trainer.data.chest_erase import erase_lungs
    from trainer.style_stress import restyled

    temperatures = stage_temperatures(model)
    probs, hard, feats = [], [], []
    with capture_features(model) as capture, torch.no_grad():
        for row in rows:
            pixels, window = cache.get(row.path)
            if style is not None:
                pixels = restyled(pixels, window, style, row)
            lung = None
            if erase:
                lung = model.lungs(pixels, window)
                pixels = erase_lungs(pixels, lung)
            run = model.run(pixels, window, lung)
            # log-probabilities are the logits up to a constant, which the softmax ignores
            scaled = [torch.from_numpy(np.log(np.maximum(stage.probabilities, 1e-30)))[None] / t
                      for stage, t in zip((run.stage1, run.stage2), temperatures)]
            probs.append(cascade_log_probs(*scaled).exp()[0].numpy())
            hard.append(CLASSES.index(run.cascade_label))
            feats.append(capture.take()[0].numpy())
    return np.asarray(probs, float), hard, np.asarray(feats, float)


def stage_temperatures(model: Any) -> tuple[float, float]:
    """The temperatures on the installed cards of stage 1 and stage 2 (1.0 without a calibration), which the
    app divides each stage's logits by before multiplying through the cascade."""
    from covidviewer.models.calibration import read_calibration
    from covidviewer.model_cards import weights_root

    out = []
    for stage in (model.stage1, model.stage2):
        calibration = read_calibration(weights_root() / stage.spec.weights, stage.spec.classes)
        out.append(calibration.temperature if calibration is not None else 1.0)
    return out[0], out[1]


def _stage2_card_path() -> Path:
    """Stage 2's installed card, where the cascade's operating point lives."""
    from covidviewer.model_cards import SIDECAR, weights_root
    from covidviewer.models import get_spec
    from covidviewer.models.cascade import PARTS

    return weights_root() / get_spec(PARTS["stage2"]).weights / SIDECAR


def write_operating_point(report: dict[str, Any]) -> Path:
    """Record the audit's threshold on stage 2's installed card, with the weight hashes of the parts it
    was chosen with (the app uses it for exactly those parts)."""
    from covidviewer.model_cards import CASCADE_POINT_KEY

    if report.get("operating_point") is None:
        raise ValueError("no operating point to write: the audit had no adult COVID-19 films")
    path = _stage2_card_path()
    with edited_card(path) as card:
        card[CASCADE_POINT_KEY] = {**report["operating_point"], "weights_sha256": report["stage_weights"],
                                   "chosen_on": f"adult validation films ({report['split']})"}
    return path


def record_same_source(report: dict[str, Any], negative: str = "normal") -> Path:
    """Record the audit's same-source check of ``negative`` films (made at the threshold on stage 2's card) on that
    card's cascade operating point, for the parts it was recorded with; the app warns by it beside a
    COVID-19 answer."""
    from covidviewer.card_checks import SAME_SOURCE_KEYS
    from covidviewer.model_cards import CASCADE_POINT_KEY
    from trainer.same_source_check import recorded as with_same_source

    path = _stage2_card_path()
    with edited_card(path) as card:
        entry = card.get(CASCADE_POINT_KEY) or {}
        if entry.get("weights_sha256") != report["stage_weights"]:
            raise ValueError(f"{path} holds no operating point for these parts (record one with --write first)")
        check = report["soft"].get(SAME_SOURCE_KEYS[negative]) or {"skipped": "not in the audit"}
        card[CASCADE_POINT_KEY] = with_same_source(entry, check, report["audited_split"])
    return path


def record_cascade_by_view(report: dict[str, Any]) -> Path:
    """Keep the audit's adult figures per view (made at the threshold on stage 2's card) on that card's cascade
    operating point, for the parts it was recorded with; Help > About gives the cascade's COVID-19 sensitivity
    by view from them, as for every other radiograph model."""
    from covidviewer.model_cards import CASCADE_POINT_KEY

    by_view = report["soft"].get("by_view")
    if not by_view:
        raise ValueError("the audit has no adult film of a known view (give --views)")
    path = _stage2_card_path()
    with edited_card(path) as card:
        entry = card.get(CASCADE_POINT_KEY) or {}
        if entry.get("weights_sha256") != report["stage_weights"] or report["soft"]["adult"].get("threshold") != entry.get("threshold"):
            raise ValueError(f"{path} holds no operating point for these parts at this threshold (record one with --write first)")
        entry["by_view"] = by_view
    return path


def part_weights() -> dict[str, str | None]:
    """{part: its installed weight-set hash} for each part of the cascade (both stages and the segmenter): an operating
    point is chosen with, and holds for, exactly these."""
    from covidviewer.models.cascade import PARTS
    from covidviewer.models.weights import installed_weights_sha256

    return {attr: installed_weights_sha256(name) for attr, name in PARTS.items()}


def recorded_threshold(stage_weights: dict[str, str]) -> float | None:
    """The threshold on stage 2's installed card, if it was chosen with exactly these parts (both stages and the segmenter)."""
    from covidviewer.model_cards import CASCADE_POINT_KEY

    entry = json.loads(_stage2_card_path().read_text(encoding="utf-8")).get(CASCADE_POINT_KEY) or {}
    return entry.get("threshold") if entry.get("weights_sha256") == stage_weights else None


def cascade_reports(prob: np.ndarray, hard: Sequence[int], features: np.ndarray | None, rows: Sequence[Any], n_boot: int,
                    threshold: float | None = None) -> dict[str, Any]:
    """The audits of the cascade's probabilities and of its hard decision, and the threshold on
    p(COVID-19) that would find 0.80 of adult COVID-19 films (chosen as a CXR card's operating point,
    trainer.export_calibration): the soft audit reports its figures beside the argmax ones.
    threshold: audit at this one instead (none is chosen then)."""
    from covidviewer.models.cascade import CLASSES
    from trainer.audit import allowed_of, is_adult
    from trainer.export_calibration import adult_operating_point

    point = None
    if threshold is None:
        adult = np.array([is_adult(r) for r in rows], bool)
        point = adult_operating_point(prob, allowed_of(rows, len(CLASSES)), adult, CLASSES)
        threshold = point.threshold if point is not None else None
    return {
        "operating_point": dict(vars(point)) if point is not None else None,
        "soft": shortcut_audit(prob, features, CLASSES, rows, threshold, n_boot),
        "hard": shortcut_audit(np.eye(len(CLASSES))[list(hard)], None, CLASSES, rows, None, n_boot),
    }


def _in_cascade_classes(row: Any, reference: Sequence[str], cascade: Sequence[str]) -> Any:
    """The row with its targets re-indexed from the 4-class model's classes to the cascade's
    (same four classes; the cascade names viral pneumonia "(non-COVID)")."""
    def index(name: str) -> int:
        return next(i for i, c in enumerate(cascade) if c == name or c.startswith(name + " ("))

    targets = tuple(index(reference[t]) for t in (row.targets or (row.target,)))
    label = cascade[targets[0]] if len(targets) == 1 else row.label
    return replace(row, targets=targets, target=targets[0], label=label)
