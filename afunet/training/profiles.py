"""Named training profiles: the same recipe (paper section 3.3) at several budgets.

smoke
    Seconds on any machine, for tests and CI: the synthetic set (6 training images of 64 x 64,
    2 of them held out for validation, 2 test images), width 4, 2 epochs. It proves that the
    code runs end to end; its numbers mean nothing.

cpu
    The study as it can run on a 2-core CPU, AF-UNet in at most 20 minutes of training:
    width 16 instead of the paper's 64 (about 1/16 of the convolution cost), real data at
    native size (no resizing, so no vessel is lost to interpolation), random 384 x 384 crops
    one image per step for training and whole images for validation, Adam at a fixed 1e-3
    (the paper gives no rate), rotations by any angle, flips and contrast jitter, fp32
    (neither CPU measured has native bf16: bf16 autocast was about 20x slower), channels_last
    memory, at most 150 epochs. It is cpu-e90 (below, the recipe of the first study) with two
    changes, made because cpu-e90's AF-UNet missed the target (DRIVE F1 0.8116 +- 0.0010
    over three seeds, below 0.815) and because the cpu-e90 runs of every model were still
    learning when the cap stopped them (lowest validation loss at epoch 83 of 90 in the
    median run, after epoch 75 in 30 of the 38 runs):
    - channels_last: on this machine's 2-core AVX-512 Xeon an AF-UNet epoch takes 7.1-7.5 s
      in channels_last against 10.0-10.7 s in NCHW (results/cpu/target/speed/), and every
      model trains faster in it (results/bench/bench_w16_384_b1_cpu-layouts.csv). At width 16
      none of the six models has the small strided convolution that crashes torch 2.13 in
      channels_last on CPUs (afunet.device.check_channels_last); the setting is explicit here
      because "auto" stays NCHW on CPUs, where narrower models may crash.
    - 150 epochs instead of 90: the 20-minute budget at 7.2-7.5 s an epoch allows about 160;
      150 leaves a margin for a shared host's slow epochs (up to 13 s were seen). A probe of
      160 epochs (results/cpu/target/drive-afunet-e160-nhwc-s*) had its lowest validation loss
      at epochs 137, 110 and 147.
    The cap counts epochs, not seconds, so that a run is the same on any machine. Every model
    gets the same schedule (the paper's comparison is at equal recipe), so the costlier
    baselines take longer (UNet++ and ResUNet++ about 2.5x and 5x AF-UNet's time).

cpu-e90
    The recipe of the first cpu study (38 runs, results/cpu-e90/), kept so that its results
    stay reproducible: the cpu profile in NCHW memory with a cap of 90 epochs. How its budget
    was set, on the machine of the time (2 cores of an AMD EPYC, quiet):
    an AF-UNet epoch of 16 random 256 x 256 crops in batches of 4 took 6.5 s with validation,
    an epoch of 384 x 384 crops took about 12.5 s in batches of 2 or of 1; whole 584 x 565
    images cost about 27 s an epoch. 384-pixel crops keep most of a vessel tree in view and
    give twice the optimizer steps of whole images for the same compute. A training step on
    one 384-pixel crop costs 0.5 s and one on two crops 1.3 s (oneDNN keeps one image's
    activations in cache), so batch 1 gives twice the steps for the same time.
    Batch size was chosen on validation, never on test (results/cpu-e90/selection/README.md):
    AF-UNet on DRIVE, seed 0, batch 2 reached validation F1 0.8159 at its lowest validation
    loss, batch 1 0.8188. The cap of 90 epochs (about 1140 s) is the time budget, and the
    patience (40) rarely ends a run earlier. The cap counts epochs, not seconds, so that a
    run is the same on any machine: on STARE (8 training images, 2 for validation) an epoch
    takes about 7 s and a run about 10 minutes. Every model gets the same schedule (the
    paper's comparison is at equal recipe), so the costlier baselines take longer: U-Net,
    ResUNet and Attention U-Net about as long as AF-UNet, UNet++ 29-31 s an epoch (43-46
    minutes on DRIVE), ResUNet++ 58-65 s (87-97 minutes; summary.json of the runs).

paper
    The paper's setting on a GPU: width 64 (encoder 64 -> 512, bottleneck 1024, section 3.2),
    every image resized to 512 x 512 ("adjusted all images to the same size"; 512 is the
    resolution of Figure 1), batch 4, Adam at a fixed 1e-3 (the rate of the cpu profile, which
    trains U-Nets on DRIVE well; 200 epochs of 4 steps at 1e-4 would leave them undertrained),
    at most 200 epochs with early stopping after 30 epochs without a lower validation loss.
    The paper states neither batch size, learning rate, epochs nor patience: these were set a
    priori, not tuned (no test data, and no validation sweep either, for lack of GPU time).
    bf16 autocast and channels_last on GPUs that support them. Measured on an NVIDIA H200: an
    AF-UNet epoch (16 images at 512 x 512, plus validation) takes about 0.1-0.3 s after a first
    epoch of about 10 s (cuDNN kernel selection); ResUNet++ about 0.9 s. A checkpoint of a
    width-64 model with its Adam state is 0.4-0.8 GB, so checkpoints are written every 10
    epochs (``checkpoint_every``), not every epoch: written every epoch they took 3/4 of the
    wall time. scripts/device_paper.sh trains a seed's twelve runs at once on one GPU: on an
    H200 they took 373 s in all (seed 0; 99-335 s of training each, 119-200 epochs), and
    every run ended by its cap or its patience, none by the call's deadline
    (results/paper/calls/). The study has two seeds (afunet.pipeline.SEEDS).
"""

from __future__ import annotations

from afunet.errors import AfunetError
from afunet.training.config import TrainConfig

# The first cpu study's recipe (AMD EPYC, NCHW): kept so its 38 runs stay reproducible.
_CPU_E90 = dict(
    dataset="drive",
    width=16,
    crop=384,
    batch_size=1,  # chosen on validation over 2 (results/cpu-e90/selection/)
    epochs=90,  # the 20-minute budget at about 12.7 s an epoch (AMD EPYC, NCHW)
    patience=40,
    lr=1e-3,
    rotation=True,
    hflip=True,
    vflip=True,
    contrast=0.2,
)

PROFILES: dict[str, dict] = {
    "smoke": dict(
        dataset="synthetic",
        dataset_kwargs={"n_train": 6, "n_test": 2, "size": [64, 64]},
        n_val=2,
        width=4,
        batch_size=2,
        epochs=2,
        lr=1e-3,
        patience=5,
        rotation="90",
        eval_batch_size=4,
    ),
    "cpu": dict(
        _CPU_E90,
        epochs=150,  # the 20-minute budget at about 7.5 s an epoch, with a margin
        channels_last=True,  # 1.4x faster here; "auto" would keep CPUs in NCHW
    ),
    "cpu-e90": _CPU_E90,
    "paper": dict(
        dataset="drive",
        width=64,
        input_size=512,
        batch_size=4,
        epochs=200,
        patience=30,
        lr=1e-3,
        rotation=True,
        hflip=True,
        vflip=True,
        contrast=0.2,
        eval_batch_size=4,
        checkpoint_every=10,
    ),
}


def make_config(profile: str = "cpu", **overrides) -> TrainConfig:
    """The config of a named profile, with some settings replaced.

    Args:
        profile: "smoke", "cpu", "cpu-e90" or "paper" (module docstring says how each was
            chosen).
        **overrides: any TrainConfig field, e.g. model="unet", dataset="stare", seed=1. A
            different dataset drops the profile's dataset_kwargs and n_val.

    Returns:
        TrainConfig.
    """
    if profile not in PROFILES:
        raise AfunetError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    base = dict(PROFILES[profile])
    if overrides.get("dataset", base.get("dataset")) != base.get("dataset"):
        # The profile's loader options and validation count belong to its own data set
        # (e.g. smoke's synthetic image size); another set starts from its own defaults.
        base.pop("dataset_kwargs", None)
        base.pop("n_val", None)
    return TrainConfig.from_dict({**base, **overrides})
