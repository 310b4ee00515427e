"""Read a ``labels.csv`` into rows, mapping labels per recipe and reporting every row it skips.

Accepted columns: ``path`` (or ``image_path``), ``label``, ``patient_id``, optional ``split`` and
optional ``mask_path``. Paths are relative to the csv's folder. A row is skipped, never silently,
when its file is missing, its image cannot be read, or its label is unknown; rows whose label the
recipe excludes on purpose (e.g. COVID for the three-class SEME-ResNet50) are counted separately.

A label map may send a coarse label to a LIST of classes: adult "pneumonia, cause unknown" is
bacterial or viral, so for a model that splits the two its target is the set {bacterial, viral}
(``Row.targets``); the loss is then on p(bacterial) + p(viral), never a guess of one of them.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from trainer.data.views import view_of


@dataclass(frozen=True)
class Row:
    """One usable labelled image: ``target`` is the class index (or -1 for segmentation rows).

    targets: the class indices the label allows (one for a plain label, several for a coarse one);
        ``target`` is the first of them. age_group: "adult", "child" or "" (unknown), from the
        csv's ``age_group`` column or the recipe's ``data.child_sources``. csv_label: the csv's own label
        before the recipe's map (a COVID-19 film trained as viral pneumonia is still "covid" there).
        view: "AP", "PA", "lateral" or "" (unknown), from a view table or the csv's ``view`` column
        (trainer.data.views).
    """

    path: Path
    label: str
    target: int
    patient_id: str
    split: str = ""
    mask_path: Path | None = None
    source: str = ""
    targets: tuple[int, ...] = ()
    age_group: str = ""
    csv_label: str = ""
    view: str = ""

    @property
    def coarse(self) -> bool:
        """The label allows several classes (e.g. pneumonia -> bacterial or viral)."""
        return len(self.targets) > 1


@dataclass
class LabelsReport:
    """What was read: kept rows, skipped rows with reasons, and excluded-by-recipe counts."""

    csv_path: Path | list[Path]
    rows: list[Row] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)
    #: (csv label, the recipe's spelling) -> rows, for labels read regardless of case, spaces and hyphens
    respelled: Counter = field(default_factory=Counter)
    #: rows kept that name no patient (each is taken as a patient of its own)
    without_patient: int = 0
    #: csv label -> rows skipped because neither the model's classes nor the recipe's label map know it
    unknown_labels: Counter = field(default_factory=Counter)
    #: (image, why) of the rows the app's input gate would refuse for this model (trainer.data.kind_check)
    gate_refused: list[tuple[Path, str]] = field(default_factory=list)
    #: what became of them: "kept" or "left out"; "not checked: ..." when nothing could be checked
    gate_action: str = ""

    @property
    def skipped_count(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        """One paragraph for the console and the run log."""
        where = ", ".join(map(str, self.csv_path)) if isinstance(self.csv_path, list) else str(self.csv_path)
        lines = [f"{where}: {len(self.rows)} rows used"]
        if self.without_patient:
            lines.append(f"WARNING: {self.without_patient} rows name no patient_id, and each is taken as a patient of its "
                         "own: a patient's other films may land on the other side of the split, and the validation "
                         "figures then flatter the model")
        if self.gate_refused:
            count = len(self.gate_refused)
            lines.append(f"WARNING: {count} film{'s' if count != 1 else ''} the app's input gate would refuse for this model "
                         f"({self.gate_action}; data.kind_check):")
            lines += [f"  {path.name}: {why}" for path, why in self.gate_refused[:10]]
            if len(self.gate_refused) > 10:
                lines.append(f"  ... and {len(self.gate_refused) - 10} more (data.json in the run folder)")
        elif self.gate_action.startswith("not checked"):
            lines.append(f"input gate: {self.gate_action}")
        if self.respelled:
            lines.append("labels read regardless of case, spaces and hyphens: " + ", ".join(
                f"{raw!r} as {spelled!r} {n}" for (raw, spelled), n in sorted(self.respelled.items())))
        if self.excluded:
            lines.append("excluded by recipe: " + ", ".join(f"{k} {v}" for k, v in sorted(self.excluded.items())))
        if self.skipped:
            reasons = Counter(reason.split(":")[0] for _, reason in self.skipped)
            lines.append(f"SKIPPED {len(self.skipped)} bad rows: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
            for line_no, reason in self.skipped[:10]:
                lines.append(f"  line {line_no}: {reason}")
            if len(self.skipped) > 10:
                lines.append(f"  ... and {len(self.skipped) - 10} more (see bad_rows.csv in the run folder)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "csv": [str(p) for p in self.csv_path] if isinstance(self.csv_path, list) else str(self.csv_path),
            "used": len(self.rows),
            "skipped": self.skipped_count,
            "skipped_rows": [{"line": n, "reason": r} for n, r in self.skipped],
            "excluded": dict(self.excluded),
            "without_patient_id": self.without_patient,
            "gate_refused": [{"path": str(path), "why": why} for path, why in self.gate_refused],
            "gate_action": self.gate_action,
        }


class LabelsError(ValueError):
    """The csv itself is unusable (missing, no header, missing required columns)."""


def _first(record: dict[str, str], *names: str) -> str:
    for name in names:
        value = record.get(name)
        if value is not None and value.strip():
            return value.strip()
    return ""


def folded(label: str) -> str:
    """A label without case, spaces, hyphens or underscores: "COVID-19" and "covid19", "Normal" and "normal" are one."""
    return re.sub(r"[\s_\-]+", "", label).casefold()


def _spelled_as(raw: str, label_map: dict[str, Any], classes: tuple[str, ...]) -> str:
    """The recipe's own spelling of ``raw`` (a label-map key or a class name), where only case, spaces, hyphens or
    underscores differ and the match is unique; else ``raw``. A researcher's "Normal" or "COVID-19" is what the
    recipe calls "normal" and "covid"; skipping those rows would train on what is left."""
    if raw in label_map or raw in classes:
        return raw
    matches = {name for name in (*label_map, *classes) if folded(name) == folded(raw)}
    return matches.pop() if len(matches) == 1 else raw


def _map_label(raw: str, label_map: dict[str, Any], classes: tuple[str, ...]) -> tuple[str, tuple[int, ...]] | None:
    """(label, class indices) for a csv label as the recipe spells it (``_spelled_as``), or None when it maps to no
    class of the model."""
    mapped = label_map.get(raw, raw)
    if isinstance(mapped, (list, tuple)):
        if not mapped or any(m not in classes for m in mapped):
            return None
        if len(mapped) == 1:
            return mapped[0], (classes.index(mapped[0]),)
        return raw, tuple(classes.index(m) for m in mapped)
    if mapped not in classes:
        return None
    return mapped, (classes.index(mapped),)


def _delimiter(fh: Any) -> str:
    """The csv's field separator from its header line: a comma, or the semicolon or tab a spreadsheet writes where the
    comma is the decimal mark (``fh`` is left at its start)."""
    header = fh.readline()
    fh.seek(0)
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] and not counts[","] else ","


def _resolved(base: Path, rel: str) -> Path:
    """The file a csv path names, relative to the csv's folder; a path written on Windows ("images\\a.png") is
    read with forward slashes where it names no file as written."""
    path = (base / rel).resolve()
    if "\\" in rel and not path.exists():
        return (base / rel.replace("\\", "/")).resolve()
    return path


def _age_group(record: dict[str, str], source: str, child_sources: tuple[str, ...]) -> str:
    given = _first(record, "age_group").lower()
    if given:
        return given
    if not child_sources:
        return ""
    return "child" if any(s.lower() in source.lower() for s in child_sources) else "adult"


def read_labels(
    csv_path: Path | str,
    classes: tuple[str, ...] | None,
    label_map: dict[str, Any] | None = None,
    exclude_labels: list[str] | tuple[str, ...] = (),
    need_mask: bool = False,
    check_readable: Callable[[Path], str | None] | None = None,
    child_sources: tuple[str, ...] = (),
    view_table: dict[str, str] | None = None,
) -> LabelsReport:
    """Parse ``csv_path`` into a LabelsReport.

    classes: the model's class names (None for segmentation: labels are kept as text, target -1).
    label_map: csv label -> class name, or -> a list of class names (a coarse label: a set target);
        labels mapping to themselves may be omitted.
    child_sources: substrings of ``source`` whose rows are children (when the csv has no
        ``age_group`` column); every other row is then an adult.
    need_mask: rows without a readable ``mask_path`` are bad rows (segmentation).
    check_readable: ``path -> None`` when the image can be read, else a reason (e.g. a LoadError text).
    view_table: {film key: view} (trainer.data.views.read_view_tables), ahead of the csv's ``view`` column.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise LabelsError(f"labels file not found: {csv_path}")
    base = csv_path.parent
    label_map = dict(label_map or {})
    excluded_set = {folded(label) for label in exclude_labels}
    report = LabelsReport(csv_path=csv_path)
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter=_delimiter(fh))
        header = set(reader.fieldnames or [])
        if not ({"path", "image_path"} & header):
            raise LabelsError(f"{csv_path}: needs a 'path' (or 'image_path') column; has {sorted(header)}")
        if need_mask and "mask_path" not in header:
            raise LabelsError(f"{csv_path}: segmentation needs a 'mask_path' column")
        if classes is not None and "label" not in header:
            raise LabelsError(f"{csv_path}: needs a 'label' column")
        for line_no, record in enumerate(reader, start=2):
            rel = _first(record, "path", "image_path")
            if not rel:
                report.skipped.append((line_no, "empty path"))
                continue
            path = _resolved(base, rel)
            raw_label = _first(record, "label")
            if folded(raw_label) in excluded_set:
                report.excluded[raw_label] += 1
                continue
            targets: tuple[int, ...] = (-1,)
            label = raw_label
            if classes is not None:
                spelled = _spelled_as(raw_label, label_map, classes)
                mapped = _map_label(spelled, label_map, classes)
                if mapped is None:
                    report.skipped.append((line_no, f"unknown label: {raw_label!r} (model classes {list(classes)})"))
                    report.unknown_labels[raw_label] += 1
                    continue
                label, targets = mapped
                if spelled != raw_label:
                    report.respelled[(raw_label, spelled)] += 1
            mask_rel = _first(record, "mask_path")
            mask_path = _resolved(base, mask_rel) if mask_rel else None
            if not path.is_file():
                report.skipped.append((line_no, f"missing file: {rel}"))
                continue
            if need_mask and (mask_path is None or not mask_path.is_file()):
                report.skipped.append((line_no, f"missing file: mask {mask_rel or '(empty)'}"))
                continue
            if check_readable is not None:
                problem = check_readable(path)
                if problem is None and need_mask and mask_path is not None:
                    problem = check_readable(mask_path)
                if problem is not None:
                    report.skipped.append((line_no, f"unreadable image: {rel}: {problem}"))
                    continue
            patient = _first(record, "patient_id")
            if not patient:
                report.without_patient += 1
                patient = f"row{line_no}"
            source = _first(record, "source")
            report.rows.append(
                Row(
                    path=path,
                    label=label,
                    target=targets[0],
                    patient_id=patient,
                    split=_first(record, "split").lower(),
                    mask_path=mask_path,
                    source=source,
                    targets=targets,
                    age_group=_age_group(record, source, tuple(child_sources)),
                    csv_label=raw_label,
                    view=view_of(path, _first(record, "view"), view_table or {}),
                )
            )
    if not report.rows:
        raise LabelsError(f"{csv_path}: no usable rows\n{report.summary()}")
    return report


def too_few_classes(report: LabelsReport, train_rows: list[Row], classes: tuple[str, ...]) -> str:
    """Why the training rows cannot train a classifier ("" when they can): they hold films of fewer than two of its
    labels, most often because the other labels' rows were skipped (a label the recipe does not know)."""
    labels = sorted({row.label for row in train_rows})
    if len(labels) >= 2:
        return ""
    unknown = report.unknown_labels
    hint = (f"; {sum(unknown.values())} rows were skipped for their label ("
            + ", ".join(f"{label!r} {n}" for label, n in unknown.most_common(3))
            + "): map them in the recipe's [data.label_map]") if unknown else ""
    return (f"the training rows hold only {labels or 'no label'}: a classifier needs films of at least two of its "
            f"classes ({', '.join(classes)}){hint}")


def merge_reports(reports: list[LabelsReport]) -> LabelsReport:
    """One report over several csvs (``--data`` given more than once); line numbers name their csv."""
    if len(reports) == 1:
        return reports[0]
    merged = LabelsReport(csv_path=[Path(r.csv_path) for r in reports])  # type: ignore[misc]
    for report in reports:
        merged.rows.extend(report.rows)
        merged.excluded.update(report.excluded)
        merged.respelled.update(report.respelled)
        merged.without_patient += report.without_patient
        merged.unknown_labels.update(report.unknown_labels)
        merged.skipped.extend((line, f"{Path(report.csv_path).parent.name}/{Path(report.csv_path).name}: {why}") for line, why in report.skipped)
    return merged


def write_bad_rows(report: LabelsReport, dest: Path) -> None:
    """``bad_rows.csv`` (line, reason) in the run folder, so skipped rows can be fixed."""
    with open(dest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "reason"])
        writer.writerows(report.skipped)
