"""Where a run computes and how fast: device choice, bf16 autocast, channels_last, hardware facts.

"auto" settings resolve to what was fastest when measured, per device type:

CPU, measured on the development machine (2 cores of an AMD EPYC, Zen 3, AVX2, no AVX512-BF16
or AMX; torch 2.13.0; other jobs shared the cores, so single numbers vary by about 20 %): one
training step (forward, Dice + BCE, backward, Adam) of a width-16 U-Net on a batch of two
584 x 565 images, median of 8-10 interleaved steps (bf16: single steps):

    fp32                            3.0-3.2 s / step
    fp32 + channels_last            3.1 s / step (faster in one series, slower in another)
    bf16 autocast                   47-70 s / step (no native bf16: emulated, ~20x slower)
    bf16 autocast + channels_last   84 s / step

so on that CPU "auto" means fp32 and contiguous (NCHW) memory.

On a second machine (2 cores of an Intel Xeon @ 2.50GHz with AVX-512 but no AVX512-BF16 or
AMX; torch 2.13.0, quiet), channels_last paid. An epoch of the `cpu` profile's AF-UNet on
DRIVE (16 training crops of 384 x 384, batch 1, then the 4 validation images whole) took
10.0-10.7 s in NCHW and 7.1-7.5 s in channels_last (4 epochs each, ``afunet train --profile
cpu --epochs 4 --set channels_last=false|true``; results/cpu/target/speed/). ``afunet bench
--models all --width 16 --size 384 --batch-size 1 --steps 6 --channels-last false true``
(results/bench/bench_w16_384_b1_cpu-layouts.csv) gave every model a faster training step
(U-Net +5 %, Attention U-Net +8 %, the other four +17 to +33 %) and a lower inference latency
(-23 to -38 %); an earlier run of that command, not kept, had U-Net's step 6 % slower, so
gains under about 10 % are noise. torch.compile made the epoch slower (8.9-9.8 s after a
first epoch of 113 s).

Yet "auto" stays NCHW on every CPU, because channels_last is not safe there: in torch 2.13.0
on that machine the backward pass of a stride-2 1x1 convolution with 3, 4 or 8 input
channels in channels_last corrupts memory (the process aborts with "double free or
corruption" or a segmentation fault; 12, 16, 20, 24 and 48 input channels ran). ResUNet and
ResUNet++ have such convolutions (their projection shortcuts) at widths up to 8, so the smoke
profile crashed with it. Memory corruption that does not crash cannot be ruled out by
trying, so the layout is opt-in on CPUs: ``--set channels_last=true``, which
`check_channels_last` refuses for a model with such a convolution. The cpu profile sets it
for its width 16, where no model has one and a training step's gradients agree between the
layouts to 2.2e-4 of the largest or closer (tests/test_device.py); the runs of the first
cpu study (profile cpu-e90) are all NCHW. Both layouts compute the same function, but their
float sums differ in the last bits, so a run's numbers depend on the layout as they do on
the CPU. bf16 stays off on CPUs: neither machine has native bf16 (one with AMX or
AVX512-BF16 may differ: time it with ``afunet bench --precision fp32 bf16``).

CUDA, measured on an NVIDIA H200 (torch 2.11, ``afunet bench --width 64 --size 512
--batch-size 4``): bf16 autocast with channels_last trained every model fastest, 1.8-2.7x the
images/s of fp32 NCHW (AF-UNet: 76 -> 188 images/s; bf16 alone 98, fp32 + channels_last 115),
because cuDNN's bf16 tensor-core convolutions want NHWC. So on CUDA "auto" means bf16 (where
the GPU supports it) and channels_last. MPS: fp32, contiguous (not measured).
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import torch

from afunet.errors import AfunetError

PRECISIONS = ("auto", "bf16", "fp32")


class ChannelsLastError(AfunetError):
    """channels_last refused for a model whose convolutions crash torch in that layout."""


def resolve_device(name: str = "auto") -> torch.device:
    """The device to run on: "auto" picks CUDA, then Apple MPS, then the CPU.

    Args:
        name: "auto" or any torch device string ("cpu", "cuda", "cuda:1", "mps").

    Returns:
        torch.device.
    """
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_precision(precision: str, device: torch.device) -> str:
    """ "bf16" or "fp32": "auto" is bf16 on CUDA GPUs that support it, else fp32 (module doc)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def resolve_channels_last(channels_last: str | bool, device: torch.device) -> bool:
    """Whether to use NHWC memory: "auto" is True on CUDA only (module doc: unsafe on CPUs)."""
    if channels_last == "auto":
        return device.type == "cuda"
    return bool(channels_last)


def check_channels_last(model: torch.nn.Module, device: torch.device) -> None:
    """Refuse channels_last on a CPU for a model with a convolution that crashes torch there.

    Args:
        model: the network about to train in channels_last.
        device: where it trains.

    Raises:
        ChannelsLastError: on a CPU, for a stride-2 1x1 convolution with at most 8 input channels,
            whose backward pass corrupts memory in channels_last (torch 2.13.0; module doc).
    """
    if device.type != "cpu":
        return
    for name, layer in model.named_modules():
        if (isinstance(layer, torch.nn.Conv2d) and layer.kernel_size == (1, 1)
                and layer.stride != (1, 1) and layer.in_channels <= 8):
            raise ChannelsLastError(
                f"channels_last on a CPU crashes torch {torch.__version__} in the backward pass "
                f"of {name} (a stride-{layer.stride[0]} 1x1 convolution with "
                f"{layer.in_channels} input channels); set channels_last=false, or use a "
                "width of 16 or more (afunet/device.py)"
            )


def autocast(device: torch.device, precision: str):
    """Context manager for the forward pass: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def device_name(device: torch.device) -> str:
    """Human-readable name of the device, e.g. "NVIDIA H100 80GB HBM3" or "AMD EPYC (2 threads)"."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    return f"{cpu_name()} ({torch.get_num_threads()} threads)"


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (for timing only; training never needs it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def git_commit() -> str | None:
    """The afunet checkout's commit (with "+dirty" if its code is modified), or None outside git.

    Only the code counts (the package, pyproject.toml): results that earlier runs wrote into
    results/ do not make a later run's code version dirty. ``$AFUNET_GIT_COMMIT`` wins: a
    copy of the tree without .git (a GPU machine) still records the commit it was sent from.
    """
    if os.environ.get("AFUNET_GIT_COMMIT"):
        return os.environ["AFUNET_GIT_COMMIT"]
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "--",
             "afunet", "pyproject.toml"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def environment(device: torch.device | None = None) -> dict:
    """Versions and hardware, recorded in checkpoints and summaries.

    Returns:
        dict: afunet, torch, python, numpy versions; git commit; hostname; cpu; threads;
        gpu name (or None); os.
    """
    import numpy

    import afunet

    return {
        "afunet": afunet.__version__,
        "torch": str(torch.__version__),  # TorchVersion would need unpickling
        "numpy": str(numpy.__version__),
        "python": sys.version.split()[0],
        "git_commit": git_commit(),
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device)
        if device is not None and device.type == "cuda"
        else None,
    }
