"""Opens the compare grid of every map of every run of the shown image, keeps it up to date after
each run and empties it when the image changes."""
from __future__ import annotations

from covidviewer.analysis.run_history import RunHistory
from covidviewer.ui.analysis.compare import CompareWindow


class ComparePresenter:
    """Owns the CompareWindow (made on first use) for ``window``; ``history`` holds the runs it shows.

    on_export_grid() is called by the grid's export button; on_export_pane(pane) by the pane's one.
    """

    def __init__(self, window, overlay_settings, on_export_grid, on_export_pane):
        self.window = window
        self.state = window.state
        self.overlay_settings = overlay_settings
        self.history = RunHistory()  # every run of the shown image: the compare grid shows them all
        self.compare_window: CompareWindow | None = None
        self._on_export_grid = on_export_grid
        self._on_export_pane = on_export_pane

    def open(self) -> CompareWindow | None:
        """Open (or refresh) the compare grid; None (and a message) when there is nothing to compare."""
        if not self.history or self.history.volume is not self.state.volume:
            self.window.show_message("Analyse the image with at least one map before comparing", "warning")
            return None
        if self.compare_window is None:
            compare = CompareWindow(self.overlay_settings, self.window)
            compare.export_button.clicked.connect(lambda: self._on_export_grid())
            compare.export_pane_button.clicked.connect(
                lambda: self._on_export_pane(compare.chosen_pane()) if compare.chosen_pane() else None)
            self.compare_window = compare
        self.compare_window.show_history(self.history, self.history.volume, self.state)
        self.compare_window.show()
        self.compare_window.raise_()
        return self.compare_window

    def refresh(self) -> None:
        """An open grid shows every run of ``history`` (call after adding one)."""
        if self.compare_window is not None and self.compare_window.isVisible():
            self.compare_window.show_history(self.history, self.history.volume, self.state)

    def clear(self) -> None:
        """Forget the runs (the image changed) and hide the grid."""
        self.history.clear()
        if self.compare_window is not None:
            self.compare_window.clear()
            self.compare_window.hide()

    def close(self, timeout_s: float = 30.0) -> None:
        """Close the grid, cancelling its agreement worker between sorts, and wait for it."""
        if self.compare_window is not None:
            self.compare_window.close()
            self.compare_window.wait_agreement(timeout_s)
