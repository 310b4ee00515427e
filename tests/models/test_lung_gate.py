"""The lung gate (covidviewer.models.layers.lung_gate): VGG-16-GA's mask on the features, and DPN-SENet's
pooling over the lung cells only (session 21), which must leave a network without a mask exactly as it was."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from covidviewer.models.dpn import DPNSE
from covidviewer.models.layers.lung_gate import LungMaskGate, mask_on_grid


def small_dpn() -> DPNSE:
    torch.manual_seed(0)
    return DPNSE(k_sec=(1, 1, 1, 1), inc_sec=(4, 4, 4, 4), k_r=8, groups=2, num_init_features=8).eval()


def left_lung_mask(size: int = 128) -> torch.Tensor:
    """(1, 1, size, size): lung in the left half of the middle rows only."""
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4: 3 * size // 4, : size // 2] = 1.0
    return mask


def test_without_a_mask_or_with_one_that_finds_no_lungs_dpn_senet_is_unchanged() -> None:
    model, x = small_dpn(), torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        plain = model.head(model.features(x))  # the network as it was before the gate
        np.testing.assert_array_equal(model(x).numpy(), plain.numpy())
        np.testing.assert_allclose(model(x, torch.ones(2, 1, 128, 128)).numpy(), plain.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(model(x, torch.zeros(2, 1, 128, 128)).numpy(), plain.numpy())
    assert not any("lung_gate" in key for key in model.state_dict())  # sets trained before it load unchanged


def test_with_a_mask_dpn_senet_pools_its_last_map_over_the_lung_cells_only() -> None:
    model, x, mask = small_dpn(), torch.randn(1, 3, 128, 128), left_lung_mask()
    with torch.no_grad():
        features = model.features(x)  # (1, C, 4, 4)
        cells = mask_on_grid(mask, features)  # rows 1-2 of columns 0-1 are lung
        assert cells[0, 0].tolist() == [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]
        expected = model.head.fc(features[..., 1:3, 0:2].mean(dim=(-2, -1)))
        np.testing.assert_allclose(model(x, mask).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(model(x, mask), model(x))


def test_the_apps_grad_cam_on_the_gate_is_empty_outside_the_lungs() -> None:
    """The registered first CAM layer is the gate: with the mask, the map shows only the cells the answer pools."""
    from dataclasses import replace

    from covidviewer.explain import ModelInput, create_explainer
    from covidviewer.imaging.preprocess import prepare_image
    from covidviewer.models import get_spec

    registered = get_spec("dpn92_se")
    assert registered.explain.cam_layers[0] == "lung_gate"
    pp = replace(registered.preprocess, size=(128, 128), fit="stretch", lung_crop=False, clahe=False, intensity="window")
    spec = replace(registered, preprocess=pp, lung_mask="forward_arg")
    image = np.random.default_rng(0).random((128, 128)).astype(np.float32)
    tensor, grid = prepare_image(image, pp, (0.0, 1.0))
    mask = left_lung_mask().numpy()  # lung cells: rows 1-2, columns 0-1, centred on 32 i
    maps: dict[str, list[np.ndarray]] = {"gated": [], "whole": []}
    for name, kwargs in (("gated", {"lung_mask": mask}), ("whole", {})):
        with create_explainer("gradcam", small_dpn(), spec) as explainer:
            for target in range(len(spec.classes)):  # an untrained network: some classes' maps are all below 0
                model_input = ModelInput(tensor, grid, pp, forward_kwargs=kwargs)
                maps[name].append(explainer.explain(model_input, target_index=target).heatmap)
    assert max(m.max() for m in maps["gated"]) == 1.0
    assert all(m[:, 64:].max() == 0.0 and m[96:, :].max() == 0.0 for m in maps["gated"])
    assert max(m[:, 64:].max() for m in maps["whole"]) > 0.0  # without the mask the same network's map is not confined


@pytest.mark.parametrize("shape", [(2, 1, 16, 16), (2, 16, 16), (1, 1, 2, 2)])
def test_the_gate_takes_a_mask_per_image_or_one_for_all_finer_or_coarser_than_the_map(shape: tuple[int, ...]) -> None:
    features = torch.ones(2, 3, 4, 4)
    out = LungMaskGate(renormalise=True)(features, torch.ones(shape))
    np.testing.assert_allclose(out.numpy(), features.numpy())


def test_the_gate_refuses_a_mask_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\) for 2 images"):
        LungMaskGate()(torch.ones(2, 3, 4, 4), torch.ones(3, 1, 16, 16))
