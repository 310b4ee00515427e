"""The application icon, from resources/icons in the source tree or the frozen bundle."""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon


def icons_dir() -> Path:
    """resources/icons next to the package (source tree) or inside the PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    root = Path(bundle) if bundle else Path(__file__).resolve().parents[2]
    return root / "resources" / "icons"


def app_icon() -> QIcon:
    """The CovidViewer icon (an empty icon, not an error, if the resource is missing)."""
    path = icons_dir() / "covidviewer.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
