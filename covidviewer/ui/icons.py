"""The application icon, from resources/icons in the source tree or the frozen bundle."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

from covidviewer.paths import resource_path


def icons_dir() -> Path:
    """resources/icons, found through the one resource helper (source tree or PyInstaller bundle)."""
    return resource_path("icons")


def app_icon() -> QIcon:
    """The CovidViewer icon (an empty icon, not an error, if the resource is missing)."""
    path = icons_dir() / "covidviewer.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
