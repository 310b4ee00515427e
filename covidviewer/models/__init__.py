"""Qt-free networks from the five papers, registered timm-style.

Family modules are imported in a fixed order; importing one registers its models.
"""
from __future__ import annotations

from covidviewer.models.registry import create_model, get_spec, list_models, register_model
from covidviewer.models.spec import ModelSpec

# Fixed order: chest X-ray models, then the lung segmenter they use, then CT models, then the gate's helper.
from covidviewer.models import dpn  # noqa: E402,F401  DPN-SENet
from covidviewer.models import seme  # noqa: E402,F401  SEME-ResNet50 / SEME-DenseNet169
from covidviewer.models import unet  # noqa: E402,F401  lung U-Net
from covidviewer.models import cascade  # noqa: E402,F401  Cascade-SEMEnet
from covidviewer.models import vgg_ga  # noqa: E402,F401  guided-attention VGG-16
from covidviewer.models import plain_cnn  # noqa: E402,F401  small plain CNN (chest radiograph reference)
from covidviewer.models import dresunet  # noqa: E402,F401  DResUNet and ablations
from covidviewer.models import darnet  # noqa: E402,F401  DARNet and ablations
from covidviewer.models import image_kind  # noqa: E402,F401  image-kind model of the input gate
from covidviewer.models import film_mirror  # noqa: E402,F401  mirror check of frontal chest films
from covidviewer.models import film_upright  # noqa: E402,F401  upright check of frontal chest films

__all__ = ["ModelSpec", "create_model", "get_spec", "list_models", "register_model"]
