"""docs/ARCHITECTURE.md cannot rot: every file or folder it names in backticks exists, and every code
name it gives in backticks (``FeatureWatch``, ``Preprocess.lung_crop``) is defined in covidviewer or trainer."""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "ARCHITECTURE.md"
TOKENS = re.findall(r"`([^`\n]+)`", DOC.read_text(encoding="utf-8"))
#: a repository path: letters, digits, "_", "-", "." and "/" only, with a "/" or a file suffix
PATHS = sorted({t for t in TOKENS if re.fullmatch(r"[\w.-]+(/[\w.-]+)*/?", t)
                and ("/" in t or re.search(r"\.(py|toml|md|spec)$", t))})
#: a code name: an identifier (or dotted identifiers) with a capital or an underscore, not a plain word
NAMES = sorted({t for t in TOKENS if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", t) and re.search(r"[A-Z_]", t)})


def test_the_doc_names_enough_paths_for_the_check_to_mean_something() -> None:
    assert len(PATHS) >= 60, PATHS


@pytest.mark.parametrize("path", PATHS)
def test_every_path_in_backticks_exists(path: str) -> None:
    target = REPO / path
    assert target.exists(), f"docs/ARCHITECTURE.md names {path}, which does not exist"
    if path.endswith("/"):
        assert target.is_dir(), f"{path} is not a folder"


@cache
def _sources() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for package in ("covidviewer", "trainer")
                     for path in sorted((REPO / package).rglob("*.py")))


@pytest.mark.parametrize("name", NAMES)
def test_every_code_name_in_backticks_is_defined(name: str) -> None:
    """Each part of ``Preprocess.lung_crop`` is a class, function, field or assigned name (or, for
    a setting's value such as ``forward_arg``, a string literal) somewhere in covidviewer or trainer."""
    sources = _sources()
    for part in name.split("."):
        defined = rf"^\s*(class|def)\s+{part}\b|^\s*{part}\s*[:=]|[\"']{part}[\"']"
        assert re.search(defined, sources, re.M), f"docs/ARCHITECTURE.md names {name}: {part} is defined nowhere"
