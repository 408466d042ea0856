"""Pack the GPU machine's tensor caches into one xz archive within a device call's 64 MiB.

    python scripts/pack_devcache.py [CACHE_DIR] [ARCHIVE] [NAME ...]   # defaults: see main()

Zlib streams are rewritten uncompressed (level 0, still readable) and the folder xz-compressed,
which finds far more in raw pixels. Name caches (e.g. the three a DRIVE run reads) to pack less.
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
import zlib
from pathlib import Path

import torch

NAMES = ("drive-train-native", "drive-test-native", "stare-train-native", "stare-test-native")


def main(argv: list[str]) -> int:
    """Write the archive; print its size."""
    cache = Path(argv[0] if argv else ".devcache/paper")
    archive = Path(argv[1] if len(argv) > 1 else ".devcache/pack/paper.tar.xz")
    names = tuple(argv[2:]) or NAMES
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        sys.exit(f"unknown cache {', '.join(unknown)}; valid: {', '.join(NAMES)}")
    missing = [n for n in names if not (cache / f"{n}.pt").is_file()]
    if missing:
        sys.exit(f"{cache} lacks {', '.join(missing)}: run `make cache` first")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            stored = torch.load(cache / f"{name}.pt", weights_only=True)
            for packed in stored["tensors"].values():
                raw = zlib.decompress(packed["zlib"].numpy().tobytes())
                packed["zlib"] = torch.frombuffer(
                    bytearray(zlib.compress(raw, 0)), dtype=torch.uint8
                )
            torch.save(stored, Path(tmp) / f"{name}.pt")
        partial = archive.with_name(archive.name + ".tmp")
        try:
            with tarfile.open(partial, "w:xz", preset=6) as tar:
                tar.add(tmp, arcname=cache.name)
        except BaseException:  # Ctrl-C included: leave no partial archive behind
            partial.unlink(missing_ok=True)
            raise
        partial.replace(archive)  # never half-written
    print(f"{archive}: {len(names)} caches, {archive.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
