"""The commit a run records: the named one wins over whatever .git the copied tree has."""
from __future__ import annotations

from pathlib import Path

import pytest

from trainer.run import git_commit


def test_named_commit_wins_over_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINER_GIT_COMMIT", "e774866")
    assert git_commit() == "e774866"


def test_without_a_name_a_tree_without_git_is_unknown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRAINER_GIT_COMMIT", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_commit(tmp_path) == "unknown"
