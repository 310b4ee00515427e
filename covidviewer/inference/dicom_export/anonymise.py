"""De-identification of the DICOM objects CovidViewer writes, after DICOM PS3.15 Annex E's Basic
Application Level Confidentiality Profile (Table E.1-1).

The outputs are built from a short list of source attributes, so only the profile's rows that such
objects can hold are listed; the rules that cover everything else are applied whole: private
attributes and overlay / curve groups are removed, and every instance UID is replaced through one
``UIDMap`` so that the Secondary Capture, the SR and the references between them (and between
several exports of one session) stay consistent.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid

#: Table E.1-1 action codes: Z = zero-length value (or a dummy one), X = remove, D = non-zero dummy
#: value, U = replace the UID by a consistent new one. Where the profile allows a choice (Z/D, X/Z,
#: ...) the one that keeps an attribute the output's IOD requires (Type 1 -> D, Type 2 -> Z) is
#: taken; the patient and study identifiers a PACS and a DICOMDIR index by get dummy values (Z
#: allows them), Patient ID a pseudonym that is the same for one patient within one UIDMap.
ZERO = (
    "PatientBirthDate", "PatientSex", "AccessionNumber", "ReferringPhysicianName", "ContentCreatorName",
)
PSEUDONYM = ("PatientID",)
REMOVE = (
    "PatientAge", "PatientSize", "PatientWeight", "PatientAddress", "PatientBirthTime", "PatientBirthName",
    "PatientMotherBirthName", "PatientTelephoneNumbers", "PatientComments", "EthnicGroup", "Occupation",
    "OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence", "MedicalRecordLocator",
    "AdditionalPatientHistory", "PatientState", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "InstitutionCodeSequence", "StationName", "DeviceSerialNumber",
    "OperatorsName", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord",
    "RequestingPhysician", "ReferringPhysicianAddress", "StudyDescription", "SeriesDescription",
    "ImageComments", "DerivationDescription", "AdmittingDiagnosesDescription", "RequestAttributesSequence",
    "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime",
    "InstanceCreationDate", "InstanceCreationTime", "DateOfSecondaryCapture", "TimeOfSecondaryCapture",
    "TimezoneOffsetFromUTC", "ProtocolName", "PerformedProcedureStepStartDate", "PerformedProcedureStepID",
    "RequestedProcedureDescription", "ReasonForStudy", "IssuerOfPatientID", "PatientInsurancePlanCodeSequence",
    "ContributionDateTime",
)
DUMMY = {
    "PatientName": "Anonymous^",
    "StudyDate": "19000101",
    "StudyTime": "000000",
    "StudyID": "ANON",
    "ContentDate": "19000101",
    "ContentTime": "000000",
    "ObservationDateTime": "19000101000000",
    "VerifyingObserverName": "Anonymous",
}
REPLACE_UID = (
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "ReferencedSOPInstanceUID",
    "FrameOfReferenceUID", "ReferencedFrameOfReferenceUID", "RelatedFrameOfReferenceUID",
    "SynchronizationFrameOfReferenceUID", "MediaStorageSOPInstanceUID", "InstanceCreatorUID",
    "StorageMediaFileSetUID", "IrradiationEventUID", "ConcatenationUID", "DimensionOrganizationUID",
    "UID", "ObservationUID", "TargetUID", "DeviceUID", "FiducialUID", "TransactionUID",
    "ReferencedSOPInstanceUIDInFile", "RequestedSOPInstanceUID", "AffectedSOPInstanceUID",
)
BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
CLEAN_DESCRIPTORS_CODE = ("113105", "DCM", "Clean Descriptors Option")
METHOD_TEXT = "PS3.15 Basic Application Level Confidentiality Profile"


class UIDMap:
    """Original UID -> new UID, the same new UID every time within one map.

    New UIDs are a keyed hash (SHA-512 inside ``pydicom.uid.generate_uid``) of the original and a
    random per-map secret, so they cannot be traced back without the secret, which is never written.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = (secret if secret is not None else os.urandom(32)).hex()
        self._mapped: dict[str, UID] = {}

    def __call__(self, uid: str) -> UID:
        uid = str(uid)
        if uid not in self._mapped:
            self._mapped[uid] = generate_uid(entropy_srcs=[self._secret, uid])
        return self._mapped[uid]

    def pseudonym(self, value: str) -> str:
        """A stand-in for an identifier (Patient ID): "ANON" + 12 digits of the keyed hash."""
        return "ANON" + str(self(f"pseudonym:{value}")).rsplit(".", 1)[-1][-12:]

    def __len__(self) -> int:
        return len(self._mapped)


def anonymise(ds: Dataset, uid_map: UIDMap, clean_descriptors: Iterable[str] = ()) -> Dataset:
    """A copy of ``ds`` with the Basic Profile applied (sequences and file meta included).

    A copy, because highdicom's objects share data elements with the source datasets they were
    built from: changing them in place would change the caller's source headers too.

    clean_descriptors: top-level text attributes the writer composed itself, free of identifiers
    (the research notice in Series Description, the captions in Image Comments); they are kept
    under the Clean Descriptors Option. Marks the result: PatientIdentityRemoved YES, the method
    text and codes (113100 and, when descriptors are kept, 113105, DCM).
    """
    ds = copy.deepcopy(ds)
    kept = {k: ds[k].value for k in clean_descriptors if k in ds}
    _apply(ds, uid_map)
    for keyword, value in kept.items():
        setattr(ds, keyword, value)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD_TEXT
    codes = [BASIC_PROFILE_CODE, *([CLEAN_DESCRIPTORS_CODE] if kept else [])]
    ds.DeidentificationMethodCodeSequence = [_code(*c) for c in codes]
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, scheme, meaning
    return code


def _apply(ds: Dataset, uid_map: UIDMap) -> None:
    for tag in list(ds.keys()):
        elem = ds[tag]
        if tag.is_private or (tag.group & 0xFF00) in (0x5000, 0x6000):
            del ds[tag]  # private attributes, curves and overlays (which may hold burned-in text)
            continue
        keyword = elem.keyword
        if elem.VR == "SQ" and keyword not in REMOVE:
            for item in elem.value or []:
                _apply(item, uid_map)
        elif keyword in ZERO:
            elem.value = None
        elif keyword in PSEUDONYM:
            elem.value = uid_map.pseudonym(str(elem.value or ""))
        elif keyword in REMOVE:
            del ds[tag]
        elif keyword in DUMMY:
            elem.value = DUMMY[keyword]
        elif keyword in REPLACE_UID and elem.value:
            elem.value = [uid_map(v) for v in elem.value] if elem.VM > 1 else uid_map(elem.value)


def identifying_values(ds: Dataset) -> set[str]:
    """Non-empty values of the profile's patient and study identifiers in ``ds`` (for tests and checks)."""
    keywords = (*ZERO, *PSEUDONYM, *DUMMY, *REMOVE)
    return {str(ds[k].value) for k in keywords if k in ds and ds[k].VR != "SQ" and ds[k].value not in (None, "")}


def uids_in(ds: Dataset) -> Iterable[str]:
    """Every instance UID the profile replaces, anywhere in ``ds`` (sequences included)."""
    for elem in ds.iterall():
        if elem.keyword in REPLACE_UID and elem.value:
            yield from ([str(v) for v in elem.value] if elem.VM > 1 else [str(elem.value)])
