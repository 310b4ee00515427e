"""``python -m trainer evaluate`` and ``audit-cascade``: score a trained network (or the installed cascade) on a split,
audit it for shortcuts, and record what the app reads on its card (calibration, the same-source check, the style
stress test, the figures per view). The commands' arguments are in ``trainer.__main__``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from trainer.data.splits import ALL_ROWS


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from trainer.audit import audit_summary
    from trainer.config import changed_values, load_recipe, recipe_from_dict
    from trainer.data.build import load_data, make_dataset
    from trainer.devices import set_threads
    from trainer.evaluation import evaluate_with_audit
    from trainer.metrics import headline
    from trainer.tasks import make_task
    from trainer.trained import load_trained

    set_threads(args.threads)
    refusal = _record_refusal(args)
    if refusal:  # before the evaluation, which takes minutes
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    trained = load_trained(args.weights, args.model)
    if trained.recipe is not None:
        # the split, label map and input size it was trained with; --config and --set change that recipe, so that
        # --set data.kind_check="skip" does not also bring back the packaged split
        recipe = recipe_from_dict(trained.recipe)
        recipe.values = changed_values(recipe.values, args.config, args.set or [])
    else:
        recipe = load_recipe(args.model, args.config, args.set or [])
    if args.views:  # the films' views for the audit's per-view figures; the split and the network are untouched
        recipe["data"]["view_tables"] = [str(p) for p in args.views]
    bundle = load_data(trained.spec, recipe, args.data, eval_split=args.split)
    print(bundle.report.summary())
    dataset = make_dataset(trained.spec, recipe.values, bundle, args.split, train=False)
    task = make_task(trained.spec, recipe["task"], recipe["method"])
    batch = int(recipe["train"].get("eval_batch_size") or recipe["train"]["batch_size"])
    val_pass: dict | None = {} if args.calibrate else None
    calibration = None if args.calibrate else _card_calibration(Path(args.weights), trained.spec.classes)
    metrics, audit = evaluate_with_audit(trained.model.float(), task, dataset, torch.device("cpu"), batch, args.out,
                                         audit=recipe["task"] == "classification" and not args.calibrate, keep=val_pass,
                                         calibration=calibration)
    where = "every row of the csvs" if args.split == ALL_ROWS else args.split
    print(f"{args.model} ({trained.source}) on {where} ({len(dataset)} images): {headline(metrics)}")
    if audit is not None:
        if calibration is not None:
            print(f"audit on the card's calibrated probabilities (temperature {calibration.temperature:.2f}) at its operating threshold, as the app reads them")
        print(audit_summary(audit))
    reference = _recorded_metrics(Path(args.weights))
    if reference is not None and args.split == "val":
        where, card = reference
        # compared as JSON text: a metric undefined on a tiny split is NaN, and NaN != NaN
        same = all(json.dumps(card.get(k), sort_keys=True) == json.dumps(metrics[k], sort_keys=True) for k in ("point", "ci95"))
        print(f"matches the validation metrics in {where}" if same else f"DIFFERS from the validation metrics in {where}")
        if not same:
            return 1
    if args.style_stress or args.record_style_stress:
        stress = _style_stress(trained.model.float(), task, dataset, batch, calibration, args.out, args.shifts)
        if args.record_style_stress:
            from trainer.style_stress import record_on_card

            print(f"style stress test recorded on {record_on_card(args.weights, stress)}")
    if args.record_by_view:
        from trainer.view_check import record_on_card as record_views

        if not (audit or {}).get("by_view"):
            print("error: --record-by-view: the audit has no film of a known view (give --views)", file=sys.stderr)
            return 2
        print(f"per-view figures recorded on {record_views(args.weights, audit['by_view'])}")  # type: ignore[index]
    if args.record_lung_attention:
        _record_lung_attention(trained, recipe, bundle, Path(args.weights), args.split)
    if args.calibrate:
        return _calibrate_installed(trained, task, recipe, bundle, val_pass, Path(args.weights), batch, args)
    if args.record_same_source:
        return _record_same_source(audit, calibration, Path(args.weights), args.split, args.record_same_source)
    if args.out:
        print(f"metrics, predictions, audit and plots written to {args.out}")
    return 0


def _style_stress(model, task, dataset, batch: int, calibration, out: Path | None, shifts: str | None) -> dict:  # type: ignore[no-untyped-def]
    import torch

    from trainer.style_stress import chosen_shifts, stress_dataset

    stress = stress_dataset(model, task, dataset, torch.device("cpu"), batch, calibration, shifts=chosen_shifts(shifts))
    _report_stress(stress, out)
    return stress


def _report_stress(stress: dict, out: Path | None) -> None:
    """Print the style stress test and, given a folder, write style_stress.json there."""
    from trainer.style_stress import stress_lines

    print("\n".join(stress_lines(stress)))
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "style_stress.json").write_text(json.dumps(stress, indent=2, allow_nan=False))


def _record_lung_attention(trained, recipe, bundle, folder: Path, split: str) -> None:  # type: ignore[no-untyped-def]
    from trainer.attention_check import lung_attention_lines
    from trainer.card_edit import edited_card
    from trainer.export import lung_attention_record
    from trainer.metrics import N_BOOTSTRAP

    record = lung_attention_record(trained.model.float(), trained.spec, recipe, bundle, N_BOOTSTRAP, split)
    record["split"] = split
    with edited_card(folder / "model.json") as card:
        card.setdefault("metrics", {})["lung_attention"] = record
    for line in lung_attention_lines(record):
        print(line)
    print(f"lung attention recorded on {folder / 'model.json'}" if "mean_share" in record else
          f"lung attention not measured ({record['skipped']}); that is recorded on {folder / 'model.json'}")


def _record_refusal(args: argparse.Namespace) -> str:
    """Why ``evaluate --record-same-source``, ``--record-style-stress``, ``--record-by-view`` or ``--record-lung-attention``
    cannot record anything with these arguments ("" when it can)."""
    if args.split == ALL_ROWS and (args.calibrate or args.record_same_source or args.record_style_stress or args.record_by_view
                                   or args.record_lung_attention):
        return ("--split all scores every row of your csvs and changes no card: --calibrate and --record-* take the "
                "split the card's figures come from")
    if args.record_by_view:
        if args.calibrate or args.split != "val" or not args.views:
            return "--record-by-view records the validation audit's figures per view: --split val, --views, no --calibrate"
        if not (Path(args.weights) / "model.json").is_file():
            return f"--record-by-view needs an exported weights folder (no card at {Path(args.weights) / 'model.json'})"
    if args.record_style_stress:
        if args.calibrate or args.split != "val":
            return "--record-style-stress records the validation films' test at the card's operating threshold: --split val, no --calibrate"
        if not (Path(args.weights) / "model.json").is_file():
            return f"--record-style-stress needs an exported weights folder (no card at {Path(args.weights) / 'model.json'})"
    if args.record_lung_attention:
        from covidviewer.models import get_spec
        from trainer.attention_check import measures_lung_attention

        try:
            spec = get_spec(args.model)
        except KeyError:
            spec = None  # an unknown model is named by the evaluation itself
        if spec is not None and not measures_lung_attention(spec):
            return f"--record-lung-attention measures a radiograph or CT-slice classifier's Grad-CAM, not {args.model}'s"
        if args.split != "val":
            return "--record-lung-attention records the validation images' figure, as an export does: --split val"
        if not (Path(args.weights) / "model.json").is_file():
            return f"--record-lung-attention needs an exported weights folder (no card at {Path(args.weights) / 'model.json'})"
    if not args.record_same_source:
        return ""
    if args.calibrate:
        return ("--record-same-source records a check at the card's operating threshold, which --calibrate replaces: "
                "calibrate first, then record with a second `evaluate ... --record-same-source`")
    card = Path(args.weights) / "model.json"
    if not card.is_file():
        return f"--record-same-source needs an exported weights folder (no card at {card})"
    point = (json.loads(card.read_text(encoding="utf-8")).get("calibration") or {}).get("operating_point")
    if not point:
        return f"--record-same-source needs a card with an operating point ({card} has none: `evaluate --calibrate` first)"
    return ""


def _record_same_source(audit: dict | None, calibration, folder: Path, split: str, negative: str) -> int:  # type: ignore[no-untyped-def]
    """``evaluate --record-same-source [normal|pneumonia]``: that same-source check just made, at the card's operating
    threshold, goes onto that operating point; the app then warns beside a COVID-19 answer where it misses the bars."""
    from covidviewer.card_checks import SAME_SOURCE_KEYS
    from trainer.same_source_check import record_on_card

    if audit is None or calibration is None or calibration.operating_point is None:
        print("error: --record-same-source needs an exported classifier's card with an operating point "
              "(and no --calibrate)", file=sys.stderr)
        return 2
    try:
        path = record_on_card(folder, audit.get(SAME_SOURCE_KEYS[negative]) or {"skipped": "no such check in the audit"}, split)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"same-source check ({negative} films) of the {split} films recorded on {path}")
    return 0


def _calibrate_installed(trained, task, recipe, bundle, val_pass, folder: Path, batch: int, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """``evaluate --calibrate``: fit calibration, operating point and OOD model into an exported
    card whose validation metrics were just reproduced (weights unchanged; their hash too)."""
    from covidviewer.card_checks import SAME_SOURCE_KEYS
    from trainer.audit import audit_summary
    from trainer.export_calibration import calibrate_card

    if args.split != "val" or not (folder / "model.json").is_file() or recipe["task"] != "classification":
        print("error: --calibrate needs an exported classifier's weights folder and --split val", file=sys.stderr)
        return 2
    before = ((json.loads((folder / "model.json").read_text()).get("calibration") or {}).get("operating_point") or {})
    report = calibrate_card(trained.model.float(), task, recipe, bundle, val_pass, folder, batch, args.other_kind)
    print(audit_summary(report["audit"]))  # at the operating point just chosen
    for negative, key in SAME_SOURCE_KEYS.items():
        if before.get(key):  # made at the old threshold: the new point does not carry it
            print(f"note: the same-source check ({negative} films) recorded on the old operating point was dropped; record "
                  f"it again with `python -m trainer evaluate {args.model} --weights {folder} --data ... --split "
                  f"{before[key].get('split', 'train')} --record-same-source {negative}`")
    cal = report["calibration"]
    print(f"calibrated {folder}: temperature {cal['temperature']:.2f}, ECE {cal['ece_before']:.3f} -> {cal['ece_after']:.3f}; "
          f"operating point: {cal.get('operating_point')}")
    return 0


def _card_calibration(folder: Path, classes: Any) -> Any:
    """The calibration on an exported card (None for a run folder or a card without one)."""
    from covidviewer.models.calibration import read_calibration

    return read_calibration(folder, classes) if (folder / "model.json").is_file() else None


def _recorded_metrics(folder: Path) -> tuple[str, dict] | None:
    """The validation metrics recorded at export (model card) or at the end of training (run folder)."""
    sidecar, run_metrics = folder / "model.json", folder / "metrics.json"
    if sidecar.is_file():
        card = json.loads(sidecar.read_text()).get("metrics", {}).get("validation")
        return (str(sidecar), card) if card else None
    if run_metrics.is_file():
        return str(run_metrics), json.loads(run_metrics.read_text())
    return None


def cmd_audit_cascade(args: argparse.Namespace) -> int:
    from trainer.audit import audit_summary
    from trainer.audit_cascade import audit_cascade, record_same_source, write_operating_point
    from trainer.devices import set_threads

    set_threads(args.threads)
    if args.split == ALL_ROWS and args.record_same_source:
        print("error: --split all scores every row of your csvs and records nothing on a card", file=sys.stderr)
        return 2
    if args.write and args.split != "val":
        print("error: --write records a threshold chosen on validation films; leave out --split", file=sys.stderr)
        return 2
    if args.record_lungs_erased and args.split != "val":
        print("error: --record-lungs-erased records the validation films' figure: leave out --split", file=sys.stderr)
        return 2
    if args.record_by_view and (args.split != "val" or not args.views):
        print("error: --record-by-view records the validation audit's figures per view: --views, no --split train", file=sys.stderr)
        return 2
    # a check recorded without --write goes on the threshold already on the card: audit at that one
    at_recorded = args.split != "val" or bool((args.record_same_source or args.record_by_view) and not args.write)
    report = audit_cascade(args.data, args.out, split=args.split, at_recorded_threshold=at_recorded, views=args.views or ())
    if at_recorded:
        threshold = report["soft"]["adult"].get("threshold")
        films = {"train": "its training films", "val": "its validation films", ALL_ROWS: "every film of the csvs"}[args.split]
        print(f"Cascade-SEMEnet on {films}, at the threshold on stage 2's card: {threshold}"
              + ("" if threshold is not None else " (none recorded for these parts: the paper's rule alone)"))
    else:
        point = report["operating_point"] or {}
        print(f"Cascade-SEMEnet, threshold on p(COVID-19) for 0.80 sensitivity on adult films: {point.get('threshold')} ({point.get('note', 'no adult films')})")
    if args.write:
        print(f"written to {write_operating_point(report)}: the app decides by it for these parts (both stages and the segmenter)")
    if args.record_same_source and not _recorded(
            lambda: record_same_source(report, args.record_same_source),
            f"same-source check ({args.record_same_source} films) of the {args.split} films recorded on {{path}}"):
        return 2
    if args.record_by_view:
        from trainer.audit_cascade import record_cascade_by_view

        if not _recorded(lambda: record_cascade_by_view(report), "per-view figures of the validation films recorded on {path}"):
            return 2
    print("Cascade-SEMEnet, probabilities:\n" + audit_summary(report["soft"]))
    print("Cascade-SEMEnet, the paper's hard decision:\n" + audit_summary(report["hard"]))
    if args.style_stress or args.record_style_stress:
        from trainer.audit_cascade import record_cascade_stress, stress_cascade
        from trainer.style_stress import chosen_shifts

        stress = stress_cascade(args.data, shifts=chosen_shifts(args.shifts))
        _report_stress(stress, args.out)
        if args.record_style_stress and not _recorded(
                lambda: record_cascade_stress(stress), "style stress test recorded on the cascade's operating point in {path}"):
            return 2
    if args.record_lungs_erased:
        from trainer.audit_cascade import cascade_lungs_erased, record_cascade_lungs_erased
        from trainer.lungs_erased import erased_line

        erased = cascade_lungs_erased(args.data)
        print("Cascade-SEMEnet, " + erased_line(erased))
        if not _recorded(lambda: record_cascade_lungs_erased(erased),
                         "erased-chest figure recorded on the cascade's operating point in {path}"):
            return 2
    return 0


def _recorded(record: Callable[[], Path], says: str) -> bool:
    """Make one record on a card: print where it went (``says``, with ``{path}``), or why it was refused (False)."""
    try:
        path = record()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    print(says.format(path=path))
    return True
