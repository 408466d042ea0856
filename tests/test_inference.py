"""Inference: loading checkpoints, probability maps, segmenting one's own files."""

import numpy as np
import pytest
from PIL import Image

from afunet.data.synthetic import generate
from afunet.errors import CheckpointError
from afunet.inference import load_checkpoint, predict_files, predict_probability
from afunet.training import make_config, train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 1-epoch smoke run trained at a resized input size (exercises the resize path)."""
    out = tmp_path_factory.mktemp("run")
    config = make_config("smoke", epochs=1, input_size=48)
    train(config, out, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    return out


def test_load_checkpoint_and_probability_map(run):
    model, config = load_checkpoint(run, "cpu")
    assert not model.training and config.input_size == 48
    sample = generate(1, size=(72, 80), seed=5)[0]
    prob = predict_probability(model, sample.image, config, sample.fov)
    assert prob.shape == (72, 80) and prob.dtype == np.float32
    assert 0 <= prob.min() and prob.max() <= 1
    flipped = predict_probability(model, sample.image, config, sample.fov, tta=True)
    assert flipped.shape == (72, 80)
    assert predict_probability(model, sample.image, config).shape == (72, 80)  # FOV computed


def test_predict_files_writes_maps_and_skips_bad_files(run, tmp_path):
    image = generate(1, size=(70, 90), seed=3)[0].image
    Image.fromarray(image).save(tmp_path / "eye.png")
    Image.fromarray(image).save(tmp_path / "eye2.jpg")
    Image.fromarray(image).save(tmp_path / "eye3.ppm")
    (tmp_path / "notes.png").write_text("not an image")
    paths = [tmp_path / n for n in ("eye.png", "notes.png", "eye2.jpg", "missing.tif", "eye3.ppm")]
    results = predict_files(paths, run, tmp_path / "out")
    assert [r["ok"] for r in results] == [True, False, True, False, True]
    assert "notes.png" in results[1]["error"] and "missing.tif" in results[3]["error"]
    for stem in ("eye", "eye2", "eye3"):
        for kind in ("prob", "mask", "overlay"):
            with Image.open(tmp_path / "out" / f"{stem}_{kind}.png") as im:
                assert im.size == (90, 70)
    mask = np.asarray(Image.open(tmp_path / "out" / "eye_mask.png"))
    assert set(np.unique(mask)) <= {0, 255}


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.pt")


@pytest.mark.data
def test_predict_real_drive_image_keeps_its_size(run, data_root, tmp_path):
    path = data_root / "DRIVE" / "training" / "images" / "21_training.tif"
    (result,) = predict_files([path], run, tmp_path)
    assert result["ok"], result
    with Image.open(result["mask"]) as im:
        assert im.size == (565, 584)
