"""Heatmap alignment: a model whose evidence is a known square must light up that square on the
ORIGINAL grid, through resize + crop/pad (2D) and through the depth resampling (3D)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from square_models import CUBE, BrightnessNet, PaddedStrideNet, cube_volume, square_image, tiny_spec

from covidviewer.explain import ModelInput, create_explainer
from covidviewer.explain.geometry import CellGeometry, cell_geometry
from covidviewer.explain.lime_explainer import LimeSettings
from covidviewer.imaging.preprocess import prepare_image, prepare_volume

METHODS_2D = ["gradcam", "gradcampp", "hirescam", "scorecam", "eigencam", "layercam", "cam", "lime"]
METHODS_3D = ["cam", "gradcam", "hirescam", "scorecam", "eigencam"]
BOX = (120, 180, 30, 90)  # rows 120..179, cols 30..89 of a 300 x 200 (portrait, off-centre) image


def _options(method: str) -> dict:
    return {"settings": LimeSettings(samples=150, segments=48, batch=50)} if method == "lime" else {}


def _assert_lights_box(heat: np.ndarray, box: tuple[int, int, int, int], margin: int, far_limit: float = 0.05) -> None:
    r0, r1, c0, c1 = box
    inside = heat[r0:r1, c0:c1]
    far = np.ones_like(heat, dtype=bool)
    far[max(r0 - margin, 0) : r1 + margin, max(c0 - margin, 0) : c1 + margin] = False
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    assert r0 <= peak[0] < r1 and c0 <= peak[1] < c1, f"peak {peak} outside the square {box}"
    assert inside.mean() > 0.5
    assert heat[far].max() < far_limit, "attention far from the square"


@pytest.mark.parametrize("fit", ["crop", "pad"])
@pytest.mark.parametrize("method", METHODS_2D)
def test_2d_map_lands_on_the_square_of_the_original(method: str, fit: str) -> None:
    image = square_image((300, 200), BOX)
    spec = tiny_spec(fit=fit)
    tensor, grid = prepare_image(image, spec.preprocess, (0.5, 1.0))
    assert grid.original == (300, 200) and grid.resized != grid.size  # a real crop/pad happens
    model = BrightnessNet().eval()
    with create_explainer(method, model, spec, **_options(method)) as explainer:
        result = explainer.explain(ModelInput(tensor, grid, spec.preprocess))
    assert result.heatmap.shape == (300, 200) and result.heatmap.dtype == np.float32
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    assert result.target_index == 1  # the predicted class: "square"
    # cells are 2 model pixels = ~6 (crop) / ~9 (pad) original pixels: allow a bilinear fringe;
    # LIME's surrogate leaves small regression noise on unrelated superpixels
    _assert_lights_box(result.heatmap, BOX, margin=20, far_limit=0.25 if method == "lime" else 0.05)


def test_2d_map_of_a_square_that_is_cropped_away_is_zero_there() -> None:
    """Content the model never saw (cropped off a wide image) gets no attention on the original grid."""
    image = square_image((100, 300), (40, 60, 5, 25))  # far left: outside the centre crop
    image[40:60, 140:160] = 1.0  # a second square in view
    spec = tiny_spec(fit="crop")
    tensor, grid = prepare_image(image, spec.preprocess, (0.5, 1.0))
    with create_explainer("gradcam", BrightnessNet().eval(), spec) as explainer:
        heat = explainer.explain(ModelInput(tensor, grid, spec.preprocess)).heatmap
    assert heat[:, :50].max() == 0.0
    _assert_lights_box(heat, (40, 60, 140, 160), margin=12)


@pytest.mark.parametrize("method", METHODS_3D)
def test_3d_map_lands_on_the_right_slices(method: str) -> None:
    volume = cube_volume((32, 40, 36))
    spec = tiny_spec("tiny_ct", "ct_volume", (8, 32, 32))
    tensor, grid = prepare_volume(volume, spec.preprocess, (0.0, 1.0))
    model = BrightnessNet(spatial_dims=3).eval()
    with create_explainer(method, model, spec) as explainer:
        result = explainer.explain(ModelInput(tensor, grid, spec.preprocess), target_index=1)
    heat = result.heatmap
    assert heat.shape == (32, 40, 36) and heat.dtype == np.float32
    assert 0.0 <= heat.min() and heat.max() <= 1.0
    per_slice = heat.sum(axis=(1, 2))
    z0, z1 = CUBE[0].start, CUBE[0].stop
    assert z0 <= int(np.argmax(per_slice)) < z1
    assert per_slice[z0:z1].sum() > 0.6 * per_slice.sum()
    # in-plane: the block's rows/cols
    in_plane = heat[z0:z1].sum(axis=0)
    peak = np.unravel_index(int(np.argmax(in_plane)), in_plane.shape)
    assert CUBE[1].start <= peak[0] < CUBE[1].stop and CUBE[2].start <= peak[1] < CUBE[2].stop
    # depth attention -> one weight per ORIGINAL slice, peaking on the block
    assert result.slice_importance is not None and result.slice_importance.shape == (32,)
    assert z0 <= result.peak_slice < z1


def test_binary_logit_model_explains_the_positive_class() -> None:
    image = square_image((300, 200), BOX)
    spec = tiny_spec(binary_logit=True)
    tensor, grid = prepare_image(image, spec.preprocess, (0.5, 1.0))
    model = BrightnessNet(binary_logit=True).eval()
    with create_explainer("gradcam", model, spec) as explainer:
        result = explainer.explain(ModelInput(tensor, grid, spec.preprocess))
    assert result.target_index == 1 and result.logits.shape == (1,)
    _assert_lights_box(result.heatmap, BOX, margin=20)
    with create_explainer("cam", model, spec) as explainer:
        negative = explainer.explain(ModelInput(tensor, grid, spec.preprocess), target_index=0)
    assert negative.heatmap.max() == 0.0  # bright pixels are evidence FOR the positive class only


def test_extra_forward_argument_is_bound() -> None:
    """Models like vgg16_ga take forward(image, lung_mask); explainers must pass it, batched."""
    image = square_image((300, 200), BOX)
    spec = tiny_spec(lung_mask="forward_arg")
    tensor, grid = prepare_image(image, spec.preprocess, (0.5, 1.0))
    mask = np.ones((1, 1) + tuple(spec.preprocess.size), dtype=np.float32)
    model_input = ModelInput(tensor, grid, spec.preprocess, forward_kwargs={"lung_mask": mask})
    model = BrightnessNet(extra_arg=True).eval()
    for method in ("gradcam", "scorecam", "lime"):
        with create_explainer(method, model, spec, **_options(method)) as explainer:
            _assert_lights_box(explainer.explain(model_input).heatmap, BOX, margin=20, far_limit=0.25)


@pytest.mark.parametrize("method", ["cam", "gradcam", "hirescam"])
def test_padded_strided_convs_put_the_map_on_the_cell_centres_not_half_a_cell_off(method: str) -> None:
    """ResNet-style down-sampling centres cell i on 8i; the centre-aligned convention would put the
    peak 3.5 px to the lower right of this square (centred on rows 24, cols 40)."""
    image = square_image((64, 64), (22, 27, 38, 43))
    spec = tiny_spec(fit="crop")
    tensor, grid = prepare_image(image, spec.preprocess, (0.5, 1.0))
    with create_explainer(method, PaddedStrideNet().eval(), spec) as explainer:
        heat = explainer.explain(ModelInput(tensor, grid, spec.preprocess), target_index=1).heatmap
    rows, cols = np.nonzero(heat >= 0.9 * heat.max())
    assert abs(rows.mean() - 24) <= 0.75 and abs(cols.mean() - 40) <= 0.75, (rows.mean(), cols.mean())


def test_cell_geometry_is_measured_per_architecture() -> None:
    tensor_shape = (1, 64, 64)
    strided = cell_geometry(PaddedStrideNet().eval(), "test_strided", "features", tensor_shape, (8, 8))
    assert strided == CellGeometry((0.0, 0.0), (8.0, 8.0))
    pooled = cell_geometry(BrightnessNet().eval(), "test_pooled", "features", tensor_shape, (32, 32))
    assert pooled == CellGeometry.centre_aligned((32, 32), (64, 64)) == CellGeometry((0.5, 0.5), (2.0, 2.0))


@pytest.mark.parametrize(("name", "origin"), [("seme_resnet50", 0.0), ("seme_densenet169", 14.0), ("vgg16_ga", 15.5), ("small_cnn", 0.0)])
def test_registered_backbones_have_their_known_cell_centres(name: str, origin: float) -> None:
    """Strided convs (ResNet, the small plain CNN) centre cell i on 32i; VGG's 2x2 pools on 32i + 15.5; DenseNet's
    2x2 average-pool transitions after a strided stem on 32i + 14."""
    from covidviewer.models import create_model, get_spec

    spec = get_spec(name)
    kwargs = {"lung_mask": np.ones((1, 1, 128, 128), np.float32)} if spec.lung_mask == "forward_arg" else {}
    geometry = cell_geometry(create_model(name).eval(), name, spec.explain.cam_layers[0], (spec.preprocess.channels, 128, 128),
                             (4, 4), kwargs)
    assert geometry == CellGeometry((origin, origin), (32.0, 32.0))


def test_declared_cell_geometry_matches_the_probe() -> None:
    """A spec may declare its geometry to skip the probe (DARNet: seconds); it must be what the probe measures."""
    from covidviewer.explain.geometry import _measure
    from covidviewer.models import create_model, get_spec, list_models

    declared = [n for n in list_models() if get_spec(n).explain.cell_centres]
    assert {"darnet", "dpn92_se", "seme_resnet50", "seme_densenet169", "vgg16_ga", "small_cnn", "dresunet", "resunet"} <= set(declared)
    for name in declared:
        spec = get_spec(name)
        if spec.modality == "CT_VOLUME":
            continue  # below, on a smaller copy
        kwargs = {"lung_mask": np.ones((1, 1, 128, 128), np.float32)} if spec.lung_mask == "forward_arg" else {}
        model = create_model(name).eval()
        for layer, centres in spec.explain.cell_centres.items():
            if spec.modality == "CT_SLICE":  # a decoder layer: declared as the centre-aligned grid the probe falls back to
                with pytest.raises(RuntimeError, match="could not probe"):
                    _measure(model, layer, (spec.preprocess.channels, 128, 128), (64, 64), kwargs)
                assert all(CellGeometry.centre_aligned((n // 2, n // 2), (n, n)) == CellGeometry(centres.origin, centres.stride)
                           for n in (128, 256)), name
                continue
            measured = _measure(model, layer, (spec.preprocess.channels, 128, 128), (4, 4), kwargs)
            assert measured == CellGeometry(centres.origin, centres.stride), name
    spec = get_spec("darnet")
    depth = 32  # a smaller, narrower copy: the geometry does not depend on the input size or the widths
    model = create_model("darnet", input_depth=depth, widths=(8, 16, 32, 64)).eval()
    for layer, centres in spec.explain.cell_centres.items():
        measured = _measure(model, layer, (1, depth, 64, 64), (depth // 8, 4, 4), {})
        assert measured == CellGeometry(centres.origin, centres.stride)


def test_hooks_are_released_and_no_gradients_are_left() -> None:
    image = square_image((300, 200), BOX)
    spec = tiny_spec()
    tensor, grid = prepare_image(image, spec.preprocess, (0.5, 1.0))
    model = BrightnessNet().eval()
    for method in ("gradcam", "scorecam", "cam"):
        with create_explainer(method, model, spec) as explainer:
            explainer.explain(ModelInput(tensor, grid, spec.preprocess))
        assert not model.features._forward_hooks and not model.features[0]._forward_hooks
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    with torch.no_grad():  # explainers work even when the caller disabled autograd
        with create_explainer("gradcam", model, spec) as explainer:
            assert explainer.explain(ModelInput(tensor, grid, spec.preprocess)).heatmap.max() == 1.0


def test_a_card_written_before_its_centres_were_declared_gets_the_registered_ones() -> None:
    """The installed cards predate the declared centres: loading fills them in, so the first map skips the probe;
    centres a card declares itself win."""
    from dataclasses import replace

    from covidviewer.models import get_spec
    from covidviewer.models.spec import CellCentres
    from covidviewer.models.weights.installed import with_registered_centres

    registered = get_spec("dpn92_se")
    card = replace(registered, explain=replace(registered.explain, cell_centres={}))
    filled = with_registered_centres(card, registered)
    assert filled.explain.cell_centres == registered.explain.cell_centres
    own = replace(card, explain=replace(card.explain, cell_centres={"features.conv5_bn_ac": CellCentres((1.0, 1.0), (32.0, 32.0))}))
    filled = with_registered_centres(own, registered)
    assert filled.explain.cell_centres["features.conv5_bn_ac"] == CellCentres((1.0, 1.0), (32.0, 32.0))
    assert filled.explain.cell_centres["lung_gate"] == registered.explain.cell_centres["lung_gate"]  # the one it lacked
