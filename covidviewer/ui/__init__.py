"""The desktop viewer. All Qt lives here; this package's __init__ imports nothing.

Qt-free model (importable and testable without a QApplication):
    events.Signal            tiny observer signal used by the models
    viewer_state.ViewerState  what one view shows: volume, plane, slice, window, view_range,
                              overlay, cine, cursor; ``state.events.<name>.connect(callback)``
    planes.plane_geometry     radiological plane cuts (from imaging.plane_cut) + mm geometry
    linking.link_states       mirror plane/slice/window/view_range/cursor/cine between states
    status_text.cursor_text   status-bar text for the voxel under the mouse

Qt widgets:
    slice_view.SliceView      image view of one ViewerState; ``set_overlay(map, colormap,
                              opacity, threshold, visible)``; ``set_caption``; ``zoom``
    image_canvas.ImageCanvas  the QGraphicsView that draws one uint8 image (zoom, pan, gestures)
    main_window.MainWindow    docks, menus, status bar; ``add_dock(widget, title)`` for panels
    controller.ViewerController  opening paths, workers (tasks.Task), error reporting
    app.run_viewer            ``covidviewer [PATH] [--sample] [--screenshot OUT.png]``
    analysis.install_analysis Analysis dock, Analyse/Compare/Export actions (covidviewer.ui.analysis)
"""
