"""Speed of each model on the current device: training throughput, inference latency, FLOP/s.

    afunet bench --models all --width 16 --size 512 --out results/bench/bench_w16_512_cpu.csv

Training step = forward, Dice + BCE, backward and Adam step on a random batch (no data loading);
inference = one image, no gradients; medians after ``warmup`` untimed runs. FLOPs are forward
FLOPs (afunet.models.summary, multiply-add = 2); a training step counts 3x forward (the backward
computes gradients for both inputs and weights).
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from afunet import registry
from afunet.device import (
    PRECISIONS,
    ChannelsLastError,
    autocast,
    check_channels_last,
    device_name,
    resolve_channels_last,
    resolve_device,
    resolve_precision,
    synchronize,
)
from afunet.errors import AfunetError, UsageError
from afunet.losses import DiceBCELoss
from afunet.models import ModelError, create_model, list_models, summary

FIELDS = ("model", "width", "height", "input_width", "batch_size", "params", "gflops_forward",
          "train_images_per_s", "train_step_ms", "train_gflop_per_s", "infer_ms",
          "infer_gflop_per_s", "device", "device_name", "precision", "channels_last", "threads",
          "torch", "date")


def bench(
    models: list[str] | None = None,
    width: int = 16,
    size: int | tuple[int, int] = 512,
    *,
    batch_size: int = 2,
    steps: int = 5,
    warmup: int = 2,
    device: str = "auto",
    precisions: tuple[str, ...] = ("auto",),
    channels_last: tuple[str | bool, ...] = ("auto",),
    out: str | Path | None = None,
    verbose: bool = True,
) -> list[dict]:
    """Time every model (x precision x memory format) and optionally write a CSV to ``out``.

    Returns one dict per setting, keyed by FIELDS; a setting that
    `afunet.device.check_channels_last` refuses is skipped with a message. Invalid settings
    raise UsageError before anything is timed.
    """
    names, size, precisions, layouts, out = _check_settings(
        models, width, size, batch_size, steps, warmup, precisions, channels_last, out)
    dev = resolve_device(device)
    rows = []
    if verbose:
        print(f"{'model':<15} {'prec':<5} {'NHWC':<5} {'params':>10} {'GFLOP':>8} "
              f"{'train img/s':>11} {'GFLOP/s':>8} {'infer ms':>9} {'GFLOP/s':>8}", flush=True)
    for name, prec, cl in itertools.product(names, precisions, layouts):
        try:
            row = bench_one(name, width, size, batch_size, steps, warmup, dev,
                            resolve_precision(prec, dev), resolve_channels_last(cl, dev))
        except ChannelsLastError as err:  # one unsafe setting need not end the whole table
            print(f"{name:<15} skipped: {err}", file=sys.stderr, flush=True)
            continue
        rows.append(row)
        if verbose:
            print(f"{name:<15} {row['precision']:<5} {str(row['channels_last']):<5} "
                  f"{row['params']:>10,} {row['gflops_forward']:>8.2f} "
                  f"{row['train_images_per_s']:>11.3f} {row['train_gflop_per_s']:>8.1f} "
                  f"{row['infer_ms']:>9.1f} {row['infer_gflop_per_s']:>8.1f}", flush=True)
    if out is not None:
        _write_csv(rows, out)
    return rows


def _check_settings(models, width, size, batch_size, steps, warmup, precisions, channels_last,
                    out):
    """`bench`'s arguments checked, as (names, (height, width), precisions, layouts, out).

    Raises UsageError naming the setting, its value and the valid range.
    """
    models, precisions, channels_last = ([v] if isinstance(v, str) else v for v in
                                         (models, precisions, channels_last))
    names = list_models() if not models or list(models) == ["all"] else list(models)
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        raise ModelError(f"unknown model(s) {', '.join(map(str, unknown))}; choose from: all, "
                         f"{', '.join(list_models())}")
    for key, value, low in (("steps", steps, 1), ("warmup", warmup, 0),
                            ("batch_size", batch_size, 1), ("width", width, 1)):
        if not _whole(value, low):
            raise UsageError(f"bench setting {key}={value!r} is invalid: expected a whole "
                             f"number >= {low}")
    sides = (size, size) if isinstance(size, int) else tuple(size) if isinstance(
        size, (tuple, list)) else ()
    if len(sides) != 2 or not all(_whole(v, 1) for v in sides):
        raise UsageError(f"bench setting size={size!r} is invalid: expected a whole number "
                         ">= 1 or (height, width) of such, e.g. 512 or (584, 565)")
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad or not precisions:
        raise UsageError(f"bench setting precision={(bad or [precisions])[0]!r} is invalid: "
                         f"expected one or more of {', '.join(PRECISIONS)}")
    layouts = [{"true": True, "false": False}.get(v, v) if isinstance(v, str) else v
               for v in channels_last]
    bad = [v for v in layouts if not (v == "auto" or isinstance(v, bool))]
    if bad or not layouts:
        raise UsageError(f"bench setting channels_last={(bad or [channels_last])[0]!r} is "
                         "invalid: expected one or more of auto, true, false")
    for name in names:
        _check_batch_norm(name, batch_size, sides)
    if out is not None:
        out = Path(out)
        if out.is_dir():
            raise UsageError(f"bench output {out} is a folder; give a CSV file name")
        try:  # before timing, so that a bad --out costs nothing
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the folder of bench output {out} ({exc}); "
                             "give a writable --out path") from None
    return names, sides, tuple(precisions), layouts, out


def _whole(value, low: int) -> bool:
    """Whether ``value`` is an int (not a bool) >= ``low``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_batch_norm(name: str, batch_size: int, size: tuple[int, int]) -> None:
    """Refuse a batch and size that leave one value per channel at the deepest stage.

    Models pad to a multiple of `multiple`; batch norm in training needs two values there.
    """
    multiple = getattr(registry.MODELS[name].load(), "multiple", 1)
    if batch_size * math.ceil(size[0] / multiple) * math.ceil(size[1] / multiple) < 2:
        raise UsageError(
            f"bench: batch_size={batch_size} at size {size[0]}x{size[1]} leaves one value per "
            f"channel at the deepest stage of {name}, where batch norm needs two to train; "
            f"use batch_size >= 2 or a side above {multiple}"
        )


def _write_csv(rows: list[dict], out: Path) -> None:
    """Write the table via a temporary file: a failed write keeps an older CSV."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AfunetError(f"cannot write the bench table to {out} ({exc.strerror or exc}); "
                          "give a writable --out path") from None


def bench_one(name, width, size, batch_size, steps, warmup, device, precision, channels_last):
    """Time one model in one setting; see the module docstring for what is counted."""
    with torch.device("meta"):  # FLOPs without computing anything
        counted = summary(create_model(name, width=width), (1, 3, *size))
    torch.manual_seed(0)
    model = create_model(name, width=width).to(device)
    if channels_last:
        check_channels_last(model, device)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = DiceBCELoss()
    x = torch.randn(batch_size, 3, *size, device=device).contiguous(memory_format=memory)
    y = torch.rand(batch_size, 1, *size, device=device) > 0.9

    def train_step():
        with autocast(device, precision):
            logits = model(x)
        heads = [logits] if torch.is_tensor(logits) else logits  # UNet++ deep supervision
        loss = sum(loss_fn(head, y) for head in heads) / len(heads)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    model.train()
    train_s = _time(train_step, steps, warmup, device)
    model.eval()
    one = x[:1]

    @torch.no_grad()
    def infer():
        with autocast(device, precision):
            model(one)

    infer_s = _time(infer, steps, warmup, device)
    fwd = counted["flops"]
    images_per_s = batch_size / train_s
    return dict(
        model=name, width=width, height=size[0], input_width=size[1], batch_size=batch_size,
        params=counted["params"], gflops_forward=fwd / 1e9,
        train_images_per_s=images_per_s, train_step_ms=1e3 * train_s,
        train_gflop_per_s=3 * fwd * images_per_s / 1e9,
        infer_ms=1e3 * infer_s, infer_gflop_per_s=fwd / infer_s / 1e9,
        device=str(device), device_name=device_name(device), precision=precision,
        channels_last=channels_last, threads=torch.get_num_threads(),
        torch=str(torch.__version__),
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _time(fn, steps: int, warmup: int, device) -> float:
    """Median seconds of ``fn`` over ``steps`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
