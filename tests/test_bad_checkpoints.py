"""Bad checkpoints and bench settings: a one-line AfunetError, never a traceback or a silent result."""

import os
import pickle
import zipfile

import pytest
import torch
from PIL import Image

from afunet.bench import bench
from afunet.cli import main
from afunet.data.synthetic import generate
from afunet.errors import AfunetError, CheckpointError
from afunet.inference import load_checkpoint
from afunet.training import export_checkpoint, load_checkpoint_dict, make_config, train
from afunet.training.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 1-epoch smoke run: a real best.pt to spoil in each test."""
    out = tmp_path_factory.mktemp("run")
    train(make_config("smoke", epochs=1, device="cpu"), out,
          cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    return out


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "eye.png"
    Image.fromarray(generate(1, size=(64, 64), seed=1)[0].image).save(path)
    return path


def spoiled(run, tmp_path, change, name="spoiled.pt"):
    """A copy of the run's best.pt after ``change(payload)``."""
    payload = load_checkpoint_dict(run / "best.pt")
    change(payload)
    save_checkpoint(payload, tmp_path / name)
    return tmp_path / name


def cli_error(argv, capsys, *, usage_ok=False) -> str:
    """Run the CLI, expecting failure: the stderr error line (no traceback, non-zero status).

    ``usage_ok``: argparse may refuse the value first (its own "afunet bench: error:" line).
    """
    try:
        status = main(argv)
    except SystemExit as exc:
        assert usage_ok, f"argparse refused {argv}"
        status = exc.code
    err = capsys.readouterr().err
    assert status not in (0, None) and "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    if not usage_ok:
        assert err.strip() == lines[0] and lines[0].startswith("afunet: error: "), err
    return lines[0]


def evaluate_and_predict_fail(path, photo, tmp_path, capsys) -> list[str]:
    """The error line of `afunet evaluate` and of `afunet predict` on checkpoint ``path``."""
    return [
        cli_error(["evaluate", "--checkpoint", str(path), "--device", "cpu",
                   "--cache-dir", str(tmp_path / "cache")], capsys),
        cli_error(["predict", str(photo), "--checkpoint", str(path), "--out",
                   str(tmp_path / "pred"), "--device", "cpu"], capsys),
    ]


class Exploit:
    """Pickles as a call of os.system: what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


def _write_torch(obj, path):
    torch.save(obj, path)


def _write_torch_legacy(obj, path):
    torch.save(obj, path, _use_new_zipfile_serialization=False)


def _write_pickle(obj, path):
    path.write_bytes(pickle.dumps(obj))  # protocol 4+: torch's unpickler stops at FRAME


def _write_pickle0(obj, path):
    path.write_bytes(pickle.dumps(obj, protocol=0))


@pytest.mark.parametrize("write", [_write_torch, _write_torch_legacy, _write_pickle,
                                   _write_pickle0])
@pytest.mark.parametrize("nested", [False, True])
def test_malicious_pickle_is_refused_as_unsafe(run, photo, tmp_path, capsys, write, nested):
    marker = tmp_path / "marker"
    obj = Exploit(marker)
    if nested:  # hidden inside an otherwise genuine checkpoint
        obj = {**load_checkpoint_dict(run / "best.pt"), "extra": obj}
    path = tmp_path / "evil.pt"
    write(obj, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, "cpu")
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert "pickled Python objects (posix.system)" in message or "(nt.system)" in message
    assert "arbitrary code" in message and "export_checkpoint" in message
    assert "corrupt" not in message
    for line in evaluate_and_predict_fail(path, photo, tmp_path, capsys):
        assert "pickled Python objects" in line and str(path) in line
    assert not marker.exists()


def test_pickled_object_without_code_is_still_refused(tmp_path):
    # A set of plain values: torch's safe unpickler refuses it all the same (not "corrupt").
    path = tmp_path / "set.pkl"
    path.write_bytes(pickle.dumps({"format": 1, "model": {1, 2}}))
    with pytest.raises(CheckpointError, match="holds pickled Python objects"):
        load_checkpoint_dict(path)


def _truncated(run, path):
    data = (run / "best.pt").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _random_bytes(run, path):
    path.write_bytes(bytes(range(256)) * 16)


def _text(run, path):
    path.write_text("not a checkpoint")


def _empty(run, path):
    path.write_bytes(b"")


def _zip_without_pickle(run, path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("best/notes.txt", "no data.pkl")


def _truncated_pickle(run, path):
    path.write_bytes(pickle.dumps({"format": 1, "model": "x" * 100}, protocol=2)[:40])


@pytest.mark.parametrize("damage", [_truncated, _random_bytes, _text, _empty,
                                    _zip_without_pickle, _truncated_pickle])
def test_damaged_file_is_reported_corrupt_not_unsafe(run, photo, tmp_path, capsys, damage):
    path = tmp_path / "damaged.pt"
    damage(run, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_dict(path)
    message = str(err.value)
    assert "corrupt or truncated" in message and str(path) in message
    assert "pickled" not in message and "\n" not in message
    for line in evaluate_and_predict_fail(path, photo, tmp_path, capsys):
        assert "corrupt or truncated" in line


def _model_config(**changes):
    return lambda p: p["model_config"].update(changes)


def _drop_weight(p):
    p["model"].pop(next(iter(p["model"])))


def _extra_weight(p):
    p["model"]["head.extra"] = torch.zeros(3)


@pytest.mark.parametrize("change, expected", [
    (_model_config(width=8), "model 'afunet' of width 8"),
    (_model_config(name="unet"), "model 'unet' of width 4"),
    (_drop_weight, "missing key"),
    (_extra_weight, "unexpected key head.extra"),
])
def test_weights_that_do_not_fit_the_model_config(run, photo, tmp_path, capsys, change, expected):
    path = spoiled(run, tmp_path, change)
    with pytest.raises(CheckpointError, match="weights do not fit") as err:
        load_checkpoint(path, "cpu")
    assert expected in str(err.value) and str(path) in str(err.value)
    if "width 8" in expected:
        assert "has shape [4, 3, 3, 3] in the file, [8, 3, 3, 3] in the model" in str(err.value)
    for line in evaluate_and_predict_fail(path, photo, tmp_path, capsys):
        assert "weights do not fit" in line and expected in line


@pytest.mark.parametrize("changes", [{"width": 8}, {"model": "unet"},
                                     {"model_kwargs": {"skip_source": "first"}}])
def test_config_naming_another_model_than_the_weights(run, photo, tmp_path, capsys, changes):
    path = spoiled(run, tmp_path, lambda p: p["config"].update(changes))
    for line in evaluate_and_predict_fail(path, photo, tmp_path, capsys):
        assert str(path) in line and "its config names model" in line
        assert "its weights are the model 'afunet' of width 4" in line


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nonfinite_weights_are_refused(run, photo, tmp_path, capsys, value):
    def poison(p):
        name = [k for k, v in p["model"].items() if v.is_floating_point()][3]
        p["model"][name].view(-1)[0] = value
        p["poisoned"] = name

    path = spoiled(run, tmp_path, poison)
    name = load_checkpoint_dict(path)["poisoned"]
    with pytest.raises(CheckpointError, match="non-finite weights") as err:
        load_checkpoint(path, "cpu")
    assert f"first in {name}" in str(err.value) and "lower learning rate" in str(err.value)
    for line in evaluate_and_predict_fail(path, photo, tmp_path, capsys):
        assert "non-finite weights" in line and name in line
    with pytest.raises(CheckpointError, match="non-finite weights"):
        export_checkpoint(path, tmp_path / "small.pt")


def test_export_refuses_weights_beyond_float16(run, tmp_path):
    def huge(p):
        p["model"][next(iter(p["model"]))].view(-1)[0] = 1e6

    path = spoiled(run, tmp_path, huge)
    with pytest.raises(CheckpointError, match="does not fit in torch.float16"):
        export_checkpoint(path, tmp_path / "small.pt")
    assert not (tmp_path / "small.pt").exists()
    export_checkpoint(path, tmp_path / "small.pt", dtype=torch.float32)  # the fix it names


@pytest.mark.parametrize("change, expected", [
    (lambda p: p.update(format="1"), "format is a str"),
    (lambda p: p.update(model=[1, 2]), "model is a list"),
    (lambda p: p["model"].update({"w": 1.0}), "model['w'] is a float, not a tensor"),
    (lambda p: p.update(model_config=None), "model_config is a NoneType"),
])
def test_checkpoint_fields_of_the_wrong_type(run, photo, tmp_path, capsys, change, expected):
    path = spoiled(run, tmp_path, change)
    for line in evaluate_and_predict_fail(path, photo, tmp_path, capsys):
        assert "is not an afunet checkpoint" in line and expected in line


@pytest.mark.parametrize("change, expected", [
    (lambda p: p["config"].update(colour="red"), "training config is invalid"),
    (lambda p: p["model_config"].update(name="nonet"), "builds no model"),
    (lambda p: p["model_config"].update(depth=3), "builds no model"),
])
def test_config_that_builds_nothing(run, photo, tmp_path, capsys, change, expected):
    path = spoiled(run, tmp_path, change)
    for line in evaluate_and_predict_fail(path, photo, tmp_path, capsys):
        assert expected in line and str(path) in line


FAST = dict(models=["unet"], width=4, size=32, batch_size=2, steps=1, warmup=0, device="cpu",
            verbose=False)


@pytest.mark.parametrize("setting, value, expected", [
    ("steps", 0, "steps=0"), ("steps", 1.5, "steps=1.5"), ("warmup", -1, "warmup=-1"),
    ("batch_size", 0, "batch_size=0"), ("width", 0, "width=0"), ("size", 0, "size=0"),
    ("size", (32, 0), "size=(32, 0)"), ("size", (8, 8, 8), "size=(8, 8, 8)"),
    ("precisions", ("fp16",), "precision='fp16'"), ("precisions", (), "precision=()"),
    ("channels_last", ("yes",), "channels_last='yes'"),
])
def test_bench_refuses_invalid_settings(setting, value, expected):
    with pytest.raises(AfunetError, match="bench setting") as err:
        bench(**{**FAST, setting: value})
    message = str(err.value)
    assert expected in message and ("expected" in message) and "\n" not in message


def test_bench_refuses_a_batch_too_small_for_batch_norm(capsys):
    with pytest.raises(AfunetError, match="batch norm"):
        bench(**{**FAST, "batch_size": 1, "size": 16})
    assert bench(**{**FAST, "batch_size": 1, "size": 17})  # one more pixel: two values


def test_bench_output_folder_is_refused_before_timing(tmp_path):
    with pytest.raises(AfunetError, match="is a folder"):
        bench(**FAST, out=tmp_path)
    rows = bench(**FAST, out=tmp_path / "sub" / "bench.csv")
    assert rows[0]["train_images_per_s"] > 0 and (tmp_path / "sub" / "bench.csv").is_file()


@pytest.mark.parametrize("args, expected", [
    (["--size", "0"], "size=0"), (["--size", "32x0"], "size=(32, 0)"),
    (["--size", "8x8x8"], "size=(8, 8, 8)"), (["--batch-size", "1", "--size", "16"], "batch norm"),
])
def test_bench_cli_errors(args, expected, capsys):
    line = cli_error(["bench", "--models", "unet", "--width", "4", "--steps", "1", "--warmup",
                      "0", "--device", "cpu", *args], capsys)
    assert expected in line


@pytest.mark.parametrize("option, value", [("--steps", "0"), ("--batch-size", "0"),
                                           ("--warmup", "-1"), ("--width", "0")])
def test_bench_cli_out_of_range_counts(option, value, capsys):
    # argparse or bench() may refuse it first: either way one line naming the setting.
    line = cli_error(["bench", "--models", "unet", "--width", "4", "--size", "32",
                      "--device", "cpu", option, value], capsys, usage_ok=True)
    assert option.lstrip("-").replace("-", "_") in line.replace("-", "_")
