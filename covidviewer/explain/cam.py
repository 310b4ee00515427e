"""Classic CAM (Zhou et al. 2016): classifier weights x last feature maps, one forward, no backward.

DARNet's paper shows this map; it costs one inference forward (no graph, no gradients), so it fits
a 64 x 224 x 224 CT volume on a CPU. Valid only where the classifier is one linear layer on the
globally average-pooled CAM-layer features; we check that on the actual forward (the logits must
equal ``classifier(GAP(features))``) and refuse otherwise, so a different head never gets a
misleading map. Works for 4-D and 5-D activations alike.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from covidviewer.explain.base import (
    ClassTarget,
    Explainer,
    ExplainError,
    ModelGridMap,
    ModelInput,
    bind_model,
    report,
)
from covidviewer.io.cancel import CancelledFn, ProgressFn

if TYPE_CHECKING:
    from torch import nn


class CAMExplainer(Explainer):
    """Class activation map from ``spec.explain.classifier`` (an ``nn.Linear``) and the CAM layer."""

    method = "cam"

    def _classifier(self) -> "nn.Module":
        from torch import nn

        name = self.spec.explain.classifier
        if not name:
            raise ExplainError(f"{self.spec.name} names no classifier layer, so CAM is not available")
        classifier = self.model.get_submodule(name)
        if not isinstance(classifier, nn.Linear):
            raise ExplainError(f"{self.spec.name}: CAM needs a linear classifier, {name} is {type(classifier).__name__}")
        return classifier

    def _model_grid_map(
        self,
        model_input: ModelInput,
        target: ClassTarget,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> ModelGridMap:
        import torch

        layer = self._layers()[0]
        classifier = self._classifier()
        captured: dict[str, Any] = {}

        def keep(module: "nn.Module", inputs: Any, output: Any) -> None:
            captured["features"] = output

        bound = bind_model(self.model, model_input)
        x = torch.from_numpy(np.ascontiguousarray(model_input.tensor[None])).to(self._device())
        report(progress, 0, 1, "CAM forward")
        handle = layer.register_forward_hook(keep)
        try:
            with torch.no_grad():
                logits = bound(x).float()
        finally:
            handle.remove()
        with torch.no_grad():
            features = captured.pop("features").float()
            self._check_head(features, logits, classifier)
            index = target.resolve(logits[0])
            weight = classifier.weight.float()
            if self.spec.binary_logit:
                class_weight = weight[0] if index == 1 else -weight[0]
            else:
                class_weight = weight[index]
            cam = torch.einsum("bc...,c->b...", features, class_weight)[0].cpu().numpy()
        report(progress, 1, 1, "CAM forward")
        return ModelGridMap(cam.astype(np.float32), index, logits[0].cpu().numpy(), False)

    def _check_head(self, features: "Any", logits: "Any", classifier: "nn.Module") -> None:
        import torch

        if features.shape[1] != classifier.in_features:
            raise ExplainError(
                f"{self.spec.name}: CAM needs a GAP + linear head on {self.layer_names[0]} "
                f"({features.shape[1]} channels, classifier takes {classifier.in_features}); use gradcam"
            )
        pooled = features.flatten(2).mean(-1)
        expected = torch.nn.functional.linear(pooled, classifier.weight.float(), classifier.bias.float() if classifier.bias is not None else None)
        scale = float(logits.abs().max()) + 1e-3
        if not torch.allclose(expected, logits, atol=1e-3 * scale, rtol=1e-3):
            raise ExplainError(
                f"{self.spec.name}: the logits are not a linear function of the pooled {self.layer_names[0]} "
                "features, so CAM would not explain them; use gradcam"
            )
