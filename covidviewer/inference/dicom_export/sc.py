"""Secondary Capture of the rendered view (image, attention map, captions and the research notice
burned in), in the source study, referencing the source series and image."""
from __future__ import annotations

import numpy as np
from highdicom.sc import SCImage
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from covidviewer import RESEARCH_NOTICE
from covidviewer.inference.dicom_export.codes import plain
from covidviewer.inference.dicom_export.source import DicomSource, patient_orientation, with_unambiguous_names

#: (121322, DCM) "Source image for image processing operation": what the view was rendered from
SOURCE_IMAGE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")
_MAX_LO = 64


def secondary_capture(
    rgb: np.ndarray,
    source: DicomSource,
    *,
    series_uid: str,
    sop_uid: str,
    series_number: int,
    captions: list[str],
    manufacturer: str,
    software_version: str,
    native_orientation: bool = True,
    burned_in_identifiers: bool = False,
) -> SCImage:
    """A Secondary Capture Image (RGB, 8 bit, uncompressed) of ``rgb`` in the source study.

    captions: the lines burned into the image, repeated in Image Comments with the notice.
    native_orientation: the pixels keep the source image's row / column directions, so its
        Patient Orientation is copied; False (a reformat, a rotated or flipped view) leaves it empty.
    burned_in_identifiers: the pixels show patient identifiers (Burned In Annotation YES).
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected (rows, columns, 3) RGB pixels, got shape {rgb.shape}")
    ref = source.shown
    image = SCImage.from_ref_dataset(
        ref_dataset=with_unambiguous_names(ref),
        pixel_array=rgb,
        photometric_interpretation="RGB",
        bits_allocated=8,
        # highdicom wants a coordinate system; the real Patient Orientation is set below.
        coordinate_system="PATIENT",
        patient_orientation=("L", "F"),
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer=manufacturer,
        transfer_syntax_uid=ExplicitVRLittleEndian,
    )
    orientation = patient_orientation(ref) if native_orientation else None
    image.PatientOrientation = list(orientation) if orientation else None
    image.ConversionType = "WSD"  # rendered on a workstation, not digitised
    image.SoftwareVersions = software_version
    image.SeriesDescription = plain(f"CovidViewer view - {RESEARCH_NOTICE}")[:_MAX_LO]
    image.ImageComments = plain("\n".join([f"{RESEARCH_NOTICE}.", *captions]))
    image.BurnedInAnnotation = "YES" if burned_in_identifiers else "NO"
    image.RecognizableVisualFeatures = "YES" if burned_in_identifiers else "NO"
    image.DerivationDescription = "Rendered view with a research attention map and captions (CovidViewer)"
    image.SourceImageSequence = [_image_reference(ref)]
    image.RelatedSeriesSequence = [_series_reference(ref)]
    for keyword in ("BodyPartExamined", "ImageLaterality", "SpecificCharacterSet"):
        if ref.get(keyword):
            setattr(image, keyword, ref.get(keyword))
    # Type 2C, needed for paired body parts: the source's value; empty ("unknown") when the body
    # part is not stated; absent for a stated (chest: unpaired) part.
    if ref.get("Laterality"):
        image.Laterality = ref.Laterality
    elif not ref.get("BodyPartExamined"):
        image.Laterality = None
    if str(ref.get("LossyImageCompression", "00")) == "01":
        # Once lossy, always lossy (PS3.3 C.7.6.1.1.5): the SC carries the source's history forward.
        image.LossyImageCompression = "01"
        for keyword in ("LossyImageCompressionRatio", "LossyImageCompressionMethod"):
            if ref.get(keyword):
                setattr(image, keyword, ref.get(keyword))
    return image


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, scheme, meaning
    return code


def _image_reference(ref: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = ref.SOPClassUID
    item.ReferencedSOPInstanceUID = ref.SOPInstanceUID
    item.PurposeOfReferenceCodeSequence = [_code(*SOURCE_IMAGE_PURPOSE)]
    return item


def _series_reference(ref: Dataset) -> Dataset:
    item = Dataset()
    item.StudyInstanceUID = ref.StudyInstanceUID
    item.SeriesInstanceUID = ref.SeriesInstanceUID
    item.PurposeOfReferenceCodeSequence = [_code(*SOURCE_IMAGE_PURPOSE)]
    return item
