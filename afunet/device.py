"""Where a run computes and how fast: device choice, bf16 autocast, channels_last, hardware facts.

"auto" settings resolve per device type to what trained fastest when timed
(docs/decisions.md, results/bench/):
- CPU: fp32 and NCHW. No CPU we have has native bf16, so bf16 autocast is emulated and far
  slower. channels_last can be faster but is opt-in: in torch 2.13.0 the backward pass of a
  stride-2 1x1 convolution with few input channels corrupts memory in that layout, so
  `check_channels_last` refuses such a model (ResUNet and ResUNet++ below width 16).
- CUDA: bf16 autocast (where supported) with channels_last, which cuDNN's tensor cores want.
- MPS: fp32, NCHW (never timed).
The layouts compute the same function, but their float sums differ in the last bits, so a
run's numbers depend on its layout as they do on its hardware.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import numpy
import torch

import afunet
from afunet.config import PRECISIONS
from afunet.errors import AfunetError, UsageError


class ChannelsLastError(AfunetError):
    """channels_last refused for a model whose convolutions crash torch in that layout."""


def resolve_device(name: str = "auto") -> torch.device:
    """The device to run on: "auto" picks CUDA, then Apple MPS, then the CPU.

    Raises:
        UsageError: a device this machine or this torch build does not have, or no device name.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UsageError(f"device {name!r} is not a device: use auto, cpu, cuda, cuda:N or "
                         "mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        why = "was built without CUDA" if torch.version.cuda is None else "sees no CUDA GPU"
        raise UsageError(f"device {name!r} is not available: torch {torch.__version__} {why}; "
                         "use cpu or auto instead")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"device {name!r} is not available: {torch.cuda.device_count()} CUDA "
                         "GPU(s) visible, numbered from 0")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None)
                                     and torch.backends.mps.is_available()):
        raise UsageError(f"device {name!r} is not available on this machine; use cpu or auto")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"device {name!r} is not supported: use auto, cpu, cuda, cuda:N or mps")
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    """ "bf16" or "fp32": "auto" is bf16 on CUDA GPUs that support it, else fp32 (module doc)."""
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {PRECISIONS}, got {precision!r}")
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

    Raises:
        ChannelsLastError: for a stride-2 1x1 convolution with at most 8 input channels.
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
    """Human-readable name of the device: the GPU's, or the CPU's with its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    threads = torch.get_num_threads()
    return f"{cpu_name()} ({threads} thread{'s' if threads != 1 else ''})"


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
    """The checkout's commit, "+dirty" if the code (not results/) is modified; None outside git.

    ``$AFUNET_GIT_COMMIT`` wins: a copy of the tree without .git (a GPU machine) still records
    the commit it was sent from.
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
    """Versions (afunet, torch, numpy, python), git commit, host, OS, CPU, threads and GPU."""
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
