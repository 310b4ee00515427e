"""Style stress test: does the answer change when the same adult films merely look like another hospital's?

The shortcut a chest X-ray model here is most likely to keep is the look of the hospital: every adult normal film is
NIH's or RSNA's, every adult COVID-19 film another collection's. A film from a hospital in neither pack differs from
both in ways that say nothing about the lungs: the console's gamma curve, unsharp masking or smoothing, detector
resolution, noise, JPEG re-compression, its bit depth (the films here are 8-bit exports; a DICOM has 10-16 bits), the
window it was exported through and the size of the grid (the films here are 157-501 px; a hospital's DICOM is
2,000-3,000 px). This re-scores the adult validation films with each of those changed by a fixed amount (``SHIFTS``:
the style steps inside the range the recipes' style augmentation draws from, trainer.data.augment, their pixel sizes
scaled to the film's size; the grid size beyond anything in training) and reports, per change, the share of adult
normal and adult non-COVID pneumonia films called COVID-19 at the operating threshold, COVID-19 sensitivity and the
normal vs COVID-19 AUC, beside the unchanged films' figures, and how many films' calls flipped. A model that calls
more normals COVID-19 when their mid-tones are darker has learnt a look, and will do so at a hospital whose films are
darker.

The change is applied to the film in its own units through its window, before the one model-input path
(covidviewer.inference.inputs), exactly where training augmentation applies it; the lung masks the
dataset was given stay those of the unchanged film (resized with it for a change of grid size: the test is of
the classifier). Noise is seeded per film, so the figures are reproducible.
"""
from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from covidviewer.model_cards import STYLE_SHIFT_FLAG
from trainer.data.augment import (
    add_noise, blur, gamma, in_window_units, on_larger_grid, recompress, resample, rewindow, sharpen,
)


@dataclass(frozen=True)
class StyleShift:
    """One acquisition-style change at a fixed strength: key, words for a reader, the change itself
    ([0, 1] image, per-film generator -> [0, 1] image)."""

    key: str
    words: str
    change: Callable[[np.ndarray, np.random.Generator], np.ndarray]

    def on(self, unit: np.ndarray, row: Any) -> np.ndarray:
        """The change on one film ([0, 1] image) of ``row``, drawing from that film's own generator."""
        return self.change(unit, film_rng(row))


#: the longer side the shifts' pixel sizes are stated for: about the model's 224 px view of a film (the films in
#: ../shared/data are 157-501 px). On a film of another size blur, sharpening and noise are scaled to it, so that
#: each looks the same on the model's view of the lungs: a 3000 px DICOM film is blurred by 17 of its own pixels,
#: and the 224 px NIH films and the 300 px ieee8023 ones by the same share of their anatomy
REFERENCE_SIDE = 256


def _scale(unit: np.ndarray) -> float:
    return max(unit.shape) / REFERENCE_SIDE


SHIFTS: tuple[StyleShift, ...] = (
    StyleShift("gamma_0.67", "mid-tones brighter (gamma 0.67)", lambda u, rng: gamma(u, 0.67)),
    StyleShift("gamma_1.5", "mid-tones darker (gamma 1.5)", lambda u, rng: gamma(u, 1.5)),
    StyleShift("blur_1.5", "smoothed (Gaussian blur, 1.5 px of a 256 px film)", lambda u, rng: blur(u, 1.5 * _scale(u))),
    StyleShift("sharpen_1.0", "edge-enhanced (unsharp mask, 1.5 px of a 256 px film, amount 1.0)",
               lambda u, rng: np.clip(sharpen(u, 1.5 * _scale(u), 1.0), 0, 1)),
    StyleShift("resample_0.4", "coarser detector (40% of the size, resized back)", lambda u, rng: resample(u, 0.4)),
    # noise that the model's area-averaged view sees at one level whatever the film's size
    StyleShift("noise_0.03", "noisier (Gaussian, sd 3% of the window on a 256 px film)",
               lambda u, rng: np.clip(add_noise(u, 0.03 * _scale(u), rng), 0, 1)),
    StyleShift("jpeg_25", "JPEG re-compressed (quality 25)", lambda u, rng: recompress(u, 25)),
    # the films here are 8-bit exports, a hospital's DICOM has 10-16 bits: values between the 8-bit levels, too
    # small to see, change CLAHE's clipped histogram (session 25: the cascade's stage 2 read it)
    StyleShift("finer_levels", "finer grey levels (a 12-bit film: detail under half an 8-bit step)",
               lambda u, rng: np.clip(u + rng.uniform(-0.5, 0.5, u.shape).astype(np.float32) / 255.0, 0, 1)),
    # session 39: a DICOM film is read through its vendor's VOI window, and a film exported through another window
    # has its grey range cut or squeezed; on the built-in film the cascade's p(COVID-19) ran 0.32-0.90 with the window
    # (inside the range a recipe's ``export_window`` augmentation draws from, 0.15 of it at each end; no shipped
    # recipe draws it: session 40)
    StyleShift("window_narrow", "a narrower window (the middle 80% of the grey range stretched over it, ends clipped)",
               lambda u, rng: rewindow(u, 0.1, 0.9)),
    StyleShift("window_wide", "a wider window (the grey range squeezed into its middle 80%)",
               lambda u, rng: rewindow(u, -0.125, 1.125)),
    # the films here are 157-501 px, a hospital's DICOM 2,000-3,000 px: the same anatomy on a bigger grid
    StyleShift("size_3x", "a bigger detector grid (the same film at 3x its size)", lambda u, rng: on_larger_grid(u, 3.0)),
)


def chosen_shifts(keys: str | None) -> tuple[StyleShift, ...]:
    """The shifts named in a comma-separated list (None or "": every shift), in ``SHIFTS`` order."""
    if not keys:
        return SHIFTS
    wanted = {shift_by_key(key.strip()).key for key in keys.split(",") if key.strip()}
    return tuple(s for s in SHIFTS if s.key in wanted)


def shift_by_key(key: str) -> StyleShift:
    for shift in SHIFTS:
        if shift.key == key:
            return shift
    raise KeyError(f"no style shift {key!r} (known: {', '.join(s.key for s in SHIFTS)})")


def film_rng(row: Any) -> np.random.Generator:
    """The generator a shift draws from for one film (by its path): the same noise on every run and in any order."""
    return np.random.default_rng([7919, zlib.crc32(str(row.path).encode("utf-8"))])


def restyled(pixels: np.ndarray, window: tuple[float, float], shift: StyleShift, row: Any) -> np.ndarray:
    """A film in its own units as ``shift`` changes it, read through ``window`` (where the evaluation dataset
    applies it too: trainer.data.datasets.ClassificationDataset.style_shift)."""
    return in_window_units(pixels, window, lambda unit: shift.on(unit, row))


def adult_subset(dataset: Any) -> Any:
    """A shallow copy of an evaluation dataset holding its adult films only (the stress test's rows)."""
    from trainer.audit import is_adult

    subset = copy.copy(dataset)
    subset.rows = [r for r in dataset.rows if is_adult(r)]
    return subset


def style_stress(score: Callable[[StyleShift | None], np.ndarray], rows: Sequence[Any], classes: Sequence[str],
                 threshold: float | None, n_boot: int = 200, shifts: Sequence[StyleShift] = SHIFTS) -> dict[str, Any]:
    """{"threshold", "baseline": adult check, "shifts": {key: adult check + flips}, "flags", "film_sides"}.

    score(shift) -> (N, K) probabilities of ``rows`` (in that order) with the shift applied, None = unchanged
    films. rows: adult films (``adult_subset``). The checks are trainer.audit.adult_covid_check's, at
    ``threshold`` on p(COVID-19) when given (else by argmax). shifts: the changes to test (``chosen_shifts``)."""
    from trainer.audit import adult_covid_check, allowed_of, film_kinds, is_adult, json_ready
    from trainer.metrics import BOOTSTRAP_SEED, covid_class

    c = covid_class(classes)
    if c is None:
        return {"skipped": f"the model has no COVID-19 class ({', '.join(classes)})"}
    allowed = allowed_of(rows, len(classes))
    adult = np.array([is_adult(r) for r in rows], bool)
    patients = np.array([r.patient_id for r in rows])
    kind = np.where(adult, film_kinds(allowed, classes), "child")  # a child's film is in none of the adult counts

    def check(prob: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        called = prob[:, c] >= threshold if threshold is not None else prob.argmax(1) == c
        return adult_covid_check(prob, allowed, classes, adult, patients, threshold, n_boot, BOOTSTRAP_SEED), called

    baseline, base_called = check(score(None))
    out: dict[str, Any] = {"threshold": threshold, "n_films": int(adult.sum()), "baseline": baseline, "shifts": {},
                           "film_sides": film_sides([r for r, a in zip(rows, adult) if a])}
    for shift in shifts:
        report, called = check(score(shift))
        report["words"] = shift.words
        report["flips"] = {name: {"to_covid": int((called & ~base_called & (kind == name)).sum()),
                                  "from_covid": int((~called & base_called & (kind == name)).sum()),
                                  "films": int((kind == name).sum())} for name in ("normal", "pneumonia", "COVID-19")}
        out["shifts"][shift.key] = report
    out["flags"] = stress_flags(out)
    return json_ready(out)


def film_sides(rows: Sequence[Any]) -> dict[str, int] | None:
    """The longer sides of the tested films as sent ({"min", "median", "max"} px), read from their headers, so that
    the app can say how far a film it warns on is beyond them; None when one cannot be read that way (a DICOM)."""
    from PIL import Image, UnidentifiedImageError

    sides = []
    for row in rows:
        try:
            with Image.open(row.path) as image:
                sides.append(max(image.size))
        except (OSError, UnidentifiedImageError):
            return None
    return {"min": min(sides), "median": int(np.median(sides)), "max": max(sides)} if sides else None


def _called_key(report: dict[str, Any]) -> str:
    return "_at_threshold" if report.get("threshold") is not None else ""


def stress_flags(stress: dict[str, Any]) -> list[str]:
    """Plain-language flags: a change of style that moves the share of adult normals called COVID-19, or COVID-19
    sensitivity, by more than STYLE_SHIFT_FLAG."""
    flags = []
    base = stress["baseline"].get("point", {})
    suffix = _called_key(stress["baseline"])
    for key, report in stress["shifts"].items():
        point = report.get("point", {})
        for metric, what in ((f"normal_called_covid{suffix}", "adult normals called COVID-19"),
                             (f"covid_sensitivity{suffix}", "COVID-19 sensitivity")):
            before, after = base.get(metric), point.get(metric)
            if before is None or after is None or not np.isfinite(before) or not np.isfinite(after):
                continue
            if abs(after - before) > STYLE_SHIFT_FLAG:
                flags.append(f"{report['words']}: {what} {before:.0%} -> {after:.0%} (moved more than {STYLE_SHIFT_FLAG:.0%}); "
                             "the answer follows how the film looks, not only the lungs.")
    return flags


def stress_lines(stress: dict[str, Any]) -> list[str]:
    """The report as lines for a terminal: one per change, beside the unchanged films."""
    if "skipped" in stress:
        return [f"style stress test skipped: {stress['skipped']}"]
    suffix = _called_key(stress["baseline"])
    how = f"at threshold {stress['threshold']:.2f}" if stress["threshold"] is not None else "by argmax"

    def cells(point: dict[str, float | None]) -> str:
        return (f"normals called COVID-19 {_shown(point.get(f'normal_called_covid{suffix}'), '.0%')}, "
                f"pneumonias {_shown(point.get(f'pneumonia_called_covid{suffix}'), '.0%')}, "
                f"sensitivity {_shown(point.get(f'covid_sensitivity{suffix}'), '.2f')}, "
                f"AUC {_shown(point.get('auc_normal_vs_covid'), '.2f')}")

    lines = [f"style stress test on {stress['n_films']} adult films ({how}):",
             f"  unchanged: {cells(stress['baseline']['point'])}"]
    for report in stress["shifts"].values():
        flips = report["flips"]
        lines.append(f"  {report['words']}: {cells(report['point'])}; flipped to COVID-19: "
                     f"{flips['normal']['to_covid']} normals, {flips['pneumonia']['to_covid']} pneumonias; "
                     f"COVID-19 films lost: {flips['COVID-19']['from_covid']}")
    lines += [f"  FLAG: {f}" for f in stress["flags"]]
    return lines


def stress_dataset(model: Any, task: Any, dataset: Any, device: Any, batch_size: int, calibration: Any = None,
                   n_boot: int = 200, shifts: Sequence[StyleShift] = SHIFTS) -> dict[str, Any]:
    """``style_stress`` of a trained network on the adult films of an evaluation dataset, read as the app reads
    it: through the card's calibration (temperature, operating threshold) when given, else its own
    probabilities by argmax."""
    from trainer.evaluation import predict_logits

    subset = adult_subset(dataset)

    def score(shift: StyleShift | None) -> np.ndarray:
        subset.style_shift = None if shift is None else shift.on
        logits, _ = predict_logits(model, task, subset, device, batch_size)
        if calibration is not None:
            return np.asarray(calibration.apply_temperature(logits.numpy()), float)
        return task.probabilities(logits).numpy().astype(float)

    point = calibration.operating_point if calibration is not None else None
    return style_stress(score, subset.rows, tuple(task.spec.classes), point.threshold if point is not None else None, n_boot,
                        shifts)


def _shown(value: float | None, fmt: str) -> str:
    """A figure, or "n/a" where it is undefined (no such films: JSON null)."""
    return "n/a" if value is None else format(value, fmt)


def record_on_card(folder: Any, stress: dict[str, Any]) -> Any:
    """Keep ``stress`` on the exported card in ``folder`` (metrics.style_stress; Help > About shows its line)."""
    from pathlib import Path

    from covidviewer.model_cards import STYLE_STRESS_KEY
    from trainer.card_edit import edited_card

    path = Path(folder) / "model.json"
    with edited_card(path) as card:
        card.setdefault("metrics", {})[STYLE_STRESS_KEY] = stress
    return path
