"""Analysis in the viewer (issue 5): Analyse in a worker, results, overlay, compare grid, export.

The Qt-free parts (catalogue, analysis run, map keys, run history, agreement numbers) live in covidviewer.analysis.

Modules (none imports torch; the workers do, through covidviewer.inference):
    picker             model and method checkboxes
    results_view       per-model decision, probability bars, version + weights SHA, refusals
    overlay_controls   map choice, on/off, colormap, opacity, threshold, colorbar
    slice_strip        DARNet depth-attention strip with "jump to peak slice"
    panel              the Analysis dock
    compare            CompareWindow: linked model x method grid with agreement numbers
    captioned_image    a pane / the compare grid as a captioned QImage (model, version, SHA, notice)
    export_files       the checked target path, PNG encoding, JSON of the predictions
    export_actions     ExportActions: save dialog, rendering, writing in a worker, DICOM SC + SR
    worker_tasks       AnalysisTasks: the model-listing and analysis tasks on a Predictor pool
    overlay_presenter  the chosen map over the main view, its outline, slice strip and note
    compare_presenter  opens, refreshes and clears the compare grid
    controller         AnalysisController: the dock and its actions, wired to the parts above

``install_analysis(window, viewer_controller)`` adds the dock and connects the Analysis menu.
"""
from __future__ import annotations


def install_analysis(window, viewer_controller=None, auto_list_models: bool = True, predictor_factory=None):
    """Add the Analysis dock to ``window`` and wire its actions; returns the AnalysisController."""
    from covidviewer.ui.analysis.controller import AnalysisController

    controller = AnalysisController(window, viewer_controller, auto_list_models=auto_list_models, predictor_factory=predictor_factory)
    measurements = getattr(window, "measurements", None)
    if measurements is not None:  # the DICOM SR carries the measurements drawn on the analysed image
        controller.exports.measurements = measurements.sr_records
    return controller
