"""Get the real data sets into the data root and check them: fetch, import, verify.

Sets land in their publishers' layout (root/DRIVE, root/STARE, root/CHASE_DB1). An import is
staged in a hidden folder inside the root, checked file by file, then moved in with os.replace,
so a failed import leaves the root as it was. checksums.json holds SHA-256 of the *decoded*
pixels, not of file bytes, so a re-compressed but identical copy still verifies.

Staging folders are named `.FOLDER.import-PID@HOST-XXXX` (`.fetch-` for downloads): one left by a
killed process is removed by the next import or fetch of that set and named by list and verify.
"""

from __future__ import annotations

import errno
import functools
import gzip
import http.client
import importlib
import json
import math
import os
import re
import shutil
import socket
import ssl
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

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
FETCH_DEADLINE = 30 * 60  # seconds for one download, whatever pace the server keeps
FETCH_DEADLINE_ENV = "AFUNET_FETCH_DEADLINE"
READ_TIMEOUT = 60  # seconds one read may wait; the deadline is checked between reads
MAX_DOWNLOAD = 1 << 30  # bytes; STARE's archives are far smaller, anything bigger is not them
MANUAL_STARE = (
    f"Download stare-images.tar, labels-ah.tar and labels-vk.tar by hand from {STARE_PAGE} and "
    f"run: afunet data import stare stare-images.tar labels-ah.tar labels-vk.tar"
)
# .FOLDER.KIND-PID@HOST-RANDOM; the older `.FOLDER.import-RANDOM` has no owner to check.
_STAGING = re.compile(r"^\.(?P<folder>\w+)\.(?P<kind>import|fetch)-(?P<owner>.+)$")
_OWNER = re.compile(r"^(?P<pid>\d+)@(?P<host>.*)-\w+$")
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "localhost"
_ACTIVE: set[Path] = set()  # staging folders this process is using right now


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
    clean_leftovers(root, [mod.FOLDER])
    created_root = _ensure_root(root)
    work = _make_staging(root, mod.FOLDER, "import")
    try:
        index = _index(sources, work / "unpacked")
        stage = work / mod.FOLDER
        _stage(name, mod, index, sources, stage)
        return _swap_in(stage, root / mod.FOLDER, work)
    except DataError:
        raise
    except OSError as exc:  # disk full, permissions: the root is left as it was
        raise DataError(
            f"Import of {mod.FOLDER} into {root} failed, nothing was imported: {_oserror(exc)}. "
            f"Free space or fix permissions there, or choose another root with --data-dir."
        ) from None
    finally:
        _release(work)
        _drop_if_empty(root, created_root)


def _ensure_root(root: Path) -> bool:
    """Create the data root if needed (True when created); DataError when it cannot be a folder."""
    if root.exists() and not root.is_dir():
        raise DataError(
            f"Data root {root} is a file, not a folder: give --data-dir (or $AFUNET_DATA) a folder."
        )
    created = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"Cannot create the data root {root}: {_oserror(exc)}. Give --data-dir (or "
            f"$AFUNET_DATA) a folder you can write to."
        ) from None
    return created


def _drop_if_empty(root: Path, created: bool) -> None:
    """Remove a data root this call created when nothing ended up in it."""
    try:
        if created and not any(root.iterdir()):
            root.rmdir()
    except OSError:
        pass  # an empty folder is harmless


def _oserror(exc: OSError) -> str:
    """'reason (path)' of an OSError, as one short phrase."""
    reason = exc.strerror or str(exc)
    return f"{reason} ({exc.filename})" if exc.filename else reason


def _make_staging(root: Path, folder: str, kind: str) -> Path:
    """A hidden work folder in root named after this process, so a later run can tell if it died."""
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{folder}.{kind}-{os.getpid()}@{_HOST}-", dir=root))
    except OSError as exc:
        raise DataError(
            f"Cannot create a work folder in the data root {root}: {_oserror(exc)}. Make it "
            f"writable or choose another root with --data-dir."
        ) from None
    _ACTIVE.add(work)
    return work


def _release(work: Path) -> None:
    """Delete a work folder; one that cannot go is named by the next list, verify or import."""
    _ACTIVE.discard(work)
    _remove_tree(work)


def _remove_tree(path: Path) -> str | None:
    """Delete a folder tree: None, or 'path (reason)' of the first thing that could not go."""
    # Folders unpacked read-only from an archive would block deleting their files.
    for folder, _, _ in os.walk(path):
        try:
            os.chmod(folder, stat.S_IMODE(os.lstat(folder).st_mode) | stat.S_IRWXU)
        except OSError:
            pass
    failed: list[tuple[str, BaseException]] = []
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=lambda _f, p, e: failed.append((p, e)))
    else:
        shutil.rmtree(path, onerror=lambda _f, p, e: failed.append((p, e[1])))
    if not failed and not os.path.lexists(path):
        return None
    where, exc = failed[0] if failed else (str(path), OSError("still there"))
    return f"{where} ({getattr(exc, 'strerror', None) or exc})"


def _pid_alive(pid: int) -> bool:
    """Whether a process runs with this id (True when unsure, so nothing live is removed)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, ValueError):
        return False  # no process can have such an id
    except OSError:
        return True  # e.g. EPERM: it exists but belongs to another user
    return True


class Leftover(NamedTuple):
    """A staging folder found in the data root, and what was done about it."""

    path: Path
    note: str  # one line: what it is, what was done or what to do
    resolved: bool  # removed, or in use by a running process: nothing for the user to do


def clean_leftovers(root: str | Path, folders: list[str] | None = None) -> list[Leftover]:
    """Find staging folders in root (of `folders`, default all sets) and remove the dead ones.

    A folder is removed only when its owner ran on this host and no longer runs. If an import died
    while swapping copies (the set's folder gone, the previous copy in staging), that copy is put
    back first.
    """
    root = Path(root)
    known = {dataset_module(n).FOLDER for n in MODULES}
    wanted = known if folders is None else set(folders) & known
    try:
        entries = sorted(root.iterdir()) if root.is_dir() else []
    except OSError as exc:
        return [Leftover(root, f"cannot look for leftovers in {root}: {_oserror(exc)}", False)]
    found = []
    for path in entries:
        m = _STAGING.match(path.name)
        if not m or m["folder"] not in wanted or path.is_symlink() or not path.is_dir():
            continue
        found.append(_clean_one(root, path, m["folder"], m["kind"], _OWNER.match(m["owner"])))
    return found


def _clean_one(root: Path, path: Path, folder: str, kind: str, owner) -> Leftover:
    """Remove one staging folder if its owner is dead; the Leftover says what happened."""
    if owner is None:
        return Leftover(
            path,
            f"{path} was left by an {kind} of an older afunet version; once no {kind} is "
            f"running, remove it with: rm -rf '{path}'",
            False,
        )
    pid, host = int(owner["pid"]), owner["host"]
    if host != _HOST:
        return Leftover(
            path,
            f"{path} belongs to an {kind} on host {host} (process {pid}); left alone. If that "
            f"{kind} no longer runs, remove it with: rm -rf '{path}'",
            False,
        )
    mine = pid == os.getpid() and path in _ACTIVE
    if mine or (pid != os.getpid() and _pid_alive(pid)):
        return Leftover(
            path, f"{path} is in use by a running {kind} (process {pid}); left alone", True
        )
    restored = ""
    previous, final = path / "previous", root / folder
    if previous.is_dir() and not os.path.lexists(final):
        try:
            os.replace(previous, final)
            restored = f"; put back the previous copy of {folder} it held into {final}"
        except OSError as exc:
            return Leftover(
                path,
                f"{path} holds the previous copy of {folder} (in previous/), left by an {kind} "
                f"(process {pid}) that no longer runs, but it could not be moved back to {final}: "
                f"{_oserror(exc)}. Move it by hand: mv '{previous}' '{final}'",
                False,
            )
    problem = _remove_tree(path)
    if problem:
        return Leftover(
            path,
            f"{path} was left by an {kind} (process {pid}) that no longer runs{restored}, but "
            f"could not be removed: {problem}. Remove it by hand: rm -rf '{path}'",
            False,
        )
    return Leftover(
        path,
        f"removed {path}, left by an {kind} (process {pid}) that no longer runs{restored}",
        True,
    )


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
    """Extract a zip or tar(.gz) into dest; DataError naming the archive and what is wrong."""
    dest.mkdir(parents=True)
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                _check_members(archive, [(i.filename, _zip_kind(i), i.file_size) for i in infos])
                _check_space(archive, dest, sum(i.file_size for i in infos))
                zf.extractall(dest)
        else:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                _check_members(archive, [(m.name, _tar_kind(m), m.size) for m in members])
                _check_space(archive, dest, sum(m.size for m in members))
                tf.extractall(dest, members=members, filter="data")  # second line of defence
    except DataError:
        raise
    except tarfile.FilterError as exc:
        raise DataError(
            f"{archive} holds a member afunet refuses to unpack ({exc}): a link, or a path that "
            f"would be written outside the folder. Get the archive from its official source."
        ) from None
    except (EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile) as exc:
        raise DataError(
            f"Cannot unpack {archive} ({type(exc).__name__}: {exc}): the archive is "
            f"truncated or corrupt; download it again."
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DataError(
                f"No space left on the device while unpacking {archive} into {dest}; nothing was "
                f"imported. Free space, or choose a root on a larger disk with --data-dir."
            ) from None
        raise DataError(
            f"Cannot unpack {archive} into {dest}: {_oserror(exc)}; nothing was imported."
        ) from None
    return dest


def _zip_kind(info: zipfile.ZipInfo) -> str:
    """'file', 'dir', 'symlink' or 'special' from a zip member's Unix mode (when it has one)."""
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip stores no file type
    if kind == stat.S_IFLNK:
        return "symlink"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "special"
    return "dir" if info.is_dir() else "file"


def _tar_kind(member: tarfile.TarInfo) -> str:
    """'file', 'dir', 'symlink', 'hardlink' or 'special' (device, fifo) of a tar member."""
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.isdir():
        return "dir"
    return "file" if member.isfile() else "special"


def _check_members(archive: Path, members: list[tuple[str, str, int]]) -> None:
    """Refuse links, device files and paths that leave the folder, naming the member."""
    for name, kind, _ in members:
        if kind in ("symlink", "hardlink", "special"):
            what = "a device or pipe file" if kind == "special" else f"a {kind}"
            raise DataError(
                f"{archive} holds member {name!r}, which is {what}: afunet refuses archives with "
                f"links or special files, as they can reach outside the folder they are unpacked "
                f"into; nothing was imported. Get the archive from its official source."
            )
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise DataError(
                f"{archive} holds member {name!r}, which would be written outside the folder it is "
                f"unpacked into (absolute path or '..'): afunet refuses such archives; nothing was "
                f"imported. Get the archive from its official source."
            )


def _check_space(archive: Path, dest: Path, size: int) -> None:
    """DataError before unpacking when the disk cannot hold what the archive says it holds."""
    free = shutil.disk_usage(dest).free
    if size > free:
        raise DataError(
            f"Unpacking {archive} needs {size / 1e6:.0f} MB but only {free / 1e6:.0f} MB is free "
            f"in {dest}; nothing was imported. Free space, or choose a root on a larger disk "
            f"with --data-dir."
        )


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
    # A kill between the two renames leaves the set only in work/previous: clean_leftovers puts
    # it back, so the name "previous" is part of the staging format.
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
    as does a failed download. Each download must end within fetch_deadline() seconds.
    """
    mod = dataset_module(name)
    if name != "stare":
        raise DataError(f"{mod.FOLDER} cannot be fetched automatically. {mod.HOW_TO_GET}")
    deadline = fetch_deadline()
    root = Path(root)
    clean_leftovers(root, [mod.FOLDER])
    created_root = _ensure_root(root)
    # Downloads are staged in the root like imports: removed on failure, and a killed fetch's
    # leftovers are found by the next list, verify, import or fetch.
    work = _make_staging(root, mod.FOLDER, "fetch")
    try:
        # STARE publishes no archive checksums: every unpacked file is checked against the pixel
        # checksums (checksums.json) by import_dataset, so a damaged download is never imported.
        archives = [_download(url, work, deadline) for url in STARE_URLS]
        return import_dataset(name, archives, root)
    finally:
        _release(work)
        _drop_if_empty(root, created_root)


def fetch_deadline() -> float:
    """Seconds one download may take: $AFUNET_FETCH_DEADLINE, else FETCH_DEADLINE."""
    value = os.environ.get(FETCH_DEADLINE_ENV, "").strip()
    if not value:
        return float(FETCH_DEADLINE)
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise AfunetError(
            f"{FETCH_DEADLINE_ENV}={value!r} is not a positive number of seconds: set it to e.g. "
            f"3600, or unset it for the default ({FETCH_DEADLINE} s)."
        )
    return seconds


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never from https to anything else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if req.full_url.lower().startswith("https://") and not newurl.lower().startswith(
            "https://"
        ):
            raise urllib.error.URLError(
                f"the server redirected to {newurl}, which is not https; afunet never downloads "
                f"over an unencrypted connection"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(url: str, folder: Path, deadline: float) -> Path:
    """Download url into folder; DataError saying why, with the manual route, on any failure.

    https is never retried over http: a rejected certificate may mean the download is tampered
    with, and the user should decide.
    """
    dest = folder / url.rsplit("/", 1)[-1]
    try:
        _stream(url, dest, deadline)
        return dest
    except DataError as exc:
        reason = str(exc)
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, TLS, cut-offs
        reason = f"Could not download {url}: {_why(exc)}"
    try:
        dest.unlink(missing_ok=True)
    except OSError:
        pass  # the staging folder goes as a whole anyway
    raise DataError(f"{reason}; nothing was imported. {MANUAL_STARE}")


def _why(exc: BaseException) -> str:
    """What went wrong with a download, in words."""
    reason = getattr(exc, "reason", None) if isinstance(exc, urllib.error.URLError) else None
    if isinstance(exc, urllib.error.HTTPError):
        return f"the server answered HTTP {exc.code} {exc.reason}"
    cause = reason if isinstance(reason, BaseException) else exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = getattr(cause, "verify_message", None) or cause
        return (
            f"certificate verification failed ({detail}); afunet does not fall back to "
            f"unencrypted http"
        )
    if isinstance(cause, ssl.SSLError):
        return f"TLS error ({cause}); afunet does not fall back to unencrypted http"
    if isinstance(cause, TimeoutError | socket.timeout):
        return f"no data from the server for {READ_TIMEOUT} s"
    if isinstance(cause, http.client.IncompleteRead):
        return f"the connection was cut off after {len(cause.partial)} bytes"
    return str(reason if reason is not None else exc) or type(exc).__name__


def _stream(url: str, dest: Path, deadline: float) -> None:
    """Copy url to dest with a progress bar, within `deadline` seconds and MAX_DOWNLOAD bytes."""
    end = time.monotonic() + deadline
    opener = urllib.request.build_opener(_NoDowngrade)
    with opener.open(url, timeout=max(0.1, min(READ_TIMEOUT, deadline))) as resp:
        try:
            total = int(resp.headers.get("Content-Length"))
        except (TypeError, ValueError):
            total = None
        if total is not None and total > MAX_DOWNLOAD:
            raise DataError(
                f"{url} announces {total} bytes, more than the {MAX_DOWNLOAD} afunet accepts "
                f"for one archive: this is not the expected file; nothing was downloaded"
            )
        free = shutil.disk_usage(dest.parent).free
        if total is not None and total > free:
            raise DataError(
                f"{url} needs {total / 1e6:.0f} MB but only {free / 1e6:.0f} MB is free in "
                f"{dest.parent}: free space or choose a root on a larger disk with --data-dir"
            )
        # read1 returns what has arrived, so a trickling server cannot hold a read past the
        # deadline by more than one READ_TIMEOUT.
        read = getattr(resp, "read1", resp.read)
        received = 0
        with (
            open(dest, "wb") as out,
            tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar,
        ):
            while True:
                if time.monotonic() > end:
                    raise DataError(
                        f"Download of {url} did not finish within {deadline:g} s (got {received} "
                        f"of {total if total is not None else '?'} bytes); the partial file was "
                        f"removed. Retry later, or allow longer with {FETCH_DEADLINE_ENV}=SECONDS"
                    )
                chunk = read(1 << 16)
                if not chunk:
                    break
                received += len(chunk)
                if received > MAX_DOWNLOAD:
                    raise DataError(
                        f"{url} sent more than the {MAX_DOWNLOAD} bytes afunet accepts for one "
                        f"archive: this is not the expected file; the partial file was removed"
                    )
                out.write(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise DataError(
            f"Download of {url} was cut off: got {received} of the {total} bytes the server "
            f"announced (Content-Length); the partial file was removed. Retry later"
        )


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
