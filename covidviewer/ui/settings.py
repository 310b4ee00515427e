"""What the viewer remembers between runs (QSettings): window geometry, dock layout, recent paths.

Only presentation state lives here, never image data or paths inside studies. The dock layout is
stored with a version number: bump ``LAYOUT_VERSION`` when docks are added or renamed so an old
layout is ignored instead of hiding the new docks. Tests redirect QSettings to a temporary folder.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

LAYOUT_VERSION = 2  # 2: Analysis dock and toolbar
MAX_RECENT = 10


class ViewerSettings:
    """Typed access to the viewer's QSettings (the application's default organisation/name)."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.qsettings = settings if settings is not None else QSettings()

    # ------------------------------------------------------------------ window
    def save_window(self, window: QMainWindow) -> None:
        self.qsettings.setValue("window/geometry", window.saveGeometry())
        self.qsettings.setValue("window/state", window.saveState(LAYOUT_VERSION))
        self.qsettings.setValue("window/layout_version", LAYOUT_VERSION)
        self.qsettings.sync()

    def restore_window(self, window: QMainWindow) -> bool:
        """Restore geometry and docks; False when nothing (or an outdated layout) was stored."""
        geometry = self.qsettings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            window.restoreGeometry(geometry)
        version = self.qsettings.value("window/layout_version", 0)
        state = self.qsettings.value("window/state")
        if int(version or 0) != LAYOUT_VERSION or not isinstance(state, QByteArray):
            return False
        return bool(window.restoreState(state, LAYOUT_VERSION))

    # ------------------------------------------------------------------ recent paths
    def recent_paths(self) -> list[str]:
        """Most recent first; entries are files or folders the user opened."""
        value = self.qsettings.value("recent/paths", [])
        if isinstance(value, str):  # QSettings returns a bare string for one-element lists
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: Path | str) -> list[str]:
        text = str(Path(path).resolve())
        paths = [text] + [p for p in self.recent_paths() if p != text]
        paths = paths[:MAX_RECENT]
        self.qsettings.setValue("recent/paths", paths)
        self.qsettings.setValue("recent/last_dir", str(Path(text).parent if Path(text).is_file() else Path(text)))
        self.qsettings.sync()
        return paths

    def clear_recent(self) -> None:
        self.qsettings.remove("recent/paths")

    def last_dir(self) -> str:
        return str(self.qsettings.value("recent/last_dir", str(Path.home())))
