"""The consensus answer: the mean of two chest X-ray models' p(COVID-19), at a threshold of its own (session 30).

Neither VGG-16-GA nor ``small_cnn`` meets the unseen-hospital bars on an adult source it never saw, but their mistakes
differ (one reads fine detail, the other a portable film's view): networks of the two trained without RSNA, or without
NIH, and averaged called 19% of that source's normal films COVID-19 at 0.80 sensitivity (31% and 18-29% alone).
``trainer consensus`` measures it and writes ``consensus.json`` (``resources/weights/consensus/``): the members with
their weight sets, the threshold chosen on the adult validation films, and the figures. The app answers with it only
when every member answered on the film with the recorded weights; it never replaces their own answers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from covidviewer.inference.era_check import COVID, before_covid
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.model_cards import held_out_lines, weights_root

CONSENSUS_FILE = "consensus.json"
NOT_COVID = "not COVID-19"


def consensus_folder() -> Path:
    """Where the consensus record lives: a folder beside the weight sets it combines."""
    return weights_root() / "consensus"


def read_consensus(path: Path | None = None) -> dict[str, Any] | None:
    """The installed consensus record, or None when there is none (or it cannot be read)."""
    path = path or consensus_folder() / CONSENSUS_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(record, dict) and isinstance(record.get("members"), dict) and "threshold" in (record.get("validation") or {})
    return record if ok else None


@dataclass(frozen=True)
class Consensus:
    """``answer``: "COVID-19" or "not COVID-19"; ``p_covid``: the members' mean p(COVID-19); ``notes``: why the answer
    is not the threshold's (a film from before the pandemic); ``figures``: what its record measured (consensus_lines),
    for a reader who asks."""

    members: tuple[str, ...]
    p_covid: float
    threshold: float
    answer: str
    notes: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"members": list(self.members), "p_covid": round(self.p_covid, 4), "threshold": round(self.threshold, 4),
                "answer": self.answer, "rule": "mean of the members' p(COVID-19)", "notes": list(self.notes)}


def consensus_of(models: Sequence[ModelResult], record: Mapping[str, Any] | None, before_covid: str | None = None) -> Consensus | None:
    """The consensus of ``models`` by ``record``, or None unless every member answered with its recorded weights.

    before_covid: the era check's reason when the film predates COVID-19 (then the answer is "not COVID-19")."""
    if not record:
        return None
    by_name = {r.model: r for r in models}
    members = tuple(record["members"])
    found = [by_name.get(name) for name in members]
    if any(r is None or r.status != STATUS_OK or COVID not in r.probabilities or r.weights_sha256 != record["members"][r.model]
           for r in found):
        return None
    p = sum(r.probabilities[COVID] for r in found) / len(found)  # type: ignore[union-attr]
    threshold = float(record["validation"]["threshold"])
    answer = COVID if p >= threshold else NOT_COVID
    notes = []
    if before_covid and answer == COVID:
        answer, notes = NOT_COVID, [f"{before_covid}: its COVID-19 score is a false alarm"]
    return Consensus(members, float(p), threshold, answer, notes, consensus_lines(record))


def film_consensus(models: Sequence[ModelResult], meta: Mapping[str, Any], date_check: bool = True) -> Consensus | None:
    """The installed consensus of ``models`` on a film with header ``meta`` (the date check as the models had it)."""
    return consensus_of(models, read_consensus(), before_covid(meta) if date_check else None)


def consensus_lines(record: Mapping[str, Any]) -> list[str]:
    """What the record says, for the console, Help > About and the answer's tooltip."""
    val = record.get("validation") or {}
    point, ci, n = val.get("point") or {}, val.get("ci95") or {}, val.get("n") or {}

    def fig(key: str, pct: bool = True) -> str:
        value = point.get(key)
        if value is None:
            return "n/a"
        low, high = ci.get(key) or [value, value]
        return f"{value:.0%} [{low:.0%}, {high:.0%}]" if pct else f"{value:.2f} [{low:.2f}, {high:.2f}]"

    lines = [f"consensus of {' + '.join(record.get('members') or {})}: {record.get('rule', 'mean p(COVID-19)')}, "
             f"COVID-19 at {val.get('threshold', float('nan')):.2f} or more (0.80 sensitivity on the adult validation films)",
             f"adult validation films ({n.get('normal', '?')} normal, {n.get('pneumonia', '?')} non-COVID pneumonia, "
             f"{n.get('COVID-19', '?')} COVID-19): normals called COVID-19 {fig('normal_called_covid')}, pneumonias "
             f"{fig('pneumonia_called_covid')}, COVID-19 sensitivity {fig('covid_sensitivity', False)}, normal vs COVID-19 "
             f"AUC {fig('auc_normal_vs_covid', False)}"]
    for check in (record.get("held_out_sources") or {}).values():
        lines += [line.replace("another network of this model", "networks of its members averaged") for line in held_out_lines(check)]
    return lines
