"""Training: one config dataclass, named profiles, a resumable loop, safe checkpoints.

    >>> from afunet.training import make_config, train
    >>> summary = train(make_config("smoke"), "runs/smoke")
"""

from afunet.training.checkpoint import export_checkpoint, load_checkpoint_dict
from afunet.training.config import TrainConfig, parse_overrides
from afunet.training.loop import train
from afunet.training.profiles import PROFILES, make_config

__all__ = [
    "PROFILES",
    "TrainConfig",
    "export_checkpoint",
    "load_checkpoint_dict",
    "make_config",
    "parse_overrides",
    "train",
]
