"""Draws the chosen map of an analysis run over the main view: the overlay itself, the outline of
what a cropping model saw, the slice-importance strip and the note under the map choice."""
from __future__ import annotations

from covidviewer.analysis.maps import MapKey
from covidviewer.analysis.run import AnalysisRun
from covidviewer.ui.analysis.region_outline import RegionOutline, map_note_text


class OverlayPresenter:
    """Shows one map (``show``) of a run on ``window.viewer`` with the Analysis panel's settings."""

    def __init__(self, window, panel):
        self.window = window
        self.state = window.state
        self.panel = panel
        self.outline = RegionOutline(window.viewer)  # what a cropping model saw, outlined over its map

    def show(self, run: AnalysisRun | None, run_volume, key: MapKey | None) -> None:
        """Draw ``key``'s map of ``run`` (None removes it) and show its slice strip; nothing is drawn
        when ``run`` belongs to another image than the shown one."""
        panel = self.panel
        result = None if key is None or run is None else run.maps().get(key)
        if result is None or run_volume is not self.state.volume:
            self.clear()
            return
        data = run.overlay(key, self.state.volume.shape)
        self.window.viewer.set_overlay(data, **panel.overlay.settings.as_kwargs())
        owner = run.results.get((key.model, key.method))
        importance = result.slice_importance if result.slice_importance is not None else getattr(owner, "slice_importance", None)
        peak = result.peak_slice if result.peak_slice is not None else getattr(owner, "peak_slice", None)
        panel.strip.show_importance(importance, peak, f"Slice importance \u2014 {key.model} depth attention")
        explanation = result.explanation
        whole = explanation is None or explanation.covers_whole_image()
        self.outline.set_region(None if whole else explanation.analysed_box, result.slice_index,
                                "" if whole else explanation.analysed_region)
        note = map_note_text(key.model, result, self.state)
        panel.map_note.setText(note)
        panel.map_note.setVisible(bool(note))
        if result.slice_index is not None and self.state.n_slices > 1:
            panel.strip.go_to(result.slice_index)

    def clear(self) -> None:
        """No map over the main view, no outline, no strip, no note."""
        self.window.viewer.set_overlay(None)
        self.outline.set_region(None)
        self.panel.strip.show_importance(None, None)
        self.panel.map_note.hide()
