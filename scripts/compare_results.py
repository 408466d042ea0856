"""Compare two results/<profile>/ (and figures/<profile>/) trees of the same study, file by file.

    python scripts/compare_results.py REFERENCE OTHER

A run's recipe is deterministic, its times and its machine are not: every file must be the
same byte for byte, except the fields and columns that hold times or say where the run ran,
which are left out of the comparison (and named), and the figures drawn from times. Exit
status 1 if anything else differs, or a file is missing on one side.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

# summary.json, metrics.json: when and where, not what
VOLATILE_KEYS = {"seconds", "train_seconds", "seconds_per_epoch", "started_at", "finished_at",
                 "environment", "launch"}
# log.csv, efficiency.csv, ablation.csv
VOLATILE_COLUMNS = {"seconds", "elapsed", "train_minutes", "train_seconds"}
# drawn from or listing training times
TIMED_FILES = {"efficiency.md", "efficiency.png", "efficiency.pdf"}


def _drop(value):
    if isinstance(value, dict):
        return {k: _drop(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_drop(v) for v in value]
    return value


def _csv_without_times(data: bytes) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    return [{k: v for k, v in row.items() if k not in VOLATILE_COLUMNS} for row in rows]


def _checkpoint(path: Path) -> dict:
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = {k: (str(v.dtype), tuple(v.shape), v.numpy().tobytes())
             for k, v in payload.pop("model").items()}
    return {"model": model, **_drop(payload)}


def compare(a: Path, b: Path) -> str | None:
    """None if the same byte for byte, else how they are equal, else raise ValueError."""
    da, db = a.read_bytes(), b.read_bytes()
    if da == db:
        return None
    if a.name in TIMED_FILES:
        return "not compared: drawn from training times"
    if a.suffix == ".json" and _drop(json.loads(da)) == _drop(json.loads(db)):
        keys = sorted(set(json.loads(da)) & VOLATILE_KEYS)
        return "equal without " + ", ".join(keys)
    if a.suffix == ".csv" and _csv_without_times(da) == _csv_without_times(db):
        columns = sorted(set(next(csv.reader(io.StringIO(da.decode())))) & VOLATILE_COLUMNS)
        return "equal without the column(s) " + ", ".join(columns)
    if a.suffix == ".pdf":
        stamp = re.compile(rb"/CreationDate \(D:[^)]*\)")
        if stamp.sub(b"", da) == stamp.sub(b"", db):
            return "equal without its creation date"
    if a.suffix == ".pt":
        ca, cb = _checkpoint(a), _checkpoint(b)
        if ca == cb:
            return "weights equal byte for byte; the record of the machine differs"
        raise ValueError(f"differs in {_differences(ca, cb)}")
    if a.suffix == ".json":
        raise ValueError(f"differs in {_differences(_drop(json.loads(da)), _drop(json.loads(db)))}")
    raise ValueError("differs")


def _differences(a, b, where: str = "") -> str:
    """The first few key paths at which two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = [_differences(a.get(k), b.get(k), f"{where}/{k}") for k in sorted(set(a) | set(b))
                 if a.get(k) != b.get(k)]
        return ", ".join(found[:5])
    return f"{where or '/'} ({str(a)[:60]} against {str(b)[:60]})"


def main(argv: list[str]) -> int:
    ref, other = (Path(p) for p in argv)
    files_a = {p.relative_to(ref) for p in ref.rglob("*") if p.is_file()}
    files_b = {p.relative_to(other) for p in other.rglob("*") if p.is_file()}
    bad = [f"only in {ref}: {p}" for p in sorted(files_a - files_b)]
    bad += [f"only in {other}: {p}" for p in sorted(files_b - files_a)]
    same, notes = 0, {}
    for path in sorted(files_a & files_b):
        try:
            note = compare(ref / path, other / path)
        except ValueError as exc:
            bad.append(f"{exc}: {path}")
            continue
        if note is None:
            same += 1
        else:
            notes.setdefault(note, []).append(str(path))
    print(f"{same} of {len(files_a | files_b)} files the same byte for byte")
    for note, paths in notes.items():
        print(f"{len(paths)} {note}: {', '.join(sorted({Path(p).name for p in paths}))}")
    for line in bad:
        print(f"MISMATCH {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
