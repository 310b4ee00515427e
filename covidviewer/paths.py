"""Where bundled resources (weights, icons) live, in the source tree and in the frozen app.

PyInstaller unpacks a one-file/one-folder app's data under ``sys._MEIPASS``; the build puts the
repository's ``resources/`` folder there as ``resources/``. From a source checkout the folder sits
next to the ``covidviewer`` package. No Qt, no torch: the viewer calls this at start-up.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def resource_root() -> Path:
    """The ``resources`` folder of the running app (frozen bundle or source tree)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / "resources"
    return REPO_ROOT / "resources"


def resource_path(*parts: str) -> Path:
    """``resource_path("weights", "dpn92_se")`` -> <resources>/weights/dpn92_se (may not exist).

    Parts must be relative names inside the resources folder: an absolute part or ``..`` would
    escape it and is refused.
    """
    for part in parts:
        p = Path(part)
        if p.is_absolute() or ".." in p.parts:
            raise ValueError(f"resource path part {part!r} must be a relative name inside resources/")
    return resource_root().joinpath(*parts)
