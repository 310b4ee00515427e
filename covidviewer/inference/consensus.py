"""The consensus answer: the mean of two chest X-ray models' p(COVID-19), at a threshold of its own (session 30).

Neither VGG-16-GA nor ``small_cnn`` meets the unseen-hospital bars on an adult source it never saw, but their mistakes
differ (one reads fine detail, the other a portable film's view): networks of the two trained without RSNA, or without
NIH, and averaged called 13% and 27% of that source's normal films COVID-19 at 0.80 sensitivity (VGG-16-GA 31% and 31%
alone, ``small_cnn``'s ensemble of three starts 15% and 31%; session 31). With a single start of ``small_cnn`` instead
(session 30): 16-29% (RSNA, over three starts) and 20% (NIH, one start).
``trainer consensus`` measures it and writes ``consensus.json`` (``resources/weights/consensus/``): the members with
their weight sets, the threshold chosen on the adult validation films, and the figures. The app answers with it only
when every member answered on the film with the recorded weights; it never replaces their own answers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from covidviewer.consensus_record import consensus_lines, read_consensus
from covidviewer.inference.era_check import COVID, before_covid
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.inference.view_check import film_view, pa_warning, view_warning
from covidviewer.io.view_position import AP, PA

NOT_COVID = "not COVID-19"


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


def consensus_of(models: Sequence[ModelResult], record: Mapping[str, Any] | None, too_early: str | None = None,
                 view: str = "") -> Consensus | None:
    """The consensus of ``models`` by ``record``, or None unless every member answered with its recorded weights.

    too_early: the era check's reason when the film predates COVID-19 (then the answer is "not COVID-19"). A member
    that finds the film unlike its training films (its OOD flag) is named in the notes: the mean reads that too.
    view: the film's view from its header; a COVID-19 answer on an AP film carries the record's own figures by view
    where its held-out AP normals fared worse than the PA ones, and a not-COVID-19 answer on a PA film its COVID-19
    sensitivity by view where the PA films were found clearly less often (``view_check``), as a member's answer does;
    on a film of unknown view ("") both, each for the view it would be."""
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
    notes = [f"{r.model} finds this film unlike its training films: read the mean with care" for r in found if r.ood_flag]  # type: ignore[union-attr]
    if too_early and answer == COVID:
        answer, notes = NOT_COVID, [f"{too_early}: its COVID-19 score is a false alarm", *notes]
    if answer == COVID and view in (AP, ""):
        warning = view_warning(record.get("held_out_sources") or {}, who="networks of its members averaged", view=view)
        notes += [warning] if warning else []
    if answer == NOT_COVID and view in (PA, "") and not too_early:  # a film from before the pandemic cannot show it
        warning = pa_warning(record["validation"].get("by_view") or {}, f"\"{NOT_COVID}\"", who="the consensus", p_covid=p,
                             view=view)
        notes += [warning] if warning else []
    return Consensus(members, float(p), threshold, answer, notes, consensus_lines(record))


def film_consensus(models: Sequence[ModelResult], meta: Mapping[str, Any], date_check: bool = True) -> Consensus | None:
    """The installed consensus of ``models`` on a film with header ``meta`` (the date check as the models had it)."""
    return consensus_of(models, read_consensus(), before_covid(meta) if date_check else None, film_view(meta))
