"""The desktop viewer. All Qt lives here; this package's __init__ imports nothing.

The Qt-free model the widgets observe (viewer state, events, planes, linking, status text,
measurements) lives in ``covidviewer.viewer``.

Qt widgets:
    slice_view.SliceView      image view of one ViewerState; ``set_overlay(map, colormap,
                              opacity, threshold, visible)``; ``set_caption``; ``zoom``
    slice_controls.SliceControls  plane buttons, reading-order slice slider, cine play / speed
    image_canvas.ImageCanvas  the QGraphicsView that draws one uint8 image (zoom, pan, gestures)
    main_window.MainWindow    docks, menus, actions; ``add_dock(widget, title)`` for panels
    status_bar.ViewerStatusBar  voxel / slice / window labels, progress with Cancel, error count
    controller.ViewerController  opening paths, workers (tasks.Task), error reporting
    app.run_viewer            ``covidviewer [PATH] [--sample] [--screenshot OUT.png]``
    analysis.install_analysis Analysis dock, Analyse/Compare/Export actions (covidviewer.ui.analysis)
"""
