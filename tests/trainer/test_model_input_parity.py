"""An un-augmented training item is exactly what the app feeds the model for the same image and lung
mask, for every registered model (issue 14): otherwise a shipped model runs on an input it never saw.

Trainer side: ``load_data`` + ``make_dataset(train=False)`` with the model's packaged recipe.
App side: the spec the trained weights carry (``effective_spec``) through what the app calls: the
Predictor's ``prepare_model_input``, ``compute_lung_mask`` for the lung U-Net, ``classify_image_kind``
for the input gate's image-kind model. Images: a generated radiograph with its lung mask, pydicom's
own CT slice (HU, a VOI window) and, when ../shared/data is present, a real radiograph with its
lung mask and a real CT slice.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch import nn

from covidviewer import io
from covidviewer.explain import ModelInput
from covidviewer.inference.image_kind import classify_image_kind
from covidviewer.inference.inputs import compute_lung_mask, prepare_model_input
from covidviewer.models import get_spec, list_models
from trainer.config import load_recipe
from trainer.data.build import load_data, make_dataset
from trainer.trained_spec import effective_spec

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# An image as a labels.csv row: {"path": ..., "mask_path": ...} (absolute paths; mask_path may be absent).
ImageRow = dict[str, str]


def generated_radiograph(tmp_path: Path, generated_csv: Callable[..., Path]) -> ImageRow:
    """A 96 x 112 generated radiograph (8-bit PNG) with its 0/127/255 lung mask (conftest's generator)."""
    csv_path = generated_csv(("any",), per_label=1, with_masks=True, name="parity")
    with open(csv_path, newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    return {"path": str(csv_path.parent / row["path"]), "mask_path": str(csv_path.parent / row["mask_path"])}


def pydicom_ct_slice(tmp_path: Path, generated_csv: Callable[..., Path]) -> ImageRow:
    """pydicom's CT_small.dcm: a real 128 x 128 CT slice in HU with its own window."""
    from pydicom.data import get_testdata_file

    return {"path": str(get_testdata_file("CT_small.dcm"))}


def _first_shared(folder: str, image_key: str) -> dict[str, str]:
    csv_path = SHARED / folder / "labels.csv"
    if not csv_path.is_file():
        pytest.skip(f"real data not found at {SHARED / folder}")
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return min(csv.DictReader(fh), key=lambda r: r[image_key])


def shared_radiograph(tmp_path: Path, generated_csv: Callable[..., Path]) -> ImageRow:
    """A real radiograph of ../shared/data/lung_seg with its hand-drawn lung mask."""
    row = _first_shared("lung_seg", "image_path")
    return {"path": str(SHARED / "lung_seg" / row["image_path"]), "mask_path": str(SHARED / "lung_seg" / row["mask_path"])}


def shared_ct_slice(tmp_path: Path, generated_csv: Callable[..., Path]) -> ImageRow:
    """A real CT slice of ../shared/data/ct_slices (a JPEG from a paper)."""
    row = _first_shared("ct_slices", "path")
    return {"path": str(SHARED / "ct_slices" / row["path"])}


def generated_volume(tmp_path: Path, generated_csv: Callable[..., Path]) -> ImageRow:
    """A 12 x 40 x 40 CT volume in HU written as NIfTI (no real 3D CT exists here)."""
    import SimpleITK as sitk

    volume = np.random.default_rng(0).normal(-800, 40, (12, 40, 40))
    volume[5:8, 10:18, 10:30] = 40.0
    image = sitk.GetImageFromArray(volume.astype(np.int16))
    image.SetSpacing((0.8, 0.8, 2.5))
    path = tmp_path / "volume.nii.gz"
    sitk.WriteImage(image, str(path))
    return {"path": str(path)}


IMAGES_BY_MODALITY = {
    "CXR": (generated_radiograph, shared_radiograph),
    "ANY_2D": (generated_radiograph, pydicom_ct_slice, shared_radiograph),
    "CT_SLICE": (pydicom_ct_slice, shared_ct_slice),
    "CT_VOLUME": (generated_volume,),
}
CASES = [
    pytest.param(name, image, id=f"{name}-{image.__name__}")
    for name in list_models()
    if get_spec(name).task != "cascade"
    for image in IMAGES_BY_MODALITY[get_spec(name).modality]
]


class RecordingNetwork(nn.Module):
    """Stands in for a network: keeps the input it is given and answers zeros of the right shape."""

    def __init__(self, spec: Any):
        super().__init__()
        self.spec = spec
        self.anchor = nn.Parameter(torch.zeros(1))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        if self.spec.task == "segmentation":
            return torch.zeros((x.shape[0], 1, *x.shape[2:]))
        return torch.zeros((x.shape[0], self.spec.num_outputs))


def app_input(spec: Any, volume: Any, lung: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(image tensor, forward kwargs) the app feeds ``spec``'s model for ``volume``."""
    if spec.task == "segmentation":  # the lung U-Net only ever runs inside compute_lung_mask
        network = RecordingNetwork(spec)
        compute_lung_mask(network, volume)
        (seen,) = network.inputs
        return seen[0].numpy(), {}
    if spec.modality == "ANY_2D":  # the input gate's image-kind model
        network = RecordingNetwork(spec)
        classify_image_kind(network, spec, volume)
        (seen,) = network.inputs
        return seen[0].numpy(), {}
    model_input: ModelInput = prepare_model_input(volume, spec, lung)[0]
    return model_input.tensor, model_input.forward_kwargs


def training_item(name: str, image: ImageRow, tmp_path: Path, overrides: tuple[str, ...] = ()) -> tuple[dict[str, Any], Any, np.ndarray | None]:
    """(un-augmented item, the spec as trained, the lung mask the trainer used) for one image."""
    spec = get_spec(name)
    # the csv's own split instead of DARNet's 5 folds (two rows cannot fill them); nothing else changes
    recipe = load_recipe(name, overrides=["data.folds=0", *overrides])
    # the same image as a train and a val row (a split needs both); any of its items will do
    rows = [{**image, "label": spec.classes[-1], "patient_id": f"parity:{split}", "split": split} for split in ("train", "val")]
    csv_path = tmp_path / "parity.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    bundle = load_data(spec, recipe, csv_path)
    assert len(bundle.report.rows) == 2, bundle.report.to_dict()
    split = next(s for s in ("val", "train") if bundle.split.rows(s))
    item = make_dataset(spec, recipe.values, bundle, split, train=False)[0]
    return item, effective_spec(spec, recipe), bundle.lung_masks.get(bundle.split.rows(split)[0].path)


@pytest.mark.parametrize(("name", "image_source"), CASES)
def test_untransformed_training_item_equals_the_apps_input(
    name: str, image_source: Callable[..., ImageRow], tmp_path: Path, generated_csv: Callable[..., Path]
) -> None:
    image = image_source(tmp_path, generated_csv)
    item, trained_spec, lung = training_item(name, image, tmp_path)
    if trained_spec.needs_lung_mask:
        assert lung is not None, "the trainer used no lung mask for a model that needs one"
    tensor, forward_kwargs = app_input(trained_spec, io.load_path(image["path"]), lung)

    np.testing.assert_allclose(item["image"].numpy(), tensor, rtol=0, atol=1e-6)
    assert sorted(forward_kwargs) == sorted(k for k in ("lung_mask",) if k in item)
    if "lung_mask" in item:  # the batch axis of 1 the app adds is the one the DataLoader adds
        np.testing.assert_allclose(item["lung_mask"].numpy(), forward_kwargs["lung_mask"][0], rtol=0, atol=1e-6)


def test_every_registered_model_but_the_cascade_is_compared() -> None:
    """The cascade has no dataset of its own: the app feeds its parts, which are compared above."""
    compared = {case.values[0] for case in CASES}
    for name in list_models():
        spec = get_spec(name)
        if spec.task == "cascade":
            assert set(spec.parts.values()) <= compared, name
        else:
            assert name in compared


def test_a_recipe_that_masks_the_image_trains_on_what_the_app_feeds_its_card(tmp_path: Path, generated_csv: Callable[..., Path]) -> None:
    """``input.lung_mask = "image"`` (a DPN-SENet that sees only the lungs): the spec as trained says so, and the
    app, reading that spec from the card, multiplies the image by the same mask."""
    image = generated_radiograph(tmp_path, generated_csv)
    item, trained_spec, lung = training_item("dpn92_se", image, tmp_path, ('input.lung_mask="image"', 'data.lung_masks="auto"'))
    assert trained_spec.lung_mask == "image" and lung is not None
    tensor, _ = app_input(trained_spec, io.load_path(image["path"]), lung)
    np.testing.assert_allclose(item["image"].numpy(), tensor, rtol=0, atol=1e-6)
    plain, _, _ = training_item("dpn92_se", image, tmp_path)
    assert not np.allclose(plain["image"].numpy(), item["image"].numpy())  # the mask did change the input


def test_a_recipe_that_pools_dpn_senet_over_the_lungs_gives_it_the_mask_the_app_gives_its_card(
    tmp_path: Path, generated_csv: Callable[..., Path]
) -> None:
    """``input.lung_mask = "forward_arg"`` (session 21): the image stays whole, the mask goes to forward as the app's does."""
    image = generated_radiograph(tmp_path, generated_csv)
    item, trained_spec, lung = training_item("dpn92_se", image, tmp_path, ('input.lung_mask="forward_arg"', 'data.lung_masks="auto"'))
    assert trained_spec.lung_mask == "forward_arg" and lung is not None and "lung_mask" in item
    tensor, forward_kwargs = app_input(trained_spec, io.load_path(image["path"]), lung)
    np.testing.assert_allclose(item["image"].numpy(), tensor, rtol=0, atol=1e-6)
    np.testing.assert_allclose(item["lung_mask"].numpy(), forward_kwargs["lung_mask"][0], rtol=0, atol=1e-6)
    plain, _, _ = training_item("dpn92_se", image, tmp_path)
    np.testing.assert_array_equal(plain["image"].numpy(), item["image"].numpy())  # the image is not masked


@pytest.mark.parametrize(("name", "use", "error"), [("vgg16_ga", "image", "does not take the mask"),
                                                     ("seme_resnet50", "forward_arg", "takes no lung mask")])
def test_a_recipe_cannot_give_a_model_a_lung_mask_use_it_is_not_built_for(name: str, use: str, error: str) -> None:
    from trainer.trained_spec import effective_spec

    with pytest.raises(ValueError, match=error):
        effective_spec(get_spec(name), load_recipe(name, overrides=[f'input.lung_mask="{use}"']))


def generated_ct_slice(tmp_path: Path, generated_csv: Callable[..., Path]) -> ImageRow:
    """A 96 px lung-window CT slice (8-bit PNG): a body with two dark lungs, dark air around it."""
    import cv2

    yy, xx = np.mgrid[:96, :96]
    image = np.full((96, 96), 10.0)
    image[((yy - 48) / 36.0) ** 2 + ((xx - 48) / 42.0) ** 2 < 1] = 200.0
    for cx in (30, 66):
        image[((yy - 48) / 22.0) ** 2 + ((xx - cx) / 13.0) ** 2 < 1] = 40.0
    image += np.random.default_rng(0).normal(0.0, 6.0, image.shape)
    path = tmp_path / "ct_slice.png"
    cv2.imwrite(str(path), np.clip(image, 0, 255).astype(np.uint8))
    return {"path": str(path)}


@pytest.mark.parametrize("image_source", [generated_ct_slice, pydicom_ct_slice, shared_ct_slice])
def test_a_ct_slice_model_that_crops_to_the_lungs_finds_them_on_the_slice_as_the_app_does(
    image_source: Callable[..., ImageRow], tmp_path: Path, generated_csv: Callable[..., Path]
) -> None:
    """``input.preprocess.lung_crop`` for DResUNet (session 45): no lung U-Net for CT; the trainer's masks are the
    slice's own lungs (``inputs.ct_lung_mask``), and the app, given no mask, finds the same ones."""
    from covidviewer.inference.inputs import ct_lung_mask, reading_window

    image = image_source(tmp_path, generated_csv)
    item, trained_spec, lung = training_item("dresunet", image, tmp_path, ("input.preprocess.lung_crop=true",))
    assert trained_spec.preprocess.lung_crop and trained_spec.needs_lung_mask and not trained_spec.needs_lung_unet
    volume = io.load_path(image["path"])
    window = reading_window(volume, ct_reader=True)
    assert lung is not None and np.array_equal(lung, ct_lung_mask(volume.pixels[0], window))
    tensor, _ = app_input(trained_spec, volume, None)  # the app is given no mask: it finds the lungs itself
    np.testing.assert_allclose(item["image"].numpy(), tensor, rtol=0, atol=1e-6)
    plain, _, _ = training_item("dresunet", image, tmp_path)
    # lungs found (the generated and the real slice): the model reads their box; none (pydicom's): the whole slice
    found = bool(lung.any())
    assert bool(np.allclose(plain["image"].numpy(), item["image"].numpy())) == (not found)
    assert found == (image_source is not pydicom_ct_slice)
