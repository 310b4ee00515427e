"""Hand-made audit rows shared by the audit tests: the sources' csv names and a row per (source, label, n)."""
from __future__ import annotations

from dataclasses import dataclass

CLASSES = ("COVID-19", "normal", "bacterial pneumonia", "viral pneumonia")
KERMANY = "Kermany 2018 chest_xray (via ozanguldali/final-covid-chestxray)"
NIH = "NIH ChestX-ray14 (via muhammedtalo/COVID-19)"
RSNA = "RSNA Pneumonia Detection Challenge normals, COVID-19 Radiography Database (via rtchanon/...)"
IEEE = "ieee8023/covid-chestxray-dataset"


@dataclass(frozen=True)
class FakeRow:
    label: str
    target: int
    patient_id: str
    source: str
    targets: tuple[int, ...] = ()
    path: str = ""


def audit_rows(spec: list[tuple[str, str, tuple[int, ...], int]]) -> list[FakeRow]:
    """(source, label, allowed classes, n) -> rows, one patient per row."""
    return [FakeRow(label, t[0], f"{source[:4]}:{label}:{i}", source, t) for source, label, t, n in spec for i in range(n)]
