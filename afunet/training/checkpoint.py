"""Checkpoint files: written atomically, read without ever unpickling arbitrary objects.

A checkpoint is a dict of tensors and plain values: CORE_KEYS (model = state_dict, model_config
= create_model arguments, config = TrainConfig dict, ...), plus optimizer and state in last.pt.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from afunet.errors import CheckpointError

FORMAT = 1
# Keys every checkpoint has; `export_checkpoint` keeps exactly these.
CORE_KEYS = ("format", "model", "model_config", "config", "split", "image_size", "epoch",
             "val_loss", "environment")


def save_checkpoint(payload: dict, path: str | Path) -> None:
    """Write via a temporary file and os.replace: a kill mid-write keeps the old file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint_dict(path: str | Path, map_location="cpu") -> dict:
    """An afunet .pt file's dict; CheckpointError if missing, corrupt or holding pickled objects."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist; give a best.pt / last.pt file or a run folder"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):
            culprit = str(exc).split("Unsupported global:", 1)[1].split("was not")[0].strip()
            raise CheckpointError(
                f"checkpoint {path} holds a pickled Python object ({culprit}), not only tensors "
                "and plain values; afunet refuses to unpickle it because that can run arbitrary "
                "code. Use a checkpoint written by afunet or by export_checkpoint."
            ) from None
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({exc})") from None
    missing = [k for k in ("format", "model", "model_config", "config") if k not in payload] \
        if isinstance(payload, dict) else ["all keys"]
    if missing:
        raise CheckpointError(
            f"{path} is not an afunet checkpoint (missing {', '.join(missing)}); "
            "train one with `afunet train`"
        )
    if payload["format"] > FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {payload['format']}, newer than this afunet "
            f"reads ({FORMAT}); upgrade afunet"
        )
    return payload


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file from a file or a run folder (its best.pt)."""
    path = Path(path)
    return path / "best.pt" if path.is_dir() else path


def export_checkpoint(src: str | Path, dst: str | Path, dtype: torch.dtype = torch.float16) -> Path:
    """Write a small shareable copy of ``src``: weights in ``dtype``, config, no optimizer.

    Loading casts back to float32; float16 changes predicted probabilities by about 1e-3.
    """
    payload = load_checkpoint_dict(resolve_checkpoint(src))
    out = {k: payload[k] for k in CORE_KEYS if k in payload}
    out["model"] = {
        k: v.to(dtype) if v.is_floating_point() else v for k, v in payload["model"].items()
    }
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, dst)
    return dst
