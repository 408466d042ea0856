"""Get the real data sets into the data root and check them: fetch, import, verify.

Sets land in their publishers' layout (root/DRIVE, root/STARE, root/CHASE_DB1). An import is
staged in a hidden folder inside the root, checked file by file, then moved in with os.replace,
so a failed import leaves the root as it was. checksums.json holds SHA-256 of the *decoded*
pixels, not of file bytes, so a re-compressed but identical copy still verifies.
"""

from __future__ import annotations

import functools
import gzip
import http.client
import importlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from types import ModuleType

from tqdm import tqdm

from afunet.data.io import fix_hint, pixel_sha256, read_mask, read_rgb
from afunet.errors import AfunetError, DataError

MODULES = {
    "drive": "afunet.data.drive",
    "stare": "afunet.data.stare",
    "chase_db1": "afunet.data.chase",
}
CHECKSUM_FILE = Path(__file__).with_name("checksums.json")
STARE_PAGE = "https://cecas.clemson.edu/~ahoover/stare/probing/"
STARE_URLS = [STARE_PAGE + f for f in ("stare-images.tar", "labels-ah.tar", "labels-vk.tar")]
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


def real_datasets() -> list[str]:
    """Names of the sets that live on disk (everything but `synthetic`)."""
    return list(MODULES)


def dataset_module(name: str) -> ModuleType:
    """The loader module of a real data set, or AfunetError listing the valid names."""
    if name not in MODULES:
        extra = (
            " (synthetic is generated on the fly and needs no files)" if name == "synthetic" else ""
        )
        raise AfunetError(
            f"No files to manage for data set {name!r}{extra}; valid names: {', '.join(MODULES)}."
        )
    return importlib.import_module(MODULES[name])


def expected(mod: ModuleType) -> list[tuple[str, str]]:
    """(path relative to root/FOLDER, "image" or "mask") for every file of a set."""
    return [
        (rel, "image" if key == "image" else "mask")
        for i in mod.IDS
        for key, rel in mod.files(i).items()
        if rel is not None
    ]


def locate(base: Path, rel: str) -> Path:
    """base/rel, or its uncompressed twin when only that exists (STARE `.ppm` for `.ppm.gz`)."""
    path = base / rel
    plain = path.with_suffix("")
    return plain if rel.endswith(".gz") and not path.is_file() and plain.is_file() else path


@functools.lru_cache(maxsize=1)
def _checksums() -> dict[str, dict[str, str]]:
    """Reference pixel checksums shipped with the package: {name: {relative path: sha256}}."""
    return json.loads(CHECKSUM_FILE.read_text())


def check_file(name: str, rel: str, kind: str, path: Path) -> str | None:
    """One problem found with one file (missing, unreadable, checksum or size), or None."""
    mod = dataset_module(name)
    try:
        arr = read_rgb(path) if kind == "image" else read_mask(path)
    except DataError as exc:
        return str(exc)
    reference = _checksums().get(name, {}).get(rel)
    if reference is not None and pixel_sha256(arr) != reference:
        return (
            f"Checksum mismatch: {path} decodes to different pixels than the published "
            f"{mod.FOLDER} ({rel}); the copy is damaged or from another release: "
            f"{fix_hint(Path(mod.FOLDER) / rel)}."
        )
    if reference is None and arr.shape[:2] != tuple(mod.SHAPE):
        return (
            f"{path} is {arr.shape[0]}x{arr.shape[1]} (HxW), expected "
            f"{mod.SHAPE[0]}x{mod.SHAPE[1]} for {mod.FOLDER}: {fix_hint(Path(mod.FOLDER))}."
        )
    return None


def verify(name: str, root: str | Path) -> list[str]:
    """Problems with a set's files, one line each naming the file and the fix ([] when none).

    DRIVE and STARE are checked pixel for pixel; CHASE_DB1 has no reference copy here, so only
    its 28 images' and 56 labels' presence and size (960 x 999) are checked (`has_checksums`).
    """
    mod = dataset_module(name)
    base = Path(root) / mod.FOLDER
    if not base.is_dir():
        return [f"{mod.FOLDER} not found in {Path(root)}. {mod.HOW_TO_GET}"]
    problems = [check_file(name, rel, kind, locate(base, rel)) for rel, kind in expected(mod)]
    return [p for p in problems if p]


def has_checksums(name: str) -> bool:
    """True when verify compares pixels with a reference copy (not just presence and size)."""
    return name in _checksums()


def import_dataset(name: str, path: str | Path | list, root: str | Path) -> Path:
    """Copy a set from archive(s) or folder(s) into root/<FOLDER>, verified, all or nothing.

    Files are found by name wherever they lie (nested archives unpacked): DRIVE.zip, STARE's three
    tars or their `.ppm(.gz)` files (stored gzipped), CHASEDB1.zip, or the unpacked folders.
    Raises DataError, leaving nothing behind, on a bad archive, missing file or bad checksum.
    """
    mod = dataset_module(name)
    sources = [Path(p) for p in (path if isinstance(path, list | tuple) else [path])]
    for src in sources:
        if not src.exists():
            raise DataError(f"{src} does not exist: give the {mod.FOLDER} archive or folder.")
    root = Path(root)
    created_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{mod.FOLDER}.import-", dir=root))
    try:
        index = _index(sources, work / "unpacked")
        stage = work / mod.FOLDER
        _stage(name, mod, index, sources, stage)
        return _swap_in(stage, root / mod.FOLDER, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created_root and not any(root.iterdir()):
            root.rmdir()


def _index(sources: list[Path], unpack_dir: Path) -> dict[str, list[Path]]:
    """Map file name (without .gz) -> files with that name in the sources, archives unpacked."""
    index: dict[str, list[Path]] = {}
    pending, n = list(sources), 0
    while pending:
        src = pending.pop(0)
        if src.is_dir():
            pending[:0] = sorted(p for p in src.rglob("*") if p.is_file())
        elif src.name.lower().endswith(ARCHIVE_SUFFIXES):
            n += 1
            pending[:0] = [_unpack(src, unpack_dir / str(n))]
        else:
            key = src.name[:-3] if src.name.endswith(".gz") else src.name
            index.setdefault(key, []).append(src)
    return index


def _unpack(archive: Path, dest: Path) -> Path:
    """Extract a zip or tar(.gz) safely into dest; DataError naming the archive when corrupt."""
    dest.mkdir(parents=True)
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(dest)  # zipfile drops absolute paths and ".." components
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")  # refuses links and paths outside dest
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise DataError(
            f"Cannot unpack {archive} ({type(exc).__name__}: {exc}): the archive is "
            f"truncated or corrupt; download it again."
        ) from exc
    return dest


def _stage(
    name: str, mod: ModuleType, index: dict[str, list[Path]], sources: list[Path], stage: Path
) -> None:
    """Copy every expected file into stage/ in the publisher's layout, checking each one."""
    wanted = expected(mod)
    missing, problems = [], []
    for rel, _ in wanted:
        key = Path(rel).name.removesuffix(".gz")
        found = index.get(key, [])
        if len(found) > 1:
            names = ", ".join(str(p) for p in found[:3])
            problems.append(f"{key} found more than once ({names}): give one copy of {mod.FOLDER}.")
        elif not found:
            missing.append(rel)
    given = ", ".join(str(s) for s in sources)
    if missing:
        raise DataError(
            f"{given} does not hold {mod.FOLDER} as published: {len(missing)} of {len(wanted)} "
            f"expected files are missing (e.g. {', '.join(missing[:3])}). Give the official "
            f"archive(s) or a folder with these files; nothing was imported."
        )
    for rel, kind in wanted:
        src = index[Path(rel).name.removesuffix(".gz")][0]
        problem = check_file(name, rel, kind, src)
        if problem:
            problems.append(problem)
        elif not problems:  # keep checking to report every bad file, but stop copying
            _copy(src, stage / rel)
    if problems:
        raise DataError(
            f"Import of {mod.FOLDER} from {given} failed, nothing was imported: "
            + " | ".join(problems[:5])
        )


def _copy(src: Path, dst: Path) -> None:
    """Copy one file, gzipping it when the layout wants `.gz` and the source is plain."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.name.endswith(".gz") and not src.name.endswith(".gz"):
        with open(src, "rb") as fin, gzip.open(dst, "wb", compresslevel=6) as fout:
            shutil.copyfileobj(fin, fout)
    else:
        shutil.copyfile(src, dst)


def _swap_in(stage: Path, final: Path, work: Path) -> Path:
    """Move stage to final atomically, keeping the previous copy until the move succeeded."""
    if final.exists():
        old = work / "previous"
        os.replace(final, old)
        try:
            os.replace(stage, final)
        except OSError:
            os.replace(old, final)
            raise
    else:
        os.replace(stage, final)
    return final


def fetch(name: str, root: str | Path) -> Path:
    """Download STARE's three tars from its official page and import them into root/STARE.

    DRIVE (registration) and CHASE_DB1 (manual download) raise DataError with the manual steps,
    as does a failed download.
    """
    mod = dataset_module(name)
    if name != "stare":
        raise DataError(f"{mod.FOLDER} cannot be fetched automatically. {mod.HOW_TO_GET}")
    # Downloads go to the system temp folder, so a failed fetch leaves nothing in the root.
    with tempfile.TemporaryDirectory(prefix="afunet-stare-") as tmp:
        archives = [_download(url, Path(tmp)) for url in STARE_URLS]
        return import_dataset(name, archives, root)


def _download(url: str, folder: Path) -> Path:
    """Download url into folder with a progress bar; DataError with the manual route on failure."""
    dest = folder / url.rsplit("/", 1)[-1]
    candidates = [url]
    # Retry a failed https (e.g. a rejected certificate) over http: safe, as every file is then
    # checked against the pixel checksums.
    if url.startswith("https://"):
        candidates.append("http://" + url.removeprefix("https://"))
    errors = []
    for candidate in candidates:
        try:
            _stream(candidate, dest)
            return dest
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, SSL, cut-offs
            errors.append(f"{candidate}: {exc}")
    raise DataError(
        f"Could not download {'; '.join(errors)}. Download stare-images.tar, labels-ah.tar and "
        f"labels-vk.tar by hand from {STARE_PAGE} and run: afunet data import stare "
        f"stare-images.tar labels-ah.tar labels-vk.tar"
    )


def _stream(url: str, dest: Path) -> None:
    """Copy url to dest in chunks, showing a tqdm progress bar."""
    with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
            while chunk := resp.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))


def status(root: str | Path) -> list[dict]:
    """One dict per real set: name, folder, present, n_images, n_expected, how_to_get."""
    rows = []
    for name in MODULES:
        mod = dataset_module(name)
        rows.append(
            {
                "name": name,
                "folder": mod.FOLDER,
                "present": (Path(root) / mod.FOLDER).is_dir(),
                "n_images": mod.count_images(Path(root)),
                "n_expected": len(mod.IDS),
                "how_to_get": mod.HOW_TO_GET,
            }
        )
    return rows


def _make_checksums(source_root: str | Path, names: tuple[str, ...] = ("drive", "stare")) -> dict:
    """Recompute checksums.json from a trusted copy (maintainers only; data is never committed)."""
    sums = {}
    for name in names:
        mod = dataset_module(name)
        base = Path(source_root) / mod.FOLDER
        sums[name] = {
            rel: pixel_sha256(
                read_rgb(locate(base, rel)) if kind == "image" else read_mask(locate(base, rel))
            )
            for rel, kind in expected(mod)
        }
    sums["_method"] = (
        "sha256 of f'{shape}|{dtype.str}|' + pixel bytes of the decoded file as the loaders use it "
        "(images uint8 RGB, labels and masks bool); see afunet.data.io.pixel_sha256"
    )
    CHECKSUM_FILE.write_text(json.dumps(sums, indent=1, sort_keys=True) + "\n")
    _checksums.cache_clear()
    return sums
