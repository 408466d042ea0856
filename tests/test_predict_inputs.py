"""`afunet predict` on users' files: every colour mode, odd sizes, name clashes, a full disk.

Each bad file gets its one-line reason, and the other files of the batch are still written.
"""

import errno

import numpy as np
import pytest
from PIL import Image

from afunet import inference
from afunet.cli import main
from afunet.data.synthetic import generate

WEIGHTS = "results/cpu/checkpoints/drive-unet-s0.pt"


@pytest.fixture(scope="module")
def photo():
    """A synthetic fundus-like RGB photograph, small enough to segment in a second."""
    return generate(1, size=(96, 96), seed=3)[0].image


def _predict(capsys, *args):
    code = main(["predict", *map(str, args), "--checkpoint", WEIGHTS])
    return code, capsys.readouterr()


def test_bad_sizes_are_refused_by_name_and_the_rest_written(photo, tmp_path, capsys):
    good = tmp_path / "good.png"
    Image.fromarray(photo).save(good)
    strip = tmp_path / "strip.png"
    Image.fromarray(np.zeros((2, 1000, 3), np.uint8)).save(strip)
    long_ = tmp_path / "long.png"
    Image.fromarray(np.zeros((100, 900, 3), np.uint8)).save(long_)
    code, out = _predict(capsys, strip, good, long_, "--out", tmp_path / "out")
    assert code == 1
    assert "strip.png: 1000 x 2 px is too small (each side at least 64 px)" in out.err
    assert "long.png: 900 x 100 px is 9.0 times longer than wide (at most 4)" in out.err
    assert (tmp_path / "out" / "good_mask.png").is_file()
    assert "good.png" in out.out and "Traceback" not in out.err


def test_same_names_in_two_folders_keep_their_relative_paths(photo, tmp_path, capsys):
    for eye in ("left", "right"):
        (tmp_path / "in" / eye).mkdir(parents=True)
        Image.fromarray(photo if eye == "left" else photo[:, ::-1]).save(
            tmp_path / "in" / eye / "eye.png")
    Image.fromarray(photo).save(tmp_path / "in" / "left" / "eye.jpg")
    code, _ = _predict(capsys, tmp_path / "in/left/eye.png", tmp_path / "in/right/eye.png",
                       tmp_path / "in/left/eye.jpg", "--out", tmp_path / "out")
    assert code == 0
    written = sorted(p.relative_to(tmp_path / "out").as_posix()
                     for p in (tmp_path / "out").rglob("*_prob.png"))
    assert written == ["left/eye_jpg_prob.png", "left/eye_prob.png", "right/eye_prob.png"]


def _modes(photo, tmp_path):
    """The photograph saved in each colour mode a user's file may come in."""
    rgb = Image.fromarray(photo)
    files = {"rgb": rgb, "palette": rgb.quantize(256), "rgba": rgb.convert("RGBA"),
             "grey": rgb.convert("L"), "grey_alpha": rgb.convert("LA"),
             "grey16": Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257)}
    paths = {}
    for name, im in files.items():
        paths[name] = tmp_path / f"{name}.png"
        im.save(paths[name])
    paths["cmyk"] = tmp_path / "cmyk.jpg"
    rgb.convert("CMYK").save(paths["cmyk"], quality=95)
    paths["rgb_jpg"] = tmp_path / "rgb.jpg"
    rgb.save(paths["rgb_jpg"], quality=95)
    return paths


def test_every_colour_mode_reads_as_the_photograph(photo, tmp_path):
    paths = _modes(photo, tmp_path)
    reference = photo.astype(float)
    grey = np.asarray(Image.fromarray(photo).convert("L"), float)
    for name, path in paths.items():
        image = inference.read_photo(path).astype(float)
        assert image.shape == photo.shape, name
        target = grey[..., None] if name.startswith("grey") else reference
        tolerance = 12 if name in ("palette", "cmyk", "rgb_jpg") else 1
        assert np.abs(image - target).mean() < tolerance, name


def test_a_float_image_is_refused_by_name(tmp_path, capsys):
    path = tmp_path / "depth.tif"
    Image.fromarray(np.random.default_rng(0).random((96, 96)).astype(np.float32)).save(path)
    code, out = _predict(capsys, path, "--out", tmp_path / "out")
    assert code == 1 and "floating-point image (mode F)" in out.err


@pytest.mark.parametrize("threshold", ["nan", "-1", "1.5"])
def test_thresholds_outside_0_1_are_usage_errors(threshold, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["predict", "x.png", "--checkpoint", WEIGHTS, "--out", str(tmp_path),
              "--threshold", threshold])
    assert exit_.value.code == 2 and "--threshold" in capsys.readouterr().err
    with pytest.raises(ValueError, match="outside"):
        inference.predict_files(["x.png"], WEIGHTS, tmp_path, threshold=float(threshold))


def test_a_full_disk_names_the_file_and_leaves_nothing_half_written(photo, tmp_path, capsys,
                                                                   monkeypatch):
    for name in ("a", "b"):
        Image.fromarray(photo).save(tmp_path / f"{name}.png")
    real_save = Image.Image.save

    def full(self, fp, *args, **kw):
        if "b_overlay" in str(fp):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *args, **kw)

    monkeypatch.setattr(Image.Image, "save", full)
    code, out = _predict(capsys, tmp_path / "a.png", tmp_path / "b.png", "--out",
                         tmp_path / "out")
    assert code == 1
    assert "cannot write" in out.err and "b_overlay.png: No space left on device" in out.err
    assert (tmp_path / "out" / "a_overlay.png").is_file()
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_a_photo_cropped_inside_its_fov_keeps_its_own_scale(photo, tmp_path, capsys):
    # Its FOV fills the frame, so its area says nothing of the disc's size: no rescaling.
    crop = photo[24:72, 24:72]
    fov = inference.photo_fov(crop)
    assert fov.mean() > 0.9 and inference.input_scale(fov, 538.0) == 1.0
    assert inference.input_scale(np.pad(np.ones((40, 40), bool), 20), 538.0) > 1.25
    Image.fromarray(np.repeat(np.repeat(crop, 2, 0), 2, 1)).save(tmp_path / "crop.png")
    code, out = _predict(capsys, tmp_path / "crop.png", "--out", tmp_path / "out")
    assert code == 0 and "segmented at" not in out.out, out.out
