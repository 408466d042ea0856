"""Training: config, profiles, a smoke run end to end, resume after a kill, determinism, checkpoints."""

import csv
import json
import shutil
import time

import pytest
import torch

from afunet.errors import AfunetError, CheckpointError
from afunet.inference import load_checkpoint
from afunet.training import (
    PROFILES,
    TrainConfig,
    export_checkpoint,
    load_checkpoint_dict,
    make_config,
    parse_overrides,
    train,
)
from afunet.training.checkpoint import save_checkpoint

EPOCHS = 3


class Kill(Exception):
    """Stands for the process being killed after an epoch's checkpoint was written."""


class Payload:
    """A class instance: loading it would need arbitrary unpickling."""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def config():
    # Bitwise reproducibility is promised on the CPU; GPU kernels chosen by cuDNN's benchmark
    # mode may sum in a different order from run to run.
    return make_config("smoke", epochs=EPOCHS, device="cpu")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, config, cache_dir):
    """An uninterrupted smoke run: (run folder, summary)."""
    out = tmp_path_factory.mktemp("reference")
    return out, train(config, out, cache_dir=cache_dir, progress=False)


def _weights(path):
    return load_checkpoint_dict(path)["model"]


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def _log(path):
    with open(path) as f:
        return [{k: v for k, v in row.items() if k not in ("seconds", "elapsed")}
                for row in csv.DictReader(f)]


def test_config_round_trip_and_overrides():
    config = make_config("cpu", model="unet", model_kwargs={"x": 1})
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.width == 16 and config.batch_size == 1 and config.input_size is None
    assert make_config("paper").input_size == 512 and make_config("paper").width == 64
    assert set(PROFILES) == {"smoke", "cpu", "lab", "paper"}
    assert parse_overrides(["lr=5e-4", "crop=null", "dataset=stare", "model_kwargs={\"a\": 1}"]) \
        == {"lr": 5e-4, "crop": None, "dataset": "stare", "model_kwargs": {"a": 1}}
    with pytest.raises(AfunetError, match="unknown training setting"):
        make_config("smoke", learning_rate=1)
    with pytest.raises(AfunetError, match="unknown profile"):
        make_config("huge")
    # Another data set starts from its own loader options, not smoke's synthetic ones.
    assert make_config("smoke", dataset="drive").dataset_kwargs == {}


def test_smoke_run_writes_every_file(reference, config):
    out, summary = reference
    for name in ("config.json", "log.csv", "last.pt", "best.pt", "summary.json"):
        assert (out / name).is_file(), name
    assert TrainConfig.load(out / "config.json") == TrainConfig.from_dict(
        json.loads(json.dumps(config.to_dict())))
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    assert set(rows[0]) == {"epoch", "train_loss", "val_loss", "val_f1", "lr", "seconds",
                            "elapsed"}
    assert summary["epochs_run"] == EPOCHS and 1 <= summary["best_epoch"] <= EPOCHS
    assert len(summary["val_ids"]) == 2 and not set(summary["val_ids"]) & set(summary["train_ids"])
    assert summary["precision"] == "fp32" and summary["environment"]["torch"]
    best = load_checkpoint_dict(out / "best.pt")
    assert best["epoch"] == summary["best_epoch"] and "optimizer" not in best
    assert best["split"]["val_ids"] == summary["val_ids"]
    last = load_checkpoint_dict(out / "last.pt")
    assert last["state"]["epoch"] == EPOCHS and "optimizer" in last


def test_finished_run_is_not_redone(reference, config, cache_dir):
    out, summary = reference
    before = (out / "last.pt").stat().st_mtime_ns
    assert train(config, out, cache_dir=cache_dir, progress=False) == summary
    assert (out / "last.pt").stat().st_mtime_ns == before


def test_other_settings_in_same_folder_are_refused(reference, config, cache_dir):
    out, _ = reference
    with pytest.raises(AfunetError, match="lr"):
        train(config.replace(lr=0.5), out, cache_dir=cache_dir, progress=False)


def test_resume_after_kill_equals_uninterrupted_run(reference, config, cache_dir, tmp_path):
    ref, ref_summary = reference

    def kill_after_first_epoch(row):
        if row["epoch"] == 1:
            raise Kill

    with pytest.raises(Kill):
        train(config, tmp_path, cache_dir=cache_dir, progress=False,
              on_epoch_end=kill_after_first_epoch)
    assert not (tmp_path / "summary.json").exists()
    summary = train(config, tmp_path, cache_dir=cache_dir, progress=False)
    assert summary["resumed"] == 1
    _assert_same_weights(ref / "last.pt", tmp_path / "last.pt")
    _assert_same_weights(ref / "best.pt", tmp_path / "best.pt")
    assert _log(ref / "log.csv") == _log(tmp_path / "log.csv")
    for key in ("best_epoch", "best_val_loss", "best_val_f1", "epochs_run"):
        assert summary[key] == ref_summary[key], key


def test_sparse_checkpoints_resume_to_the_same_result(config, cache_dir, tmp_path):
    # Checkpoints every 3 epochs: a kill after epoch 4 resumes from epoch 3's files and
    # replays epoch 4; the result must equal an uninterrupted run checkpointed every epoch.
    dense = config.replace(epochs=5)
    sparse = dense.replace(checkpoint_every=3)
    ref_summary = train(dense, tmp_path / "ref", cache_dir=cache_dir, progress=False)

    def kill_after_fourth_epoch(row):
        if row["epoch"] == 4:
            raise Kill

    run = tmp_path / "sparse"
    with pytest.raises(Kill):
        train(sparse, run, cache_dir=cache_dir, progress=False,
              on_epoch_end=kill_after_fourth_epoch)
    assert load_checkpoint_dict(run / "last.pt")["epoch"] == 3
    summary = train(sparse, run, cache_dir=cache_dir, progress=False)
    _assert_same_weights(tmp_path / "ref" / "last.pt", run / "last.pt")
    _assert_same_weights(tmp_path / "ref" / "best.pt", run / "best.pt")
    assert _log(tmp_path / "ref" / "log.csv") == _log(run / "log.csv")
    assert summary["best_val_loss"] == ref_summary["best_val_loss"]


def test_kill_between_best_and_last_checkpoint(reference, config, cache_dir, tmp_path):
    # A kill after best.pt but before last.pt leaves a best.pt (and log rows) newer than
    # last.pt: emulated by putting back the last.pt of epoch 1 after the run.
    ref, _ = reference

    def keep_epoch_one(row):
        if row["epoch"] == 1:
            shutil.copy(tmp_path / "last.pt", tmp_path / "epoch1.pt")

    train(config, tmp_path, cache_dir=cache_dir, progress=False, on_epoch_end=keep_epoch_one)
    (tmp_path / "epoch1.pt").replace(tmp_path / "last.pt")
    (tmp_path / "summary.json").unlink()
    train(config, tmp_path, cache_dir=cache_dir, progress=False)
    _assert_same_weights(ref / "last.pt", tmp_path / "last.pt")
    _assert_same_weights(ref / "best.pt", tmp_path / "best.pt")
    assert _log(ref / "log.csv") == _log(tmp_path / "log.csv")


def test_same_seed_same_result_other_seed_differs(reference, config, cache_dir, tmp_path):
    ref, ref_summary = reference
    again = train(config, tmp_path / "same", cache_dir=cache_dir, progress=False)
    _assert_same_weights(ref / "last.pt", tmp_path / "same" / "last.pt")
    assert again["best_val_loss"] == ref_summary["best_val_loss"]
    train(config.replace(seed=1, epochs=1), tmp_path / "other", cache_dir=cache_dir,
          progress=False)
    first = load_checkpoint_dict(tmp_path / "other" / "last.pt")["model"]
    assert any(not torch.equal(first[k], v) for k, v in _weights(ref / "last.pt").items())


def test_early_stopping_crop_and_deep_supervision(config, cache_dir, tmp_path):
    # min_delta so large that no epoch after the first counts as better: stops after patience.
    run = config.replace(model="unetpp", model_kwargs={"deep_supervision": True}, crop=32,
                         loss_in_fov=True, epochs=10, patience=1, min_delta=1e9)
    summary = train(run, tmp_path, cache_dir=cache_dir, progress=False)
    assert summary["stopped_early"] and summary["epochs_run"] == 2 and summary["best_epoch"] == 1
    assert summary["stopped_by"] == "patience"


def test_deadline_ends_training_and_keeps_best_weights(config, cache_dir, tmp_path):
    # A deadline already past: one epoch runs, then none; no checkpoint epoch was reached,
    # yet best.pt must be on disk for the evaluation that follows.
    run = config.replace(epochs=5, checkpoint_every=100)
    summary = train(run, tmp_path, cache_dir=cache_dir, progress=False, deadline=time.time())
    assert summary["epochs_run"] == 1 and summary["stopped_by"] == "deadline"
    assert load_checkpoint_dict(tmp_path / "best.pt")["epoch"] == 1
    full = train(run.replace(epochs=2), tmp_path / "full", cache_dir=cache_dir, progress=False)
    assert full["stopped_by"] == "epochs" and full["epochs_run"] == 2


def test_checkpoint_with_pickled_object_is_refused(reference, tmp_path):
    payload = load_checkpoint_dict(reference[0] / "best.pt")
    payload["extra"] = Payload()
    save_checkpoint(payload, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="pickled Python object"):
        load_checkpoint_dict(tmp_path / "evil.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint_dict(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint_dict(tmp_path / "missing.pt")


def test_export_checkpoint_is_small_and_loads(reference, tmp_path):
    src = reference[0]
    dst = export_checkpoint(src, tmp_path / "small.pt")
    small = load_checkpoint_dict(dst)
    assert "optimizer" not in small and small["config"] == load_checkpoint_dict(
        src / "best.pt")["config"]
    assert all(v.dtype == torch.float16 for v in small["model"].values() if v.is_floating_point())
    assert dst.stat().st_size < (src / "best.pt").stat().st_size
    model, _ = load_checkpoint(dst, "cpu")
    assert all(p.dtype == torch.float32 for p in model.parameters())
