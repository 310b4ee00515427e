"""The grad-cam 1.5.7 family: Grad-CAM, Grad-CAM++, HiResCAM, Score-CAM, Eigen-CAM, LayerCAM.

We use grad-cam's classes and change three things around them:

* the backward stops at the CAM layer: a forward hook (registered before grad-cam's own) hands the
  rest of the network a fresh leaf copy of the layer's output, and the parameters are frozen, so the
  backward only runs through the head (the gradient w.r.t. the layer's activations is unchanged:
  every path to the output from those activations is still in the graph);
* with a single CAM layer the map stays on the activation grid (grad-cam would resize it to the
  input size, with scipy's cubic zoom for 5-D activations, assuming centre-aligned cells) and
  ``map_to_original`` puts it back through the measured cell centres and the preprocessing grid once;
* Score-CAM runs its masked batches with progress and cancellation (and works on 5-D
  activations); Eigen-CAM uses grad-cam's sign-corrected projection so a bright region is not
  returned inverted.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import numpy as np

from covidviewer.explain.base import (
    ClassTarget,
    Explainer,
    ModelGridMap,
    ModelInput,
    bind_model,
    report,
)
from covidviewer.io.cancel import CancelledFn, ProgressFn, raise_if_cancelled
from covidviewer.explain.depth import read_depth_attention

if TYPE_CHECKING:
    from torch import nn


@contextlib.contextmanager
def frozen_parameters(model: "nn.Module") -> Iterator[None]:
    """Parameters stop requiring gradients for the duration (no weight gradients, no .grad left)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@contextlib.contextmanager
def graph_cut_at(layers: list["nn.Module"]) -> Iterator[None]:
    """Forward hooks that make each layer's output a leaf requiring grad (see module docstring)."""

    def cut(module: "nn.Module", inputs: Any, output: Any) -> Any:
        # clone: a downstream in-place op (ReLU(inplace=True)) must not touch the leaf itself
        return output.detach().requires_grad_(True).clone()

    handles = [layer.register_forward_hook(cut) for layer in layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _native_grid(cam_class: type) -> type:
    """Subclass of a grad-cam class that keeps a single layer's CAM on the activation grid."""

    class NativeGrid(cam_class):  # type: ignore[misc, valid-type]
        def get_target_width_height(self, input_tensor: Any) -> Any:
            if len(self.target_layers) == 1:
                return None  # scale_cam_image(cam, None) only min-max scales
            return super().get_target_width_height(input_tensor)

    NativeGrid.__name__ = f"NativeGrid{cam_class.__name__}"
    return NativeGrid


def _score_cam_class() -> type:
    import torch
    import torch.nn.functional as F
    from pytorch_grad_cam import ScoreCAM

    class CancellableScoreCAM(ScoreCAM):
        """grad-cam's Score-CAM weights with progress, cancellation and 2-D or 3-D activations."""

        batch_size = 16
        progress: ProgressFn | None = None
        cancelled: CancelledFn | None = None
        on_first_forward: Any = None

        def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):  # type: ignore[no-untyped-def]
            for target, output in zip(targets, self.outputs):
                target.resolve(output)  # fix the class before the masked forwards
            if self.on_first_forward is not None:
                self.on_first_forward()
            with torch.no_grad():
                acts = torch.from_numpy(activations).to(self.device)
                mode = "trilinear" if acts.dim() == 5 else "bilinear"
                n_channels = acts.shape[1]
                total = len(targets) * n_channels
                scores: list[float] = []
                for b, target in enumerate(targets):
                    for start in range(0, n_channels, self.batch_size):
                        raise_if_cancelled(self.cancelled)
                        # up-sample one batch of channels at a time: all of them at the input size
                        # would take GBs (2048 channels x 512 x 512 floats = 2 GiB)
                        up = F.interpolate(acts[b : b + 1, start : start + self.batch_size], size=input_tensor.shape[2:],
                                           mode=mode, align_corners=False)[0]
                        flat = up.flatten(1)
                        lo, hi = flat.min(-1)[0], flat.max(-1)[0]
                        shape = (-1,) + (1,) * (up.dim() - 1)
                        masks = ((up - lo.view(shape)) / (hi - lo + 1e-8).view(shape))[:, None]
                        batch = input_tensor[b : b + 1] * masks
                        scores.extend(float(target(o)) for o in self.model(batch))
                        report(self.progress, b * n_channels + start + masks.shape[0], total, "Score-CAM")
                weights = torch.tensor(scores).view(activations.shape[0], activations.shape[1])
                return torch.softmax(weights, dim=-1).numpy()

    return CancellableScoreCAM


def _eigen_cam_class() -> type:
    from pytorch_grad_cam import EigenCAM
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction

    class SignCorrectedEigenCAM(EigenCAM):
        def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):  # type: ignore[no-untyped-def]
            return get_2d_projection_with_sign_correction(activations)

    return SignCorrectedEigenCAM


class GradCamFamilyExplainer(Explainer):
    """Runs one grad-cam class on the model's CAM layer; subclasses name the class."""

    cam_class_name: ClassVar[str] = ""
    uses_gradients: ClassVar[bool] = True
    #: Score-CAM forward batch size (masked copies per forward)
    batch_size: int = 16

    def _cam_class(self) -> type:
        import pytorch_grad_cam

        if self.cam_class_name == "ScoreCAM":
            return _native_grid(_score_cam_class())
        if self.cam_class_name == "EigenCAM":
            return _native_grid(_eigen_cam_class())
        return _native_grid(getattr(pytorch_grad_cam, self.cam_class_name))

    def _model_grid_map(
        self,
        model_input: ModelInput,
        target: ClassTarget,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> ModelGridMap:
        import torch

        layers = self._layers()
        bound = bind_model(self.model, model_input)
        x = torch.from_numpy(np.ascontiguousarray(model_input.tensor[None])).to(self._device())
        details: dict[str, Any] = {}
        cut = graph_cut_at(layers) if self.uses_gradients else contextlib.nullcontext()
        grad_mode = torch.enable_grad() if self.uses_gradients else torch.no_grad()
        with frozen_parameters(self.model), cut, grad_mode:
            cam = self._cam_class()(bound, layers)
            try:
                if self.cam_class_name == "ScoreCAM":
                    cam.batch_size, cam.progress, cam.cancelled = self.batch_size, progress, cancelled
                    cam.on_first_forward = lambda: details.update(self._depth_details())
                cams = cam(input_tensor=x, targets=[target])
                outputs = cam.outputs.detach().float().cpu()
            finally:
                cam.activations_and_grads.release()
        target.resolve(outputs[0])
        if "depth_attention" not in details:
            details.update(self._depth_details())
        on_model_grid = len(layers) > 1
        return ModelGridMap(np.asarray(cams[0]), target.index or 0, outputs[0].numpy(), on_model_grid, details)

    def _depth_details(self) -> dict[str, Any]:
        weights = read_depth_attention(self.model, self.spec)
        return {} if weights is None else {"depth_attention": weights}


class GradCAMExplainer(GradCamFamilyExplainer):
    """Grad-CAM (Selvaraju et al. 2017): channel weights = mean gradient."""

    method = "gradcam"
    cam_class_name = "GradCAM"


class GradCAMPlusPlusExplainer(GradCamFamilyExplainer):
    """Grad-CAM++ (Chattopadhay et al. 2018): higher-order gradient weights."""

    method = "gradcampp"
    cam_class_name = "GradCAMPlusPlus"


class HiResCAMExplainer(GradCamFamilyExplainer):
    """HiResCAM (Draelos & Carin 2020): element-wise gradient x activation."""

    method = "hirescam"
    cam_class_name = "HiResCAM"


class LayerCAMExplainer(GradCamFamilyExplainer):
    """LayerCAM (Jiang et al. 2021): positive gradients x activations per location."""

    method = "layercam"
    cam_class_name = "LayerCAM"


class ScoreCAMExplainer(GradCamFamilyExplainer):
    """Score-CAM (Wang et al. 2020): one masked forward per channel, no gradients (long-running)."""

    method = "scorecam"
    cam_class_name = "ScoreCAM"
    uses_gradients = False
    long_running = True


class EigenCAMExplainer(GradCamFamilyExplainer):
    """Eigen-CAM (Muhammad & Yeasin 2020): first principal component of the activations (class-agnostic)."""

    method = "eigencam"
    cam_class_name = "EigenCAM"
    uses_gradients = False
