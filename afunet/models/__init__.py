"""Segmentation models: AF-UNet and the five baselines of the paper's Table 1.

    model = create_model("afunet", width=64)      # any input size -> logits of that size
    summary(model)                                # params and FLOPs at 512x512

Which models exist, and what they are called, is declared once in `afunet.registry`.
"""

import inspect

from afunet import registry
from afunet.models.base import ModelError, SegmentationModel
from afunet.models.summary import summary

__all__ = ["ModelError", "SegmentationModel", "create_model", "list_models", "summary"]


def list_models() -> list[str]:
    """Names accepted by create_model, in the order of the paper's Table 1."""
    return registry.names()


def create_model(name: str, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 **kw) -> SegmentationModel:
    """Build a registered model by name; `model.config` holds the arguments that rebuild it.

    Args:
        name: one of list_models().
        width: channels of the first stage; deeper stages double it (64 in the paper).
        **kw: model options, e.g. skip_source for "afunet", deep_supervision for "unetpp".
    Raises:
        ModelError (a ValueError): unknown name or option, listing the valid ones.
    """
    if name not in registry.MODELS:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    cls = registry.MODELS[name].load()
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
