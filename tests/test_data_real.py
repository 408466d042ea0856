"""DRIVE and STARE as distributed: splits, shapes, label/FOV statistics, observer baselines,
verify, and import from archives/folders (skipped unless AFUNET_TEST_DATA points at them)."""

import gzip
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from afunet.data import load_dataset, stare, store
from afunet.data.fov import compute_fov
from afunet.metrics import confusion, pooled

pytestmark = pytest.mark.data


@pytest.fixture(scope="session")
def drive(data_root):
    """DRIVE loaded once: {"train": [...], "test": [...]}."""
    return {split: load_dataset("drive", split, root=data_root) for split in ("train", "test")}


@pytest.fixture(scope="session")
def stare_set(data_root):
    """STARE loaded once (default 10/10 protocol)."""
    return {split: load_dataset("stare", split, root=data_root) for split in ("train", "test")}


def check_samples(samples, shape, second_observer):
    """Types, shapes and the presence of label2 for a list of Samples."""
    for s in samples:
        assert s.image.shape == (*shape, 3) and s.image.dtype == np.uint8
        for mask in (s.label, s.fov):
            assert mask.shape == shape and mask.dtype == bool
        assert (s.label2 is not None) == second_observer
        if second_observer:
            assert s.label2.shape == shape and s.label2.dtype == bool


def test_drive_official_split(drive):
    assert [s.id for s in drive["train"]] == [str(i) for i in range(21, 41)]
    assert [s.id for s in drive["test"]] == [f"{i:02d}" for i in range(1, 21)]
    check_samples(drive["train"], (584, 565), second_observer=False)
    check_samples(drive["test"], (584, 565), second_observer=True)


def test_stare_default_split(stare_set):
    assert [s.id for s in stare_set["train"]] == stare.IDS[:10]
    assert [s.id for s in stare_set["test"]] == stare.IDS[10:]
    check_samples(stare_set["train"] + stare_set["test"], (605, 700), second_observer=True)


def test_stare_leave_one_out(data_root):
    (held_out,) = load_dataset("stare", "test", root=data_root, protocol="kfold", fold=19, k=20)
    assert held_out.id == "im0324"


@pytest.mark.parametrize("name", ["drive", "stare_set"])
def test_label_and_fov_statistics(request, name):
    samples = sum(request.getfixturevalue(name).values(), [])
    fov_fraction = np.array([s.fov.mean() for s in samples])
    vessel_in_fov = np.array([s.label[s.fov].mean() for s in samples])
    assert ((fov_fraction > 0.6) & (fov_fraction < 0.9)).all(), fov_fraction
    assert 0.07 < vessel_in_fov.mean() < 0.2
    assert ((vessel_in_fov > 0.04) & (vessel_in_fov < 0.2)).all(), vessel_in_fov  # im0319: 0.058
    outside = sum((s.label & ~s.fov).sum() for s in samples) / sum(s.label.sum() for s in samples)
    assert outside < 1e-3  # the FOV holds the labelled vessels


def test_computed_fov_matches_drive_masks(drive):
    # DRIVE ships FOV masks: the method used for STARE/CHASE_DB1 must reproduce them.
    for s in drive["test"]:
        fov = compute_fov(s.image)
        assert (fov & s.fov).sum() / (fov | s.fov).sum() > 0.985, s.id


def test_drive_second_observer_accuracy(drive):
    counts = [confusion(s.label2, s.label, s.fov) for s in drive["test"]]
    result = pooled(counts)
    assert round(result["accuracy"], 4) == 0.9473  # the human figure quoted in the literature
    assert result["f1"] == pytest.approx(0.7891, abs=1e-4)


def test_stare_second_observer(stare_set):
    counts = [confusion(s.label2, s.label, s.fov) for s in stare_set["train"] + stare_set["test"]]
    result = pooled(counts)
    assert result["accuracy"] == pytest.approx(0.9355, abs=1e-3)
    assert result["f1"] == pytest.approx(0.7417, abs=1e-3)


@pytest.mark.parametrize("name", ["drive", "stare"])
def test_verify_shared_copy(data_root, name):
    assert store.verify(name, data_root) == []


def test_import_drive_zip_and_stare_tars(tmp_path, data_root, drive, stare_set):
    # DRIVE as the official zip: training/ and test/ under a top folder DRIVE/
    drive_zip = tmp_path / "DRIVE.zip"
    with zipfile.ZipFile(drive_zip, "w", zipfile.ZIP_STORED) as zf:  # stored: the test stays fast
        for f in sorted((data_root / "DRIVE").rglob("*")):
            if f.is_file():
                zf.write(f, Path("DRIVE") / f.relative_to(data_root / "DRIVE"))
    # STARE as its three official tar archives of .ppm.gz files
    tars = []
    for sub in ("stare-images", "labels-ah", "labels-vk"):
        tars.append(tmp_path / f"{sub}.tar")
        with tarfile.open(tars[-1], "w") as tf:
            for f in sorted((data_root / "STARE" / sub).iterdir()):
                tf.add(f, f.name)
    root = tmp_path / "root"
    store.import_dataset("drive", drive_zip, root)
    store.import_dataset("stare", tars, root)
    assert sorted(p.name for p in root.iterdir()) == ["DRIVE", "STARE"]
    assert store.verify("drive", root) == [] and store.verify("stare", root) == []
    again = load_dataset("drive", "test", root=root)
    assert all(
        (a.image == b.image).all() and (a.label2 == b.label2).all()
        for a, b in zip(again, drive["test"], strict=True)
    )
    again = load_dataset("stare", "test", root=root)
    assert all(
        (a.label == b.label).all() and (a.fov == b.fov).all()
        for a, b in zip(again, stare_set["test"], strict=True)
    )


def test_import_stare_from_loose_plain_ppm(tmp_path, data_root):
    loose = tmp_path / "loose"
    loose.mkdir()
    for f in (data_root / "STARE").rglob("*.ppm.gz"):
        (loose / f.name.removesuffix(".gz")).write_bytes(gzip.decompress(f.read_bytes()))
    root = tmp_path / "root"
    store.import_dataset("stare", loose, root)
    assert (root / "STARE" / "labels-vk" / "im0001.vk.ppm.gz").is_file()  # stored gzipped
    assert store.verify("stare", root) == []


def test_fetch_stare_from_mirror(tmp_path, data_root, monkeypatch):
    # The real download needs the network: serve the same three archives from file:// URLs.
    urls = []
    for sub in ("stare-images", "labels-ah", "labels-vk"):
        archive = tmp_path / f"{sub}.tar"
        with tarfile.open(archive, "w") as tf:
            tf.add(data_root / "STARE" / sub, sub)
        urls.append(archive.as_uri())
    monkeypatch.setattr(store, "STARE_URLS", urls)
    root = tmp_path / "root"
    assert store.fetch("stare", root) == root / "STARE"
    assert store.verify("stare", root) == []
    shutil.rmtree(root)
