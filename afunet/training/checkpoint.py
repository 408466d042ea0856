"""Checkpoint files: written atomically, read without ever unpickling arbitrary objects.

A checkpoint is a dict of tensors and plain values: CORE_KEYS (model = state_dict, model_config
= create_model arguments, config = TrainConfig dict, ...), plus optimizer and state in last.pt.
"""

from __future__ import annotations

import mmap
import os
import pickle
import pickletools
import re
import zipfile
from pathlib import Path

import torch

from afunet.errors import CheckpointError

FORMAT = 1
# Keys every checkpoint has; `export_checkpoint` keeps exactly these.
CORE_KEYS = ("format", "model", "model_config", "config", "split", "image_size", "fov_diameter",
             "epoch", "val_loss", "environment",
             "threshold")  # optional: chosen on the validation images, predict's default


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
    except Exception as exc:  # noqa: BLE001 - any failure to read is the file's; classified here
        raise _unreadable(path, exc) from None
    missing = [k for k in ("format", "model", "model_config", "config") if k not in payload] \
        if isinstance(payload, dict) else ["all keys"]
    if missing:
        raise CheckpointError(
            f"{path} is not an afunet checkpoint (missing {', '.join(missing)}); "
            "train one with `afunet train`"
        )
    wrong = [f"{key} is a {type(payload[key]).__name__}" for key, kind in
             (("format", int), ("model", dict), ("model_config", dict), ("config", dict))
             if not isinstance(payload[key], kind)]
    if not wrong:
        wrong = [f"model[{key!r}] is a {type(value).__name__}, not a tensor"
                 for key, value in payload["model"].items() if not torch.is_tensor(value)][:1]
    if wrong:
        raise CheckpointError(
            f"{path} is not an afunet checkpoint ({'; '.join(wrong)}); use a best.pt / last.pt "
            "written by `afunet train` or a file written by export_checkpoint"
        )
    if payload["format"] > FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {payload['format']}, newer than this afunet "
            f"reads ({FORMAT}); upgrade afunet"
        )
    return payload


# Globals that pickled tensors and containers use besides torch's own: not worth naming.
_PLAIN_GLOBALS = {"collections.OrderedDict", "collections.Counter", "_codecs.encode",
                  "builtins.bytearray", "builtins.set", "builtins.complex"}


def _unreadable(path: Path, exc: Exception) -> CheckpointError:
    """The error for a file torch.load refused: unsafe pickled objects, or a damaged file.

    torch's weights-only unpickler refuses a well-formed pickle that holds code references
    (globals) or opcodes it does not know; only a pickle that does not parse is corrupt.
    """
    damage, names = _scan_pickles(path)
    if isinstance(exc, pickle.UnpicklingError) and damage is None:
        named = re.findall(r"GLOBAL ([\w.]+)", str(exc)) or [
            n for n in names if not n.startswith("torch.") and n not in _PLAIN_GLOBALS]
        detail = f" ({', '.join(dict.fromkeys(named[:3]))})" if named else ""
        return CheckpointError(
            f"checkpoint {path} holds pickled Python objects{detail}, not only tensors and "
            "plain values; unpickling them could run arbitrary code, so afunet refuses to load "
            "it. Use a checkpoint written by afunet (`afunet train`) or by export_checkpoint"
        )
    reason = damage or " ".join(str(exc).split(". ")[0].split()) or type(exc).__name__
    return CheckpointError(
        f"checkpoint {path} is corrupt or truncated ({reason}); copy it again, or retrain"
    )


def _scan_pickles(path: Path) -> tuple[str | None, list[str]]:
    """(what is damaged or None, globals named) of a torch file's pickles, parsed, never run.

    A zip-format file has one pickle (<name>/data.pkl); a legacy file or a bare pickle starts
    with up to five consecutive pickles.
    """
    try:
        with path.open("rb") as f:
            if not os.fstat(f.fileno()).st_size:
                return "the file is empty", []
            if f.read(4) == b"PK\x03\x04":
                with zipfile.ZipFile(f) as archive:
                    pkl = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "data.pkl"]
                    if not pkl:
                        return "a zip archive without a data.pkl", []
                    with archive.open(pkl[0]) as stream:  # streamed: sizes are untrusted
                        return _genops(stream, 1)
            # mmap: reads past the end return what is left, whatever length a pickle claims
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as stream:
                return _genops(stream, 5)
    except zipfile.BadZipFile:
        return "an incomplete or damaged zip archive", []
    except (OSError, ValueError, EOFError) as exc:
        return (" ".join(str(exc).split()) or type(exc).__name__), []


def _genops(stream, count: int) -> tuple[str | None, list[str]]:
    """Parse up to ``count`` consecutive pickles; see `_scan_pickles`."""
    names, strings = [], []
    for i in range(count):
        if i and not stream.read(1):
            break  # a bare pickle ends here
        if i:
            stream.seek(-1, os.SEEK_CUR)
        try:
            for op, arg, _ in pickletools.genops(stream):
                if op.name in ("GLOBAL", "INST"):
                    names.append(".".join(arg.split(" ", 1)))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(".".join(strings[-2:]))
                elif isinstance(arg, str):
                    strings.append(arg)
        except ValueError as exc:
            return f"not a readable pickle: {exc}", names
    return None, names


def check_finite(payload: dict, path: str | Path) -> None:
    """Refuse weights holding NaN or an infinity: they predict nothing, silently."""
    name = first_nonfinite(payload["model"])
    if name is not None:
        config = payload.get("config") or {}
        lr = config.get("lr") if isinstance(config, dict) else None
        hint = f" (it was trained with lr={lr})" if isinstance(lr, (int, float)) else ""
        raise CheckpointError(
            f"checkpoint {path} has non-finite weights (NaN or infinity, first in {name}): its "
            f"training diverged{hint}; retrain it, e.g. with a lower learning rate "
            "(afunet train --set lr=...)"
        )


def first_nonfinite(weights: dict) -> str | None:
    """Name of the first floating-point tensor holding NaN or an infinity, else None."""
    return next((k for k, v in weights.items()
                 if v.is_floating_point() and not torch.isfinite(v).all()), None)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file from a file or a run folder (its best.pt)."""
    path = Path(path)
    return path / "best.pt" if path.is_dir() else path


def export_checkpoint(src: str | Path, dst: str | Path, dtype: torch.dtype = torch.float16) -> Path:
    """Write a small shareable copy of ``src``: weights in ``dtype``, config, no optimizer.

    Loading casts back to float32; float16 changes predicted probabilities by about 1e-3.
    """
    src = resolve_checkpoint(src)
    payload = load_checkpoint_dict(src)
    check_finite(payload, src)
    out = {k: payload[k] for k in CORE_KEYS if k in payload}
    out["model"] = {
        k: v.to(dtype) if v.is_floating_point() else v for k, v in payload["model"].items()
    }
    overflow = first_nonfinite(out["model"])
    if overflow is not None:  # finite weights beyond the range of ``dtype``
        raise CheckpointError(
            f"checkpoint {src}: weight {overflow} does not fit in {dtype} (values beyond its "
            "range); export with dtype=torch.float32 or torch.bfloat16"
        )
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, dst)
    return dst
