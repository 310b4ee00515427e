"""trainer.card_edit: a card changed in place, written back only when the change went through, and a clear refusal
where there is no card (every command that records on a card goes through it)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.card_edit import edited_card


def test_a_change_is_written_back_and_a_failed_one_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"metrics": {}}))
    with edited_card(path) as card:
        card["metrics"]["style_stress"] = {"threshold": 0.2}
    assert json.loads(path.read_text()) == {"metrics": {"style_stress": {"threshold": 0.2}}}
    with pytest.raises(KeyError):
        with edited_card(path) as card:
            card["metrics"]["by_view"] = {}
            raise KeyError("stopped half way")
    assert "by_view" not in json.loads(path.read_text())["metrics"]


def test_no_card_is_refused_by_its_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"no exported card at {tmp_path / 'none' / 'model.json'}"):
        with edited_card(tmp_path / "none" / "model.json"):
            pass
