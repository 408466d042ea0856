"""Tensor cache: built once, reused, rebuilt when the source changes or the file is damaged."""

import os

import pytest
import torch

import afunet.data
from afunet.data import cache
from afunet.data.cache import build_all, cache_path, load_tensors
from afunet.data.synthetic import generate
from afunet.errors import DataError, DatasetMissingError

SYN = {"n_train": 3, "n_test": 2, "options": {"size": (64, 64)}}

# A fake on-disk data set, registered below as "fake": the cache fingerprints the files of the
# loader module's FOLDER, so this module doubles as that loader module.
FOLDER = "FAKE"


def fake_load(split, root=None, ragged=False, second=False):
    """Two synthetic images whose seed is read from root/FAKE/seed.txt."""
    base = afunet.data.resolve_root(root) / FOLDER
    if not base.is_dir():
        raise DatasetMissingError(f"{base} is missing")
    samples = generate(2, (48, 40), seed=int((base / "seed.txt").read_text()))
    if ragged:
        samples[1] = generate(1, (40, 48), seed=9)[0]
    for s in samples:
        s.label2 = s.label.copy() if second else None
    return samples


@pytest.fixture
def calls(monkeypatch):
    """Count the decodes: every call of afunet.data.load_dataset."""
    counter = {"n": 0}
    real = afunet.data.load_dataset

    def counting(*args, **kw):
        counter["n"] += 1
        return real(*args, **kw)

    monkeypatch.setattr(afunet.data, "load_dataset", counting)
    return counter


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / FOLDER).mkdir(parents=True)
    (root / FOLDER / "seed.txt").write_text("1")
    monkeypatch.setitem(afunet.data.DATASETS, "fake", f"{__name__}:fake_load")
    return root


def test_builds_from_synthetic_then_hits_the_cache(tmp_path, calls):
    first = load_tensors("synthetic", "train", cache_dir=tmp_path, **SYN)
    assert calls["n"] == 1
    assert first["images"].dtype == torch.uint8 and first["images"].shape == (3, 3, 64, 64)
    assert first["labels"].dtype == torch.bool and first["labels"].shape == (3, 1, 64, 64)
    assert first["fovs"].dtype == torch.bool and first["label2"] is None
    assert first["ids"] == ["syn000", "syn001", "syn002"]
    assert first["meta"]["dataset"] == "synthetic" and first["meta"]["split"] == "train"
    second = load_tensors("synthetic", "train", cache_dir=tmp_path, **SYN)
    assert calls["n"] == 1  # served from the file
    for key in ("images", "labels", "fovs"):
        assert torch.equal(first[key], second[key])
    assert second["ids"] == first["ids"] and second["meta"] == first["meta"]
    path = cache_path("synthetic", "train", tmp_path, **SYN)
    assert path.is_file() and path.name.startswith("synthetic-train-native-")
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_settings_get_their_own_files(tmp_path, calls):
    load_tensors("synthetic", "test", cache_dir=tmp_path, **SYN)
    load_tensors("synthetic", "test", cache_dir=tmp_path, seed=1, **SYN)
    load_tensors("synthetic", "test", cache_dir=tmp_path, green=True, **SYN)
    assert calls["n"] == 3 and len(list(tmp_path.glob("*.pt"))) == 3
    assert cache_path("drive", "train", tmp_path).name == "drive-train-native.pt"
    assert (
        cache_path("stare", "test", tmp_path, size=512, green=True).name
        == "stare-test-512-green.pt"
    )


def test_corrupt_file_is_rebuilt_not_fatal(tmp_path, calls):
    path = cache_path("synthetic", "train", tmp_path, **SYN)
    load_tensors("synthetic", "train", cache_dir=tmp_path, **SYN)
    path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="unreadable"):
        data = load_tensors("synthetic", "train", cache_dir=tmp_path, **SYN)
    assert calls["n"] == 2 and data["images"].shape[0] == 3
    load_tensors("synthetic", "train", cache_dir=tmp_path, **SYN)
    assert calls["n"] == 2  # the rebuilt file is valid


def test_damaged_payload_is_rebuilt(tmp_path, calls):
    path = cache_path("synthetic", "train", tmp_path, **SYN)
    load_tensors("synthetic", "train", cache_dir=tmp_path, **SYN)
    stored = torch.load(path, weights_only=True)
    stored["tensors"]["images"]["zlib"] = stored["tensors"]["images"]["zlib"][:100]
    torch.save(stored, path)
    with pytest.warns(UserWarning, match="damaged"):
        load_tensors("synthetic", "train", cache_dir=tmp_path, **SYN)
    assert calls["n"] == 2


def test_stale_fingerprint_is_rebuilt(tmp_path, calls):
    path = cache_path("synthetic", "train", tmp_path, **SYN)
    load_tensors("synthetic", "train", cache_dir=tmp_path, **SYN)
    stored = torch.load(path, weights_only=True)
    stored["meta"]["code"] = "from an older version"
    torch.save(stored, path)
    load_tensors("synthetic", "train", cache_dir=tmp_path, **SYN)
    assert calls["n"] == 2


def test_source_changes_trigger_a_rebuild(tmp_path, fake_root, calls):
    first = load_tensors("fake", "train", fake_root, tmp_path / "cache")
    load_tensors("fake", "train", fake_root, tmp_path / "cache")
    assert calls["n"] == 1
    seed_file = fake_root / FOLDER / "seed.txt"
    seed_file.write_text("2")
    os.utime(seed_file, ns=(1, 10**18))  # a new mtime even on coarse file systems
    second = load_tensors("fake", "train", fake_root, tmp_path / "cache")
    assert calls["n"] == 2 and not torch.equal(first["images"], second["images"])
    # Without the source (a machine that received only the cache) the file is used as is.
    (seed_file).unlink()
    (fake_root / FOLDER).rmdir()
    third = load_tensors("fake", "train", fake_root, tmp_path / "cache")
    assert calls["n"] == 2 and torch.equal(third["images"], second["images"])


def test_missing_source_without_cache_raises_the_loaders_error(tmp_path, fake_root):
    with pytest.raises(DatasetMissingError):
        load_tensors("fake", "train", tmp_path / "nowhere", tmp_path / "cache")


def test_resize_keeps_binary_labels_and_second_observer(tmp_path, fake_root):
    data = load_tensors("fake", "test", fake_root, tmp_path, size=32, second=True)
    assert data["images"].shape == (2, 3, 32, 32) and data["images"].dtype == torch.uint8
    for key in ("labels", "fovs", "label2"):
        assert data[key].dtype == torch.bool and data[key].shape == (2, 1, 32, 32)
    assert torch.equal(data["label2"], data["labels"])
    assert data["meta"]["size"] == [32, 32]
    assert cache_path("fake", "test", tmp_path, size=32, second=True).is_file()


def test_resized_setting_derives_from_native_cache_without_source(tmp_path, fake_root):
    # A GPU machine gets only native caches; a 32 x 32 setting must equal one built from source.
    built = load_tensors("fake", "test", fake_root, tmp_path / "a", size=32, second=True)
    load_tensors("fake", "test", fake_root, tmp_path / "b", second=True)  # native only
    derived = load_tensors(
        "fake", "test", tmp_path / "nowhere", tmp_path / "b", size=32, second=True
    )
    for key in ("images", "labels", "fovs", "label2"):
        assert torch.equal(built[key], derived[key]), key
    assert derived["ids"] == built["ids"]


def test_mixed_sizes_need_a_size(tmp_path, fake_root):
    with pytest.raises(DataError, match="different sizes"):
        load_tensors("fake", "train", fake_root, tmp_path, ragged=True)
    data = load_tensors("fake", "train", fake_root, tmp_path, size=(40, 44), ragged=True)
    assert data["images"].shape == (2, 3, 40, 44)


def test_green_and_clahe_are_baked_in(tmp_path):
    data = load_tensors("synthetic", "test", cache_dir=tmp_path, green=True, clahe=True, **SYN)
    images = data["images"]
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    assert data["meta"]["green"] and data["meta"]["clahe"]


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AFUNET_CACHE", str(tmp_path / "env-cache"))
    assert cache.default_cache_dir() == (tmp_path / "env-cache").resolve()
    assert cache_path("drive", "test").parent == (tmp_path / "env-cache").resolve()


def test_build_all_and_command_line(tmp_path, capsys):
    paths = build_all(tmp_path, ["synthetic"], [None, 32], ["test"], **SYN)
    assert [p.name.split("-")[:3] for p in paths] == [
        ["synthetic", "test", "native"],
        ["synthetic", "test", "32"],
    ]
    assert all(p.is_file() for p in paths)
    cache.main(
        [
            "--names",
            "synthetic",
            "--splits",
            "test",
            "--sizes",
            "24x20",
            "--cache-dir",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out.strip()
    assert out.endswith("synthetic-test-24x20.pt")


@pytest.mark.data
def test_real_drive_round_trip(data_root, tmp_path, calls):
    data = load_tensors("drive", "test", data_root, tmp_path)
    assert data["images"].shape == (20, 3, 584, 565) and data["images"].dtype == torch.uint8
    assert data["labels"].shape == data["fovs"].shape == data["label2"].shape == (20, 1, 584, 565)
    assert data["ids"][0] == "01" and 0.05 < data["labels"].float().mean() < 0.2
    again = load_tensors("drive", "test", data_root, tmp_path)
    assert calls["n"] == 1 and torch.equal(again["labels"], data["labels"])
    # Compressed: well under the 40 MB of the raw tensors.
    assert cache_path("drive", "test", tmp_path).stat().st_size < 16e6


def _load_script(name):
    """Import scripts/<name>.py, which is not part of the package."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_device_pack_keeps_the_named_caches_losslessly(tmp_path):
    import tarfile

    pack = _load_script("pack_devcache")
    source = tmp_path / "paper"
    source.mkdir()
    tensors = {}
    for i, name in enumerate(pack.NAMES):
        image = torch.randint(
            0, 256, (2, 3, 16, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(i)
        )
        tensors[name] = image
        torch.save(
            {"meta": {"name": name}, "tensors": {"images": cache._pack(image)}},
            source / f"{name}.pt",
        )
    archive = tmp_path / "pack" / "paper.tar.xz"
    wanted = ["drive-train-native", "stare-test-native"]
    assert pack.main([str(source), str(archive), *wanted]) == 0
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "out", filter="data")
    unpacked = sorted(p.stem for p in (tmp_path / "out" / "paper").iterdir())
    assert unpacked == sorted(wanted)
    for name in wanted:
        stored = torch.load(tmp_path / "out" / "paper" / f"{name}.pt", weights_only=True)
        assert torch.equal(cache._unpack(stored["tensors"]["images"]), tensors[name])
    with pytest.raises(SystemExit, match="unknown cache drive-val"):
        pack.main([str(source), str(archive), "drive-val"])
