"""How often a picture gets an answer: the app's input gate on pictures the image-kind model never learnt from.

    apt-get download stellarium-data kstars-data marble-data desktop-base debian-edu-artwork-emerald
    for f in *.deb; do mkdir -p pictures/"${f%%_*}"; dpkg-deb -x "$f" pictures/"${f%%_*}"; done
    python -m trainer gate-pictures --pictures pictures/* --out runs/gate_pictures

Session 50 added a sixth package, counted before anyone looked at its pictures: gcompris-qt-data (2,671 pictures).
They live in Qt resource files (``usr/share/gcompris-qt/rcc/*.rcc``): register each with ``QResource.registerResource``,
walk it with ``QDirIterator`` and write out every .webp and .png file and every .svg rendered at 512 px (QtSvg) into
one folder, then pass that folder. Since session 50 the image-kind model learns from four of the six packages; KStars'
and gcompris' pictures are the held-out ones.

Every distinct picture under the folders (``trainer.data.image_kind.folder_pictures``, as the image-kind training set
takes its pictures: one per picture packaged at several resolutions, near-duplicates once, cut-outs on black or
white) is written as an 8-bit grey PNG, read back as the app reads a PNG and analysed by every model, none
explaining. A grey picture, because a colour one is refused before the gate. Any answer on a picture is a gate
failure: ``answers.csv`` lists each picture, what the gate saw and who answered what; the summary counts the pictures
that reached a chest X-ray model or a CT model and the COVID-19 answers. The folders must not be among those the
image-kind model learnt "other" from (``trainer/recipes/image_kind.toml`` names those packages).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import cv2

COVID = "COVID-19"
ANSWERS_COLUMNS = ("picture", "folder", "image_kind", "read_back", "answered_by", "answers")


@dataclass
class GateTally:
    """Pictures analysed, those a chest X-ray or a CT model answered on, and the COVID-19 answers among them."""

    pictures: int = 0
    reached_cxr: list[str] = field(default_factory=list)
    reached_ct: list[str] = field(default_factory=list)
    covid_answers: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"pictures": self.pictures, "reached_cxr": len(self.reached_cxr), "reached_ct": len(self.reached_ct),
                "covid_answers": self.covid_answers, "pictures_reaching_cxr": self.reached_cxr,
                "pictures_reaching_ct": self.reached_ct}

    def lines(self) -> list[str]:
        n = max(self.pictures, 1)
        return [f"{self.pictures} pictures: {len(self.reached_cxr)} reached a chest X-ray model "
                f"({len(self.reached_cxr) / n:.1%}), {len(self.reached_ct)} a CT model ({len(self.reached_ct) / n:.1%}); "
                f"{self.covid_answers} COVID-19 answers"]


def write_pictures(folders: Iterable[Path], out: Path) -> list[tuple[Path, str]]:
    """Each distinct picture under ``folders`` as a grey PNG in ``out``: [(its path, the folder it came from)]."""
    from trainer.data.image_kind import folder_pictures

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for j, (_, source, image) in enumerate(folder_pictures(list(folders))):
        path = out / f"{j:05d}.png"
        cv2.imwrite(str(path), image)
        written.append((path, source.removeprefix("pictures: ")))
    return written


def tally(pictures: list[tuple[Path, str]], predictor: Any, answers_csv: Path) -> GateTally:
    """Every model's answer on each picture, as the app reads a PNG; one row per picture in ``answers_csv``."""
    from covidviewer.inference import RunOptions
    from covidviewer.io import load_path

    result = GateTally()
    options = RunOptions(method="none")
    with open(answers_csv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(ANSWERS_COLUMNS)
        for path, folder in pictures:
            analysis = predictor.analyse(load_path(path), "all", options)
            answered = [r for r in analysis.models if r.ok]
            modalities = {predictor.store.spec(r.model).modality for r in answered}
            result.pictures += 1
            if "CXR" in modalities:
                result.reached_cxr.append(path.name)
            if modalities - {"CXR"}:
                result.reached_ct.append(path.name)
            result.covid_answers += sum(r.answer == COVID for r in answered)
            kind = analysis.image_kind
            seen = "" if kind is None else f"{kind.verdict} ({kind.probability(kind.verdict):.2f})"
            writer.writerow([path.name, folder, seen,
                             analysis.hanging.summary() if analysis.hanging is not None else "",
                             " ".join(r.model for r in answered), " ".join(f"{r.model}={r.answer}" for r in answered)])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer gate-pictures", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pictures", type=Path, nargs="+", required=True, help="folders of pictures (extracted packages)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the grey PNGs, answers.csv and summary.json")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.pictures if not p.is_dir()]
    if missing:
        print(f"error: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    from covidviewer.inference.predictor import Predictor

    pictures = write_pictures(args.pictures, args.out / "pictures")
    if not pictures:
        print("error: no pictures found under the folders given", file=sys.stderr)
        return 2
    result = tally(pictures, Predictor(device="cpu"), args.out / "answers.csv")
    (args.out / "summary.json").write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    print("\n".join(result.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
