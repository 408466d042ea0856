"""Decoded data sets as compact tensor files: decode once, train from tensors anywhere.

One zlib-compressed file per set, split and setting (``drive-train-native.pt``,
``stare-test-512-green.pt``): uint8 images (N, 3, H, W), bool labels, FOVs and second-observer
labels (N, 1, H, W), ids and a JSON-able ``meta``. Only the CPU steps (resize, green, CLAHE) are
baked in; normalisation and augmentation run at train time, on the device (`transforms`).

The cache is kept out of the data root, which may be read-only (see `default_cache_dir`). A file
is rebuilt when the set's files (path, size, mtime), a generator's arguments or the decoding code
change; without the source (a GPU machine given only the cache) matching settings suffice.
Writes are atomic, and a corrupt file is rebuilt with a warning. For a GPU machine, build it
here, copy the folder and set AFUNET_CACHE there::

    python -m afunet.data.cache --names drive stare --sizes native 512 --cache-dir .cache
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import afunet.data  # attributes looked up at call time, so tests can count the calls
from afunet.data.transforms import prepare, resize, resize_mask
from afunet.errors import DataError

log = logging.getLogger(__name__)
Tensor = torch.Tensor

# Joins set names into one training set, e.g. "drive+stare" (see `_combine`).
COMBINE = "+"
# Bump when the file layout changes: older files are then rebuilt.
FORMAT = 1
# Modules whose code shapes the cached tensors besides the set's own loader.
_CODE_MODULES = ("afunet.data.io", "afunet.data.fov", "afunet.data.transforms")


def default_cache_dir() -> Path:
    """``$AFUNET_CACHE``, else ``<repo>/.cache`` in a checkout, else ``~/.cache/afunet``."""
    if os.environ.get("AFUNET_CACHE"):
        return Path(os.environ["AFUNET_CACHE"]).expanduser().resolve()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / ".cache"
    return Path.home() / ".cache" / "afunet"


def cache_path(
    name: str,
    split: str,
    cache_dir: str | Path | None = None,
    *,
    size: int | Sequence[int] | None = None,
    green: bool = False,
    clahe: bool = False,
    options: dict | None = None,
    **dataset_kw,
) -> Path:
    """The file of one setting (arguments as `load_tensors`), e.g. ``drive-train-native.pt``.

    Loader options add a short hash, so that each setting has its own file."""
    size = _size_tuple(size)
    dataset_kw = {**(options or {}), **dataset_kw}
    parts = [name, split, "native" if size is None else _size_tag(size)]
    parts += [flag for flag, on in (("green", green), ("clahe", clahe)) if on]
    if dataset_kw:
        parts.append(_digest(_jsonable(dataset_kw))[:8])
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return folder / ("-".join(parts) + ".pt")


def load_tensors(
    name: str,
    split: str,
    root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    *,
    size: int | Sequence[int] | None = None,
    green: bool = False,
    clahe: bool = False,
    options: dict | None = None,
    **dataset_kw,
) -> dict:
    """One split of a set as tensors, from the cache, or decoded (and cached) on a miss.

    ``size``: None keeps the native size (all images must share it); an int (square) or (H, W)
    resizes with `transforms.resize`. ``green``/``clahe``: see `transforms.prepare`. Loader
    options go in ``**dataset_kw`` (STARE ``fold=0``), or in ``options`` for names that clash
    with these arguments (synthetic ``options={"size": (256, 256)}``).

    Returns images (N, 3, H, W) uint8, labels, fovs, label2 (N, 1, H, W) bool (label2 may be
    None), ids and meta; normalise images (`transforms.normalize`) before the model. Raises
    DataError for mixed sizes with ``size=None``, or for a missing set with no cached file.
    """
    size = _size_tuple(size)
    dataset_kw = {**(options or {}), **dataset_kw}
    if COMBINE in name:
        if dataset_kw:
            raise DataError(f"{name}: a combination of sets takes no loader options "
                            f"({', '.join(dataset_kw)}); each part uses its default protocol")
        parts = [load_tensors(part, split, root, cache_dir, size=size, green=green, clahe=clahe)
                 for part in name.split(COMBINE)]
        return _combine(name, parts)
    path = cache_path(
        name, split, cache_dir, size=size, green=green, clahe=clahe, options=dataset_kw
    )
    settings = {
        "format": FORMAT,
        "dataset": name,
        "split": split,
        "size": None if size is None else list(size),
        "green": bool(green),
        "clahe": bool(clahe),
        "options": _jsonable(dataset_kw),
    }
    source = _source_fingerprint(name, root, dataset_kw)
    code = _code_fingerprint(name)
    stored = _read(path)
    if stored is not None:
        meta = stored["meta"]
        same_settings = all(meta.get(k) == v for k, v in settings.items())
        fresh = source is None or (meta.get("source"), meta.get("code")) == (source, code)
        data = _decode(stored, path) if same_settings and fresh else None
        if data is not None:
            return data
        log.info("cache %s is stale or damaged: rebuilding", path)

    if source is None and size is not None:
        data = _derive_resized(name, split, cache_dir, size, green, clahe, dataset_kw)
    else:
        data = _build(name, split, root, size, green, clahe, dataset_kw)
    data["meta"] = {**settings, "source": source, "code": code, "n": len(data["ids"])}
    tensors = {
        k: _pack(data[k]) for k in ("images", "labels", "fovs", "label2") if data[k] is not None
    }
    _write(path, {"meta": data["meta"], "ids": data["ids"], "tensors": tensors})
    return data


def _combine(name: str, parts: list[dict]) -> dict:
    """Sets side by side, each image centred on a zero canvas of the largest height and width.

    The padding lies outside every FOV and carries no vessel, like a photo's dark border."""
    height = max(p["images"].shape[-2] for p in parts)
    width = max(p["images"].shape[-1] for p in parts)

    def pad(t):
        dy, dx = height - t.shape[-2], width - t.shape[-1]
        return F.pad(t, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))

    seconds = [p["label2"] for p in parts]
    return {
        "images": torch.cat([pad(p["images"]) for p in parts]).contiguous(),
        "labels": torch.cat([pad(p["labels"]) for p in parts]),
        "fovs": torch.cat([pad(p["fovs"]) for p in parts]),
        "label2": None if any(t is None for t in seconds) else torch.cat([pad(t) for t in seconds]),
        "ids": [f"{p['meta']['dataset']}/{i}" for p in parts for i in p["ids"]],
        "meta": {"dataset": name, "parts": [p["meta"] for p in parts],
                 "n": sum(len(p["ids"]) for p in parts)},
    }


def build_all(
    cache_dir: str | Path | None = None,
    names: Iterable[str] = ("drive", "stare"),
    sizes: Iterable[int | Sequence[int] | None] = (None,),
    splits: Iterable[str] = ("train", "test"),
    root: str | Path | None = None,
    **kw,
) -> list[Path]:
    """Build or refresh the file of every name x size x split; returns the paths in build order.

    ``sizes`` holds None (native), ints (square) or (H, W); ``**kw`` go to `load_tensors`."""
    paths = []
    for name in names:
        for size in sizes:
            for split in splits:
                load_tensors(name, split, root, cache_dir, size=size, **kw)
                paths.append(cache_path(name, split, cache_dir, size=size, **kw))
                log.info("cached %s", paths[-1])
    return paths


def _derive_resized(name, split, cache_dir, size, green, clahe, dataset_kw) -> dict:
    """A resized setting from the native cache, so a GPU machine needs only the native files.

    Native files hold the exact decoded pixels: with green and clahe off this equals `_build`."""
    native = load_tensors(name, split, None, cache_dir, green=green, clahe=clahe, options=dataset_kw)
    images, labels, fovs = resize(native["images"], native["labels"], native["fovs"], size)
    return {
        "images": images.contiguous(),
        "labels": labels,
        "fovs": fovs,
        "label2": resize_mask(native["label2"], size),
        "ids": native["ids"],
    }


def _build(name, split, root, size, green, clahe, dataset_kw) -> dict:
    """Decode with the set's loader, stack, resize and prepare."""
    samples = afunet.data.load_dataset(name, split, root=root, **dataset_kw)
    if not samples:
        raise DataError(f"{name} {split}: the loader returned no images; check its options.")
    images, labels, fovs, seconds = [], [], [], []
    for s in samples:
        image = torch.from_numpy(np.ascontiguousarray(s.image)).permute(2, 0, 1)[None]
        label, fov = (torch.from_numpy(np.asarray(m, bool))[None, None] for m in (s.label, s.fov))
        second = (
            None if s.label2 is None else torch.from_numpy(np.asarray(s.label2, bool))[None, None]
        )
        if size is not None:
            image, label, fov = resize(image, label, fov, size)
            second = resize_mask(second, size)
        images.append(image)
        labels.append(label)
        fovs.append(fov)
        seconds.append(second)
    shapes = sorted({tuple(t.shape[-2:]) for t in images})
    if len(shapes) > 1:
        raise DataError(
            f"{name} {split}: images have different sizes {shapes}; pass size=(H, W) "
            "(or --size) to resize them to one size."
        )
    # label2 only when every image has one: a partial stack would misalign ids.
    label2 = torch.cat(seconds) if all(t is not None for t in seconds) else None
    return {
        "images": prepare(torch.cat(images), green=green, clahe=clahe).contiguous(),
        "labels": torch.cat(labels),
        "fovs": torch.cat(fovs),
        "label2": label2,
        "ids": [s.id for s in samples],
    }


def _read(path: Path) -> dict | None:
    """The stored (still compressed) dict, or None when absent or unreadable (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(stored, dict) or not isinstance(stored.get("meta"), dict):
            raise ValueError("not an afunet cache file")
    except Exception as error:  # any failure to read means: rebuild it
        warnings.warn(f"cache file {path} is unreadable ({error}); rebuilding it", stacklevel=3)
        return None
    return stored


def _decode(stored: dict, path: Path) -> dict | None:
    """Tensors from a stored dict, or None (with a warning) when its contents are damaged."""
    try:
        data = {key: _unpack(stored["tensors"][key]) for key in ("images", "labels", "fovs")}
        label2 = stored["tensors"].get("label2")
        data["label2"] = None if label2 is None else _unpack(label2)
        data["ids"], data["meta"] = list(stored["ids"]), stored["meta"]
        if len(data["ids"]) != len(data["images"]):
            raise ValueError("ids and images differ in number")
    except Exception as error:
        warnings.warn(f"cache file {path} is damaged ({error}); rebuilding it", stacklevel=3)
        return None
    return data


def _pack(tensor: Tensor) -> dict:
    """A uint8 or bool tensor as zlib-compressed bytes (lossless)."""
    array = np.ascontiguousarray(tensor.numpy())
    # Level 1: close to the default level's ratio, much quicker to write.
    payload = bytearray(zlib.compress(array.tobytes(), 1))
    return {
        "zlib": torch.frombuffer(payload, dtype=torch.uint8),
        "shape": list(array.shape),
        "dtype": str(array.dtype),
    }


def _unpack(packed: dict) -> Tensor:
    """Inverse of `_pack`."""
    dtype = {"uint8": np.uint8, "bool": np.bool_}[packed["dtype"]]
    array = np.frombuffer(zlib.decompress(packed["zlib"].numpy().tobytes()), dtype=dtype)
    return torch.from_numpy(array.reshape(packed["shape"]).copy())


def _write(path: Path, data: dict) -> None:
    """torch.save to a temporary file in the same folder, then os.replace: never half-written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    except OSError as error:
        warnings.warn(
            f"cannot write the cache file {path} ({error}); using the data uncached. "
            "Set AFUNET_CACHE (or cache_dir) to a writable folder.",
            stacklevel=3,
        )
        return
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _source_fingerprint(name: str, root, dataset_kw: dict) -> str | None:
    """Hash of the set's files (a generated set: of its arguments), or None when they are absent."""
    folder = getattr(_loader_module(name), "FOLDER", None)
    if folder is None:  # a generated set (no folder on disk): its arguments are its source
        return _digest(["generated", _jsonable(dataset_kw)])
    base = afunet.data.resolve_root(root) / folder
    if not base.is_dir():
        return None
    entries = []
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            stat = path.stat()
            entries.append([rel.as_posix(), stat.st_size, stat.st_mtime_ns])
    return _digest(entries)


def _code_fingerprint(name: str) -> str:
    """Hash of the loader's and preparation modules' source code."""
    digest = hashlib.sha256()
    for module in (_loader_module(name).__name__, *_CODE_MODULES):
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin and os.path.isfile(spec.origin):
            digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:16]


def _loader_module(name: str):
    """The module that implements data set ``name``'s loader."""
    return importlib.import_module(afunet.data.get_loader(name).__module__)


def _size_tuple(size) -> tuple[int, int] | None:
    """None, an int (square) or (height, width) as None or a tuple of two ints."""
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    height, width = size
    return (int(height), int(width))


def _size_tag(size: tuple[int, int]) -> str:
    """Name part of a size: "512" when square, "584x565" otherwise."""
    return str(size[0]) if size[0] == size[1] else f"{size[0]}x{size[1]}"


def _jsonable(value):
    """``value`` as plain JSON types (tuples become lists, unknown objects their repr)."""
    return json.loads(json.dumps(value, sort_keys=True, default=repr))


def _digest(value) -> str:
    """Short SHA-256 of a JSON-able value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m afunet.data.cache``: build the cache files (see the module docstring)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--names", nargs="+", default=["drive", "stare"])
    parser.add_argument("--sizes", nargs="+", default=["native"], help='"native", 512 or 512x480')
    parser.add_argument("--splits", nargs="+", default=["train", "test"])
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--green", action="store_true")
    parser.add_argument("--clahe", action="store_true")
    args = parser.parse_args(argv)
    sizes = [
        None if s == "native" else tuple(int(v) for v in s.split("x")) if "x" in s else int(s)
        for s in args.sizes
    ]
    paths = build_all(
        args.cache_dir,
        args.names,
        sizes,
        args.splits,
        args.data_dir,
        green=args.green,
        clahe=args.clahe,
    )
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
