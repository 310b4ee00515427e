"""suspect-labels: films ranked by the probability the models give their own label, lowest first, with a contact
sheet; set-target labels are skipped and counted; nothing but --out is written."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from trainer.suspect_labels import main

CLASSES = ("COVID-19", "normal")


def _predictions(path: Path, rows: list[tuple[Path, str, float]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "patient_id", "label", "predicted"] + [f"p_{c}" for c in CLASSES])
        for image, label, p_covid in rows:
            writer.writerow([str(image), image.stem, label, "COVID-19" if p_covid >= 0.5 else "normal",
                             f"{p_covid:.6f}", f"{1 - p_covid:.6f}"])
    return path


def test_the_films_the_models_believe_least_come_first(tmp_path, capsys) -> None:
    images = []
    for i in range(5):
        image = tmp_path / f"film{i}.png"
        cv2.imwrite(str(image), np.full((40, 30), 40 * i, np.uint8))
        images.append(image)
    # film1: labelled normal, both models say COVID-19 (0.9, 0.7): first; film3: one model doubts it (0.6, 0.1)
    a = _predictions(tmp_path / "a.csv", [(images[0], "normal", 0.1), (images[1], "normal", 0.9), (images[2], "COVID-19", 0.8),
                                         (images[3], "normal", 0.6), (images[4], "pneumonia", 0.5)])
    b = _predictions(tmp_path / "b.csv", [(images[0], "normal", 0.2), (images[1], "normal", 0.7), (images[2], "COVID-19", 0.7),
                                         (images[3], "normal", 0.1)])
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    assert main([str(a), str(b), "--out", str(tmp_path / "out"), "--top", "3"]) == 0
    assert "pneumonia 1" in capsys.readouterr().out  # no single column: skipped, counted
    ranked = list(csv.DictReader(open(tmp_path / "out" / "suspects.csv", newline="")))
    assert [Path(r["path"]).name for r in ranked] == ["film1.png", "film3.png", "film2.png"]
    assert float(ranked[0]["mean_p_label"]) == 0.2 and ranked[0]["p_label_per_model"] == "0.1000 0.3000"
    assert len(ranked[0]["sha256"]) == 64
    sheet = cv2.imread(str(tmp_path / "out" / "suspects.png"), cv2.IMREAD_GRAYSCALE)
    assert sheet is not None and sheet.shape[1] == 6 * 192
    assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # inputs untouched
    assert main([str(a), "--out", str(tmp_path / "out2"), "--label", "COVID-19"]) == 0
    assert [Path(r["path"]).name for r in csv.DictReader(open(tmp_path / "out2" / "suspects.csv", newline=""))] == ["film2.png"]
