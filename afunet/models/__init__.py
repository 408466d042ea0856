"""Segmentation models: AF-UNet and the five baselines of the paper's Table 1.

    model = create_model("afunet", width=64)      # any input size -> logits of that size
    summary(model)                                # params and FLOPs at 512x512
"""

import inspect

from afunet.models.afunet import AFUNet
from afunet.models.attention_unet import AttentionUNet
from afunet.models.base import ModelError, SegmentationModel
from afunet.models.resunet import ResUNet
from afunet.models.resunetpp import ResUNetPlusPlus
from afunet.models.summary import summary
from afunet.models.unet import UNet
from afunet.models.unetpp import UNetPlusPlus

# In the order of the paper's Table 1.
MODELS: dict[str, type[SegmentationModel]] = {
    "unet": UNet,
    "unetpp": UNetPlusPlus,
    "resunet": ResUNet,
    "resunetpp": ResUNetPlusPlus,
    "attention_unet": AttentionUNet,
    "afunet": AFUNet,
}

# Display names, as figures and tables print them.
MODEL_LABELS: dict[str, str] = {
    "unet": "U-Net",
    "unetpp": "UNet++",
    "resunet": "ResUNet",
    "resunetpp": "ResUNet++",
    "attention_unet": "Attention U-Net",
    "afunet": "AF-UNet",
}

__all__ = ["MODELS", "MODEL_LABELS", "ModelError", "SegmentationModel", "create_model", "list_models", "summary"]


def list_models() -> list[str]:
    """Names accepted by create_model, in the order of the paper's Table 1."""
    return list(MODELS)


def create_model(name: str, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 **kw) -> SegmentationModel:
    """Build a model by name.

    Args:
        name: one of list_models().
        in_channels: input channels (3 for RGB).
        out_channels: logit channels (1 for binary vessel maps).
        width: channels of the first stage; deeper stages double it (64 in the paper).
        **kw: model options, e.g. skip_source for "afunet", deep_supervision for "unetpp".
    Returns:
        the model, with `model.config` holding the arguments that rebuild it.
    Raises:
        ModelError (a ValueError): unknown name or option, listing the valid ones.
    """
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    cls = MODELS[name]
    options = [p for p in inspect.signature(cls.__init__).parameters
               if p not in ("self", "in_channels", "out_channels", "width")]
    for key in kw:
        if key not in options:
            raise ModelError(f"model {name!r} has no option {key!r}; "
                             f"its options: {', '.join(options) or 'none'}")
    model = cls(in_channels=in_channels, out_channels=out_channels, width=width, **kw)
    model.config = dict(name=name, in_channels=in_channels, out_channels=out_channels,
                        width=width, **kw)
    return model
