"""The consensus record (``trainer consensus``): which models it averages, with which weights, its threshold and figures.

Read without torch (Help > About opens it); the answer itself is ``covidviewer.inference.consensus``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from covidviewer.card_checks import figure_with_interval, held_out_lines
from covidviewer.model_cards import by_view_sensitivity, weights_root

CONSENSUS_FILE = "consensus.json"


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


def consensus_lines(record: Mapping[str, Any]) -> list[str]:
    """What the record says, for the console, Help > About and the answer's tooltip."""
    val = record.get("validation") or {}
    n = val.get("n") or {}

    def fig(key: str, pct: bool = True) -> str:
        return figure_with_interval(val, key, ".0%" if pct else ".2f")

    lines = [f"consensus of {' + '.join(record.get('members') or {})}: {record.get('rule', 'mean p(COVID-19)')}, "
             f"COVID-19 at {val.get('threshold', float('nan')):.2f} or more (0.80 sensitivity on the adult validation films)",
             f"adult validation films ({n.get('normal', '?')} normal, {n.get('pneumonia', '?')} non-COVID pneumonia, "
             f"{n.get('COVID-19', '?')} COVID-19): normals called COVID-19 {fig('normal_called_covid')}, pneumonias "
             f"{fig('pneumonia_called_covid')}, COVID-19 sensitivity {fig('covid_sensitivity', False)}, normal vs COVID-19 "
             f"AUC {fig('auc_normal_vs_covid', False)}"]
    by_view = by_view_sensitivity(val.get("by_view"))
    lines += [by_view] if by_view else []
    for check in (record.get("held_out_sources") or {}).values():
        lines += held_out_lines(check, who="networks of its members averaged", whose="their average's")
    return lines
