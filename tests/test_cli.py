"""The `afunet` command: help texts, one-line errors, and a smoke run through every sub-command."""

import csv
import subprocess
import sys

import pytest

from afunet.cli import main

COMMANDS = ["data", "train", "evaluate", "predict", "bench"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_exits_zero(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: afunet" in capsys.readouterr().out


def test_train_help_states_each_profiles_defaults():
    # --help imports no torch; its text follows the profiles and the model registry.
    from afunet import registry
    from afunet.config import TrainConfig
    from afunet.profiles import PROFILES

    actions = {a.dest: a for a in _subparser("train")._actions}
    assert actions["profile"].choices == list(PROFILES)
    for profile in PROFILES.values():
        config = profile.config()
        assert f"{profile.name} {config.width}" in actions["width"].help, profile.name
        assert f"{profile.name} {config.epochs}" in actions["epochs"].help, profile.name
        assert f"{profile.name} {config.dataset}" in actions["dataset"].help, profile.name
        assert profile.summary in actions["profile"].help, profile.name
    assert all(name in actions["model"].help for name in registry.names())
    actions = {a.dest: a.help for a in _subparser("train")._actions}
    assert f"default: {TrainConfig().model}" in actions["model"]
    assert f"default: {TrainConfig().seed}" in actions["seed"]


def _subparser(name):
    """The argparse parser of one sub-command."""
    from afunet.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


def test_python_dash_m_works():
    done = subprocess.run([sys.executable, "-m", "afunet", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("afunet ")


def test_missing_data_is_one_line_error(tmp_path, capsys):
    code = main(["train", "--profile", "smoke", "--dataset", "drive", "--data-dir",
                 str(tmp_path / "nowhere"), "--cache-dir", str(tmp_path / "cache"),
                 "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1  # a failure (the data are not there), not a usage error
    assert err.startswith("afunet: error: DRIVE not found") and err.count("\n") == 1
    assert "Traceback" not in err


def test_bad_setting_is_one_line_error(tmp_path, capsys):
    assert main(["train", "--profile", "smoke", "--set", "speed=11",
                 "--out", str(tmp_path)]) == 2
    assert "unknown training setting(s) speed" in capsys.readouterr().err


def test_train_evaluate_predict_bench(tmp_path, capsys):
    run, cache = tmp_path / "run", str(tmp_path / "cache")
    assert main(["train", "--profile", "smoke", "--epochs", "1", "--out", str(run),
                 "--cache-dir", cache, "--no-progress"]) == 0
    assert "best epoch 1 of 1" in capsys.readouterr().out
    assert main(["evaluate", "--checkpoint", str(run), "--cache-dir", cache,
                 "--out", str(tmp_path / "eval")]) == 0
    assert "@ val threshold" in capsys.readouterr().out
    assert (tmp_path / "eval" / "metrics.json").is_file()

    images = sorted((tmp_path / "eval" / "probs").glob("*.png"))  # any PNG will do as a photo
    (tmp_path / "bad.jpg").write_bytes(b"\x00" * 10)
    code = main(["predict", str(images[0]), str(tmp_path / "bad.jpg"), "--checkpoint",
                 str(run / "best.pt"), "--out", str(tmp_path / "pred")])
    out = capsys.readouterr()
    assert code == 1 and "bad.jpg" in out.err and images[0].stem in out.out
    # Outputs keep each input's path below the inputs' common folder (here tmp_path).
    assert (tmp_path / "pred" / "eval" / "probs" / f"{images[0].stem}_overlay.png").is_file()

    table = tmp_path / "bench.csv"
    assert main(["bench", "--models", "unet", "afunet", "--width", "4", "--size", "32x48",
                 "--steps", "1", "--warmup", "0", "--out", str(table)]) == 0
    rows = list(csv.DictReader(open(table)))
    assert [r["model"] for r in rows] == ["unet", "afunet"]
    assert rows[0]["height"] == "32" and rows[0]["input_width"] == "48"
    assert float(rows[0]["train_images_per_s"]) > 0 and int(rows[0]["params"]) > 0
