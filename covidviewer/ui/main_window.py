"""Main window: layout, menus, docks and status bar around one ``SliceView``.

The window holds widgets and wires view actions to its ``ViewerState``; it does no IO. Opening
files, workers and error handling live in ``covidviewer.ui.controller.ViewerController``.

Extension point for analysis panels (issue 5): ``add_dock(widget, title)`` puts a widget in a
dock (right-hand side by default) that is listed in View > Panels and saved with the layout; the
wheel over its combo boxes, sliders and spin boxes scrolls the panel until one is clicked.

Keyboard focus: a mouse click on a push button (Analyse, Compare, ...) hands the keyboard back to
the image, so Up/Down keep scrolling slices after pressing Analyse; Tab still reaches every button.
"""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractButton, QApplication, QDockWidget, QMainWindow, QWidget

from covidviewer import RESEARCH_NOTICE, __version__
from covidviewer.imaging import WINDOW_PRESETS
from covidviewer.imaging.window_presets import FILE_WINDOW_PRESETS, RADIOGRAPH_PRESETS, file_window_label, preset_names
from covidviewer.ui.about import AboutDialog
from covidviewer.ui.icons import app_icon
from covidviewer.ui.measure_controller import MeasurementController
from covidviewer.ui.message_panel import MessagePanel
from covidviewer.ui.metadata_panel import MetadataPanel
from covidviewer.ui.settings import ReadingPreferences, ViewerSettings
from covidviewer.ui.shortcuts import ACTION_KEYS, ShortcutsDialog
from covidviewer.ui.slice_view import ZOOM_STEP, SliceView
from covidviewer.ui.status_bar import ViewerStatusBar
from covidviewer.ui.study_browser import StudyBrowser
from covidviewer.ui.wheel_guard import guard_wheel_in
from covidviewer.viewer.planes import PLANES

_DOCK_AREAS = {
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
    "top": Qt.DockWidgetArea.TopDockWidgetArea,
}
CINE_FPS_STEP = 1.5
# First-launch size: this share of the screen, never below what a 1024x768 screen offers.
DEFAULT_SCREEN_SHARE = 0.85
MIN_DEFAULT_SIZE = QSize(1024, 740)
# First-launch dock widths: (share of the window width, least, most) in pixels.
STUDIES_WIDTH = (0.2, 200, 340)
RIGHT_PANEL_WIDTH = (0.3, 300, 440)
_ALL_PRESETS = ("default",) + tuple(WINDOW_PRESETS) + RADIOGRAPH_PRESETS + FILE_WINDOW_PRESETS


class MainWindow(QMainWindow):
    """Study browser (left), slice viewer (centre), metadata (right), messages (bottom).

    Public attributes: ``state`` (the viewer's ViewerState), ``viewer`` (SliceView), ``browser``,
    ``metadata``, ``messages``, ``status_bar`` (ViewerStatusBar: labels, progress, Cancel),
    ``actions`` (id -> QAction, ids as in shortcuts.ACTION_KEYS).
    Signal ``recentRequested(str)``: a path was picked from File > Recent.
    """

    recentRequested = Signal(str)

    def __init__(self, settings: ViewerSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else ViewerSettings()
        self.persist_settings = True
        self.setWindowTitle(f"CovidViewer {__version__} \u2014 {RESEARCH_NOTICE}")
        self.setWindowIcon(app_icon())
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.viewer = SliceView()
        self.state = self.viewer.state
        self.reading = ReadingPreferences()
        self.setCentralWidget(self.viewer)
        self.browser = StudyBrowser()
        self.metadata = MetadataPanel()
        self.messages = MessagePanel()
        self.status_bar = ViewerStatusBar(self.state)  # before anything that may show a message
        self.setStatusBar(self.status_bar)
        self.actions: dict[str, QAction] = {}
        self._build_menus()  # before the docks, so add_dock can list them in View > Panels
        self.browser_dock = self.add_dock(self.browser, "Studies", area="left")
        self.metadata_dock = self.add_dock(self.metadata, "Metadata", area="right")
        self.messages_dock = self.add_dock(self.messages, "Messages", area="bottom")
        self.browser_dock.setMinimumWidth(STUDIES_WIDTH[1] // 2)  # never squashed to "St..."
        self.measurements = MeasurementController(self)  # Measure menu, toolbar and dock
        self._layout_restored = False
        self._docks_sized = False
        self._connect_state()
        self.apply_reading(self.reading)
        self.set_recent(self.settings.recent_paths())
        app = QApplication.instance()
        if app is not None:
            app.focusChanged.connect(self._on_focus_changed)

    # ------------------------------------------------------------------ extension API
    def add_dock(self, widget: QWidget, title: str, area: str = "right", object_name: str | None = None) -> QDockWidget:
        """Put ``widget`` in a closable dock; listed in View > Panels and saved with the layout.

        area: "left", "right" (default; analysis panels go here, tabbed with the metadata panel
        when it is already there), "bottom" or "top". object_name (default from the title) keys
        the dock in the saved layout, so keep it stable across versions.
        """
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name or f"dock_{title.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        dock.setAllowedAreas(Qt.DockWidgetArea.AllDockWidgetAreas)
        qt_area = _DOCK_AREAS[area]
        existing = [d for d in self.findChildren(QDockWidget) if d is not dock and self.dockWidgetArea(d) == qt_area and not d.isFloating()]
        self.addDockWidget(qt_area, dock)
        guard_wheel_in(widget)
        if existing and area == "right":
            self.tabifyDockWidget(existing[-1], dock)
            dock.raise_()
        self.panels_menu.addAction(dock.toggleViewAction())
        return dock

    def show_message(self, text: str, level: str = "info", status_ms: int = 8000) -> None:
        """Log ``text`` in the Messages panel and show it in the status bar (errors stay longer)."""
        self.messages.add_message(text, level)
        if level == "error":
            self.messages_dock.show()
            self.messages_dock.raise_()
        self.status_bar.report(text, level, status_ms, errors=self.messages.counts["error"])

    def set_recent(self, paths: list[str]) -> None:
        """Rebuild File > Recent from ``paths`` (most recent first)."""
        self.recent_menu.clear()
        for path in paths:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.recentRequested.emit(p))
        self.recent_menu.setEnabled(bool(paths))

    # ------------------------------------------------------------------ menus
    def _action(self, action_id: str, menu, slot=None, checkable: bool = False) -> QAction:
        key, text = ACTION_KEYS[action_id]
        action = QAction(text, self)
        action.setObjectName(action_id)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        if slot is not None:
            action.triggered.connect(slot)
        menu.addAction(action)
        self.actions[action_id] = action
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action("open_folder", file_menu)
        self._action("open_file", file_menu)
        self._action("open_sample", file_menu)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        self._action("quit", file_menu, self.close)

        view = bar.addMenu("&View")
        for plane in PLANES:
            self._action(f"plane_{plane}", view, lambda _c=False, p=plane: self._set_plane(p), checkable=True)
        view.addSeparator()
        window_menu = view.addMenu("&Window")
        for name in _ALL_PRESETS:
            self._action(f"preset_{name}", window_menu, lambda _c=False, n=name: self.state.apply_preset(n))
        self._show_presets_for(None)
        image_menu = view.addMenu("&Image")
        self._action("invert", image_menu, lambda: setattr(self.state, "inverted", not self.state.inverted), checkable=True)
        self._action("rotate_right", image_menu, lambda: self.state.rotate(1))
        self._action("rotate_left", image_menu, lambda: self.state.rotate(-1))
        self._action("flip_horizontal", image_menu, lambda: self.state.mirror())
        self._action("flip_vertical", image_menu, lambda: self.state.mirror(vertical=True))
        self._action("shutter", image_menu, lambda on: setattr(self.state, "shutter_shown", on), checkable=True)
        self._action("overlay_planes", image_menu, lambda on: setattr(self.state, "overlay_planes_shown", on), checkable=True)
        view.addSeparator()
        self._action("annotations", view, lambda on: self._set_reading(annotations=on), checkable=True)
        self._action("anonymise", view, lambda on: self._set_reading(anonymise=on), checkable=True)
        reading_menu = view.addMenu("&Reading")
        self._action("scroll_feet", reading_menu, lambda on: self._set_reading(scroll_toward_feet=on), checkable=True)
        self._action("mouse_weasis", reading_menu,
                     lambda on: self._set_reading(mouse_map="weasis" if on else "classic"), checkable=True)
        view.addSeparator()
        self._action("zoom_in", view, lambda: self.viewer.zoom(ZOOM_STEP))
        self._action("zoom_out", view, lambda: self.viewer.zoom(1.0 / ZOOM_STEP))
        self._action("fit", view, self.state.fit)
        self._action("reset", view, self.state.reset)
        view.addSeparator()
        self._action("cine", view, self._toggle_cine, checkable=True)
        self._action("cine_slower", view, lambda: self._scale_cine(1.0 / CINE_FPS_STEP))
        self._action("cine_faster", view, lambda: self._scale_cine(CINE_FPS_STEP))
        view.addSeparator()
        self.panels_menu = view.addMenu("&Panels")
        self.measure_menu = bar.addMenu("&Measure")  # filled by MeasurementController

        # Analysis actions are connected (and enabled) by covidviewer.ui.analysis when it is installed.
        analysis = bar.addMenu("&Analysis")
        for action_id in ("analyse", "compare", "overlay", "export_png", "export_json"):
            self._action(action_id, analysis).setEnabled(False)
        self.analysis_toolbar = self.addToolBar("Analysis")
        self.analysis_toolbar.setObjectName("toolbar_analysis")
        for action_id, short in (("analyse", "Analyse"), ("compare", "Compare")):
            self.actions[action_id].setIconText(short)
            self.analysis_toolbar.addAction(self.actions[action_id])

        help_menu = bar.addMenu("&Help")
        self._action("help", help_menu, self.show_shortcuts)
        about = help_menu.addAction("&About CovidViewer")
        about.setObjectName("about")
        about.triggered.connect(self.show_about)

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    def show_about(self) -> None:
        AboutDialog(self).exec()

    # ------------------------------------------------------------------ state -> actions
    def _connect_state(self) -> None:
        events = self.state.events
        events.volume.connect(self._on_volume)
        events.plane.connect(self._on_plane)
        events.cine.connect(lambda cine: self.actions["cine"].setChecked(cine[0]))
        events.display.connect(lambda display: self.actions["invert"].setChecked(display[2]))
        events.shutter.connect(self.actions["shutter"].setChecked)
        events.overlay_planes.connect(self.actions["overlay_planes"].setChecked)

    def _on_volume(self, volume) -> None:
        for plane in PLANES:
            self.actions[f"plane_{plane}"].setEnabled(volume is not None and (plane == "axial" or self.state.can_reformat))
        self.actions["cine"].setEnabled(volume is not None and self.state.n_slices > 1)
        self.actions["shutter"].setEnabled(self.state.has_shutter)
        self.actions["shutter"].setChecked(self.state.shutter_shown)
        self.actions["overlay_planes"].setEnabled(volume is not None and volume.overlay_planes is not None)
        self.actions["overlay_planes"].setChecked(self.state.overlay_planes_shown)
        self._show_presets_for(volume)
        self.metadata.show_volume(volume)

    def _on_plane(self, plane: str) -> None:
        for name in PLANES:
            self.actions[f"plane_{name}"].setChecked(name == plane)
        self.actions["cine"].setEnabled(self.state.n_slices > 1)

    def _show_presets_for(self, volume) -> None:
        """Keys 1-4 give the presets of the shown kind of image: CT windows in HU, radiograph
        windows from the data (a CT lung window turns a CR white); 5-7 the file's further windows, where
        it has them. Hidden actions take no keys."""
        offered = preset_names(volume)
        for name in _ALL_PRESETS:
            self.actions[f"preset_{name}"].setVisible(name in offered)
        for name in FILE_WINDOW_PRESETS:  # each names the file's own window
            self.actions[f"preset_{name}"].setText(file_window_label(volume, name))

    def _set_plane(self, plane: str) -> None:
        if plane == "axial" or self.state.can_reformat:
            self.state.plane = plane
        self.actions[f"plane_{plane}"].setChecked(self.state.plane == plane)

    def _toggle_cine(self) -> None:
        self.state.cine_playing = not self.state.cine_playing
        self.actions["cine"].setChecked(self.state.cine_playing)

    def _scale_cine(self, factor: float) -> None:
        self.state.cine_fps = self.state.cine_fps * factor

    # ------------------------------------------------------------------ reading preferences
    def apply_reading(self, preferences: ReadingPreferences) -> None:
        """Use ``preferences`` in the view and tick the View menu to match (nothing is saved)."""
        self.reading = preferences
        SliceView.defaults.update(annotations=preferences.annotations, anonymised=preferences.anonymise,
                                  mouse_map=preferences.mouse_map, scroll_toward_feet=preferences.scroll_toward_feet)
        for view in [self.viewer] + [v for v in self.findChildren(SliceView) if v is not self.viewer]:  # compare panes too
            view.state.scroll_toward_feet = preferences.scroll_toward_feet
            view.canvas.mouse_map = preferences.mouse_map
            view.set_annotations_visible(preferences.annotations)
            view.set_anonymised(preferences.anonymise)
            view.refresh_reading_order()
        for action_id, on in (("annotations", preferences.annotations), ("anonymise", preferences.anonymise),
                              ("scroll_feet", preferences.scroll_toward_feet),
                              ("mouse_weasis", preferences.mouse_map == "weasis")):
            self.actions[action_id].setChecked(on)

    def _set_reading(self, **changes) -> None:
        self.apply_reading(replace(self.reading, **changes))
        if self.persist_settings:
            self.settings.save_reading(self.reading)

    # ------------------------------------------------------------------ focus
    def _on_focus_changed(self, _old, new) -> None:
        # A click on a button leaves the keyboard with the image (Up/Down still scroll after
        # Analyse); keyboard users who Tab to a button keep their focus there.
        if (isinstance(new, QAbstractButton) and QApplication.mouseButtons() != Qt.MouseButton.NoButton
                and new.window() is self and self.state.volume is not None):
            self.viewer.setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------------ settings and first layout
    def restore_settings(self) -> bool:
        """Reading preferences, geometry and dock layout of the last session.

        Without a stored geometry the window opens at most of the screen (never the 1020x667
        Qt picks); without a stored layout the docks get widths that leave the image most room.
        """
        self.apply_reading(self.settings.reading())
        if not self.settings.has_window_geometry():
            self.resize(default_window_size(self))
        self._layout_restored = self.settings.restore_window(self)
        return self._layout_restored

    def size_docks(self) -> None:
        """Dock widths for this window width (first launch, or a layout that could not be restored)."""
        width = max(self.width(), 1)
        studies = int(min(max(STUDIES_WIDTH[0] * width, STUDIES_WIDTH[1]), STUDIES_WIDTH[2]))
        right = int(min(max(RIGHT_PANEL_WIDTH[0] * width, RIGHT_PANEL_WIDTH[1]), RIGHT_PANEL_WIDTH[2]))
        docks = [d for d in (self.browser_dock, self.metadata_dock) if not d.isHidden()]
        self.resizeDocks(docks, [studies if d is self.browser_dock else right for d in docks], Qt.Orientation.Horizontal)
        self.resizeDocks([self.messages_dock], [90], Qt.Orientation.Vertical)
        self._docks_sized = True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._docks_sized:
            return
        if self._layout_restored:
            self._restore_dock_widths()
        else:
            self.size_docks()  # resizeDocks before the first show is ignored by Qt

    def _restore_dock_widths(self) -> None:
        widths = self.settings.dock_widths()
        docks = [d for d in self.findChildren(QDockWidget) if d.objectName() in widths and d.isVisible()
                 and not d.isFloating() and self.dockWidgetArea(d) in (_DOCK_AREAS["left"], _DOCK_AREAS["right"])]
        if docks:
            self.resizeDocks(docks, [widths[d.objectName()] for d in docks], Qt.Orientation.Horizontal)
        self._docks_sized = True

    def closeEvent(self, event) -> None:
        self.state.cine_playing = False
        if self.persist_settings:
            self.settings.save_window(self)
        super().closeEvent(event)


def default_window_size(widget: QWidget) -> QSize:
    """Most of the screen ``widget`` is on, at least 1024x740 where the screen has room for it."""
    screen = widget.screen() or QApplication.primaryScreen()
    if screen is None:
        return QSize(1280, 860)
    available = screen.availableGeometry().size()
    size = QSize(int(available.width() * DEFAULT_SCREEN_SHARE), int(available.height() * DEFAULT_SCREEN_SHARE))
    return size.expandedTo(MIN_DEFAULT_SIZE).boundedTo(available)
