"""Every keyboard and mouse binding of the viewer in one table, used by the menus and the Help dialog.

Menu actions take their key from ``ACTION_KEYS`` so the Help dialog can never list a key that does
not work. Slice-view keys are handled by ``SliceView.keyPressEvent`` while the image has focus.
"""
from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout

# action id -> (key sequence, description); the ids are the MainWindow.actions keys.
ACTION_KEYS: dict[str, tuple[str, str]] = {
    "open_folder": ("Ctrl+O", "Open a folder of studies"),
    "open_file": ("Ctrl+Shift+O", "Open one file"),
    "open_sample": ("Ctrl+Shift+S", "Open the built-in samples"),
    "quit": ("Ctrl+Q", "Quit"),
    "plane_axial": ("A", "Axial plane"),
    "plane_coronal": ("C", "Coronal plane"),
    "plane_sagittal": ("S", "Sagittal plane"),
    "preset_default": ("1", "Window: the file's own (VOI window or VOI LUT)"),
    "preset_lung": ("2", "Window, CT: lung (L -600 / W 1500)"),
    "preset_mediastinum": ("3", "Window, CT: mediastinum (L 40 / W 400)"),
    "preset_bone": ("4", "Window, CT: bone (L 400 / W 1800)"),
    "preset_auto": ("2", "Window, radiograph: auto from the histogram (1-99 %)"),
    "preset_full": ("3", "Window, radiograph: full data range"),
    # the file's windows after its first (Weasis lists them), where it has them; the menu names each one
    "preset_file_2": ("5", "Window: the file's window 2"),
    "preset_file_3": ("6", "Window: the file's window 3"),
    "preset_file_4": ("7", "Window: the file's window 4"),
    "invert": ("I", "Invert grey levels"),
    "rotate_right": ("Alt+R", "Rotate 90\u00b0 clockwise"),
    "rotate_left": ("Alt+L", "Rotate 90\u00b0 counter-clockwise"),
    "flip_horizontal": ("H", "Mirror left-right"),
    "flip_vertical": ("V", "Mirror top-bottom"),
    "shutter": ("", "The file's display shutter over the unexposed border on / off"),
    "overlay_planes": ("", "The file's overlay planes (markers and annotations stored beside the image) on / off"),
    "annotations": ("Ctrl+T", "Corner text and orientation markers on / off"),
    "anonymise": ("", "Anonymise the corner text (no name, ID, sex, age, study date or descriptions)"),
    "scroll_feet": ("", "Wheel down / Down go towards the feet (off: the file's slice order)"),
    "mouse_weasis": ("", "Mouse as Weasis / OHIF: left-drag window/level, middle pan, right zoom"),
    "measure_length": ("M", "Measure a length (drag, or click both ends)"),
    "measure_angle": ("N", "Measure an angle (three clicks, the vertex second)"),
    "measure_lines": ("Shift+N", "Measure the angle between two lines (draw two lines, as a Cobb angle)"),
    "measure_ellipse": ("E", "Ellipse ROI: mean, SD, min, max, area (HU on CT)"),
    "measure_rectangle": ("B", "Rectangle ROI: mean, SD, min, max, area (HU on CT)"),
    "measure_cancel": ("Esc", "Cancel the measurement being drawn (again: left-drag windows again)"),
    "measure_delete": ("Del", "Delete the selected measurement"),
    "measure_export": ("", "Export the measurements of this series as JSON"),
    "zoom_in": ("+", "Zoom in"),
    "zoom_out": ("-", "Zoom out"),
    "fit": ("F", "Fit the image to the window"),
    "reset": ("R", "Reset window, zoom and slice"),
    "cine": ("P", "Cine play / pause"),
    "cine_slower": ("[", "Cine slower"),
    "cine_faster": ("]", "Cine faster"),
    "analyse": ("Ctrl+R", "Analyse the shown image"),
    "compare": ("Ctrl+Shift+R", "Compare attention maps side by side"),
    "overlay": ("O", "Attention map on / off"),
    "export_png": ("Ctrl+E", "Export the view and its map as PNG"),
    "export_json": ("Ctrl+Shift+E", "Export the predictions as JSON"),
    "help": ("F1", "This list of shortcuts"),
}

# Bindings of the slice view itself (keys while the image has focus, and mouse gestures).
VIEW_BINDINGS: tuple[tuple[str, str], ...] = (
    ("Down / Up", "Next / previous slice (down = towards the feet on an axial CT)"),
    ("Page Down / Page Up", "10 slices forward / back"),
    ("Home / End", "First / last slice"),
    ("Mouse wheel", "Scroll slices (wheel down = towards the feet)"),
    ("Ctrl + mouse wheel", "Zoom around the pointer"),
    ("Left drag", "Window / level: horizontal = width, vertical = level (Weasis / OHIF mouse; else pan)"),
    ("Left click / drag, measuring", "Place a measurement's points (a drag places both ends of a length, line or ROI)"),
    ("Middle drag", "Pan (Weasis / OHIF mouse; else zoom)"),
    ("Right drag", "Zoom, up = in (Weasis / OHIF mouse; else window / level)"),
    ("Slider under the image", "Go to a slice (left end = head)"),
)
NO_KEY = "(menu)"


def all_bindings() -> list[tuple[str, str]]:
    """(keys, description) of every binding, menu actions first."""
    return [(key or NO_KEY, text) for key, text in ACTION_KEYS.values()] + list(VIEW_BINDINGS)


class ShortcutsDialog(QDialog):
    """Help > Shortcuts (F1): a two-column table of all bindings."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard and mouse shortcuts")
        bindings = all_bindings()
        self.table = QTableWidget(len(bindings), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        for row, (keys, text) in enumerate(bindings):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(text))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 640)
