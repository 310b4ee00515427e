"""Is there a body in it? How much of an image its largest region clear of the dark background covers: an axial CT
slice shows a body, a star field or a galaxy on black does not.

The image-kind model takes bright blobs on black for CT (scikit-image's Hubble deep field: "axial CT slice" 1.00;
session 49, ``trainer gate-pictures``: 96 of 2,246 grey pictures of Debian packages it never saw, nearly all galaxies
and star clusters), because that is what a CT slice looks like at its input size. What it cannot weigh is size. The
body is the largest connected region brighter than a quarter of Otsu's threshold, holes filled: a quarter, because in
a mediastinal window only the contrast-filled heart and vessels clear Otsu's threshold itself (3% of the image) while
the soft tissue around them, the body, is still grey (until session 49 the body was the region above Otsu's
threshold, with a bar of 1%). On every one of 591 real CT slices the image-kind model calls CT (the 543 training
slices, the built-in scanner series) it covers 67% of the image or more (the scanner series in its lung window 86%:
the air inside the reconstruction circle is grey there); on the galaxies the model takes for CT, 5-47%.

Size alone let 28 of those pictures through, mostly galaxies' broad glows (30-55% of the image) and line drawings. A
body that covers less than ``CHEST_SHAPE_BELOW`` must also be shaped like a chest (session 50): solid but for its
holes (``MIN_SOLID_SHARE``; a line drawing's outline is mostly hole) and enclosing lungs (``ct_lungs.ct_lung_region``;
a glow encloses nothing). That leaves 7 of the 28; on 2,671 pictures of a package never looked at before the rule was
set (gcompris-qt-data) it took the CT slices of that image-kind model from 59 to 53. What passes covers the image
(a picture on white: its background is the body) or is a disc, ring or icon with dark marks inside. The image-kind
model retrained on four of the five packages (shipped in session 50) takes 11 of the 2,671 for CT slices that both
checks let through, and none of the five packages' pictures.
"""
from __future__ import annotations

import numpy as np

#: a CT slice whose body covers less than this share of the image shows no body: half the smallest real slice's share,
#: so a real slice shown in a frame twice its area still passes on size (and since session 50 passes whole where its
#: lungs are enclosed, ``CHEST_SHAPE_BELOW``)
MIN_BODY_SHARE = 0.30
#: the body's threshold as a share of Otsu's: body soft tissue is above it in any CT window, the air around it below
BODY_LEVEL_OF_OTSU = 0.25
#: a "CT slice" whose body covers less than this must also be shaped like a chest (lungs enclosed, ``MIN_SOLID_SHARE``):
#: every real slice covers 0.67 or more, so none is held to it unless shown in a frame (session 50)
CHEST_SHAPE_BELOW = 0.60
#: the share of a chest's body that is no hole: 0.49 or more on every real CT slice (the lungs are its holes); a line
#: drawing's outline encloses far more than it covers (0.18-0.35 on those pictures)
MIN_SOLID_SHARE = 0.40


def body_share(image: np.ndarray) -> float:
    """Share of the (H, W) image covered by its body (``BODY_LEVEL_OF_OTSU``), holes filled; 0.0 for a flat image."""
    return body_and_solid_shares(image)[0]


def body_and_solid_shares(image: np.ndarray) -> tuple[float, float]:
    """(share of the image its body covers, holes filled; share of that body that is no hole): (0.0, 0.0) for a flat
    image. A body is solid where a chest is (the lungs are its only large holes), an outline where a line drawing is."""
    from scipy import ndimage

    region = largest_bright_region(image, fill_holes=False, level_of_otsu=BODY_LEVEL_OF_OTSU)
    if region is None:
        return 0.0, 0.0
    filled = ndimage.binary_fill_holes(region)
    return float(filled.mean()), float(region.sum() / filled.sum())


def largest_bright_region(image: np.ndarray, fill_holes: bool = True, level_of_otsu: float = 1.0) -> np.ndarray | None:
    """(H, W) bool mask of the image's largest connected region brighter than Otsu's threshold (times
    ``level_of_otsu``, never at or below the darkest grey), its holes filled unless ``fill_holes`` is False; None for an
    empty or flat image or one with nothing bright."""
    from skimage.filters import threshold_otsu

    grey = np.asarray(image, dtype=np.float32)
    if grey.size == 0 or float(grey.max()) <= float(grey.min()):
        return None
    darkest = float(grey.min())
    level = darkest + level_of_otsu * (float(threshold_otsu(grey)) - darkest)
    return largest_region(grey > level, fill_holes)


def largest_region(mask: np.ndarray, fill_holes: bool = True) -> np.ndarray | None:
    """(H, W) bool mask of the largest connected region of ``mask``, its holes filled unless ``fill_holes`` is False;
    None where ``mask`` is empty."""
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count == 0:
        return None
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    largest = labels == 1 + int(np.argmax(sizes))
    return ndimage.binary_fill_holes(largest) if fill_holes else largest
