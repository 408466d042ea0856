"""The training loop: Adam at a fixed learning rate on Dice + BCE, early stopping on val loss.

This is the recipe of the paper's section 3.3. A run folder holds config.json, log.csv (one row
per epoch), last.pt (state for resuming), best.pt (lowest validation loss) and summary.json
(written last: it marks the run finished). Each epoch draws data order and augmentation from a
generator seeded by (seed, epoch), so a run killed and resumed gives the same weights.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import math
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from afunet.config import TrainConfig
from afunet.data import DEFAULT_N_VAL, train_val_split
from afunet.data.appearance import Appearance
from afunet.data.cache import load_tensors
from afunet.data.fov import fov_diameter
from afunet.data.transforms import Augment, normalize
from afunet.device import (
    autocast,
    check_channels_last,
    device_name,
    environment,
    resolve_channels_last,
    resolve_device,
    resolve_precision,
)
from afunet.errors import AfunetError, ensure_folder
from afunet.launch import launch_record
from afunet.losses import DiceBCELoss
from afunet.models import create_model
from afunet.training.checkpoint import FORMAT, load_checkpoint_dict, save_checkpoint

LOG_FIELDS = ("epoch", "train_loss", "val_loss", "val_f1", "lr", "seconds", "elapsed")
# Settings that change how fast a run goes but not what it computes: a run may resume with
# other values (e.g. continue on another machine).
RUNTIME_FIELDS = ("device", "precision", "channels_last", "compile", "num_threads")
# Errors of the run folder itself, which the user can fix (space, permissions).
DISK_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT)


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict], None] | None = None,
    deadline: float | None = None,
) -> dict:
    """Train one model, resuming from ``out_dir/last.pt`` if a previous run stopped early.

    Args:
        out_dir: the run folder (created); a finished run (summary.json present) is not redone.
        on_epoch_end: called with each epoch's log row after its checkpoint is written; an
            exception raised there stops the run as a kill would (tests use it).
        deadline: ``time.time()`` by which training must end (a leased GPU): no epoch starts that
            the last epoch's duration says would end after it, and summary.json says
            ``stopped_by: "deadline"``. None: only the epochs cap and patience end a run.

    Returns:
        the summary dict, also written to summary.json.
    """
    out = Path(out_dir)
    resolve_device(config.device)  # an unavailable device fails before anything is written
    new = not out.exists()
    try:
        ensure_folder(out)
        with RunLock(out):
            return _train(config, out, root, cache_dir, progress, on_epoch_end, deadline)
    except OSError as exc:
        if exc.errno not in DISK_ERRORS:
            raise
        where = exc.filename or out
        raise AfunetError(f"cannot write {where}: {exc.strerror}; free some space or choose "
                          "another --out (the run resumes from its last checkpoint)") from exc
    finally:
        # A run that failed before writing anything (missing data, say) leaves no folder.
        if new and out.is_dir() and {p.name for p in out.iterdir()} <= {".lock"}:
            shutil.rmtree(out, ignore_errors=True)


def _train(config, out, root, cache_dir, progress, on_epoch_end, deadline) -> dict:
    """`train` inside the run folder's lock."""
    _check_same_run(config, out)
    if (out / "summary.json").is_file():
        return json.loads((out / "summary.json").read_text())

    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    channels_last = resolve_channels_last(config.channels_last, device)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed image size: pick the fastest kernels once

    train_set, val_set, split = _load_data(config, root, cache_dir, device, channels_last)
    torch.manual_seed(config.seed)
    model = create_model(config.model, width=config.width, **config.model_kwargs).to(device)
    if channels_last:
        check_channels_last(model, device)
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    # Written once the run can start: a run that failed before (missing data, say) leaves
    # nothing that would block a corrected retry.
    config.save(out / "config.json")
    state = _initial_state()
    if (out / "last.pt").is_file():
        last = load_checkpoint_dict(out / "last.pt", map_location=device)
        model.load_state_dict(last["model"])
        optimizer.load_state_dict(last["optimizer"])
        state = last["state"]
        state["resumed"] += 1
    _write_log(out / "log.csv", state["history"])

    step_model = torch.compile(model) if config.compile else model
    loss_fn = DiceBCELoss(config.bce_weight, config.dice_weight)
    augment = Augment(rotation=config.rotation, hflip=config.hflip, vflip=config.vflip,
                      contrast=config.contrast, p=config.augment_p)
    appearance = Appearance(scale=config.scale, color=config.color,
                                    illumination=config.illumination, blur=config.blur,
                                    p=config.augment_p)
    env = environment(device)
    meta = dict(model_config=model.config, config=config.to_dict(), split=split, environment=env,
                image_size=list(train_set["images"].shape[-2:]),
                # The photographs' scale it learnt, for inference on other resolutions.
                fov_diameter=float(np.median([fov_diameter(f) for f in train_set["fovs"].cpu()])))
    # A terminal, or a notebook (where tqdm.auto draws its own bar): never a log file.
    show = progress and (sys.stderr.isatty() or "ipykernel" in sys.modules)
    bar = tqdm(total=config.epochs, initial=state["epoch"], desc=f"{config.model} {config.dataset}",
               unit="epoch", disable=not show, dynamic_ncols=True)
    best = None  # best weights not yet on disk (written with the next last.pt)
    last_seconds = 0.0
    for epoch in range(state["epoch"] + 1, config.epochs + 1):
        if state["bad_epochs"] >= config.patience:
            break
        if deadline is not None and last_seconds and time.time() + last_seconds > deadline:
            state["stopped_by"] = "deadline"
            break
        start = time.perf_counter()
        train_loss = _train_epoch(step_model, optimizer, loss_fn, (augment, appearance),
                                  train_set, config, epoch, device, precision, channels_last,
                                  show)
        val_loss, val_f1 = _validate(step_model, loss_fn, val_set, config, device, precision)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise AfunetError(
                f"{out}: training diverged at epoch {epoch} (train loss {train_loss}, "
                f"validation loss {val_loss}); lower the learning rate (now {config.lr}) and "
                f"start again in another folder (best.pt holds epoch {state['best_epoch']})")
        seconds = last_seconds = time.perf_counter() - start
        state["train_seconds"] += seconds
        row = dict(epoch=epoch, train_loss=train_loss, val_loss=val_loss, val_f1=val_f1,
                   lr=config.lr, seconds=round(seconds, 3),
                   elapsed=round(state["train_seconds"], 3))
        improved = val_loss < state["best_val_loss"] - config.min_delta
        if improved:
            state.update(best_val_loss=val_loss, best_val_f1=val_f1, best_epoch=epoch,
                         bad_epochs=0)
            best = dict(meta, format=FORMAT, model=_detached_copy(model.state_dict()),
                        epoch=epoch, val_loss=val_loss)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["history"].append(row)
        ends = epoch == config.epochs or state["bad_epochs"] >= config.patience
        if ends or epoch % config.checkpoint_every == 0:
            # best.pt before last.pt: a kill between the two redoes these epochs, identically.
            if best is not None:
                save_checkpoint(best, out / "best.pt")
                best = None
            save_checkpoint(dict(meta, format=FORMAT, model=model.state_dict(), epoch=epoch,
                                 val_loss=val_loss, optimizer=optimizer.state_dict(),
                                 state=state), out / "last.pt")
        _append_log(out / "log.csv", row)
        bar.update(1)
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", f1=f"{val_f1:.4f}",
                        best=state["best_epoch"])
        if on_epoch_end is not None:
            on_epoch_end(row)
    bar.close()
    if best is not None:  # stopped by the deadline between two checkpoints
        save_checkpoint(best, out / "best.pt")
    if not (out / "best.pt").is_file():
        raise AfunetError(f"{out}: no epoch finished, so there are no weights to keep; give "
                          "the run more time (--deadline)")

    summary = _summary(config, state, split, device, precision, channels_last, env, model)
    _write_json(out / "summary.json", summary)
    return summary


class RunLock:
    """One writer per run folder: an exclusive lock on ``<run>/.lock``, released on exit.

    The kernel drops the lock when its process dies, so a lock left by a killed run is simply
    taken over. Temporary files a killed run left behind are removed once the lock is held.
    """

    def __init__(self, out: Path):
        self.path = out / ".lock"
        self.file = None

    def __enter__(self):
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise AfunetError(f"{self.path.parent} is in use by {holder}: wait for it to "
                              "finish, or choose another --out") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        self.file.flush()
        for tmp in self.path.parent.glob(".*.tmp"):
            try:
                tmp.unlink()
            except OSError as exc:
                raise AfunetError(f"cannot remove {tmp}, left by a killed run: "
                                  f"{exc.strerror}; remove it by hand") from None
        return self

    def __exit__(self, *exc):
        self.file.seek(0)
        self.file.truncate()
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


def _detached_copy(state_dict: dict) -> dict:
    """A copy of the weights that later optimizer steps do not change (kept on the device)."""
    return {k: v.detach().clone() for k, v in state_dict.items()}


def _initial_state() -> dict:
    """Early-stopping state of a fresh run (stored in last.pt: plain values only)."""
    return dict(epoch=0, best_val_loss=math.inf, best_val_f1=0.0, best_epoch=0, bad_epochs=0,
                train_seconds=0.0, history=[], resumed=0,
                started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _check_same_run(config: TrainConfig, out: Path) -> None:
    """Refuse to resume (or return) a run folder that holds a run of another configuration.

    A config.json without a checkpoint or summary is a run that never trained: replaced."""
    path = out / "config.json"
    if not path.is_file() or not any((out / f).is_file() for f in ("last.pt", "summary.json")):
        return
    old = json.loads(path.read_text())
    new = json.loads(json.dumps(config.to_dict()))  # tuples -> lists, as stored
    changed = sorted(k for k in set(old) | set(new)
                     if k not in RUNTIME_FIELDS and old.get(k) != new.get(k))
    if changed:
        raise AfunetError(
            f"{out} holds a run with other settings ({', '.join(changed)} differ from "
            f"{path}); choose another output folder or delete {out} to start over"
        )


def _load_data(config, root, cache_dir, device, channels_last):
    """Training and validation tensors on the device, normalised once; and the split ids."""
    data = load_tensors(config.dataset, "train", root, cache_dir, size=config.input_size,
                        green=config.green, clahe=config.clahe, options=config.dataset_kwargs)
    ids = data["ids"]
    n_val = config.n_val
    if n_val is None:
        n_val = DEFAULT_N_VAL.get(config.dataset, max(1, round(0.2 * len(ids))))
    if not 1 <= n_val < len(ids):
        raise AfunetError(f"n_val={n_val}: early stopping needs 1 to {len(ids) - 1} validation "
                          f"images of the {len(ids)} in {config.dataset} train")
    train_ids, val_ids = train_val_split(ids, n_val, config.val_seed)
    memory = torch.channels_last if channels_last else torch.contiguous_format

    def subset(keep):
        index = torch.tensor([ids.index(i) for i in keep])
        fovs = data["fovs"][index].to(device)
        images = normalize(data["images"][index].to(device), fovs)
        return dict(images=images.contiguous(memory_format=memory),
                    labels=data["labels"][index].to(device), fovs=fovs)

    return subset(train_ids), subset(val_ids), dict(train_ids=train_ids, val_ids=val_ids)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """CPU generator for one epoch's data order, augmentation and crops, seeded by (seed, epoch)."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def _train_epoch(model, optimizer, loss_fn, augments, data, config, epoch, device, precision,
                 channels_last, show) -> float:
    """One pass over the training images; the loss stays on the device until the epoch ends."""
    augment, appearance = augments
    model.train()
    generator = epoch_generator(config.seed, epoch)
    torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))  # any model RNG
    n = len(data["images"])
    order = torch.randperm(n, generator=generator)
    total = torch.zeros((), device=device)
    bar = tqdm(total=n, desc=f"epoch {epoch}", unit="img", leave=False, disable=not show,
               dynamic_ncols=True)
    shown = time.monotonic()
    for i in range(0, n, config.batch_size):
        index = order[i:i + config.batch_size].to(device)
        batch = (data[k].index_select(0, index) for k in ("images", "labels", "fovs"))
        image, label, fov = augment(*batch, generator=generator)
        if config.crop and appearance.scale:
            image, label, fov = appearance.crop(image, label, fov, config.crop, generator)
        elif config.crop:
            image, label, fov = _random_crop(image, label, fov, config.crop, generator)
        image = appearance(image, fov, generator)
        if channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            logits = model(image)
        loss = _loss(loss_fn, logits, label, fov if config.loss_in_fov else None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(index)
        bar.update(len(index))
        if show and time.monotonic() - shown > 1.0:  # a host sync at most once a second
            bar.set_postfix(loss=f"{total.item() / (i + len(index)):.4f}")
            shown = time.monotonic()
    bar.close()
    return total.item() / n


def _loss(loss_fn, logits, label, mask):
    """Dice + BCE; averaged over heads for models with deep supervision (UNet++)."""
    if isinstance(logits, (list, tuple)):
        return sum(loss_fn(head, label, mask) for head in logits) / len(logits)
    return loss_fn(logits, label, mask)


def _random_crop(image, label, fov, size, generator):
    """The same random square patch of each image, its label and FOV (offsets drawn on the CPU)."""
    height, width = image.shape[-2:]
    ch, cw = min(size, height), min(size, width)
    tops = torch.randint(height - ch + 1, (len(image),), generator=generator).tolist()
    lefts = torch.randint(width - cw + 1, (len(image),), generator=generator).tolist()
    corners = list(zip(tops, lefts, strict=True))
    return tuple(torch.stack([t[j, :, y:y + ch, x:x + cw] for j, (y, x) in enumerate(corners)])
                 for t in (image, label, fov))


@torch.no_grad()
def _validate(model, loss_fn, data, config, device, precision) -> tuple[float, float]:
    """Validation loss (early stopping) and pooled F1 inside the FOV at 0.5, one host sync."""
    model.eval()
    n = len(data["images"])
    sums = torch.zeros(4, device=device, dtype=torch.float64)  # loss * n, tp, fp, fn
    for i in range(0, n, config.eval_batch_size):
        image, label, fov = (data[k][i:i + config.eval_batch_size]
                             for k in ("images", "labels", "fovs"))
        with autocast(device, precision):
            logits = model(image)
        loss = _loss(loss_fn, logits, label, fov if config.loss_in_fov else None)
        logits = logits[-1] if isinstance(logits, (list, tuple)) else logits
        pred = (logits >= 0) & fov  # sigmoid(x) >= 0.5 exactly when x >= 0
        truth = label & fov
        sums += torch.stack([loss.double() * len(image), (pred & truth).sum().double(),
                             (pred & ~truth).sum().double(), (~pred & truth).sum().double()])
    model.train()
    loss_sum, tp, fp, fn = sums.tolist()
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return loss_sum / n, f1


def _summary(config, state, split, device, precision, channels_last, env, model) -> dict:
    """What a finished run reports (summary.json)."""
    epochs_run = state["epoch"]
    return dict(
        model=config.model,
        dataset=config.dataset,
        seed=config.seed,
        best_epoch=state["best_epoch"],
        best_val_loss=state["best_val_loss"],
        best_val_f1=state["best_val_f1"],
        epochs_run=epochs_run,
        stopped_early=epochs_run < config.epochs,
        stopped_by=state.get("stopped_by") or (
            "patience" if state["bad_epochs"] >= config.patience else "epochs"),
        train_seconds=round(state["train_seconds"], 3),
        seconds_per_epoch=round(state["train_seconds"] / max(1, epochs_run), 3),
        params=sum(p.numel() for p in model.parameters()),
        device=str(device),
        device_name=device_name(device),
        precision=precision,
        channels_last=channels_last,
        resumed=state["resumed"],
        n_train=len(split["train_ids"]),
        n_val=len(split["val_ids"]),
        train_ids=split["train_ids"],
        val_ids=split["val_ids"],
        started_at=state["started_at"],
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        environment=env,
        launch=launch_record(),  # where it ran: executor, host, job id (afunet/launch.py)
    )


def _write_log(path: Path, rows: list[dict]) -> None:
    """(Re)write log.csv from the history kept in last.pt (after a kill it may lack a row)."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def _append_log(path: Path, row: dict) -> None:
    """Add one epoch's row and flush it, so the log is readable while the run goes on."""
    with path.open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=LOG_FIELDS).writerow(row)


def _write_json(path: Path, value: dict) -> None:
    """Atomic JSON write (tmp + os.replace)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)
