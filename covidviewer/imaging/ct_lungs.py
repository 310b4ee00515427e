"""Where the lungs are on an axial CT slice, without a trained segmenter: the dark regions the body encloses.

The radiograph models have a lung U-Net; the CT-slice models have none, and no CT lung masks are here to train one.
What a lung-window slice shows is enough for a check of where a model looks: the body is the largest region brighter
than Otsu's threshold, and the aerated lungs are the dark regions it encloses (air outside the body, the table under
it and text or arrows beside it are not enclosed). Each such region of 0.5% of the slice or more is taken with its
convex hull, so consolidation in a bay of the aerated lung, the hilum and the vessels count as lung.

What it gets wrong, and why that suits its uses (the share of a map's attention inside the lungs; the box a CT model
that crops to the lungs reads, ``inference.inputs.ct_lung_mask``, which the outer lung edges bound): dense
consolidation along a lung's outer edge stays outside (it is as bright as the chest wall), and where the two lungs
touch in front of the heart one hull takes in the heart. On 118 validation slices of UCSD COVID-CT, cut from papers
and often cropped through the chest wall, 9 get no lung region (``None``: lungs not enclosed), the rest a median 34%
of the slice.
"""
from __future__ import annotations

import numpy as np

from covidviewer.imaging.body_region import CHEST_SHAPE_BELOW, body_and_solid_shares, largest_bright_region, largest_region
from covidviewer.imaging.hanging import framed_box

#: a dark region enclosed by the body counts as lung from this share of the slice (the trachea and gas bubbles do not)
MIN_PART_SHARE = 0.005
#: below this share of the slice in all, no lungs were found (a slice above or below them, or one cropped through them)
MIN_LUNG_SHARE = 0.02


def ct_lung_region(image: np.ndarray) -> np.ndarray | None:
    """(H, W) bool mask of the lungs on one axial CT slice as a CT model reads it (any grey scale, air dark), or None
    where the body encloses no lungs: a slice cut through the chest wall, above or below the lungs, or not a CT."""
    return ct_body_and_lungs(image)[1]


def ct_body_and_lungs(image: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(body, lungs) of one axial CT slice: the body as ``largest_bright_region`` finds it, holes filled, and the lungs
    as ``ct_lung_region``; each None where not found. One pass for a caller that needs both (what lies outside the
    body and what lies inside the lungs: the trainer's erased-chest check)."""
    from scipy import ndimage
    from skimage.morphology import convex_hull_image

    body = largest_bright_region(image, fill_holes=False)
    if body is None:
        return None, None
    inside = ndimage.binary_fill_holes(body)
    enclosed = inside & ~body
    labels, count = ndimage.label(enclosed)
    sizes = ndimage.sum_labels(enclosed, labels, index=np.arange(1, count + 1)) if count else np.zeros(0)
    lungs = np.zeros(enclosed.shape, dtype=bool)
    for index in np.flatnonzero(sizes >= MIN_PART_SHARE * enclosed.size):
        lungs |= convex_hull_image(labels == index + 1)
    lungs &= inside
    return inside, (lungs if lungs.mean() >= MIN_LUNG_SHARE else None)


def chest_shape(image: np.ndarray) -> tuple[float, float, bool | None]:
    """(body share, solid share, lungs enclosed) of an image the image-kind model calls a CT slice
    (``body_region.body_and_solid_shares``; whether ``ct_lung_region`` finds lungs, asked only where the body covers
    less than ``CHEST_SHAPE_BELOW``, else None). An image on a page of one grey (a screenshot's margins, a figure) is
    measured inside its frame (``hanging.framed_box``), as a film is read: on a black page twice its area a real
    slice's body covers under 60%, and Otsu's threshold of the mostly black page falls below the grey lungs of a lung
    window, so they are body, not holes (69 of the 543 real slices so framed enclosed no lungs; none inside the frame)."""
    box = framed_box(image)
    if box is not None:
        image = image[box[0]:box[2], box[1]:box[3]]
    body, solid = body_and_solid_shares(image)
    return body, solid, (ct_lung_region(image) is not None if body < CHEST_SHAPE_BELOW else None)


#: aerated lung in Hounsfield units: air is about -1000, fat -100, soft tissue 40
AERATED_LUNG_HU = (-950.0, -400.0)
#: the body in Hounsfield units: tissue denser than this (lung and air are not; the lungs are its holes)
BODY_HU = -500.0
#: a slice holds lung from this share of it: the lung bases beside the liver hold 3-4% on the built-in scanner series,
#: the liver below them and the neck above the lungs under 2%
MIN_AERATED_SHARE = 0.02


def aerated_lung_share(slice_hu: np.ndarray) -> float:
    """Share of an axial slice in Hounsfield units that is aerated lung inside the body: pixels in ``AERATED_LUNG_HU``
    within the largest region denser than ``BODY_HU``, holes filled. Outside the body, blankets, the table's pad and the
    edges of the air reach the same range (on the built-in scanner series 13-14% of every slice, the liver's and the
    neck's too), so they do not count. Read on every other pixel (2 ms on a 512 x 512 slice)."""
    hu = np.asarray(slice_hu, dtype=np.float32)[::2, ::2]
    body = largest_region(hu > BODY_HU)
    if body is None:
        return 0.0
    return float((body & (hu >= AERATED_LUNG_HU[0]) & (hu <= AERATED_LUNG_HU[1])).mean())
