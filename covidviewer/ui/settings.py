"""What the viewer remembers between runs (QSettings): window geometry, dock layout, recent paths
and the reader's preferences (scroll direction, mouse map, corner text, anonymised corner text).

Only presentation state lives here, never image data or paths inside studies. The dock layout is
stored with a version number: bump ``LAYOUT_VERSION`` when docks are added or renamed so an old
layout is ignored instead of hiding the new docks. Tests redirect QSettings to a temporary folder.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths
from PySide6.QtWidgets import QDockWidget, QMainWindow

LAYOUT_VERSION = 3  # 2: Analysis dock and toolbar; 3: Measurements dock and Measure toolbar
MAX_RECENT = 10
MOUSE_MAPS = ("weasis", "classic")
# Overrides the user's data folder (tests, portable installs): measurements are kept under it.
DATA_DIR_ENV = "COVIDVIEWER_DATA_DIR"


def measurement_folder() -> Path:
    """Where each series' measurements are saved: the user's application data folder
    (QStandardPaths AppDataLocation, or $COVIDVIEWER_DATA_DIR), never beside the images."""
    root = os.environ.get(DATA_DIR_ENV) or QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(root or Path.home() / ".covidviewer") / "measurements"


@dataclass(frozen=True)
class ReadingPreferences:
    """How the reader likes to read; defaults as Weasis / OHIF.

    scroll_toward_feet: wheel down / Down move towards the feet on an axial CT (False: file order).
    mouse_map: "weasis" (left-drag window/level, middle pan, right zoom) or "classic" (left pan,
        middle zoom, right window/level).
    annotations: corner text and orientation markers shown (Ctrl+T).
    anonymise: corner text without the patient's name, ID, sex, age, study date and descriptions.
    """

    scroll_toward_feet: bool = True
    mouse_map: str = "weasis"
    annotations: bool = True
    anonymise: bool = False

    def __post_init__(self) -> None:
        if self.mouse_map not in MOUSE_MAPS:
            raise ValueError(f"mouse_map must be one of {MOUSE_MAPS}, got {self.mouse_map!r}")


class ViewerSettings:
    """Typed access to the viewer's QSettings (the application's default organisation/name)."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.qsettings = settings if settings is not None else QSettings()

    # ------------------------------------------------------------------ window
    def save_window(self, window: QMainWindow) -> None:
        self.qsettings.setValue("window/geometry", window.saveGeometry())
        self.qsettings.setValue("window/state", window.saveState(LAYOUT_VERSION))
        self.qsettings.setValue("window/layout_version", LAYOUT_VERSION)
        # restoreState alone may squeeze a side dock to its minimum on some platforms (the Studies
        # panel opened as "St..."): keep the widths too, re-applied once the window is shown.
        widths = {d.objectName(): d.width() for d in window.findChildren(QDockWidget)
                  if d.isVisible() and not d.isFloating() and d.objectName()}
        self.qsettings.setValue("window/dock_widths", ";".join(f"{k}={v}" for k, v in widths.items()))
        self.qsettings.sync()

    def dock_widths(self) -> dict[str, int]:
        """Width of each visible docked panel when the window was last closed (object name -> px)."""
        widths = {}
        for item in str(self.qsettings.value("window/dock_widths", "") or "").split(";"):
            name, _, value = item.partition("=")
            if name and value.strip().isdigit():
                widths[name] = int(value)
        return widths

    def has_window_geometry(self) -> bool:
        geometry = self.qsettings.value("window/geometry")
        return isinstance(geometry, QByteArray) and not geometry.isEmpty()

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

    # ------------------------------------------------------------------ reading preferences
    def reading(self) -> ReadingPreferences:
        """The stored preferences; a missing or unreadable value keeps its default."""
        default = ReadingPreferences()
        values = {}
        for f in fields(ReadingPreferences):
            stored = self.qsettings.value(f"reading/{f.name}")
            fallback = getattr(default, f.name)
            if stored is None:
                values[f.name] = fallback
            elif isinstance(fallback, bool):  # INI files give strings back
                values[f.name] = stored if isinstance(stored, bool) else str(stored).lower() in ("true", "1")
            else:
                values[f.name] = str(stored) if str(stored) in MOUSE_MAPS else fallback
        return ReadingPreferences(**values)

    def save_reading(self, preferences: ReadingPreferences) -> None:
        for f in fields(ReadingPreferences):
            self.qsettings.setValue(f"reading/{f.name}", getattr(preferences, f.name))
        self.qsettings.sync()

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
