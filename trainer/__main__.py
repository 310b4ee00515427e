"""``python -m trainer``: retrain, evaluate and export the models the app ships.

    python -m trainer list
    python -m trainer fit MODEL --data labels.csv [--config recipe.toml] [--set key=value ...]
                          --out runs/NAME [--resume] [--device cpu|cuda] [--epochs N] [--amp bf16]
    python -m trainer evaluate MODEL --weights DIR --data labels.csv [--split val] [--out DIR]
    python -m trainer export runs/NAME [--dest resources/weights/NAME] [--store int8] [--other-kind CSV]
    python -m trainer audit-cascade --data labels.csv [--data ...]
    python -m trainer pack-run runs/NAME --out NAME.tar / unpack-run NAME.tar --out runs/NAME
    python -m trainer make-image-kind-data [--out data/image_kind]
    python -m trainer series-rule MODEL --data labels.csv [--write]

Several GPUs: ``torchrun --nproc_per_node 4 -m trainer fit ...`` (DistributedDataParallel).
Ctrl-C during ``fit`` writes ``runs/NAME/last.pt``; the same command with ``--resume`` continues.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def cmd_list(args: argparse.Namespace) -> int:
    """Registered models, their recipes (paper values) and whether trained weights are installed."""
    from covidviewer.models import get_spec, list_models
    from covidviewer.models.weights import weights_status
    from trainer.config import list_recipes, load_recipe

    recipes = set(list_recipes())
    rows = []
    for name in list_models():
        spec = get_spec(name)
        if name not in recipes:
            rows.append((name, spec.modality, "-", "no recipe (composite of trained parts)" if spec.parts else "no recipe", ""))
            continue
        r = load_recipe(name)
        t = r["train"]
        size_setting = r["input"]["size"]
        if isinstance(size_setting, int):  # "size = 128" means every spatial axis
            size_setting = [size_setting] * len(spec.preprocess.size)
        size = "x".join(str(s) for s in (size_setting or spec.preprocess.size))
        epochs = "+".join(str(e) for e in r.stage_epochs())
        what = f"{r['task']}, {t['optimizer']} lr {t['lr']:g}, batch {t['batch_size']}, {epochs} epochs, {size}"
        rows.append((name, spec.modality, f"trainer/recipes/{name}.toml", what, weights_status(name)))
    if args.json:
        print(json.dumps([dict(zip(("model", "modality", "recipe", "summary", "weights"), r)) for r in rows], indent=2))
        return 0
    width = max(len(r[0]) for r in rows)
    for name, modality, recipe, what, status in rows:
        print(f"{name:<{width}}  {modality:<9}  {what}  [{status or '-'}]")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from trainer.config import load_recipe
    from trainer.engine import TrainingInterrupted
    from trainer.run import fit

    _threads(args.threads)
    overrides = list(args.set or [])
    if args.amp:
        overrides.append(f'train.amp="{args.amp}"')
    given = args.config or overrides or args.epochs is not None
    recipe = load_recipe(args.model, args.config, overrides, args.epochs) if (given or not args.resume) else None
    try:
        fit(args.model, args.data, args.out, recipe, device=args.device, resume=args.resume, progress=not args.no_progress)
    except TrainingInterrupted as stop:
        data = " ".join(f"--data {d}" for d in args.data)
        print(f"\n{stop}\nresume with: python -m trainer fit {args.model} {data} --out {args.out} --resume", file=sys.stderr)
        return 130
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from trainer.audit import audit_summary
    from trainer.config import load_recipe, recipe_from_dict
    from trainer.data.build import load_data, make_dataset
    from trainer.evaluation import evaluate_with_audit
    from trainer.metrics import headline
    from trainer.tasks import make_task
    from trainer.trained import load_trained

    _threads(args.threads)
    refusal = _record_refusal(args)
    if refusal:  # before the evaluation, which takes minutes
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    trained = load_trained(args.weights, args.model)
    if trained.recipe is not None and not (args.config or args.set):
        recipe = recipe_from_dict(trained.recipe)  # the split, label map and input size it was trained with
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
    print(f"{args.model} ({trained.source}) on {args.split} ({len(dataset)} images): {headline(metrics)}")
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


def _record_refusal(args: argparse.Namespace) -> str:
    """Why ``evaluate --record-same-source``, ``--record-style-stress`` or ``--record-by-view`` cannot record anything
    with these arguments ("" when it can)."""
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


def cmd_pack_run(args: argparse.Namespace) -> int:
    from trainer.run_archive import pack_run

    archive = pack_run(args.run, args.out)
    print(f"packed {args.run} into {archive} ({archive.stat().st_size / 2**20:.1f} MiB)")
    return 0


def cmd_unpack_run(args: argparse.Namespace) -> int:
    from trainer.run_archive import unpack_run

    print(f"unpacked {args.archive} into {unpack_run(args.archive, args.out)} (export it with: python -m trainer export {args.out})")
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

    _threads(args.threads)
    if args.write and args.split != "val":
        print("error: --write records a threshold chosen on validation films; leave out --split", file=sys.stderr)
        return 2
    if args.record_by_view and (args.split != "val" or not args.views):
        print("error: --record-by-view records the validation audit's figures per view: --views, no --split train", file=sys.stderr)
        return 2
    # a check recorded without --write goes on the threshold already on the card: audit at that one
    at_recorded = args.split != "val" or bool((args.record_same_source or args.record_by_view) and not args.write)
    report = audit_cascade(args.data, args.out, split=args.split, at_recorded_threshold=at_recorded, views=args.views or ())
    if at_recorded:
        threshold = report["soft"]["adult"].get("threshold")
        films = {"train": "training", "val": "validation"}[args.split]
        print(f"Cascade-SEMEnet on its {films} films, at the threshold on stage 2's card: {threshold}"
              + ("" if threshold is not None else " (none recorded for these two stages: the paper's rule alone)"))
    else:
        point = report["operating_point"] or {}
        print(f"Cascade-SEMEnet, threshold on p(COVID-19) for 0.80 sensitivity on adult films: {point.get('threshold')} ({point.get('note', 'no adult films')})")
    if args.write:
        print(f"written to {write_operating_point(report)}: the app decides by it for these two stages")
    if args.record_same_source:
        try:
            path = record_same_source(report, args.record_same_source)
            print(f"same-source check ({args.record_same_source} films) of the {args.split} films recorded on {path}")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.record_by_view:
        from trainer.audit_cascade import record_cascade_by_view

        try:
            print(f"per-view figures of the validation films recorded on {record_cascade_by_view(report)}")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print("Cascade-SEMEnet, probabilities:\n" + audit_summary(report["soft"]))
    print("Cascade-SEMEnet, the paper's hard decision:\n" + audit_summary(report["hard"]))
    if args.style_stress or args.record_style_stress:
        from trainer.audit_cascade import record_cascade_stress, stress_cascade
        from trainer.style_stress import chosen_shifts

        stress = stress_cascade(args.data, shifts=chosen_shifts(args.shifts))
        _report_stress(stress, args.out)
        if args.record_style_stress:
            try:
                print(f"style stress test recorded on the cascade's operating point in {record_cascade_stress(stress)}")
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from trainer.export import export_run

    _threads(args.threads)
    export_run(args.run, args.dest, args.data, attention=not args.no_attention, store=args.store,
               calibrate=not args.no_calibration, other_kind_csv=args.other_kind)
    return 0


def _shift_keys(text: str) -> str:
    """--shifts checked when the command line is read, not after the evaluation it follows."""
    from trainer.style_stress import chosen_shifts

    try:
        chosen_shifts(text)
    except KeyError as exc:
        raise argparse.ArgumentTypeError(str(exc.args[0])) from None
    return text


_SHIFTS_HELP = ("comma-separated style changes for the stress test (default: all, trainer.style_stress.SHIFTS; a wrong key "
                "lists them); e.g. size_3x for the grid-size figure the app warns by")

#: ``--record-same-source`` alone records the normal-film check (as before session 22); ``pneumonia`` the other
_RECORD_CHOICE: dict[str, Any] = {"nargs": "?", "const": "normal", "choices": ("normal", "pneumonia"), "metavar": "normal|pneumonia"}


def build_parser() -> argparse.ArgumentParser:
    epilog = "\n".join(f"  {name:<22} {what}" for name, (_, what) in DELEGATED.items())
    parser = argparse.ArgumentParser(
        prog="python -m trainer", description="Retrain, evaluate and export CovidViewer's models.",
        epilog="also:\n" + epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="models, recipes and installed weights")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("fit", help="train a model from a labels.csv")
    p.add_argument("model")
    p.add_argument("--data", required=True, action="append", help="labels.csv (path, label, patient_id[, split][, mask_path][, source]); repeat it to train on several csvs with one patient-level split")
    p.add_argument("--config", type=Path, help="TOML merged over the packaged recipe")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe value (repeatable), e.g. train.epochs=5, size=224")
    p.add_argument("--out", required=True, type=Path, help="run folder (e.g. runs/NAME)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--epochs", type=int, help="shorthand for --set train.epochs=N")
    p.add_argument("--amp", choices=("auto", "off", "bf16", "fp16"), help="autocast (auto: bf16 or fp16 on a GPU, off on a CPU; bf16 runs on a CPU but, where the CPU lacks native bf16, emulated and many times slower)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("evaluate", help="metrics of trained weights on a split")
    p.add_argument("model")
    p.add_argument("--weights", required=True, help="run folder (best.pt) or exported weights folder")
    p.add_argument("--data", required=True, action="append", help="labels.csv (repeat for several, as in fit)")
    p.add_argument("--split", default="val", choices=("train", "val", "test"))
    p.add_argument("--out", type=Path, help="write metrics.json, predictions.csv, roc.png, confusion.png here")
    p.add_argument("--calibrate", action="store_true",
                   help="also fit temperature, operating point and OOD model into the exported card (weights unchanged)")
    p.add_argument("--other-kind", type=Path, help="with --calibrate: labels.csv of images of the other kind (OOD flag rate)")
    p.add_argument("--record-same-source", **_RECORD_CHOICE,
                   help="record this split's same-source check (normal films, the default, or non-COVID pneumonia films) "
                        "on the card's operating point; the app then warns beside a COVID-19 answer when it misses the "
                        "unseen-hospital bars (shipped: normal from --split train, pneumonia from --split val)")
    p.add_argument("--style-stress", action="store_true",
                   help="re-score the adult films with each acquisition-style change (gamma, blur, sharpening, resolution, noise, JPEG, grey levels, grid size) at a fixed strength (style_stress.json with --out)")
    p.add_argument("--record-style-stress", action="store_true",
                   help="--style-stress, then keep it on the exported card in --weights (Help > About shows it)")
    p.add_argument("--shifts", type=_shift_keys, help=_SHIFTS_HELP)
    p.add_argument("--views", action="append", type=Path, metavar="TABLE",
                   help="a csv of each film's view (PA/AP), e.g. NIH's Data_Entry_2017_v2020.csv.gz (repeatable): the "
                        "audit then gives its adult figures per view (trainer.data.views)")
    p.add_argument("--record-by-view", action="store_true",
                   help="with --views: keep the audit's per-view figures on the exported card in --weights (a card "
                        "exported before views were read; Help > About gives COVID-19 sensitivity by view)")
    p.add_argument("--config", type=Path)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--threads", type=int)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("audit-cascade", help="shortcut audit of the installed Cascade-SEMEnet, run as the app runs it")
    p.add_argument("--data", required=True, action="append", help="labels.csv (repeat for several)")
    p.add_argument("--out", type=Path, help="write cascade_audit.json here")
    p.add_argument("--threads", type=int)
    p.add_argument("--write", action="store_true", help="record the threshold on stage 2's installed card (the app decides by it)")
    p.add_argument("--style-stress", action="store_true", help="then the style stress test on the adult validation films (as evaluate --style-stress)")
    p.add_argument("--record-style-stress", action="store_true",
                   help="--style-stress, then keep it on the cascade's operating point on stage 2's card (the app warns by its grid-size figure)")
    p.add_argument("--shifts", type=_shift_keys, help=_SHIFTS_HELP)
    p.add_argument("--record-same-source", **_RECORD_CHOICE,
                   help="record this split's same-source check (normal or pneumonia films) on that threshold (the app warns by it)")
    p.add_argument("--split", choices=("val", "train"), default="val",
                   help="train: audit the training films at the recorded threshold (a lower bound on what is read from source)")
    p.add_argument("--views", action="append", type=Path, metavar="TABLE",
                   help="a csv of each film's view (e.g. NIH's Data_Entry_2017_v2020.csv.gz; the packs' csvs have their "
                        "own): the audit then gives its adult figures per view (trainer.data.views)")
    p.add_argument("--record-by-view", action="store_true",
                   help="with --views: keep the per-view figures, at the threshold on stage 2's card, on the cascade's "
                        "operating point (Help > About gives COVID-19 sensitivity by view)")
    p.set_defaults(func=cmd_audit_cascade)

    p = sub.add_parser("export", help="best checkpoint of a run -> resources/weights/<model>")
    p.add_argument("run", type=Path)
    p.add_argument("--dest", type=Path, help="default: the app's weights folder for the model")
    p.add_argument("--data", action="append", help="labels.csv if it moved since training (repeat for several)")
    p.add_argument("--no-attention", action="store_true", help="skip the Grad-CAM lung-attention check")
    p.add_argument("--no-calibration", action="store_true", help="no temperature, operating point or OOD model in the card")
    p.add_argument("--other-kind", type=Path, help="labels.csv of images of the other kind (CT slices for a radiograph model): the card states their OOD flag rate")
    p.add_argument("--store", default="float16", choices=("float16", "int8"), help="weight storage: int8 kernels (per-channel scales) halve the size")
    p.add_argument("--threads", type=int)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("pack-run", help="a run folder as one small archive (best network as int8, text files) to move it between machines")
    p.add_argument("run", type=Path)
    p.add_argument("--out", required=True, type=Path, help="archive to write (NAME.tar)")
    p.set_defaults(func=cmd_pack_run)

    p = sub.add_parser("unpack-run", help="a run folder again from pack-run's archive (exportable, not resumable)")
    p.add_argument("archive", type=Path)
    p.add_argument("--out", required=True, type=Path, help="new run folder (runs/NAME)")
    p.set_defaults(func=cmd_unpack_run)
    return parser


#: sub-commands that are whole programs of their own (their own --help), run with the remaining arguments
DELEGATED = {
    "make-image-kind-data": ("trainer.data.image_kind", "write the image-kind training set (real images only) into a git-ignored folder"),
    "image-kind-report": ("trainer.image_kind_report", "image-kind accuracy per class and per source"),
    "ablation-table": ("trainer.ablation_table", "the DResUNet ablation table (thesis Table 5.1) from the installed cards"),
    "refit-head": ("trainer.head_refit", "re-fit a classifier's last layer against the source shortcut, chosen leave-one-source-out"),
    "respec": ("trainer.respec", "the same network under a recipe switch that changes no weight (input.lung_mask), as a run to export"),
    "series-rule": ("trainer.series_rule", "choose a CT-slice model's one-answer-per-series rule on validation patients"),
    "held-out-source": ("trainer.held_out_source", "a leave-one-source-out run's figures on the source it never saw, recorded on a card"),
    "detail-range": ("trainer.detail_range", "the finest-detail strength of a model's adult training films, recorded on its card (the app's detail check)"),
    "suspect-labels": ("trainer.suspect_labels", "the films whose label the models believe least, as a list and a contact sheet to look at"),
    "consensus": ("trainer.consensus", "the mean p(COVID-19) of several chest X-ray models: its threshold and audit figures, for the app"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        import importlib

        return int(importlib.import_module(DELEGATED[argv[0]][0]).main(argv[1:]))
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
