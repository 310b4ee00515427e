"""Corner overlay text of a displayed image, as in Weasis or OHIF (Qt-free).

Top left: who (patient name, ID, sex and age). Top right: which study and series (date,
descriptions, modality and view). Bottom left: where (slice number in reading order, position in
mm, thickness). Bottom right: how it is drawn (window, zoom, rotation / mirror / inversion).

With ``anonymise`` what could identify the patient is left out: name, ID, sex, age, the study
date and the free-text study and series descriptions (all removed by DICOM PS3.15's Basic
Profile; a description or a file name may hold a name); series number, modality and view stay.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from covidviewer.io.patient_dates import age_shown, shown_date

ANONYMISED = "Anonymised"


@dataclass(frozen=True)
class ViewFacts:
    """What the view shows, besides the file's metadata.

    slice_number / n_slices: 1-based number in reading order and count (n_slices 1 for a radiograph);
    position_mm / position_axis: the slice's patient coordinate and its LPS axis letter ("z" for axial);
    window: (center, width); unit: "HU" or ""; zoom: screen pixels per image pixel (None: unknown);
    rotation: degrees clockwise; mirrored, inverted: the reader's flips.
    """

    plane: str = "axial"
    slice_number: int = 1
    n_slices: int = 1
    position_mm: float | None = None
    position_axis: str = "z"
    window: tuple[float, float] = (127.5, 255.0)
    unit: str = ""
    zoom: float | None = None
    rotation: int = 0
    mirrored: bool = False
    inverted: bool = False


@dataclass(frozen=True)
class CornerText:
    """Lines of text for each corner of the view (top lines first)."""

    top_left: tuple[str, ...] = ()
    top_right: tuple[str, ...] = ()
    bottom_left: tuple[str, ...] = ()
    bottom_right: tuple[str, ...] = ()


def _text(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    return "" if value is None else str(value).strip()


def patient_lines(meta: dict[str, Any], anonymise: bool = False) -> tuple[str, ...]:
    """Name, ID and "sex age" of the patient; a single "Anonymised" line when asked to hide them."""
    if anonymise:
        return (ANONYMISED,)
    name = _text(meta, "patient_name").replace("^", " ").strip()
    patient_id = _text(meta, "patient_id")
    sex_age = " ".join(v for v in (_text(meta, "patient_sex"), age_shown(meta)) if v)  # the age the child check reads
    return tuple(v for v in (name, f"ID {patient_id}" if patient_id else "", sex_age) if v)


def study_lines(meta: dict[str, Any], anonymise: bool = False) -> tuple[str, ...]:
    """Study date and description, series number and description, modality and view position."""
    date = "" if anonymise else shown_date(_text(meta, "study_date"))
    study = "" if anonymise else _text(meta, "study_description")
    number = _text(meta, "series_number")
    series = "" if anonymise else _text(meta, "series_description")
    # "Se 2: 5mm", not "Se 2 5mm": a description that starts with a number ran into the series number
    series_line = ": ".join(v for v in (f"Se {number}" if number else "", series) if v)
    modality = " ".join(v for v in (_text(meta, "modality"), _text(meta, "view_position")) if v and v != "OT")
    return tuple(v for v in (date, study, series_line, modality) if v)


def location_lines(meta: dict[str, Any], facts: ViewFacts) -> tuple[str, ...]:
    """"Axial 12/300", "z -123.5 mm", "Thick 1.25 mm" (a single image shows "Image 1/1" only)."""
    lines = [f"{facts.plane.capitalize()} {facts.slice_number}/{facts.n_slices}" if facts.n_slices > 1 else "Image 1/1"]
    if facts.position_mm is not None and facts.n_slices > 1:
        lines.append(f"{facts.position_axis} {facts.position_mm:.1f} mm")
    thickness = meta.get("slice_thickness")
    if isinstance(thickness, (int, float)) and thickness > 0 and facts.plane == "axial":
        lines.append(f"Thick {float(thickness):.3g} mm")
    return tuple(lines)


def display_lines(facts: ViewFacts) -> tuple[str, ...]:
    """"W 1500 L -600", "Zoom 150 %", and what the reader turned ("Rot 90\u00b0 Mirror Inverted")."""
    center, width = facts.window
    unit = f" {facts.unit}" if facts.unit else ""
    lines = [f"W {width:.0f} L {center:.0f}{unit}"]
    if facts.zoom is not None:
        lines.append(f"Zoom {100 * facts.zoom:.0f} %")
    turned = [f"Rot {facts.rotation}\u00b0" if facts.rotation else "", "Mirror" if facts.mirrored else "",
              "Inverted" if facts.inverted else ""]
    if any(turned):
        lines.append(" ".join(t for t in turned if t))
    return tuple(lines)


def corner_text(meta: dict[str, Any] | None, facts: ViewFacts, anonymise: bool = False) -> CornerText:
    """The four corners' lines for a view of an image with metadata ``meta`` (Volume.meta)."""
    meta = meta or {}
    return CornerText(
        top_left=patient_lines(meta, anonymise),
        top_right=study_lines(meta, anonymise),
        bottom_left=location_lines(meta, facts),
        bottom_right=display_lines(facts),
    )
