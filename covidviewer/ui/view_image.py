"""The shown slice of a SliceView as an image to export: the whole slice at native resolution and
true aspect, as drawn (window, inversion, rotation, mirror, map), with what the reader sees over it
burned in: the measurements of that slice, then the corner text and orientation markers when they
are shown.

Every PNG and DICOM export of a view goes through here (``SliceView.export_image``, and
``covidviewer.ui.analysis.captioned_image.pane_image``, which adds the analysed region's outline), so a
lesion measured on screen is measured in the file too. Shapes and label places are the view's own
(``covidviewer.imaging.measurement_marks``), mapped from voxels to output pixels through the same
plane geometry; sizes follow the output's width, not the screen's zoom.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter

from covidviewer.imaging.measurement_marks import drawn_shape, measurement_marks
from covidviewer.imaging.view_annotations import corner_text
from covidviewer.ui.annotation_painter import annotation_layout, paint_annotations, paint_measurements
from covidviewer.viewer.measurement_model import voxel_to_scene


def text_px(width: int) -> int:
    """Font size of burned-in text for an output ``width`` pixels wide (readable when shown whole)."""
    return int(min(max(width / 55, 11), 32))


def slice_image(view) -> QImage | None:
    """The displayed slice of ``view`` (RGB888), its rows scaled to the true aspect ratio; None without an image."""
    shown = view.displayed_image()
    if shown is None:
        return None
    array = np.ascontiguousarray(shown)
    rows, cols = array.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if array.ndim == 2 else QImage.Format.Format_RGB888
    image = QImage(array.data, cols, rows, array.strides[0], fmt).copy()
    width_mm, height_mm = view.state.extent_mm
    target_h = int(round(cols * height_mm / width_mm)) if width_mm > 0 else rows
    if target_h != rows and target_h > 0:
        image = image.scaled(cols, target_h, Qt.AspectRatioMode.IgnoreAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image.convertToFormat(QImage.Format.Format_RGB888)


def measurement_drawings(view, width: int, height: int) -> list:
    """(MeasurementMarks in output pixels, label text) of each measurement on ``view``'s shown slice,
    for an output of ``width`` x ``height`` pixels covering the whole slice."""
    geometry = view.state.geometry
    width_mm, height_mm = view.state.extent_mm
    if geometry is None or width_mm <= 0 or height_mm <= 0:
        return []
    sx, sy = width / width_mm, height / height_mm
    drawn = []
    for measurement in view.shown_measurements():
        points = [voxel_to_scene(geometry, p) for p in measurement.points]
        shape = drawn_shape(measurement.kind, len(points), getattr(measurement, "shape", None))
        marks = measurement_marks(shape, [(x * sx, y * sy) for x, y in points])
        drawn.append((marks, measurement.label()))
    return drawn


def burn_in(view, image: QImage, anonymise: bool | None = None) -> QImage:
    """Paint ``view``'s measurements and, when the view shows them, its corner text and orientation
    markers into ``image`` (the whole slice, as ``slice_image`` gives it) and return it.

    anonymise: corner text without the patient, study date and descriptions; None follows the view's
    setting (an anonymised DICOM export passes True whatever the view shows).
    """
    rect = QRectF(0, 0, image.width(), image.height())
    font_px = text_px(image.width())
    drawings = measurement_drawings(view, image.width(), image.height())
    show_text = view.annotations_visible and view.state.volume is not None
    if not drawings and not show_text:
        return image
    corners = markers = None
    if show_text:
        hidden = view.anonymised if anonymise is None else bool(anonymise)
        # zoom of the export itself: one output pixel per image column
        corners = corner_text(view.state.volume.meta, view.state.view_facts(1.0), hidden)
        markers = view.state.markers()
    painter = QPainter(image)
    if drawings:
        line_px = max(1.5, min(image.width(), image.height()) / 300)
        text_boxes = [box for *_drawn, box in annotation_layout(rect, corners, markers, font_px)]
        paint_measurements(painter, rect, drawings, font_px=max(font_px - 2, 10), line_px=line_px, avoid=text_boxes)
    if show_text:
        paint_annotations(painter, rect, corners, markers, font_px=font_px)
    painter.end()
    return image


def export_image(view, anonymise: bool | None = None) -> QImage | None:
    """The whole shown slice of ``view`` as drawn, with measurements and corner text burned in."""
    image = slice_image(view)
    return None if image is None else burn_in(view, image, anonymise)
