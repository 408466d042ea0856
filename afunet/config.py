"""Every setting of a training run in one dataclass, saved beside the run as config.json."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from afunet import registry
from afunet.errors import UsageError

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class TrainConfig:
    """One training run (paper section 3.3: Adam, fixed learning rate, Dice + BCE, early stopping).

    Defaults are the paper's where it states them (width 64, Adam, fixed rate); the named
    profiles in `afunet.profiles` set the rest.
    """

    # model
    model: str = "afunet"
    width: int = 64  # channels of the first stage; the paper's encoder goes 64 -> 512
    model_kwargs: dict = field(default_factory=dict)  # e.g. {"skip_source": "first"} (ablation)

    # data
    dataset: str = "drive"
    dataset_kwargs: dict = field(default_factory=dict)  # loader protocol, e.g. STARE fold/k
    n_val: int | None = None  # held-out validation images; None = DEFAULT_N_VAL[dataset]
    val_seed: int = 0  # which images train_val_split holds out (kept apart from `seed`)
    input_size: int | None = None  # None = native size; int = resize to a square (paper: 512)
    green: bool = False  # green channel only (replicated to 3 channels)
    clahe: bool = False  # CLAHE, baked into the tensor cache
    crop: int | None = None  # random square patch per training image (speed); None = full image

    # optimisation (paper 3.3: Adam at a fixed learning rate, Dice + BCE)
    batch_size: int = 4
    epochs: int = 200  # a cap: early stopping usually ends the run before
    lr: float = 1e-4
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    loss_in_fov: bool = False  # True: pixels outside the FOV carry no loss
    patience: int = 20  # epochs without a lower validation loss before stopping
    min_delta: float = 0.0  # a validation loss counts as lower only by more than this

    # augmentation (afunet.data.transforms.Augment), on the device, per sample
    rotation: bool | float | str = True  # True any angle, a number = +-degrees, "90" right angles
    hflip: bool = True
    vflip: bool = True
    contrast: float = 0.0  # strength of gamma / contrast / brightness jitter; 0 = off
    augment_p: float = 0.5  # probability of each enabled transform
    # Other cameras (afunet.data.appearance.Appearance); 0 = off, as in the studies.
    scale: float = 0.0  # zoom exp(U(-s, s)) of each crop; needs crop
    color: float = 0.0  # channel mixing I + U(-c, c)
    illumination: float = 0.0  # smooth additive field, in FOV stds
    blur: float = 0.0  # Gaussian blur sigma U(0, b) pixels

    # reproducibility and speed
    seed: int = 0  # fixes initialisation, data order and augmentation
    device: str = "auto"  # auto = cuda, then mps, then cpu
    precision: str = "auto"  # auto | bf16 | fp32; auto = the fastest for the device (afunet.device)
    channels_last: str | bool = "auto"  # NHWC memory; auto = on CUDA only (unsafe on CPUs)
    compile: bool = False  # torch.compile the model (GPU only: slow to start, no gain on CPUs)
    num_threads: int | None = None  # torch CPU threads; None = torch's default
    checkpoint_every: int = 1  # epochs between checkpoints; a resume replays the rest exactly
    eval_batch_size: int = 2  # validation batch; Dice pools over a batch: keep it fixed in a study

    def __post_init__(self):
        for name, (valid, expected) in RULES.items():
            value = getattr(self, name)
            if not valid(value):
                raise UsageError(f"training setting {name}={value!r} is invalid: expected "
                                 f"{expected}")
        if self.bce_weight == 0 and self.dice_weight == 0:
            raise UsageError("training settings bce_weight and dice_weight are both 0: the loss "
                             "would be 0; give one of them a positive weight")
        if self.scale and not self.crop:
            raise UsageError(f"training setting scale={self.scale} zooms the training crops: "
                             "set crop too (e.g. crop=384), or scale=0")
        if self.model not in registry.MODELS:
            raise UsageError(f"training setting model={self.model!r} is unknown; choose one of: "
                             f"{', '.join(registry.names())}")

    def to_dict(self) -> dict:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Config from a dict (e.g. config.json); unknown keys are refused with their names."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UsageError(
                f"unknown training setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
            )
        return cls(**values)

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed; unknown names are refused."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def save(self, path: str | Path) -> None:
        """Write as indented JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a config.json written by `save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def parse_overrides(items: list[str]) -> dict:
    """``["lr=1e-3", "crop=256", "model_kwargs={\\"skip_source\\": \\"first\\"}"]`` -> dict.

    Values are read as JSON (numbers, true/false, null, lists, objects); anything that is not
    JSON is taken as a string, so ``dataset=stare`` needs no quotes.
    """
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            out[key.strip()] = text
    return out


def _int(low: int, optional: bool = False):
    return lambda v: (optional and v is None) or (
        isinstance(v, int) and not isinstance(v, bool) and v >= low)


def _number(low: float, high: float = math.inf, open_low: bool = False):
    def valid(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > low if open_low else v >= low) and v <= high
    return valid


def _bool(v) -> bool:
    return isinstance(v, bool)


# Each field's rule and, for the message, what it accepts.
RULES = {
    "model": (lambda v: isinstance(v, str) and v != "", "a model name"),
    "width": (_int(1), "a whole number >= 1"),
    "model_kwargs": (lambda v: isinstance(v, dict), "a JSON object, e.g. {}"),
    "dataset": (lambda v: isinstance(v, str) and v != "", "a data set name, e.g. drive"),
    "dataset_kwargs": (lambda v: isinstance(v, dict), "a JSON object, e.g. {}"),
    "n_val": (_int(1, optional=True), "null or a whole number >= 1"),
    "val_seed": (_int(0), "a whole number >= 0"),
    # Four 2x poolings: anything smaller than 16 pixels has no bottleneck left.
    "input_size": (_int(16, optional=True), "null (native size) or a whole number >= 16"),
    "green": (_bool, "true or false"),
    "clahe": (_bool, "true or false"),
    "crop": (_int(16, optional=True), "null (whole images) or a whole number >= 16"),
    "batch_size": (_int(1), "a whole number >= 1"),
    "epochs": (_int(1), "a whole number >= 1"),
    "lr": (_number(0, open_low=True), "a finite number > 0, e.g. 1e-3"),
    "bce_weight": (_number(0), "a finite number >= 0"),
    "dice_weight": (_number(0), "a finite number >= 0"),
    "loss_in_fov": (_bool, "true or false"),
    "patience": (_int(1), "a whole number >= 1"),
    "min_delta": (_number(0), "a finite number >= 0"),
    "rotation": (lambda v: _bool(v) or v == "90" or _number(0, 180)(v),
                 'true (any angle), false, "90" (right angles) or degrees in [0, 180]'),
    "hflip": (_bool, "true or false"),
    "vflip": (_bool, "true or false"),
    # The contrast factor is 1 + U(-a, a): it must stay positive.
    "contrast": (lambda v: _number(0)(v) and v < 1, "a number in [0, 1)"),
    "augment_p": (_number(0, 1), "a probability in [0, 1]"),
    "scale": (_number(0, 1), "a number in [0, 1] (zoom exp(U(-s, s)))"),
    "color": (_number(0, 1), "a number in [0, 1]"),
    "illumination": (_number(0, 10), "a number in [0, 10] (FOV standard deviations)"),
    "blur": (_number(0, 10), "a number of pixels in [0, 10]"),
    "seed": (_int(0), "a whole number >= 0"),
    "device": (lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v),
               "auto, cpu, cuda, cuda:N or mps"),
    "precision": (lambda v: v in PRECISIONS, " or ".join(PRECISIONS)),
    "channels_last": (lambda v: v in ("auto", True, False), '"auto", true or false'),
    "compile": (_bool, "true or false"),
    "num_threads": (_int(1, optional=True), "null (torch's default) or a whole number >= 1"),
    "checkpoint_every": (_int(1), "a whole number >= 1"),
    "eval_batch_size": (_int(1), "a whole number >= 1"),
}
