"""A long warning read conclusion first: "detail check: <evidence>; <evidence>; its COVID-19 answer may reflect how the
film was processed, not the lungs: read it beside the other models" becomes its name ("detail check"), what it means
for the answer (the last clause) and the evidence (the rest), which the results panel shows on demand.

A COVID-19 answer can carry four or five such warnings of 300-600 characters each (the shortcut audit's records, the
style stress test, the detail check); shown whole they bury the answer they qualify. Every warning keeps all its
words: a short one, or one that is not "name: evidence; ...; conclusion", is shown as it is. Several warnings with
the same name and conclusion (one per leave-one-source-out record) are read as one, with all their evidence.
"""
from __future__ import annotations

from dataclasses import dataclass

#: a warning shorter than this is shown whole
LONG_WARNING = 200
#: the most words a warning's name has ("shortcut audit", "style stress test", "detail check")
NAME_WORDS = 4


@dataclass(frozen=True)
class WarningText:
    """``name``: what raised it ("" when not split); ``conclusion``: what it means for the answer (the whole text when
    not split); ``evidence``: the figures behind it ("" when not split)."""

    name: str
    conclusion: str
    evidence: str

    @property
    def split(self) -> bool:
        return bool(self.evidence)


def split_warning(text: str) -> WarningText:
    """``text`` as name, conclusion and evidence where it is a long "name: evidence; ...; conclusion" warning."""
    name, sep, rest = text.partition(": ")
    if len(text) < LONG_WARNING or not sep or not name or len(name.split()) > NAME_WORDS or "; " not in rest:
        return WarningText("", text, "")
    evidence, _, conclusion = rest.rpartition("; ")
    return WarningText(name, conclusion, evidence)


def grouped_warnings(warnings: list[str]) -> list[list[str]]:
    """``warnings`` in their order, those with the same name and conclusion together (at the first one's place); a
    warning that is not split stays alone."""
    groups: list[list[str]] = []
    where: dict[tuple[str, str], list[str]] = {}
    for warning in warnings:
        text = split_warning(warning)
        if not text.split:
            groups.append([warning])
            continue
        key = (text.name, text.conclusion)
        if key in where:
            where[key].append(warning)
        else:
            where[key] = [warning]
            groups.append(where[key])
    return groups
