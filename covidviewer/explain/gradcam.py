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

As in grad-cam, one template (``GradCamFamilyExplainer._model_grid_map``: graph cut, frozen
parameters, one call, hooks released) serves every method, and each method is a small subclass
that overrides one step, ``_cam``: the grad-cam object that computes its map.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator

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

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.models.spec import ModelSpec


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


def on_activation_grid(cam_class: type) -> type:
    """Subclass of a grad-cam class that keeps a single layer's CAM on the activation grid."""

    class OnActivationGrid(cam_class):  # type: ignore[misc, valid-type]
        def get_target_width_height(self, input_tensor: Any) -> Any:
            if len(self.target_layers) == 1:
                return None  # scale_cam_image(cam, None) only min-max scales
            return super().get_target_width_height(input_tensor)

    OnActivationGrid.__name__ = f"OnActivationGrid{cam_class.__name__}"
    return OnActivationGrid


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


@dataclass
class CamCall:
    """What one map's call hands a method's grad-cam object: the caller's progress and cancel, and
    ``on_first_forward`` (called once the unperturbed forward ran, before any masked forward)."""

    progress: ProgressFn | None
    cancelled: CancelledFn | None
    on_first_forward: Callable[[], None]


class GradCamFamilyExplainer(Explainer):
    """Template for grad-cam's methods: graph cut at the CAM layer, frozen parameters, one call of the
    method's grad-cam object (``_cam``, the step each subclass overrides), hooks released."""

    #: False for methods that need no backward (Score-CAM, Eigen-CAM): no graph is kept
    uses_gradients: ClassVar[bool] = True

    def _cam(self, model: "nn.Module", layers: list["nn.Module"], call: CamCall) -> Any:
        """The grad-cam object that computes this method's map of ``model`` at ``layers``."""
        raise NotImplementedError

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
        call = CamCall(progress, cancelled, lambda: details.update(self._depth_gate()))
        cut = graph_cut_at(layers) if self.uses_gradients else contextlib.nullcontext()
        grad_mode = torch.enable_grad() if self.uses_gradients else torch.no_grad()
        with frozen_parameters(self.model), cut, grad_mode:
            cam = self._cam(bound, layers, call)
            try:
                cams = cam(input_tensor=x, targets=[target])
                outputs = cam.outputs.detach().float().cpu()
            finally:
                cam.activations_and_grads.release()
        target.resolve(outputs[0])
        on_model_grid = len(layers) > 1
        return ModelGridMap(np.asarray(cams[0]), target.index or 0, outputs[0].numpy(), on_model_grid, details)


class GradCAMExplainer(GradCamFamilyExplainer):
    """Grad-CAM (Selvaraju et al. 2017): channel weights = mean gradient."""

    method = "gradcam"

    def _cam(self, model: "nn.Module", layers: list["nn.Module"], call: CamCall) -> Any:
        from pytorch_grad_cam import GradCAM

        return on_activation_grid(GradCAM)(model, layers)


class GradCAMPlusPlusExplainer(GradCamFamilyExplainer):
    """Grad-CAM++ (Chattopadhay et al. 2018): higher-order gradient weights."""

    method = "gradcampp"

    def _cam(self, model: "nn.Module", layers: list["nn.Module"], call: CamCall) -> Any:
        from pytorch_grad_cam import GradCAMPlusPlus

        return on_activation_grid(GradCAMPlusPlus)(model, layers)


class HiResCAMExplainer(GradCamFamilyExplainer):
    """HiResCAM (Draelos & Carin 2020): element-wise gradient x activation."""

    method = "hirescam"

    def _cam(self, model: "nn.Module", layers: list["nn.Module"], call: CamCall) -> Any:
        from pytorch_grad_cam import HiResCAM

        return on_activation_grid(HiResCAM)(model, layers)


class LayerCAMExplainer(GradCamFamilyExplainer):
    """LayerCAM (Jiang et al. 2021): positive gradients x activations per location."""

    method = "layercam"

    def _cam(self, model: "nn.Module", layers: list["nn.Module"], call: CamCall) -> Any:
        from pytorch_grad_cam import LayerCAM

        return on_activation_grid(LayerCAM)(model, layers)


@dataclass(frozen=True)
class ScoreCamSettings:
    """The Score-CAM settings a run may ask for. batch: masked copies per forward (memory vs speed;
    the map does not depend on it, so it is not part of a result's cache key)."""

    batch: int = 16

    def explainer_options(self, bf16: bool) -> dict[str, Any]:
        """``ScoreCAMExplainer`` keyword arguments (CAM-family maps run in fp32 whatever ``bf16`` says)."""
        return {"batch_size": self.batch}

    def cache_options(self) -> dict[str, Any]:
        return {}


class ScoreCAMExplainer(GradCamFamilyExplainer):
    """Score-CAM (Wang et al. 2020): one masked forward per channel, no gradients (long-running).

    batch_size: masked copies per forward. The depth gate is kept from the unperturbed forward
    (``on_first_forward``): the masked forwards after it replace the model's.
    """

    method = "scorecam"
    uses_gradients = False
    long_running = True

    def __init__(self, model: "nn.Module", spec: "ModelSpec", layers: tuple[str, ...] | None = None, batch_size: int = 16):
        super().__init__(model, spec, layers)
        self.batch_size = batch_size

    def _cam(self, model: "nn.Module", layers: list["nn.Module"], call: CamCall) -> Any:
        cam = on_activation_grid(_score_cam_class())(model, layers)
        cam.batch_size, cam.progress, cam.cancelled = self.batch_size, call.progress, call.cancelled
        cam.on_first_forward = call.on_first_forward
        return cam


class EigenCAMExplainer(GradCamFamilyExplainer):
    """Eigen-CAM (Muhammad & Yeasin 2020): first principal component of the activations (class-agnostic),
    with grad-cam's sign-corrected projection."""

    method = "eigencam"
    uses_gradients = False

    def _cam(self, model: "nn.Module", layers: list["nn.Module"], call: CamCall) -> Any:
        from pytorch_grad_cam import EigenCAM
        from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction

        class SignCorrectedEigenCAM(EigenCAM):
            def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):  # type: ignore[no-untyped-def]
                return get_2d_projection_with_sign_correction(activations)

        return on_activation_grid(SignCorrectedEigenCAM)(model, layers)
