"""Change a model card (``model.json``) in place: read it, change the dict, write it back.

Used by every trainer command that records something on an installed or exported card (calibration, the
cascade's operating point, the same-source check, the series rule), so they all write the same format.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def edited_card(path: Path) -> Iterator[dict[str, Any]]:
    """The card at ``path`` as a dict, written back when the block ends; an error in the block writes nothing.
    Raises ValueError, naming the path, where there is no card to record on."""
    if not path.is_file():
        raise ValueError(f"no exported card at {path} to record on")
    card = json.loads(path.read_text(encoding="utf-8"))
    yield card
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
