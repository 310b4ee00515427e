"""Where ``covidviewer predict`` writes: the --out folder checked before any model runs, names
that never overwrite a file this run did not create, the one-line summary per input, and ``answers.csv``, one
row per answer of every input, for counting answers over a folder of films (a hospital's own test)."""
from __future__ import annotations

import csv
import os
import tempfile
from glob import escape as glob_escape
from pathlib import Path
from typing import TYPE_CHECKING

from covidviewer.analysis.warning_text import split_warning

if TYPE_CHECKING:
    from covidviewer.inference import AnalysisResult
    from covidviewer.io import Volume


def output_folder_problem(out_dir: Path) -> str | None:
    """Why ``out_dir`` cannot take the results (a file, a path under a file, not writable), or None.

    Creates the folder when it is missing; checked before any model is loaded or run.
    """
    if out_dir.exists() and not out_dir.is_dir():
        return f"--out {out_dir} is a file, not a folder"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"--out {out_dir}: a part of this path is a file, not a folder"
    except OSError as exc:
        return f"--out {out_dir}: cannot create the folder ({exc.strerror or exc})"
    try:  # the only reliable test of "writable" (permissions, read-only mounts, ACLs)
        handle, probe = tempfile.mkstemp(prefix=".covidviewer-write-test-", dir=out_dir)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        return f"--out {out_dir}: cannot write into the folder ({exc.strerror or exc})"
    return None


class OutputFolder:
    """The --out folder of one run: picks file stems, writes results, and removes what it wrote
    for an input that was interrupted.

    A stem is never one that a file present before the run starts with (``scan.json`` of the
    user's, or the results of an earlier run): that input gets ``scan_2`` instead. So a run never
    overwrites a file it did not create, even with --out equal to an input folder.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir
        self._before = {p.name for p in out_dir.iterdir()}
        self._used: set[str] = set()
        self._written: dict[str, list[Path]] = {}
        self.answers = out_dir / f"{self.stem_for('answers')}.csv"  # answers_2.csv where an earlier run left one

    def stem_for(self, name: str) -> str:
        """A file-name-safe stem for the input ``name`` (``folder#series`` for DICOM series)."""
        from covidviewer.inference.result_files import safe_stem
        from covidviewer.io.itk_volume import file_stem

        file, _, series = name.partition("#")
        base = safe_stem(file_stem(Path(file)) + (f"_{series}" if series else ""))
        stem, i = base, 1
        while stem in self._used or self._taken(stem):
            i += 1
            stem = f"{base}_{i}"
        self._used.add(stem)
        return stem

    def _taken(self, stem: str) -> bool:
        return any(existing.startswith(stem + ".") for existing in self._before)

    def write(self, analysis: "AnalysisResult", volume: "Volume | None", stem: str) -> None:
        """``<stem>.json`` and the maps; a failure part-way leaves nothing of this input behind."""
        from covidviewer.inference.result_files import write_result_files

        self._written[stem] = []
        try:
            self._written[stem] = write_result_files(analysis, volume, self.path, stem)
        except BaseException:
            self.discard(stem)
            raise
        self._append_answers(analysis, stem)

    def _append_answers(self, analysis: "AnalysisResult", stem: str) -> None:
        """Its rows of ``answers.csv``, once its files are written (an interrupted run keeps the rows so far)."""
        new = not self.answers.exists()
        # a file name that is not UTF-8 (surrogate escapes) is written as its escapes, as the JSON writes it
        with open(self.answers, "a", newline="", encoding="utf-8", errors="backslashreplace") as fh:
            writer = csv.DictWriter(fh, fieldnames=ANSWER_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerows(answer_rows(analysis, stem))

    def discard(self, stem: str) -> None:
        """Remove the files this run created for ``stem`` (an interrupted or failed write)."""
        self._written.pop(stem, None)
        kept = {p.name for paths in self._written.values() for p in paths} | self._before
        for path in self.path.glob(f"{glob_escape(stem)}.*"):
            if path.name not in kept:
                path.unlink(missing_ok=True)


#: the columns of ``answers.csv``: one row per model, consensus or whole-series answer of one input
ANSWER_COLUMNS = ("input", "result_file", "image_kind", "view", "read_back", "answered_by", "status", "answer",
                  "p_covid", "ood_flag", "warnings", "reason")


def answer_rows(analysis: "AnalysisResult", stem: str) -> list[dict[str, object]]:
    """The rows of one input: each model's answer (as the app gives it: the operating threshold and the date check
    decide), the consensus and each whole-series answer; one row with the input's status when nothing answered."""
    common = {"input": analysis.input, "result_file": f"{stem}.json",
              "image_kind": "" if analysis.image_kind is None else analysis.image_kind.verdict,
              "view": analysis.view, "read_back": "" if analysis.hanging is None else analysis.hanging.summary()}
    rows: list[dict[str, object]] = []
    for r in analysis.models:
        ok = r.status == "ok"
        rows.append({**common, "answered_by": r.model, "status": r.status, "answer": r.answer if ok else "",
                     "p_covid": _p(r.probabilities.get("COVID-19")) if ok else "", "ood_flag": bool(r.ood_flag) if ok else "",
                     "warnings": len(r.warnings), "reason": r.reason})
    if analysis.consensus is not None:
        c = analysis.consensus
        rows.append({**common, "answered_by": f"consensus of {' + '.join(c.members)}", "status": "ok", "answer": c.answer,
                     "p_covid": _p(c.p_covid), "ood_flag": "", "warnings": len(c.notes), "reason": ""})
    for scan in analysis.series:
        answered = scan.status == "ok" and not scan.ood_flag
        rows.append({**common, "answered_by": f"{scan.model} series", "status": scan.status,
                     "answer": scan.decision if answered else "",
                     "p_covid": _p(scan.score) if scan.status == "ok" and scan.positive_class == "COVID-19" else "",
                     "ood_flag": bool(scan.ood_flag) if scan.status == "ok" else "", "warnings": len(scan.warnings),
                     "reason": "" if answered else (scan.reason or f"{scan.unlike_text()} unlike its training images")})
    return rows or [{**common, "answered_by": "", "status": analysis.status, "answer": "", "p_covid": "",
                     "ood_flag": "", "warnings": len(analysis.warnings), "reason": analysis.reason}]


def _p(value: float | None) -> str:
    return "" if value is None else f"{float(value):.4f}"


def _short_note(note: str) -> str:
    """A long note as its name and what it means (its figures are in the JSON), as the results panel shows it."""
    text = split_warning(note)
    return f"{text.name}: {text.conclusion} (figures in its JSON)" if text.split else note


def summary(analysis: "AnalysisResult", stem: str) -> str:
    """One line per input: status, reason, image kind, each model's answer."""
    from covidviewer.inference.calibrated import UNLIKE_TRAINING

    parts = [f"{stem}: {analysis.status}"]
    if analysis.reason:
        parts.append(analysis.reason)
    if analysis.image_kind is not None:
        kind = analysis.image_kind
        if kind.ct_overruled:  # the gate overruled the model's "CT slice"
            parts.append(f"image kind: {kind.verdict} ({kind.overruled})")
        else:
            parts.append(f"image kind: {kind.kind} ({kind.score:.2f})")
    if analysis.hanging is not None and analysis.hanging.summary():
        parts.append(analysis.hanging.summary())
    for r in analysis.models:
        if r.status == "ok":
            answer = r.answer  # the card's operating threshold (or the date check) decides, not the argmax
            # the warnings themselves (the same-source caveat, the date check...) are long: the JSON holds them
            noted = f"; {len(r.warnings)} warning{'s' if len(r.warnings) > 1 else ''} in its JSON" if r.warnings else ""
            parts.append(f"{r.model}={answer} ({r.probabilities[answer]:.2f}{', calibrated' if r.calibrated else ''}{noted})")
            if r.ood_flag:
                parts.append(f"{r.model}: {UNLIKE_TRAINING} (OOD score {r.ood_score:.1f})")
        elif r.status == "unavailable":
            parts.append(f"{r.model} unavailable: {r.reason}")
    if analysis.consensus is not None:
        c = analysis.consensus
        notes = [_short_note(note) for note in c.notes]
        parts.append(f"consensus of {' + '.join(c.members)}={c.answer} (mean p(COVID-19) {c.p_covid:.2f}, threshold "
                     f"{c.threshold:.2f}{'; ' + '; '.join(notes) if notes else ''})")
    for scan in analysis.series:
        if scan.status == "ok" and scan.ood_flag:
            parts.append(f"{scan.model} series: no answer ({scan.unlike_text()} unlike its training images)")
        elif scan.status == "ok":
            parts.append(f"{scan.model} series={scan.decision} ({scan.positive_class} {scan.score:.2f}, {scan.rule}, "
                         f"{scan.scored} slices scored)")
        else:
            parts.append(f"{scan.model} series: {scan.reason}")
    parts += [f"warning: {w}" for w in analysis.warnings]
    return " | ".join(parts)
