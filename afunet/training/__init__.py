"""Training: a resumable loop and safe checkpoints; configs and profiles are torch-free.

    >>> from afunet.training import make_config, train
    >>> summary = train(make_config("smoke"), "runs/smoke")
"""

from afunet.config import TrainConfig, parse_overrides
from afunet.profiles import PROFILES, make_config
from afunet.training.checkpoint import export_checkpoint, load_checkpoint_dict
from afunet.training.loop import train

__all__ = [
    "PROFILES",
    "TrainConfig",
    "export_checkpoint",
    "load_checkpoint_dict",
    "make_config",
    "parse_overrides",
    "train",
]
