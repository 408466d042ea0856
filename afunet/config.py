"""Every setting of a training run in one dataclass, saved beside the run as config.json."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from afunet.errors import AfunetError


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

    # reproducibility and speed
    seed: int = 0  # fixes initialisation, data order and augmentation
    device: str = "auto"  # auto = cuda, then mps, then cpu
    precision: str = "auto"  # auto | bf16 | fp32; auto = the fastest for the device (afunet.device)
    channels_last: str | bool = "auto"  # NHWC memory; auto = on CUDA only (unsafe on CPUs)
    compile: bool = False  # torch.compile the model (GPU only: slow to start, no gain on CPUs)
    num_threads: int | None = None  # torch CPU threads; None = torch's default
    checkpoint_every: int = 1  # epochs between checkpoints; a resume replays the rest exactly
    eval_batch_size: int = 2  # validation batch; Dice pools over a batch: keep it fixed in a study

    def to_dict(self) -> dict:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Config from a dict (e.g. config.json); unknown keys are refused with their names."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise AfunetError(
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
            raise AfunetError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            out[key.strip()] = text
    return out
