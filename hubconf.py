"""torch.hub entry points: ``torch.hub.load("afunet/afunet", "afunet", pretrained=True)``.

The pretrained model is afunet's general-purpose one (results/general/README.md). It takes a
z-scored photograph; `afunet.inference.segment` does that and the rest of the input policy.
"""

dependencies = ["torch", "numpy", "scipy", "skimage", "PIL"]


def afunet(pretrained: bool = False, **kwargs):
    """AF-UNet; pretrained: the general-purpose weights (width 16), else untrained (``kwargs``).

    The model carries ``.train_config`` and ``.train_fov_diameter`` for `segment`, and
    ``.threshold``, chosen on its validation images (what `afunet predict` uses).
    """
    from afunet import general
    from afunet.inference import load_with_metadata, training_fov_diameter
    from afunet.models import create_model

    if not pretrained:
        return create_model("afunet", **{"width": 16, **kwargs})
    if kwargs:
        raise TypeError(f"the pretrained model takes no options, got {', '.join(kwargs)}")
    model, config, payload = load_with_metadata(general.weights(), "cpu")
    model.train_config = config
    model.train_fov_diameter = training_fov_diameter(payload, config)
    model.threshold = payload["threshold"]
    return model
