"""Input/output: readers for DICOM, NIfTI/MHA/NRRD and images -> Volume; no torch, no Qt."""

