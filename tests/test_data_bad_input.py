"""Bad input gives one DataError naming the file and the fix, and leaves nothing half-imported.

Also checks that every format the data sets ship in decodes (on small files made here).
"""

import errno
import gzip
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from afunet.cli import main
from afunet.data import chase, load_dataset, store
from afunet.data.io import pixel_sha256, read_image, read_mask
from afunet.errors import AfunetError, DataError

SHAPE = (38, 40)


def write_tiny_chase(folder: Path) -> Path:
    """28 fake CHASE_DB1 images (red disc on black) with two observers' PNG labels."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = SHAPE
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.45 * min(h, w)) ** 2
    for sample_id in chase.IDS:
        image = np.zeros((h, w, 3), np.uint8)
        image[disc] = (180, 90, 40)
        vessel = disc & (np.abs(yy - h / 2) < 2)
        Image.fromarray(image).save(folder / f"{sample_id}.jpg", quality=95)
        for obs in ("1st", "2nd"):
            Image.fromarray(vessel.astype(np.uint8) * 255).save(folder / f"{sample_id}_{obs}HO.png")
    return folder


@pytest.fixture
def tiny_chase_checked(monkeypatch):
    """Pretend CHASE_DB1 is 38x40 and has reference checksums, computed from fresh tiny files."""
    monkeypatch.setattr(chase, "SHAPE", SHAPE)

    def make_sums(folder: Path) -> dict:
        sums = {
            rel: pixel_sha256(
                np.asarray(Image.open(folder / rel).convert("RGB"))
                if kind == "image"
                else read_mask(folder / rel)
            )
            for rel, kind in store.expected(chase)
        }
        monkeypatch.setattr(store, "_checksums", lambda: {"chase_db1": sums})
        return sums

    return make_sums


def leftovers(root: Path) -> list[str]:
    """Everything in root (hidden staging folders included)."""
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# --- formats that must decode ---------------------------------------------------------------


def test_every_shipped_format_decodes(tmp_path):
    rgb = (np.random.default_rng(0).random((SHAPE[0], SHAPE[1], 3)) * 255).astype(np.uint8)
    for name, kw in [
        ("a.png", {}),
        ("a.ppm", {}),
        ("a.tif", {"compression": "tiff_lzw"}),
        ("b.tif", {"compression": "jpeg"}),
        ("a.jpg", {}),
    ]:
        Image.fromarray(rgb).save(tmp_path / name, **kw)
        assert read_image(tmp_path / name).shape == (*SHAPE, 3), name
    assert (read_image(tmp_path / "a.tif") == rgb).all()
    # STARE labels: P5 greyscale with a comment line, named .ppm and gzipped
    label = np.zeros(SHAPE, np.uint8)
    label[5:9] = 255
    header = f"P5\n# CREATOR: XV Version 3.10a\n{SHAPE[1]} {SHAPE[0]}\n255\n".encode()
    (tmp_path / "x.ah.ppm.gz").write_bytes(gzip.compress(header + label.tobytes()))
    assert (read_mask(tmp_path / "x.ah.ppm.gz") == (label > 0)).all()
    # DRIVE 2nd_manual: palette GIF whose indices are {0, 1}
    pal = Image.fromarray((label > 0).astype(np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 255, 255, 255])
    pal.save(tmp_path / "x_manual2.gif")
    assert set(np.unique(read_image(tmp_path / "x_manual2.gif"))) == {0, 1}
    assert (read_mask(tmp_path / "x_manual2.gif") == (label > 0)).all()


# --- unreadable files -----------------------------------------------------------------------


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "DRIVE" / "test" / "images" / "01_test.tif"
    with pytest.raises(
        DataError, match="Missing image file .*01_test.tif.*afunet data import drive"
    ):
        read_image(path)


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.gif", "a.tif", "a.ppm", "a.ppm.gz"])
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_truncated_or_corrupt_image_names_it(tmp_path, name, damage):
    rgb = (np.random.default_rng(1).random((64, 80, 3)) * 255).astype(np.uint8)
    plain = tmp_path / name.removesuffix(".gz")
    Image.fromarray(rgb).save(plain)
    raw = plain.read_bytes()
    raw = raw[: len(raw) // 2] if damage == "truncated" else b"\x00garbage" * 50
    path = tmp_path / "STARE" / name
    path.parent.mkdir()
    path.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    with pytest.raises(DataError) as err:
        read_image(path)
    assert str(path) in str(err.value) and "afunet data import stare" in str(err.value)


def test_label_of_wrong_size_names_both_files(tmp_path):
    folder = write_tiny_chase(tmp_path / "CHASE_DB1")
    label = folder / "Image_02L_1stHO.png"
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(label)
    with pytest.raises(DataError) as err:
        load_dataset("chase_db1", "train", root=tmp_path)
    message = str(err.value)
    assert str(label) in message and str(folder / "Image_02L.jpg") in message
    assert "30x40" in message and "38x40" in message


def test_missing_file_in_a_set_names_it(tmp_path):
    folder = write_tiny_chase(tmp_path / "CHASE_DB1")
    (folder / "Image_12R.jpg").unlink()
    with pytest.raises(DataError, match=r"Image_12R\.jpg"):
        load_dataset("chase_db1", "test", root=tmp_path)


# --- imports that must fail without leaving anything behind ------------------------------


def test_unexpected_archive_layout(tmp_path, tiny_chase_checked):
    src = write_tiny_chase(tmp_path / "src")
    archive = tmp_path / "renamed.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(src.iterdir()):
            zf.write(f, "pictures/" + f.name.replace("Image_", "img-"))
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        store.import_dataset("chase_db1", archive, root)
    assert str(archive) in str(err.value) and "84 of 84 expected files are missing" in str(
        err.value
    )
    assert leftovers(root) == []


def test_corrupt_archive(tmp_path):
    archive = tmp_path / "CHASEDB1.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip")
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"Cannot unpack .*CHASEDB1\.zip"):
        store.import_dataset("chase_db1", archive, root)
    assert leftovers(root) == []


def test_checksum_mismatch_keeps_previous_copy(tmp_path, tiny_chase_checked):
    src = write_tiny_chase(tmp_path / "src")
    tiny_chase_checked(src)
    root = tmp_path / "root"
    store.import_dataset("chase_db1", src, root)
    before = sorted(p.name for p in (root / "CHASE_DB1").iterdir())
    # a one-pixel change in one label
    bad = src / "Image_07L_2ndHO.png"
    label = np.asarray(Image.open(bad)).copy()
    label[0, 0] = 255
    Image.fromarray(label).save(bad)
    with pytest.raises(DataError) as err:
        store.import_dataset("chase_db1", src, root)
    assert "Checksum mismatch" in str(err.value) and str(bad) in str(err.value)
    assert leftovers(root) == ["CHASE_DB1"]  # no staging folder, previous copy untouched
    assert sorted(p.name for p in (root / "CHASE_DB1").iterdir()) == before
    assert store.verify("chase_db1", root) == []
    # the same damage inside the root is what verify reports
    shutil.copyfile(bad, root / "CHASE_DB1" / bad.name)
    problems = store.verify("chase_db1", root)
    assert len(problems) == 1 and "Image_07L_2ndHO.png" in problems[0]


def test_corrupt_file_inside_import(tmp_path, monkeypatch):
    monkeypatch.setattr(chase, "SHAPE", SHAPE)
    src = write_tiny_chase(tmp_path / "src")
    bad = src / "Image_14L.jpg"
    bad.write_bytes(bad.read_bytes()[:100])
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"Image_14L\.jpg.*truncated or corrupt"):
        store.import_dataset("chase_db1", src, root)
    assert leftovers(root) == []


def test_checksum_mismatch_on_real_stare(tmp_path, data_root):
    src = tmp_path / "STARE"
    shutil.copytree(data_root / "STARE", src)
    bad = src / "labels-ah" / "im0082.ah.ppm.gz"
    raw = bytearray(gzip.decompress(bad.read_bytes()))
    raw[-1] = 255 - raw[-1]  # flip the last pixel
    bad.write_bytes(gzip.compress(bytes(raw)))
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        store.import_dataset("stare", src, root)
    assert "Checksum mismatch" in str(err.value) and str(bad) in str(err.value)
    assert leftovers(root) == []


def test_damaged_member_of_a_zip_is_corrupt_not_a_traceback(tmp_path):
    # zlib.error (not an OSError) used to escape as a traceback
    archive = tmp_path / "CHASEDB1.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Image_01L.jpg", np.random.default_rng(0).bytes(3000) + b"abc" * 5000)
    info = zipfile.ZipFile(archive).infolist()[0]
    raw = bytearray(archive.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + 5
    raw[start : start + 40] = bytes(b ^ 0x5A for b in raw[start : start + 40])
    archive.write_bytes(bytes(raw))
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"Cannot unpack .*CHASEDB1\.zip.*truncated or corrupt"):
        store.import_dataset("chase_db1", archive, root)
    assert leftovers(root) == []


# --- archives with members that would escape the folder -------------------------------------


def _tar(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w") as tf:
        for m in members:
            tf.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    return path


def _tar_member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


def _zip(path: Path, name: str, symlink: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Image_01L.jpg", b"x")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd" if symlink else "evil")
    return path


UNSAFE = {
    "tar-dotdot": (lambda p: _tar(p / "x.tar", _tar_member("../evil.txt")), "../evil.txt"),
    "tar-absolute": (lambda p: _tar(p / "x.tar", _tar_member("/tmp/evil.txt")), "/tmp/evil.txt"),
    "tar-symlink": (
        lambda p: _tar(p / "x.tar", _tar_member("link", tarfile.SYMTYPE, "/etc/passwd")),
        "link",
    ),
    "tar-hardlink": (
        lambda p: _tar(p / "x.tar", _tar_member("hard", tarfile.LNKTYPE, "/etc/passwd")),
        "hard",
    ),
    "tar-device": (lambda p: _tar(p / "x.tar", _tar_member("dev", tarfile.CHRTYPE)), "dev"),
    "zip-dotdot": (lambda p: _zip(p / "x.zip", "sub/../../evil.txt"), "sub/../../evil.txt"),
    "zip-absolute": (lambda p: _zip(p / "x.zip", "/evil.txt"), "/evil.txt"),
    "zip-symlink": (lambda p: _zip(p / "x.zip", "link", symlink=True), "link"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_archive_member_outside_the_folder_or_a_link_is_named(tmp_path, capsys, case):
    make, member = UNSAFE[case]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    archive = make(downloads)
    root = tmp_path / "root"
    assert main(["data", "import", "chase_db1", str(archive), "--data-dir", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("afunet: error: ") and err.count("\n") == 1
    assert str(archive) in err and repr(member) in err and "afunet refuses" in err
    assert "truncated or corrupt" not in err
    if case.split("-")[1] in ("dotdot", "absolute"):
        assert "would be written outside the folder" in err
    else:
        assert case.split("-")[1] in err  # symlink, hardlink, device
    assert leftovers(root) == [] and sorted(os.listdir(downloads)) == [archive.name]
    assert not (tmp_path / "evil.txt").exists()


# --- no space left: said as such, nothing half-written ---------------------------------------


@pytest.mark.parametrize("where", ["precheck", "unpack", "copy"])
def test_disk_full_is_named_not_corrupt(tmp_path, monkeypatch, where, chase_zip):
    archive = chase_zip

    def disk_full(*args, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "precheck":
        usage = shutil.disk_usage(tmp_path)
        monkeypatch.setattr(store.shutil, "disk_usage", lambda _p: usage._replace(free=10))
    elif where == "unpack":
        monkeypatch.setattr(zipfile.ZipFile, "extractall", disk_full)
    else:
        monkeypatch.setattr(store, "_copy", disk_full)
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        store.import_dataset("chase_db1", archive, root)
    message = str(err.value)
    assert "truncated or corrupt" not in message and "nothing was imported" in message
    assert ("is free" if where == "precheck" else "No space left") in message
    assert "--data-dir" in message
    assert leftovers(root) == []


# --- the data root is a file --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["list", "verify", "import", "fetch"])
@pytest.mark.parametrize("how", ["option", "env", "below-a-file"])
def test_data_root_that_is_a_file(tmp_path, capsys, monkeypatch, command, how):
    file = tmp_path / "notes.txt"
    file.write_text("not a folder")
    root = file / "data" if how == "below-a-file" else file
    argv = {"list": ["list"], "verify": ["verify"], "fetch": ["fetch", "stare"]}.get(
        command, ["import", "chase_db1", str(tmp_path)]
    )
    monkeypatch.setattr(store, "STARE_URLS", ["http://127.0.0.1:9/never-used.tar"])
    if how == "env":
        monkeypatch.setenv("AFUNET_DATA", str(root))
        code = main(["data", *argv])
    else:
        monkeypatch.delenv("AFUNET_DATA", raising=False)
        code = main(["data", *argv, "--data-dir", str(root)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("afunet: error: ") and err.count("\n") == 1
    assert f"data root {root} " in err and "not a folder" in err
    assert ("AFUNET_DATA" if how == "env" else "--data-dir") in err
    if how == "below-a-file":
        assert f"lies under {file}, which is a file" in err
    assert file.read_text() == "not a folder" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_data_root_that_is_a_file_through_the_api(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("x")
    with pytest.raises(AfunetError, match=r"notes\.txt .*is a file, not a folder"):
        load_dataset("drive", "test", root=file)
    with pytest.raises(DataError, match=r"notes\.txt is a file, not a folder"):
        store.import_dataset("chase_db1", tmp_path, file)
    with pytest.raises(AfunetError, match="--data-dir is empty"):
        load_dataset("drive", "test", root="")


# --- leftovers of killed imports ----------------------------------------------------------------

KILLED_IMPORT = """
import os, signal, sys
from afunet.data import store
store._stage = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # killed once unpacked
store.import_dataset("chase_db1", sys.argv[1], sys.argv[2])
"""


def killed_import(archive: Path, root: Path) -> Path:
    """Run an import in a child process, kill it mid-way; its staging folder."""
    before = set(leftovers(root))
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_IMPORT, str(archive), str(root)], timeout=120
    )
    assert proc.returncode == -9
    (name,) = set(leftovers(root)) - before
    assert name.startswith(".CHASE_DB1.import-") and any((root / name / "unpacked").rglob("*.png"))
    return root / name


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def staging(root: Path, pid: int, folder: str = "CHASE_DB1") -> Path:
    """A staging folder as afunet names it, owned by pid on this host."""
    path = root / f".{folder}.import-{pid}@{store._HOST}-abc123_x"
    (path / "unpacked").mkdir(parents=True)
    (path / "unpacked" / "big.bin").write_bytes(b"\0" * 1000)
    return path


@pytest.fixture
def chase_zip(tmp_path, monkeypatch):
    monkeypatch.setattr(chase, "SHAPE", SHAPE)
    src = write_tiny_chase(tmp_path / "src")
    archive = tmp_path / "CHASEDB1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(src.iterdir()):
            zf.write(f, f.name)
    return archive


@pytest.mark.parametrize("command", ["verify", "list", "import"])
def test_killed_import_leftover_is_named_and_removed(tmp_path, capsys, chase_zip, command):
    root = tmp_path / "root"
    left = killed_import(chase_zip, root)
    argv = {"verify": ["verify"], "list": ["list"]}.get(command, ["import", "chase_db1"])
    extra = [str(chase_zip)] if command == "import" else []
    code = main(["data", *argv, *extra, "--data-dir", str(root)])
    out = capsys.readouterr().out
    assert f"removed {left}, left by an import (process " in out and "no longer runs" in out
    assert not left.exists()
    assert leftovers(root) == (["CHASE_DB1"] if command == "import" else [])
    assert code == (0 if command != "verify" else 1)  # verify: no set is present


def test_running_import_is_left_alone(tmp_path, capsys, chase_zip):
    root = tmp_path / "root"
    root.mkdir()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = staging(root, alive.pid)
        assert main(["data", "list", "--data-dir", str(root)]) == 0
        out = capsys.readouterr().out
        assert f"{busy} is in use by a running import (process {alive.pid}); left alone" in out
        assert main(["data", "import", "chase_db1", str(chase_zip), "--data-dir", str(root)]) == 0
        assert busy.is_dir() and leftovers(root) == sorted(["CHASE_DB1", busy.name])
    finally:
        alive.kill()
        alive.wait()
    assert main(["data", "verify", "chase_db1", "--data-dir", str(root)]) == 0
    assert f"removed {busy}" in capsys.readouterr().out and leftovers(root) == ["CHASE_DB1"]


def test_import_killed_while_swapping_puts_the_previous_copy_back(tmp_path, capsys, chase_zip):
    root = tmp_path / "root"
    store.import_dataset("chase_db1", chase_zip, root)
    files = sorted(p.name for p in (root / "CHASE_DB1").iterdir())
    left = staging(root, dead_pid())
    os.replace(root / "CHASE_DB1", left / "previous")  # the kill came between the two renames
    assert main(["data", "verify", "chase_db1", "--data-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"removed {left}" in out and "put back the previous copy of CHASE_DB1" in out
    assert leftovers(root) == ["CHASE_DB1"]
    assert sorted(p.name for p in (root / "CHASE_DB1").iterdir()) == files


def test_leftover_that_cannot_be_removed_is_named(tmp_path, capsys, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    left = staging(root, dead_pid())
    old = root / ".DRIVE.import-k2j4_x9a"  # from a version that did not record the owner
    old.mkdir()
    real_unlink = os.unlink

    def unlink(path, *args, **kw):
        if os.fspath(path).endswith("big.bin"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_unlink(path, *args, **kw)

    monkeypatch.setattr(os, "unlink", unlink)
    assert main(["data", "verify", "--data-dir", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{left} was left by an import (process " in out
    assert f"could not be removed: {left / 'unpacked' / 'big.bin'} (Permission denied)" in out
    assert f"rm -rf '{left}'" in out
    assert f"{old} was left by an import of an older afunet version" in out
    assert f"rm -rf '{old}'" in out and old.is_dir()
