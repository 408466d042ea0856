"""Bad input gives one DataError naming the file and the fix, and leaves nothing half-imported.

Also checks that every format the data sets ship in decodes (on small files made here).
"""

import gzip
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from afunet.data import chase, load_dataset, store
from afunet.data.io import pixel_sha256, read_image, read_mask
from afunet.errors import DataError

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
