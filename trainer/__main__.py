"""``python -m trainer``: retrain, evaluate and export the models the app ships.

    python -m trainer list
    python -m trainer fit MODEL --data labels.csv [--config recipe.toml] [--set key=value ...]
                          --out runs/NAME [--resume] [--device cpu|cuda] [--epochs N] [--amp bf16]
    python -m trainer evaluate MODEL --weights DIR --data labels.csv [--split val] [--out DIR]
    python -m trainer export runs/NAME [--dest resources/weights/NAME] [--store int8] [--other-kind CSV]
    python -m trainer audit-cascade --data labels.csv [--data ...]
    python -m trainer pack-run runs/NAME --out NAME.tar / unpack-run NAME.tar --out runs/NAME
    python -m trainer make-image-kind-data [--out data/image_kind]
    python -m trainer gate-pictures --pictures DIR [DIR ...] --out runs/gate_pictures
    python -m trainer make-film-mirror-data [--out data/film_mirror]
    python -m trainer make-film-upright-data [--out data/film_upright]
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

from trainer.evaluate_commands import cmd_audit_cascade, cmd_evaluate


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
    from trainer.devices import set_threads
    from trainer.engine import TrainingInterrupted
    from trainer.run import fit

    set_threads(args.threads)
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


def cmd_pack_run(args: argparse.Namespace) -> int:
    from trainer.run_archive import pack_run

    archive = pack_run(args.run, args.out)
    print(f"packed {args.run} into {archive} ({archive.stat().st_size / 2**20:.1f} MiB)")
    return 0


def cmd_unpack_run(args: argparse.Namespace) -> int:
    from trainer.run_archive import unpack_run

    print(f"unpacked {args.archive} into {unpack_run(args.archive, args.out)} (export it with: python -m trainer export {args.out})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from trainer.devices import set_threads
    from trainer.export import export_run

    set_threads(args.threads)
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
    p.add_argument("--split", default="val", choices=("train", "val", "test", "all"),
                   help="all: every row of the csvs, no split made (your own hospital's films, which no network here saw)")
    p.add_argument("--out", type=Path, help="write metrics.json, predictions.csv, roc.png, confusion.png here")
    p.add_argument("--calibrate", action="store_true",
                   help="also fit temperature, operating point and OOD model into the exported card (weights unchanged)")
    p.add_argument("--other-kind", type=Path, help="with --calibrate: labels.csv of images of the other kind (OOD flag rate)")
    p.add_argument("--record-same-source", **_RECORD_CHOICE,
                   help="record this split's same-source check (normal films, the default, or non-COVID pneumonia films) "
                        "on the card's operating point; the app then warns beside a COVID-19 answer when it misses the "
                        "unseen-hospital bars (shipped: normal from --split train, pneumonia from --split val)")
    p.add_argument("--style-stress", action="store_true",
                   help="re-score the adult films with each acquisition-style change (gamma, blur, sharpening, resolution, noise, JPEG, grey levels, grid size, export window) at a fixed strength (style_stress.json with --out)")
    p.add_argument("--record-style-stress", action="store_true",
                   help="--style-stress, then keep it on the exported card in --weights (Help > About shows it)")
    p.add_argument("--shifts", type=_shift_keys, help=_SHIFTS_HELP)
    p.add_argument("--views", action="append", type=Path, metavar="TABLE",
                   help="a csv of each film's view (PA/AP), e.g. NIH's Data_Entry_2017_v2020.csv.gz (repeatable): the "
                        "audit then gives its adult figures per view (trainer.data.views)")
    p.add_argument("--record-by-view", action="store_true",
                   help="with --views: keep the audit's per-view figures on the exported card in --weights (a card "
                        "exported before views were read; Help > About gives COVID-19 sensitivity by view)")
    p.add_argument("--record-lung-attention", action="store_true",
                   help="measure the share of Grad-CAM attention inside the lungs on this split (a CT slice's lungs: "
                        "the dark regions its body encloses) and keep it on the exported card in --weights (Help > About)")
    p.add_argument("--config", type=Path, help="TOML merged over the recipe the weights were trained with (the packaged one if unknown)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="change a value of the recipe the weights were trained with (repeatable), e.g. data.kind_check=\"skip\"")
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
    p.add_argument("--split", choices=("val", "train", "all"), default="val",
                   help="train: audit the training films at the recorded threshold (a lower bound on what is read from source); "
                        "all: every row of the csvs at that threshold (your own hospital's films)")
    p.add_argument("--views", action="append", type=Path, metavar="TABLE",
                   help="a csv of each film's view (e.g. NIH's Data_Entry_2017_v2020.csv.gz; the packs' csvs have their "
                        "own): the audit then gives its adult figures per view (trainer.data.views)")
    p.add_argument("--record-by-view", action="store_true",
                   help="with --views: keep the per-view figures, at the threshold on stage 2's card, on the cascade's "
                        "operating point (Help > About gives COVID-19 sensitivity by view)")
    p.add_argument("--record-lungs-erased", action="store_true",
                   help="then score the validation films again with the chest erased (trainer.lungs_erased) and keep the AUC "
                        "beside as sent on the cascade's operating point (its answers say what it reads by it)")
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
    "gate-pictures": ("trainer.gate_pictures", "how many pictures the image-kind model never saw get an answer from a model"),
    "make-film-mirror-data": ("trainer.data.film_mirror", "write the mirror check's training set (every frontal film as hung and mirrored) into a git-ignored folder"),
    "make-film-upright-data": ("trainer.data.film_upright", "write the upright check's training set (every frontal film upright and turned 180 degrees) into a git-ignored folder"),
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
