"""Qt-free viewer model: what a slice view shows, observable and testable without a QApplication.

    events.Signal              tiny observer signal (a list of callbacks)
    events.EventedField        a declared field: assignment validates, compares and emits its event
    events.EventedState        base giving a class its ``events`` (one Signal per name in ``EVENTS``)
    viewer_state.ViewerState   what one view shows: volume, plane, slice, window, view_range,
                               overlay, cine, cursor, display; ``state.events.<name>.connect(callback)``
    viewer_reading.ReadingMixin  rotation, mirror, inversion, reading order, corner-overlay facts
    planes.plane_geometry      radiological plane cuts (from imaging.plane_cut) + mm geometry
    linking.link_states        mirror plane/slice/window/view_range/cursor/cine/display between states
    status_text.cursor_text    status-bar text for the voxel under the mouse
    measurement_model.MeasurementModel  the shown series' measurements and the selected one;
                               ``model.events.changed`` / ``model.events.selected``

Nothing here imports Qt (an import-linter contract checks it); ``covidviewer.ui`` observes these.
"""
