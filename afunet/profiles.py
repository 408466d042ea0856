"""Named profiles: the paper's recipe (section 3.3) at several budgets, each declared once.

A profile is everything a study needs to know: the training recipe, its seeds, its ablation
runs, which weights it commits, how its runs are evaluated, which benchmark its efficiency
table reads and which profile its README block is shown beside. The pipeline, the CLI, the
reporting and the Makefile (`python -m afunet.study`) all derive from `PROFILES`, so adding or
retiring a profile is an edit here alone. Why each value is what it is: docs/decisions.md.

Importable without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from afunet.config import TrainConfig
from afunet.errors import AfunetError


@dataclass(frozen=True)
class Profile:
    """A training recipe and the study built on it."""

    name: str
    summary: str  # one line, for --help and the notebooks
    recipe: dict  # TrainConfig fields; the rest keep TrainConfig's defaults
    seeds: tuple[int, ...]  # the study trains every model on every data set with each
    ablation: tuple[str, ...] = ()  # AF-UNet skip sources besides "adjacent" (DRIVE, seed 0)
    shared_weights: tuple[str, ...] = ()  # models whose seed-0 fp16 weights are committed
    study_overrides: dict = field(default_factory=dict)  # TrainConfig fields of study runs only
    eval_limit: int | None = None  # test images per evaluation; None = all
    bench_csv: str | None = None  # results/bench/ file behind the efficiency table's latency
    beside: str | None = None  # profile whose F1 this profile's README block also shows
    default_on: str | None = None  # "cpu" or "cuda": `make paper`'s profile on such a machine
    of_record: bool = True  # its results are committed, with a README block
    # What one run asks of a machine, for the launcher (afunet/launch.py), whose options
    # override each; sized from the committed runs' records (docs/decisions.md).
    cpus: int = 1  # cores: SLURM --cpus-per-task, and the run's torch threads
    gpus: int = 0  # GPUs: SLURM --gpus-per-node; 0 trains on the CPU
    mem_gb: int = 4  # host memory: SLURM --mem
    time_min: int = 30  # SLURM --time; training stops in time for eval_min to file the run
    eval_min: int = 1  # the end of time_min (or of a budget) kept to evaluate and file
    partition: str | None = None  # SLURM partition; None: the cluster's default

    def config(self, **overrides) -> TrainConfig:
        """The recipe as a TrainConfig, with some fields replaced.

        A different data set drops the recipe's dataset_kwargs and n_val: they belong to its
        own set (smoke's synthetic image size), and another set starts from its defaults.
        """
        base = dict(self.recipe)
        if overrides.get("dataset", base.get("dataset")) != base.get("dataset"):
            base.pop("dataset_kwargs", None)
            base.pop("n_val", None)
        return TrainConfig.from_dict({**base, **overrides})


# Shared by the width-16 and width-64 recipes: the paper's augmentation family, Adam at 1e-3.
_AUGMENT = dict(lr=1e-3, rotation=True, hflip=True, vflip=True, contrast=0.2)
_CPU = dict(dataset="drive", width=16,
            crop=384,  # most of a vessel tree in view, twice the steps of whole images
            batch_size=1,  # chosen on validation over 2 (results/cpu/selection/)
            epochs=90,  # the study's time budget for AF-UNet on DRIVE (docs/decisions.md)
            patience=40, **_AUGMENT)

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile(
        "smoke", "seconds on any machine: synthetic data, width 4; proves the code runs, "
        "its numbers mean nothing",
        recipe=dict(dataset="synthetic", dataset_kwargs={"n_train": 6, "n_test": 2,
                    "size": [64, 64]}, n_val=2, width=4, batch_size=2, epochs=2, lr=1e-3,
                    patience=5, rotation="90", eval_batch_size=4),
        seeds=(0,), ablation=("first", "none"), shared_weights=("afunet", "unet"),
        study_overrides={"input_size": 128}, eval_limit=2,
        bench_csv="results/bench/bench_w16_512_cpu.csv", of_record=False,
        mem_gb=2, time_min=10),  # one core each: two runs side by side on a small CI machine
    Profile(
        "cpu", "the study on a 2-core CPU: width 16, native size, 384-pixel crops, "
        "at most 90 epochs",
        recipe=_CPU, seeds=(0, 1, 2), ablation=("first", "none"),
        shared_weights=("afunet", "unet"), bench_csv="results/bench/bench_w16_512_cpu.csv",
        default_on="cpu",
        # ResUNet++ is the longest run by far; time_min leaves it room on slower cores.
        cpus=2, mem_gb=4, time_min=240, eval_min=5),
    Profile(
        "lab", "a class on a 2-core laptop: the cpu recipe cut to 40 epochs, one seed",
        # 40: validation F1 passes the second observer's there in all three cpu seeds' logs.
        recipe=dict(_CPU, epochs=40), seeds=(0,),
        bench_csv="results/bench/bench_w16_512_cpu.csv", of_record=False,
        cpus=2, mem_gb=4, time_min=120, eval_min=5),
    Profile(
        "paper", "the paper's setting on a GPU: width 64, 512 x 512, batch 4, "
        "at most 200 epochs",
        recipe=dict(dataset="drive", width=64,
                    input_size=512,  # "adjusted all images to the same size"; Figure 1's size
                    batch_size=4, epochs=200, patience=30, eval_batch_size=4,
                    checkpoint_every=10,  # a width-64 checkpoint with Adam state is large
                    **_AUGMENT),
        seeds=(0, 1), bench_csv="results/bench/bench_w64_512_h200.csv", beside="cpu",
        default_on="cuda",
        # One GPU a run; time_min is several times the longest run of record, shared or not.
        cpus=2, gpus=1, mem_gb=32, time_min=30),
)}


def get_profile(name: str) -> Profile:
    """A profile by name; an unknown name is an error that lists the valid ones."""
    if name not in PROFILES:
        raise AfunetError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    return PROFILES[name]


def make_config(profile: str = "cpu", **overrides) -> TrainConfig:
    """The config of a named profile, with any TrainConfig field replaced (model="unet", ...)."""
    return get_profile(profile).config(**overrides)


def default_profile(device: str) -> str:
    """The profile `make paper` runs on a machine whose best device is ``device``."""
    chosen = [p.name for p in PROFILES.values() if p.default_on == device]
    return chosen[0] if chosen else default_profile("cpu")
