"""Installed weight sets and their model cards, read from the sidecars without importing torch.

Help > About and the start-up path use this: ``import torch`` costs seconds, a few small JSON files
do not. ``covidviewer.models.weights`` builds on the same root folder and set hash.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from covidviewer.card_checks import (CT_LUNG_REGION, HELD_OUT_KEY, MIN_NEGATIVES_TO_FLAG, SAME_SOURCE_KEYS,
                                     SAME_SOURCE_WORDS, held_out_lines, lungs_erased_auc, same_source_by_patient,
                                     same_source_negative, same_source_negatives)
from covidviewer.io.view_position import AP, PA
from covidviewer.paths import resource_path

WEIGHTS_ENV = "COVIDVIEWER_WEIGHTS_DIR"
SIDECAR = "model.json"


def weights_root() -> Path:
    """Folder holding one sub-folder per weight set: ``$COVIDVIEWER_WEIGHTS_DIR`` or resources/weights."""
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env) if env else resource_path("weights")


def weight_set_sha256(shards: dict[str, dict[str, Any]]) -> str:
    """One hash for a whole weight set: SHA-256 over the sorted "shard-name shard-sha256" lines."""
    lines = "\n".join(f"{fname} {shards[fname]['sha256']}" for fname in sorted(shards))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


@dataclass
class ModelCard:
    """What a user should know about one installed weight set (all text, for display)."""

    folder: str
    name: str
    version: str
    sha256: str
    task: str = ""
    classes: list[str] = field(default_factory=list)
    input_size: list[int] = field(default_factory=list)
    parameters: int = 0
    trained_on: str = ""
    validation: str = ""
    paper_reported: str = ""
    lung_attention: str = ""
    calibration: str = ""
    audit: str = ""
    #: the style stress test's line (trainer/style_stress.py), when recorded on the card
    style_stress: str = ""
    withdrawn: str = ""
    biases: list[str] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)
    created: str = ""
    #: the paper's model this set is an ablation of ("" for the paper's model itself)
    ablation_of: str = ""
    #: this set's row of its family's ablation table (column label -> text; ``ablation_cells``)
    ablation_row: dict[str, str] = field(default_factory=dict)


def installed_cards(root: Path | None = None) -> list[ModelCard]:
    """A card per readable sidecar under ``root`` (default: the weights root), sorted by folder.

    A set whose card says ``"superseded"`` (an earlier version kept only for the trainer to start
    from) is not an installed model and is left out.
    """
    root = weights_root() if root is None else root
    cards = []
    for sidecar in sorted(root.glob(f"*/{SIDECAR}")):
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
            if not data.get("superseded"):
                cards.append(card_from_sidecar(sidecar.parent.name, data))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a broken set is reported where it would be loaded, not in the About box
    return cards


def card_from_sidecar(folder: str, sidecar: dict[str, Any]) -> ModelCard:
    spec = sidecar.get("spec", {})
    training = sidecar.get("training", {}) or {}
    return ModelCard(
        folder=folder,
        name=str(spec.get("name", folder)),
        version=str(spec.get("version", "")),
        sha256=weight_set_sha256(sidecar["shards"]),
        task=str(spec.get("task", "")),
        classes=[str(c) for c in spec.get("classes", [])],
        input_size=[int(v) for v in spec.get("preprocess", {}).get("size", [])],
        parameters=int(sidecar.get("parameters", 0)),
        trained_on=_data_summary(training),
        validation=_validation_summary(sidecar.get("metrics", {}) or {}),
        paper_reported=_paper_summary(training.get("paper") or {}),
        lung_attention=_lung_attention_summary((sidecar.get("metrics") or {}).get("lung_attention")),
        calibration=_calibration_summary(sidecar.get("calibration")),
        audit=_audit_line(sidecar, str(spec.get("modality", ""))),
        style_stress=_style_stress_line(sidecar),
        withdrawn=str(sidecar.get("withdrawn") or ""),
        biases=[str(b) for b in sidecar.get("known_biases", [])],
        deviations=[str(d) for d in training.get("deviations", [])],
        created=str(sidecar.get("created", "")),
        ablation_of=str(spec.get("ablation_of", "") or ""),
        ablation_row=ablation_cells(sidecar),
    )


#: the ablation table's figures (the thesis's Table 5.1 columns): (validation metric key, column label)
ABLATION_COLUMNS = (("accuracy", "accuracy"), ("precision/COVID-19", "precision"), ("recall/COVID-19", "recall"),
                    ("f1/COVID-19", "F1"), ("macro_auc", "AUC"))


#: the share of a set's Grad-CAM attention inside the lungs, and in brackets the share of the region its maps cover that
#: the lungs cover (what a map that looks everywhere alike would put there)
ABLATION_LUNG_COLUMN = "Grad-CAM in lungs (their area)"
#: the AUC of p(COVID-19) with the chest erased (trainer/lungs_erased.py), and in brackets the AUC as sent: 0.50 is a
#: set that reads the lungs only
ABLATION_ERASED_COLUMN = "AUC chest erased (as sent)"


def ablation_labels() -> list[str]:
    """The figure columns of an ablation table, in order (``trainer ablation-table`` and Help > About)."""
    return [label for _, label in ABLATION_COLUMNS] + [ABLATION_LUNG_COLUMN, ABLATION_ERASED_COLUMN]


def ablation_cells(sidecar: dict[str, Any]) -> dict[str, str]:
    """One row of an ablation table from a card: each figure with its 95% interval, and how it was trained."""
    metrics = sidecar.get("metrics") or {}
    validation = metrics.get("validation") or {}
    point, ci = validation.get("point") or {}, validation.get("ci95") or {}
    row = {label: _figure_cell(point, ci, key) for key, label in ABLATION_COLUMNS}
    lung = metrics.get("lung_attention") or {}
    row[ABLATION_LUNG_COLUMN] = "-" if "mean_share" not in lung else (
        _figure_cell(lung, {"mean_share": lung.get("ci95")}, "mean_share")
        + (f" ({lung['mean_lung_area']:.2f})" if lung.get("mean_lung_area") is not None else ""))
    erased = lungs_erased_auc(lung)
    row[ABLATION_ERASED_COLUMN] = "-" if erased is None else (
        f"{erased.erased:.2f} [{erased.low:.2f}, {erased.high:.2f}] ({erased.as_sent:.2f})")
    training = sidecar.get("training") or {}
    minutes = training.get("training_minutes")
    # minutes on a GPU and on 2 CPU cores are not the same currency: say which
    where = {"cuda": " on a GPU", "cpu": " on CPU"}.get(str(training.get("device", "")), "")
    size = "x".join(str(v) for v in (sidecar.get("spec") or {}).get("preprocess", {}).get("size") or [])
    row["trained"] = f"{minutes:.0f} min{where}, {size} px" if isinstance(minutes, (int, float)) else size
    return row


def ablation_family(card: ModelCard, cards: list[ModelCard]) -> list[ModelCard]:
    """The installed sets of ``card``'s family (the paper's model first, then its ablations), or [] when
    nothing of the family but ``card`` is installed."""
    root = card.ablation_of or card.name
    family = [c for c in cards if c.name == root] + [c for c in cards if c.ablation_of == root]
    return family if len(family) > 1 else []


def _figure_cell(point: dict[str, float], ci: dict[str, list[float]], key: str) -> str:
    if key not in point:
        return "-"
    if not ci.get(key):
        return f"{point[key]:.3f}"
    low, high = ci[key]
    return f"{point[key]:.3f} [{low:.2f}, {high:.2f}]"


def _data_summary(training: dict[str, Any]) -> str:
    data = training.get("data") or {}
    counts = data.get("counts") or {}
    parts = []
    for split in ("train", "val", "test"):
        c = counts.get(split)
        if c:
            images = sum(v for k, v in c.items() if not k.startswith("_"))
            parts.append(f"{split} {images} images / {c.get('_patients', '?')} patients")
    csvs = training.get("data_csv") or []
    csvs = [csvs] if isinstance(csvs, str) else csvs
    where = " + ".join(Path(c).parent.name for c in csvs) or "unknown data"
    split = data.get("split_method", "")
    return f"{where}: {', '.join(parts)}" + (f" ({split})" if split else "")


def _validation_summary(metrics: dict[str, Any]) -> str:
    val = metrics.get("validation") or {}
    point, ci = val.get("point") or {}, val.get("ci95") or {}
    keys = [k for k in ("accuracy", "macro_auc", "covid_sensitivity", "covid_specificity", "mean_iou", "mean_dice") if k in point]
    items = []
    for key in keys:
        text = f"{key.replace('_', ' ')} {point[key]:.3f}"
        if key in ci and ci[key]:
            text += f" [{ci[key][0]:.3f}, {ci[key][1]:.3f}]"
        items.append(text)
    return "; ".join(items)


def _audit_line(sidecar: dict[str, Any], modality: str) -> str:
    """The card's own audit and, on stage 2's card, the cascade's COVID-19 sensitivity by view (recorded on its
    operating point by ``trainer audit-cascade --record-by-view``): stage 2 alone sees only viral films."""
    own = _audit_summary((sidecar.get("metrics") or {}).get("audit"), modality)
    cascade = by_view_sensitivity((sidecar.get(CASCADE_POINT_KEY) or {}).get("by_view"))
    return "; ".join(([own] if own else []) + ([f"Cascade-SEMEnet (its threshold is on this card): {cascade}"] if cascade else []))


def _audit_summary(audit: dict[str, Any] | None, modality: str = "") -> str:
    """The shortcut audit's adult-film line and its source probe (trainer/audit.py), e.g.
    "adult films: normal vs COVID-19 AUC 0.87; normal called COVID-19 12%, ...; hospital probe 0.93".

    For a CT model the audit's "adult films" are every validation slice and its "pneumonia" every
    non-COVID slice (the audit has no normal class to tell them from): it says so instead."""
    adult = (audit or {}).get("adult") or {}
    point = adult.get("point") or adult
    if not isinstance(point, dict) or not point:
        return ""
    names = {"auc_normal_vs_covid": "normal vs COVID-19 AUC", "normal_called_covid": "normal called COVID-19",
             "pneumonia_called_covid": "non-COVID pneumonia called COVID-19", "covid_sensitivity": "COVID-19 sensitivity"}
    is_ct = modality.upper().startswith("CT")
    if is_ct:
        names["pneumonia_called_covid"] = "non-COVID called COVID-19"
    items = []
    for key, label in names.items():
        for variant in (f"{key}_at_threshold", key):
            value = point.get(variant)
            if isinstance(value, (int, float)):
                shown = f"{value:.0%}" if "called" in key else f"{value:.2f}"
                items.append(f"{label} {shown}" + (" (operating threshold)" if variant.endswith("threshold") else ""))
                break
    for key, what in zip(SAME_SOURCE_KEYS.values(), SAME_SOURCE_WORDS.values()):
        # the films from the COVID-19 films' own sources: where the hospital gives nothing away
        check = (audit or {}).get(key) or {}
        same, n_same, negative = check.get("point") or {}, same_source_negatives(check), same_source_negative(check)
        for variant in (f"{negative}_called_covid_at_threshold", f"{negative}_called_covid"):
            if isinstance(same.get(variant), (int, float)) and n_same:
                items.append(f"{what} called COVID-19 within the COVID-19 sources {same[variant]:.0%} of {n_same}")
                break
    by_view = by_view_sensitivity((audit or {}).get("by_view"))
    if by_view:
        items.append(by_view)
    probes = (audit or {}).get("source_probe") or {}
    within = (probes.get("within") or {}).get("adult normal") or {}
    for probe, where in ((within, "within adult normals"), (probes.get("all") or {}, "over all films")):
        if isinstance(probe, dict) and isinstance(probe.get("auc"), (int, float)):
            items.append(f"which-hospital probe {where} AUC {probe['auc']:.2f}")
            break
    where = "validation slices" if is_ct else "adult validation films"
    return f"{where}: " + "; ".join(items) if items else ""


def by_view_sensitivity(by_view: Mapping[str, Any] | None) -> str:
    """E.g. "COVID-19 sensitivity by view (operating threshold): AP 0.91 of 22 films, PA 0.68 of 22": the audit's
    adult validation COVID-19 films whose view the file or a view table tells, each view with at least
    ``MIN_NEGATIVES_TO_FLAG`` films; "" where fewer than two views have that many. Why: the portable film of a patient
    too ill to stand is found more easily than the outpatient's PA film (session 32), which one pooled figure hides."""
    shown = []
    for view in (AP, PA):
        entry = (by_view or {}).get(view) or {}
        films = (((entry.get("counts") or {}).get("COVID-19")) or {}).get("images", 0)
        value = (entry.get("point") or {}).get("covid_sensitivity_at_threshold")
        if isinstance(value, (int, float)) and films >= MIN_NEGATIVES_TO_FLAG:
            shown.append(f"{view} {value:.2f} of {films}" + (" films" if not shown else ""))
    return "COVID-19 sensitivity by view (operating threshold): " + ", ".join(shown) if len(shown) == 2 else ""


def _paper_summary(paper: dict[str, Any]) -> str:
    """The paper's own figures (on its data, not ours), e.g. "accuracy 0.856"."""
    reported = paper.get("reported") or {}
    return "; ".join(f"{k.replace('_', ' ')} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in reported.items())


def _calibration_summary(cal: dict[str, Any] | None) -> str:
    """Temperature, ECE before/after, the COVID-19 threshold and the OOD flag rates, from the raw card
    (read here without covidviewer.models, which imports torch)."""
    if not cal:
        return ""
    parts = [f"temperature {cal['temperature']:.2f}; ECE {cal.get('ece_before', float('nan')):.3f} \u2192 "
             f"{cal.get('ece_after', float('nan')):.3f} (validation n = {cal.get('n_validation', '?')})"]
    op = cal.get("operating_point") or {}
    if op.get("threshold") is not None:
        parts.append(f"{op['class_name']} at p \u2265 {op['threshold']:.2f} for sensitivity {op['target_sensitivity']:.2f} "
                     f"(validation: sensitivity {op['sensitivity']:.2f}, specificity {op['specificity']:.2f})")
    elif op:
        parts.append(f"{op['class_name']}: highest probability ({op.get('note', '')})")
    for key, what in zip(SAME_SOURCE_KEYS.values(), SAME_SOURCE_WORDS.values()):
        # recorded by `trainer evaluate --split ... --record-same-source [normal|pneumonia]`; a COVID-19 answer warns by it
        same = op.get(key) or {}
        count, by_patient, negative = same_source_negatives(same), same_source_by_patient(same), same_source_negative(same)
        share, auc = (same.get("point") or {}).get(f"{negative}_called_covid_at_threshold"), (same.get("point") or {}).get(f"auc_{negative}_vs_covid")
        if count and share is not None:
            parts.append(f"same-source check ({same.get('split', '?')} films): {round(share * count)} of {count} {what} films "
                         f"from the COVID-19 collections called {op['class_name']} at this threshold"
                         + (f" ({by_patient})" if by_patient else "")
                         + (f", within-source AUC {auc:.2f}" if auc is not None else ""))
    for check in (op.get(HELD_OUT_KEY) or {}).values():  # `trainer held-out-source --write`; a COVID-19 answer warns by it
        parts.extend(f"leave-one-source-out: {line}" for line in held_out_lines(check))
    ood = cal.get("ood") or {}
    if ood:
        rates = ", ".join(f"{name} {rate:.0%}" for name, rate in (ood.get("flag_rates") or {}).items())
        parts.append(f"OOD flag above {ood['threshold']:.1f} ({ood.get('percentile', 99):.0f}th percentile of validation)"
                     + (f"; flagged: {rates}" if rates else ""))
    return "; ".join(parts)


#: where ``trainer evaluate --record-style-stress`` keeps the test on a card, under "metrics" (the cascade's: on its
#: operating point on stage 2's card)
STYLE_STRESS_KEY = "style_stress"
#: a move of the share of adult normals called COVID-19, or of COVID-19 sensitivity, larger than this (either way)
#: under one change of style is flagged by the trainer and warned of by the app (covidviewer.inference.size_check)
STYLE_SHIFT_FLAG = 0.10
#: where ``trainer detail-range --write`` keeps the training films' finest-detail strength on a card, under "metrics"
#: (the cascade's on stage 2's card, measured on stage 2's view): what covidviewer.inference.detail_check reads
DETAIL_RANGE_KEY = "detail_range"
#: key, on stage 2's card, of the cascade's own threshold on p(COVID-19) (``trainer audit-cascade --write``), with
#: the weight hashes of the parts it was chosen with (both stages and the segmenter; it holds for those only), and
#: the checks recorded on it
CASCADE_POINT_KEY = "cascade_operating_point"


def _style_stress_line(sidecar: dict[str, Any]) -> str:
    """The card's own style stress test and, on stage 2's card, the cascade's (recorded on its operating point)."""
    own = style_stress_summary((sidecar.get("metrics") or {}).get(STYLE_STRESS_KEY))
    cascade = style_stress_summary((sidecar.get(CASCADE_POINT_KEY) or {}).get(STYLE_STRESS_KEY))
    lines = [own] if own else []
    if cascade:
        lines.append(f"Cascade-SEMEnet (its threshold is on this card): {cascade}")
    detail = detail_range_summary((sidecar.get("metrics") or {}).get(DETAIL_RANGE_KEY))
    if detail:
        lines.append(detail)
    return "; ".join(lines)


def detail_range_summary(record: dict[str, Any] | None) -> str:
    """E.g. "finest detail of its adult training films: normal 0.0151-0.0355, covid 0.0176-0.0609 (2.5th-97.5th
    percentile; a film beyond them gets a detail warning where the stress test moved)"; "" when not recorded."""
    labels = (record or {}).get("labels") or {}
    ranges = [f"{label} {found['p2.5']:.4f}-{found['p97.5']:.4f}" for label, found in labels.items()
              if label in ("normal", "covid") and isinstance(found, dict) and {"p2.5", "p97.5"} <= set(found)]
    if not ranges:
        return ""
    return (f"finest detail of its adult training films: {', '.join(ranges)} (2.5th-97.5th percentile; a film beyond "
            "them gets a detail warning where the stress test moved)")


def style_stress_summary(stress: dict[str, Any] | None) -> str:
    """One line: adult normals called COVID-19 and COVID-19 sensitivity on the unchanged films, their range over the
    changes of style, and the change that moved the normals most, e.g. "... adult normals called COVID-19 3% as
    sent, 6%-20% restyled (most: a bigger detector grid ...); COVID-19 sensitivity 0.80 as sent, 0.75-0.88 restyled"."""
    if not stress or not stress.get("shifts"):
        return ""
    suffix = "_at_threshold" if stress.get("threshold") is not None else ""
    normal_key, sens_key = f"normal_called_covid{suffix}", f"covid_sensitivity{suffix}"
    base = (stress.get("baseline") or {}).get("point") or {}
    points = {v.get("words", k): v.get("point") or {} for k, v in stress["shifts"].items()}
    normals = {w: p[normal_key] for w, p in points.items() if isinstance(p.get(normal_key), (int, float))}
    sens = [p[sens_key] for p in points.values() if isinstance(p.get(sens_key), (int, float))]
    if not normals or not sens or not isinstance(base.get(normal_key), (int, float)) or not isinstance(base.get(sens_key), (int, float)):
        return ""
    most = max(normals, key=lambda w: normals[w])
    how = f"at threshold {stress['threshold']:.2f}" if suffix else "by argmax"
    which = f"most: {most}" if len(normals) > 1 else most  # a test of one change (e.g. --shifts size_3x) names it
    return (f"{stress.get('n_films', '?')} adult validation films, each with one change of style at a time ({how}): "
            f"adult normals called COVID-19 {base[normal_key]:.0%} as sent, {_span(list(normals.values()), '.0%')} "
            f"restyled ({which}); COVID-19 sensitivity {base[sens_key]:.2f} as sent, {_span(sens, '.2f')} restyled")


def _span(values: list[float], fmt: str) -> str:
    """"6%-20%", or "36%" where every value rounds alike."""
    low, high = format(min(values), fmt), format(max(values), fmt)
    return low if low == high else f"{low}-{high}"


def _lung_attention_summary(lung: dict[str, Any] | None) -> str:
    if not lung:
        return ""
    if "mean_share" not in lung:
        return f"not measured: {lung['skipped']}" if lung.get("skipped") else ""
    ci = lung.get("ci95") or [None, None]
    text = f"{lung['mean_share']:.2f}"
    if ci[0] is not None:
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    ct = lung.get("lung_region") == CT_LUNG_REGION
    area = lung.get("mean_lung_area")
    if ct:
        text += " of the Grad-CAM attention inside the lungs (the dark regions the body encloses"
        text += ")" if area is None else f"; they cover {area:.2f} of the region the maps cover)"
    else:
        text += " of the Grad-CAM attention inside the U-Net lung mask"
        text += "" if area is None else f" (it covers {area:.2f} of the region the maps cover)"
    if lung.get("outside_body_share") is not None:
        text += (f"; {lung['outside_body_share']:.2f} outside the body (air, the table, labels), which is "
                 f"{lung['mean_outside_area']:.2f} of that region")
    if lung.get("n_empty_maps"):
        text += f" ({lung['n_empty_maps']} of {lung['n_images'] + lung['n_empty_maps']} images had an empty map)"
    if lung.get("n_no_lungs"):
        text += f" ({lung['n_no_lungs']} slices with no lungs enclosed left out)"
    erased = lungs_erased_auc(lung)
    if erased is not None:
        which = "adult COVID-19 against adult normal films" if erased.adult else "COVID-19 against the other images"
        text += (f"; with the chest erased, its COVID-19 score's AUC ({which}) is {erased.erased:.2f} [{erased.low:.2f}, "
                 f"{erased.high:.2f}] ({erased.as_sent:.2f} as sent; 0.50 for a model that reads the lungs only)")
        if erased.gap == erased.gap:  # not nan: the record has the mean gap
            text += f", the COVID-19 ones {erased.gap:.2f} higher in mean p(COVID-19) ({erased.gap_as_sent:.2f} as sent)"
    return text
