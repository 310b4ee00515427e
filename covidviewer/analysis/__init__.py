"""Analyses of one image, Qt-free: what can run on it, what one Analyse runs and produced, and how
its maps agree. Shared by the viewer (covidviewer.ui.analysis) and ``covidviewer predict``.

Modules (none imports torch at import time; the run functions do, through covidviewer.inference):
    methods     method ids and labels; "default" = the paper's map, resolved per model (method_groups)
    catalogue   ModelChoice and build_catalogue: every classifier with its gate decision and weights
    run         AnalysisRequest, AnalysisRun, run_analysis (viewer), analyse_input (predict)
    maps        MapKey (model, method, cascade stage) and overlay_volume (a map on the image grid)
    run_history RunHistory: every run of the shown image whose maps the compare grid shows
    agreement   lung-attention share and top-20% IoU between the maps of the compare grid
"""
