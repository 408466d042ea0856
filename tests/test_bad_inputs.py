"""Bad input to training and the CLI: a clear one-line error or the right result, nothing lost.

One test per class of input: settings (flag, --set, config file), two writers on one run
folder, leftovers of a killed run, a full or read-only disk, a diverging run, an unavailable
device, and bugs (one line, or the traceback with --debug). Data, checkpoints and bench have
their own modules (test_data_bad_input.py, test_data_fetch.py, test_bad_checkpoints.py).
"""

import errno
import fcntl
import json
import os

import pytest
import torch

from afunet import pipeline
from afunet.cli import main
from afunet.config import RULES, TrainConfig
from afunet.errors import AfunetError, UsageError, run_command
from afunet.training import loop, make_config, train


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("afunet: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _train(out, cache_dir, *args):
    return main(["train", "--profile", "smoke", "--out", str(out), "--cache-dir", str(cache_dir),
                 "--no-progress", *args])


@pytest.mark.parametrize("setting, expected", [
    ("epochs=0", ">= 1"), ("epochs=-1", ">= 1"), ("patience=0", ">= 1"),
    ("checkpoint_every=0", ">= 1"), ("batch_size=0", ">= 1"), ("eval_batch_size=0", ">= 1"),
    ("lr=abc", "number > 0"), ("lr=-1", "number > 0"), ("lr=0", "number > 0"),
    ("crop=-5", ">= 16"), ("input_size=3", ">= 16"), ("precision=fp8", "auto or bf16 or fp32"),
    ("device=gpu", "cuda:N"), ("rotation=\"45\"", "degrees"), ("contrast=1.5", "[0, 1)"),
    ("augment_p=2", "[0, 1]"), ("seed=-1", ">= 0"), ("width=2.5", "whole number"),
    ("hflip=\"no\"", "true or false"), ("model=unte", "choose one of"),
])
def test_invalid_setting_is_a_usage_error_that_names_it(setting, expected, tmp_path,
                                                         cache_dir, capsys):
    assert _train(tmp_path / "run", cache_dir, "--set", setting) == 2
    err = _error(capsys)
    assert setting.split("=")[0] in err and expected in err
    assert not (tmp_path / "run").exists()  # nothing written that would block the retry


def test_every_setting_has_a_rule():
    assert set(RULES) == set(TrainConfig.__dataclass_fields__)


@pytest.mark.parametrize("flag", [["--epochs", "0"], ["--width", "0"], ["--seed", "-1"],
                                  ["--epochs", "two"]])
def test_invalid_flag_is_refused_by_the_parser(flag, tmp_path, cache_dir, capsys):
    with pytest.raises(SystemExit) as exit_:
        _train(tmp_path / "run", cache_dir, *flag)
    assert exit_.value.code == 2
    assert flag[0] in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_flag_and_set_for_one_setting_conflict(tmp_path, cache_dir, capsys):
    assert _train(tmp_path / "run", cache_dir, "--epochs", "3", "--set", "epochs=5") == 2
    assert "--epochs 3 and --set epochs=5" in _error(capsys)


def test_invalid_config_file_is_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**make_config("smoke").to_dict(), "batch_size": 0}))
    with pytest.raises(UsageError, match="batch_size=0"):
        TrainConfig.load(path)


def test_a_corrected_retry_after_a_failure_trains(tmp_path, cache_dir, capsys):
    # Missing data: the run fails before training, and leaves nothing behind.
    out = tmp_path / "run"
    assert main(["train", "--profile", "smoke", "--dataset", "drive", "--data-dir",
                 str(tmp_path / "nowhere"), "--cache-dir", str(tmp_path / "empty"),
                 "--out", str(out), "--no-progress"]) == 1
    _error(capsys)
    assert not out.exists()
    # A folder whose config.json never trained is no obstacle to other settings.
    out.mkdir()
    (out / "config.json").write_text(json.dumps(make_config("smoke", width=8).to_dict()))
    assert _train(out, cache_dir, "--epochs", "1") == 0


def test_an_unavailable_device_is_refused_before_anything_is_written(tmp_path, cache_dir,
                                                                    capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert _train(tmp_path / "run", cache_dir, "--set", "device=cuda") == 2
    assert "device 'cuda' is not available" in _error(capsys)
    assert not (tmp_path / "run").exists()
    assert main(["bench", "--models", "unet", "--device", "cuda:3"]) == 2
    _error(capsys)


def test_a_run_folder_has_one_writer(tmp_path, cache_dir, capsys):
    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".lock", "a+") as held:  # another process training in the folder
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("process 4242 on elsewhere\n")
        held.flush()
        assert _train(out, cache_dir, "--epochs", "1") == 1
        assert "in use by process 4242 on elsewhere" in _error(capsys)
        assert {p.name for p in out.iterdir()} == {".lock"}  # it wrote nothing
    # Released (the other process ended, or was killed): the lock is taken over.
    assert _train(out, cache_dir, "--epochs", "1") == 0
    rows = (out / "log.csv").read_text().splitlines()
    assert len(rows) == 2  # header and one epoch, written once


def test_leftovers_of_a_killed_run_are_removed(tmp_path, cache_dir):
    out = tmp_path / "run"
    out.mkdir()
    leftover = out / f".last.pt.{os.getpid() + 1}.tmp"
    leftover.write_bytes(b"")  # a kill during a checkpoint write
    train(make_config("smoke", epochs=1, device="cpu"), out, cache_dir=cache_dir,
          progress=False)
    assert not leftover.exists()
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_is_a_clear_error(code, tmp_path, cache_dir, monkeypatch):
    def fail(payload, path):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(loop, "save_checkpoint", fail)
    with pytest.raises(AfunetError, match=f"cannot write .*{os.strerror(code)}"):
        train(make_config("smoke", epochs=1, device="cpu"), tmp_path / "run",
              cache_dir=cache_dir, progress=False)


def test_a_diverging_run_stops_with_a_clear_error(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(loop, "_validate", lambda *a: (float("nan"), 0.0))
    with pytest.raises(AfunetError, match="diverged at epoch 1 .*lower the learning rate"):
        train(make_config("smoke", epochs=2, device="cpu"), tmp_path / "run",
              cache_dir=cache_dir, progress=False)
    assert not (tmp_path / "run" / "summary.json").exists()  # no Infinity in any summary


def test_a_bug_is_one_line_and_debug_shows_the_traceback(capsys):
    def bug():
        raise KeyError("oops")

    assert run_command(bug) == 1
    err = _error(capsys)
    assert "unexpected KeyError" in err and "--debug" in err
    with pytest.raises(KeyError):
        run_command(bug, debug=True)
    with pytest.raises(SystemExit):
        main(["--debug", "--help"])


def test_pipeline_run_of_an_unknown_name_is_one_line(capsys):
    assert pipeline.main(["run", "drive-afunet"]) == 2
    assert "not a run name" in _error(capsys)


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
@pytest.mark.parametrize("inside", [False, True])
def test_an_output_that_is_a_file_is_named(command, inside, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    out = afile / "sub" if inside else afile
    weights = "results/cpu/checkpoints/drive-unet-s0.pt"
    args = {"train": ["train", "--profile", "smoke", "--no-progress"],
            "evaluate": ["evaluate", "--checkpoint", weights],
            "predict": ["predict", str(afile), "--checkpoint", weights]}[command]
    assert main([*args, "--out", str(out)]) == 2
    assert f"--out {out} is a file, or lies inside one" in _error(capsys)
    assert afile.read_text() == "mine"


def test_debug_is_accepted_after_the_sub_command(capsys):
    with pytest.raises(UsageError):
        main(["train", "--debug", "--profile", "smoke", "--set", "lr=abc"])
