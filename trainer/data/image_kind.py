"""Training data for the image-kind model (``covidviewer.models.image_kind``), built from real images only.

    python -m trainer.data.image_kind --out data/image_kind [--shared ../shared/data] [--pictures DIR ...]

writes ``OUT/labels.csv`` (path, label, patient_id, source, split) and PNGs under ``OUT/`` (git-ignored;
never commit them). Chest images from the shared data folder are referenced by absolute path, not
copied; only generated images (negatives, transformed films, augmented laterals) are written.

* frontal chest radiograph: ``cxr``, ``cxr_adult``, ``lung_seg`` (every image);
* lateral chest radiograph: ``cxr_lateral`` (40 real films): each training film also gets
  ``LATERAL_COPIES`` augmented copies (rotation, scale, shift, gamma, mirror); validation keeps
  the real films only;
* axial CT slice: ``ct_slices`` (chest CT, the official patient-disjoint split);
* other: the DICOM files shipped in the pydicom and pydicom-data packages (head CT, MR, ultrasound,
  nuclear medicine, secondary captures: a head CT is "other", an axial CT slice but not a chest),
  the photographs shipped with scikit-image (and a few more pictures shipped inside scikit-learn,
  matplotlib and networkx), every picture under each ``--pictures`` folder (the recipe names the
  Debian wallpaper and stamp packages it used), and chest films rotated by 90/180/270 degrees,
  intensity-inverted or cropped to a corner.

Splits are by group: a patient for chest images (and every transform of that patient's films), one
group per source image for the negatives (all its copies and frames together); ``ct_slices`` keeps
its own split, every other group goes to validation when a hash of its id falls under ``VAL_FRACTION``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from covidviewer.io.body_part import chest_named
from covidviewer.io.colour import LUMA
from covidviewer.models.image_kind import IMAGE_KINDS

FRONTAL, LATERAL, CT_SLICE, OTHER = IMAGE_KINDS
VAL_FRACTION = 0.2
LATERAL_COPIES = 6
NEGATIVE_COPIES = 10
#: photographs and pictures are the fewest and most varied negatives: more crops of each
PHOTO_COPIES = 24
#: pictures from ``--pictures`` folders are many (hundreds): fewer copies of each
FOLDER_COPIES = 2
TRANSFORMS = ("rot90", "rot180", "rot270", "invert", "corner")
TRANSFORMED_FILMS = 500
MIN_SIDE = 32
SHARED_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "data"
#: CT files that name no body part are left out (they could be chests), except the one known head CT
KNOWN_HEAD_CT = ("693_",)


@dataclass(frozen=True)
class KindRow:
    path: str
    label: str
    patient_id: str
    source: str
    split: str


def val_by_hash(group: str) -> bool:
    """Deterministic, seed-free group assignment: about VAL_FRACTION of groups go to validation."""
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < VAL_FRACTION


def _split(group: str) -> str:
    return "val" if val_by_hash(group) else "train"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def to_uint8(image: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """The image as the app shows it by default (its own window), 8-bit; colour becomes luma."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        image = image[..., :3] @ LUMA
        window = (127.5, 255.0) if image.max() <= 255 else (float(image.mean()), float(np.ptp(image)) or 1.0)
    center, width = float(window[0]), max(float(window[1]), 1e-6)
    unit = np.clip((image - (center - width / 2)) / width, 0, 1)
    return np.round(unit * 255).astype(np.uint8)


def transform_film(image: np.ndarray, how: str, rng: np.random.Generator) -> np.ndarray:
    """A chest film that must not pass as a clean frontal film (labelled "other")."""
    if how == "rot90":
        return np.ascontiguousarray(np.rot90(image, 1))
    if how == "rot180":
        return np.ascontiguousarray(np.rot90(image, 2))
    if how == "rot270":
        return np.ascontiguousarray(np.rot90(image, 3))
    if how == "invert":
        return 255 - image
    if how == "corner":
        h, w = image.shape
        frac = rng.uniform(0.3, 0.45)
        ch, cw = max(MIN_SIDE, int(h * frac)), max(MIN_SIDE, int(w * frac))
        top = 0 if rng.random() < 0.5 else h - ch
        left = 0 if rng.random() < 0.5 else w - cw
        return np.ascontiguousarray(image[top : top + ch, left : left + cw])
    raise ValueError(f"unknown transform {how!r}")


def augment_copy(image: np.ndarray, rng: np.random.Generator, mirror: bool = True, crop: bool = False) -> np.ndarray:
    """Rotation +-12 deg, scale 0.85-1.15, shift 6%, gamma 0.7-1.4, optional mirror (lateral films, negatives);
    ``crop``: first a random crop of 50-100% of each side (negatives: more views of few photographs)."""
    if crop:
        h, w = image.shape
        ch, cw = int(h * rng.uniform(0.5, 1.0)), int(w * rng.uniform(0.5, 1.0))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        image = np.ascontiguousarray(image[top : top + ch, left : left + cw])
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-12, 12), rng.uniform(0.85, 1.15))
    matrix[:, 2] += rng.uniform(-0.06, 0.06, 2) * (w, h)
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out = np.round(255 * (out / 255.0) ** rng.uniform(0.7, 1.4)).astype(np.uint8)
    return np.ascontiguousarray(out[:, ::-1]) if mirror and rng.random() < 0.5 else out


def _read_grey(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise OSError(f"cannot read {path}")
    return image


# --------------------------------------------------------------------------- sources
def chest_rows(shared: Path) -> Iterator[tuple[KindRow, Path]]:
    """(row, absolute image path) of every real chest image in the shared folder."""
    for folder, label in (("cxr", FRONTAL), ("cxr_adult", FRONTAL), ("lung_seg", FRONTAL), ("cxr_lateral", LATERAL), ("ct_slices", CT_SLICE)):
        csv_path = shared / folder / "labels.csv"
        if not csv_path.is_file():
            print(f"warning: {csv_path} not found; {folder} left out", file=sys.stderr)
            continue
        for rec in _read_csv(csv_path):
            path = (shared / folder / (rec.get("path") or rec["image_path"])).resolve()
            patient = rec["patient_id"]  # namespaced by source ("ieee8023:2"): one patient, one split across folders
            split = rec["split"] if folder == "ct_slices" else _split(patient)
            source = f"{folder}/{(rec.get('source') or '').split('/')[0].split(' ')[0] or folder}"
            if folder == "lung_seg":
                source = "lung_seg/ieee8023"
            yield KindRow(str(path), label, patient, source, split), path


def dicom_negatives() -> Iterator[tuple[str, str, np.ndarray]]:
    """(group, source, 8-bit image) from the DICOM files installed with pydicom and pydicom-data.

    The group is a perceptual hash of the first image, so the same picture stored with different
    transfer syntaxes (693_UNCI / 693_J2KR, MR_small_*) is one group.
    """
    import warnings

    import pydicom

    from covidviewer.inference.inputs import reading_window
    from covidviewer.io import load_path

    folders = [("pydicom test files", Path(pydicom.__file__).parent / "data" / "test_files")]
    try:
        import data_store  # the pydicom-data package

        folders.append(("pydicom-data", Path(data_store.__file__).parent / "data"))
    except ImportError:
        pass
    for source, folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix.lower() not in (".dcm", ""):
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    volume = load_path(path)
            except Exception:  # noqa: BLE001  many test files are deliberately broken
                continue
            frames = volume.pixels
            if min(frames.shape[1:3]) < MIN_SIDE or not is_negative(path.name, volume.modality, volume.meta):
                continue
            picks = sorted({0, len(frames) // 2, len(frames) - 1})
            window = reading_window(volume, ct_reader=True)  # as the app's gate reads it (a CT slice in the lung window)
            images = [to_uint8(frames[i], window) for i in picks]
            if all(int(img.max()) == int(img.min()) for img in images):
                continue
            yield f"dicom:{dhash(images[0])}", f"{source}: {path.name} ({volume.modality or '?'})", images[0]
            for img in images[1:]:
                yield f"dicom:{dhash(images[0])}", f"{source}: {path.name} ({volume.modality or '?'})", img


def is_negative(name: str, modality: str, meta: dict) -> bool:
    """May this DICOM file be an "other" example? Not when it is (or may be) a chest image."""
    if chest_named(meta):  # a chest image, never a negative (RG1_*.dcm is a PA chest CR), as the app's gate reads it
        return False
    if (modality or "").upper() == "CT" and not str(meta.get("body_part") or "").strip():
        return name.startswith(KNOWN_HEAD_CT)
    return True


def photo_negatives() -> Iterator[tuple[str, str, np.ndarray]]:
    """(group, source, 8-bit grey image) for the images scikit-image ships (no download)."""
    import warnings

    from skimage import data

    names = ("astronaut", "brick", "camera", "cat", "cell", "checkerboard", "chelsea", "clock", "coffee", "coins",
             "colorwheel", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo",
             "microaneurysms", "moon", "page", "retina", "rocket", "text", "binary_blobs")
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = np.asarray(getattr(data, name)())
        except Exception:  # noqa: BLE001  some need a download; offline they are skipped
            continue
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        window = (0.5, 1.0) if image.dtype.kind == "f" else (127.5, 255.0)
        image = to_uint8(image, window)
        if min(image.shape) >= MIN_SIDE:
            yield f"skimage:{name}", f"skimage.data: {name}", image


#: (package, folder inside it, file names): more real photographs and graphics shipped with installed packages
PACKAGE_PICTURES = (
    ("skimage", "data", ("motorcycle_left.png", "color.png", "phantom.png", "chessboard_GRAY.png", "ihc.png")),
    ("sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
    ("matplotlib", "mpl-data/sample_data", ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png")),
    ("networkx", "drawing/tests/baseline", ("test_display_complex.png", "test_house_with_colors.png")),
)


def package_pictures() -> Iterator[tuple[str, str, np.ndarray]]:
    """(group, source, 8-bit grey image) for pictures shipped as files inside installed packages
    (located without importing them; a missing package or file is skipped)."""
    import importlib.util

    for package, folder, names in PACKAGE_PICTURES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        base = Path(list(spec.submodule_search_locations)[0]) / folder
        for name in names:
            image = cv2.imread(str(base / name), cv2.IMREAD_GRAYSCALE)
            if image is not None and min(image.shape) >= MIN_SIDE:
                yield f"{package}:{name}", f"{package} pictures: {name}", image


#: picture files read from ``--pictures`` folders
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: pictures from folders are shrunk to this longest side (wallpapers are up to 8K; the model reads 128 px)
FOLDER_MAX_SIDE = 768
#: a wallpaper packaged at several resolutions (Plasma's contents/images/1920x1080.png, ...) is one picture
_RESOLUTION_NAME = re.compile(r"^\d+x\d+$")


def _flatten(image: np.ndarray, background: int) -> np.ndarray:
    """8-bit grey picture; a transparent one (a cut-out stamp) is laid on a plain ``background``."""
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        colour = image[..., :3].astype(np.float32) * alpha + background * (1.0 - alpha)
        return cv2.cvtColor(np.round(colour).astype(np.uint8), cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2GRAY)


def folder_pictures(folders: list[Path]) -> Iterator[tuple[str, str, np.ndarray]]:
    """(group, source, 8-bit grey image) for every picture under the given folders (for instance the
    wallpapers and stamps of Debian packages; README names them): one per picture packaged at several
    resolutions, exact near-duplicates (same difference hash) once. Cut-out stamps are laid on black
    for half of them (a bright object on black, as a CT slice looks) and on white for the rest."""
    seen: set[str] = set()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            print(f"warning: pictures folder {folder} not found; left out", file=sys.stderr)
            continue
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in PICTURE_SUFFIXES):
            rel = path.relative_to(folder)
            group = f"pictures:{folder.name}/{rel.parent if _RESOLUTION_NAME.match(path.stem) else rel}"
            if group in seen:
                continue
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                continue
            on_black = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % 2 == 0
            image = _flatten(image, background=0 if on_black else 255)
            scale = FOLDER_MAX_SIDE / max(image.shape)
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            digest = dhash(image)
            if min(image.shape) < MIN_SIDE or digest in seen:
                continue
            seen.update((group, digest))
            yield group, f"pictures: {folder}", image


def dhash(image: np.ndarray, size: int = 8) -> str:
    small = cv2.resize(image, (size + 1, size), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


# --------------------------------------------------------------------------- build
def build(out: Path, shared: Path, seed: int = 0, negatives: bool = True, pictures: tuple[Path, ...] = ()) -> list[KindRow]:
    """Write the PNGs and ``labels.csv`` under ``out``; returns the rows.

    negatives: include the DICOM and scikit-image negatives (False: chest images and their transforms only).
    pictures: folders of more "other" pictures (``folder_pictures``), with FOLDER_COPIES copies each.
    """
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[KindRow] = []

    def write(sub: str, name: str, image: np.ndarray) -> str:
        dest = out / sub / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dest), image)
        return f"{sub}/{name}"

    frontal: list[tuple[KindRow, Path]] = []
    for row, path in chest_rows(shared):
        rows.append(row)
        if row.label == FRONTAL:
            frontal.append((row, path))
        if row.label == LATERAL and row.split == "train":
            image = _read_grey(path)
            for k in range(LATERAL_COPIES):
                rel = write("lateral_aug", f"{path.stem}_{k}.png", augment_copy(image, rng))
                rows.append(KindRow(rel, LATERAL, row.patient_id, "cxr_lateral/augmented copy", "train"))
    for i in rng.permutation(len(frontal))[:TRANSFORMED_FILMS]:
        row, path = frontal[i]
        how = TRANSFORMS[int(rng.integers(len(TRANSFORMS)))]
        rel = write("transformed", f"{i:05d}_{how}.png", transform_film(_read_grey(path), how, rng))
        rows.append(KindRow(rel, OTHER, row.patient_id, f"transformed film ({how})", row.split))
    others = list(dicom_negatives()) + list(photo_negatives()) + list(package_pictures()) if negatives else []
    others += list(folder_pictures(list(pictures)))
    for j, (group, source, image) in enumerate(others):
        split = _split(group)
        kind = source.split(":")[0].split(".")[0].replace(" ", "_")
        rows.append(KindRow(write("other", f"{j:04d}_{kind}.png", image), OTHER, group, source.split(":")[0], split))
        copies = {"dicom": NEGATIVE_COPIES, "pictures": FOLDER_COPIES}.get(group.split(":")[0], PHOTO_COPIES)
        for k in range(copies if split == "train" else 0):
            rel = write("other", f"{j:04d}_{kind}_aug{k}.png", augment_copy(image, rng, crop=True))
            rows.append(KindRow(rel, OTHER, group, source.split(":")[0] + " (augmented copy)", split))
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "patient_id", "source", "split"])
        writer.writerows((r.path, r.label, r.patient_id, r.source, r.split) for r in rows)
    return rows


def describe(rows: list[KindRow]) -> str:
    """Counts per split, class and source (for the console and the model card)."""
    from collections import Counter

    lines = []
    for split in ("train", "val"):
        chosen = [r for r in rows if r.split == split]
        lines.append(f"{split}: {len(chosen)} images, {len({r.patient_id for r in chosen})} groups")
        for (label, source), n in sorted(Counter((r.label, r.source) for r in chosen).items()):
            lines.append(f"  {label:<26} {source:<40} {n}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.data.image_kind", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/image_kind"), help="git-ignored output folder")
    parser.add_argument("--shared", type=Path, default=SHARED_DEFAULT, help="the shared real-data folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pictures", type=Path, action="append", default=[],
                        help="a folder of more non-chest pictures, searched recursively (repeat); see the recipe")
    args = parser.parse_args(argv)
    rows = build(args.out, args.shared, args.seed, pictures=tuple(args.pictures))
    print(describe(rows))
    print(f"wrote {args.out / 'labels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
