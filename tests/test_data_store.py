"""Registry, data root, splits, CHASE_DB1 loader, import/verify and CLI on small generated files.

No real data needed: CHASE_DB1 is mimicked by 28 tiny images in its published flat layout.
"""

import argparse
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import afunet.data as data
from afunet.data import DEFAULT_N_VAL, chase, cli, load_dataset, store, train_val_split
from afunet.errors import AfunetError, DataError, DatasetMissingError

TINY = (38, 40)  # (H, W) of the generated CHASE_DB1 stand-ins


def write_tiny_chase(folder: Path, shape=TINY) -> Path:
    """Write 28 fake CHASE_DB1 images (red disc on black) with two observers' PNG labels."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.45 * min(h, w)) ** 2
    for k, sample_id in enumerate(chase.IDS):
        image = np.zeros((h, w, 3), np.uint8)
        image[disc] = (180, 90, 40)
        vessel = disc & (np.abs(yy - h / 2 - (k % 5 - 2)) < 2)
        image[vessel] = (110, 40, 20)
        Image.fromarray(image).save(folder / f"{sample_id}.jpg", quality=95)
        Image.fromarray(vessel.astype(np.uint8) * 255).save(folder / f"{sample_id}_1stHO.png")
        Image.fromarray(vessel).save(folder / f"{sample_id}_2ndHO.png")  # mode "1": bool labels
    return folder


@pytest.fixture
def tiny_shape(monkeypatch):
    """Make verify expect the tiny size instead of CHASE_DB1's 960x999."""
    monkeypatch.setattr(chase, "SHAPE", TINY)
    return TINY


# --- registry and data root -------------------------------------------------------------------


def test_registry_lists_all_sets():
    assert data.list_datasets() == ["chase_db1", "drive", "stare", "synthetic"]
    assert callable(data.get_loader("synthetic"))  # written by another module, resolved lazily


def test_unknown_name_and_split_list_the_valid_ones(tmp_path):
    with pytest.raises(AfunetError, match="valid names: chase_db1, drive, stare, synthetic"):
        load_dataset("drvie", "train", root=tmp_path)
    with pytest.raises(AfunetError, match="valid splits: train, test"):
        load_dataset("drive", "validation", root=tmp_path)


def test_resolve_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("AFUNET_DATA", raising=False)
    repo = Path(data.__file__).resolve().parents[2]
    assert data.resolve_root() == repo / "data"
    monkeypatch.setenv("AFUNET_DATA", str(tmp_path / "env"))
    assert data.resolve_root() == tmp_path / "env"
    assert data.resolve_root(tmp_path / "arg") == tmp_path / "arg"


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("drive", "afunet data import drive PATH/TO/DRIVE.zip"),
        ("stare", "afunet data fetch stare"),
        ("chase_db1", "afunet data import chase_db1 PATH/TO/CHASEDB1.zip"),
    ],
)
def test_missing_set_names_folder_and_command(tmp_path, name, command):
    with pytest.raises(DatasetMissingError) as err:
        load_dataset(name, "test", root=tmp_path)
    assert str(tmp_path) in str(err.value) and command in str(err.value)


# --- train/validation split ---------------------------------------------------------------------


def test_train_val_split_is_deterministic_and_disjoint():
    ids = [f"{i:02d}" for i in range(21, 41)]
    fit, val = train_val_split(ids, DEFAULT_N_VAL["drive"], seed=0)
    assert (fit, val) == train_val_split(ids, 4, seed=0)
    assert len(val) == 4 and len(fit) == 16 and set(fit) | set(val) == set(ids)
    assert not set(fit) & set(val)
    assert fit == [i for i in ids if i in fit]  # input order kept
    assert set(train_val_split(ids[::-1], 4, seed=0)[1]) == set(val)  # order-independent
    assert any(train_val_split(ids, 4, seed=s)[1] != val for s in range(1, 5))
    assert train_val_split(ids, 0, seed=0) == (ids, [])


def test_train_val_split_defaults_and_errors():
    assert DEFAULT_N_VAL == {"drive": 4, "stare": 2, "chase_db1": 4, "synthetic": 2}
    with pytest.raises(AfunetError):
        train_val_split(["a", "b"], 2, seed=0)
    with pytest.raises(AfunetError):
        train_val_split(["a", "a", "b"], 1, seed=0)


# --- STARE protocols (ids only, no files) -------------------------------------------------------


def test_stare_protocols():
    from afunet.data import stare

    assert stare.split_ids("train") == stare.IDS[:10]
    assert stare.split_ids("test") == stare.IDS[10:]
    folds = [stare.split_ids("test", "kfold", fold=f, k=4) for f in range(4)]
    assert sum(folds, []) == stare.IDS and all(len(f) == 5 for f in folds)
    assert stare.split_ids("train", "kfold", fold=1, k=4) == folds[0] + folds[2] + folds[3]
    assert stare.split_ids("test", "kfold", fold=7, k=20) == [stare.IDS[7]]  # leave-one-out
    with pytest.raises(AfunetError):
        stare.split_ids("test", "kfold", fold=4, k=4)
    with pytest.raises(AfunetError):
        stare.split_ids("test", "default", fold=1)


# --- CHASE_DB1 loader on tiny files ---------------------------------------------------------------


def test_chase_loader_on_tiny_files(tmp_path):
    write_tiny_chase(tmp_path / "CHASE_DB1")
    train = load_dataset("chase_db1", "train", root=tmp_path)
    test = load_dataset("chase_db1", "test", root=tmp_path)
    assert [s.id for s in train] == chase.IDS[:20] and len(train) == 20
    assert [s.id for s in test] == [f"Image_{c}{e}" for c in (11, 12, 13, 14) for e in "LR"]
    for s in train + test:
        assert s.image.shape == (*TINY, 3) and s.image.dtype == np.uint8
        assert s.label.dtype == bool and s.label2.dtype == bool and s.fov.dtype == bool
        assert s.label.shape == s.fov.shape == TINY
        assert 0.3 < s.fov.mean() < 0.9  # the computed FOV is the red disc
        assert s.label.any() and (s.label == s.label2).all()


def test_chase_verify_checks_presence_and_size_only(tmp_path, tiny_shape):
    write_tiny_chase(tmp_path / "CHASE_DB1")
    assert not store.has_checksums("chase_db1")
    assert store.verify("chase_db1", tmp_path) == []
    (tmp_path / "CHASE_DB1" / "Image_03R_2ndHO.png").unlink()
    problems = store.verify("chase_db1", tmp_path)
    assert len(problems) == 1 and "Image_03R_2ndHO.png" in problems[0]


def test_chase_verify_reports_wrong_size(tmp_path):
    write_tiny_chase(tmp_path / "CHASE_DB1")  # 38x40, while the real set is 960x999
    problems = store.verify("chase_db1", tmp_path)
    assert len(problems) == 84 and "expected 960x999" in problems[0]


@pytest.mark.parametrize("packed", ["zip", "folder"])
def test_chase_import(tmp_path, tiny_shape, packed):
    src = write_tiny_chase(tmp_path / "download" / "CHASEDB1")
    if packed == "zip":
        archive = tmp_path / "CHASEDB1.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for f in sorted(src.iterdir()):
                zf.write(f, f.name)  # the official zip is flat
        src = archive
    root = tmp_path / "root"
    assert store.import_dataset("chase_db1", src, root) == root / "CHASE_DB1"
    assert sorted(p.name for p in root.iterdir()) == ["CHASE_DB1"]  # no staging left over
    assert len(load_dataset("chase_db1", "test", root=root)) == 8
    # importing again replaces the copy in place
    store.import_dataset("chase_db1", src, root)
    assert sorted(p.name for p in root.iterdir()) == ["CHASE_DB1"]


def test_fetch_refuses_registration_sets(tmp_path):
    with pytest.raises(DataError, match="afunet data import drive"):
        store.fetch("drive", tmp_path)
    with pytest.raises(DataError, match="afunet data import chase_db1"):
        store.fetch("chase_db1", tmp_path)
    with pytest.raises(AfunetError, match="generated on the fly"):
        store.fetch("synthetic", tmp_path)


def test_fetch_network_failure_says_how_to_import(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "STARE_URLS", [(tmp_path / "nowhere.tar").as_uri()])
    with pytest.raises(DataError, match="afunet data import stare stare-images.tar"):
        store.fetch("stare", tmp_path / "root")
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").iterdir())


# --- CLI ----------------------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    """Parse argv as `afunet ...` with the data sub-command registered, then run it."""
    parser = argparse.ArgumentParser(prog="afunet")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_on_empty_root_says_what_is_missing(tmp_path, capsys):
    root = str(tmp_path)
    assert run_cli("data", "list", "--data-dir", root) == 0
    out = capsys.readouterr().out
    assert (
        "missing" in out and "afunet data import drive" in out and "afunet data fetch stare" in out
    )
    assert run_cli("data", "verify", "--data-dir", root) == 1
    out = capsys.readouterr().out
    assert "DRIVE not found" in out and "STARE not found" in out and "CHASE_DB1 not found" in out
    assert run_cli("data", "fetch", "drive", "--data-dir", root) == 1
    assert "afunet data import drive" in capsys.readouterr().err
    assert run_cli("data", "import", "stare", str(tmp_path / "nope.tar"), "--data-dir", root) == 1
    err = capsys.readouterr().err
    # the same one-line form as the other subcommands' errors (afunet.cli.main)
    assert err.startswith("afunet: error: ") and "nope.tar does not exist" in err
    assert err.count("\n") == 1


def test_cli_import_list_verify(tmp_path, tiny_shape, capsys):
    src = write_tiny_chase(tmp_path / "src")
    root = str(tmp_path / "root")
    assert run_cli("data", "import", "chase_db1", str(src), "--data-dir", root) == 0
    assert run_cli("data", "list", "--data-dir", root) == 0
    assert "28/28 images" in capsys.readouterr().out
    assert run_cli("data", "verify", "chase_db1", "--data-dir", root) == 0
    assert "presence, count and sizes only" in capsys.readouterr().out


def test_cli_help_texts(capsys):
    for sub in ("list", "fetch", "import", "verify"):
        with pytest.raises(SystemExit):
            run_cli("data", sub, "--help")
        assert "--data-dir" in capsys.readouterr().out
