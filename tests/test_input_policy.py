"""One inference path: predict and evaluate give the same map for the same image, FOV and rule."""

import numpy as np
import pytest
from PIL import Image

from afunet.data import load_dataset
from afunet.data.fov import fov_diameter
from afunet.evaluation import evaluate
from afunet.inference import (
    KNOWN_FOV_DIAMETERS,
    RESCALE_TOLERANCE,
    input_scale,
    predict_files,
)

WEIGHTS = "results/cpu/checkpoints/drive-unet-s0.pt"


def test_predict_and_evaluate_write_identical_maps(data_root, tmp_path):
    report = evaluate(WEIGHTS, "drive", "test", tmp_path / "eval", root=data_root,
                      cache_dir=tmp_path / "cache", limit=1, device="cpu")
    assert report["input_policy"]["scales"] == [1.0]  # DRIVE on DRIVE: native
    drive = data_root / "DRIVE" / "test"
    (result,) = predict_files([drive / "images" / "01_test.tif"], WEIGHTS, tmp_path / "pred",
                              fovs=[drive / "mask" / "01_test_mask.gif"], device="cpu")
    assert result["ok"] and result["scale"] == 1.0
    evaluated = np.asarray(Image.open(tmp_path / "eval" / "probs" / "01.png"))
    predicted = np.asarray(Image.open(tmp_path / "pred" / "01_test_prob.png"))
    assert evaluated.shape == predicted.shape and np.array_equal(evaluated, predicted)


def test_a_wrong_fov_mask_is_named(data_root, tmp_path, capsys):
    from afunet.cli import main

    drive = data_root / "DRIVE" / "test"
    code = main(["predict", str(drive / "images" / "01_test.tif"), "--checkpoint", WEIGHTS,
                 "--out", str(tmp_path), "--fov", str(data_root / "STARE" / "labels-ah" /
                                                      "im0001.ah.ppm.gz")])
    assert code == 1 and "give the mask of that photograph" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["drive", "stare"])
def test_known_fov_diameters_are_the_training_images(data_root, name):
    diameters = [fov_diameter(s.fov) for s in load_dataset(name, "train", data_root)]
    assert KNOWN_FOV_DIAMETERS[name] == pytest.approx(np.median(diameters), abs=0.1)


def test_the_rule_keeps_drive_and_stare_native_and_rescales_other_cameras():
    disc = np.zeros((1200, 1200), bool)
    yy, xx = np.ogrid[:1200, :1200]
    for radius, expected in ((269, 1.0), (315, 1.0), (500, 538 / 1000)):
        fov = (yy - 600) ** 2 + (xx - 600) ** 2 <= radius**2
        assert input_scale(fov, 538.0) == pytest.approx(expected, rel=0.01)
    assert input_scale(disc, 538.0) == 1.0 and input_scale(disc | True, None) == 1.0
    assert 0 < RESCALE_TOLERANCE < 0.5


def test_the_rule_is_the_best_on_its_validation_record():
    # results/experiments/input-resolution/: the means its README quotes, and the rule chosen.
    import pandas as pd

    from afunet.study import REPO

    folder = REPO / "results" / "experiments" / "input-resolution"
    table = pd.read_csv(folder / "validation.csv")
    means = table[["native", "rescale always", "tolerance 10%", "tolerance 25%"]].mean()
    text = " ".join((folder / "README.md").read_text().split())
    for rule, mean in means.items():
        assert f"{rule.replace('%', ' %')} {mean:.4f}" in text
    assert means.idxmax() == f"tolerance {RESCALE_TOLERANCE:.0%}"
