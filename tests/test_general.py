"""The general-purpose model: its augmentations, its training set, its records and its uses.

`afunet predict` without a checkpoint and `torch.hub.load(..., "afunet", pretrained=True)` both
give the committed weights; the model card's table is what its records say.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from afunet import general
from afunet.cli import main
from afunet.data.appearance import Appearance, gaussian_blur
from afunet.data.cache import _combine
from afunet.data.synthetic import generate
from afunet.errors import CheckpointError, UsageError
from afunet.reporting import general as records
from afunet.reporting.writers import update_block
from afunet.study import REPO
from afunet.training.loop import RUNTIME_FIELDS

ALL_ON = Appearance(scale=0.35, color=0.2, illumination=0.5, blur=1.5, p=1.0)


def _batch(n=2, size=(120, 100)):
    g = torch.Generator().manual_seed(0)
    image = torch.randn((n, 3, *size), generator=g)
    label = torch.rand((n, 1, *size), generator=g) > 0.8
    fov = torch.ones((n, 1, *size), dtype=torch.bool)
    return image, label, fov


def test_appearance_off_draws_nothing_and_changes_nothing():
    image, _, fov = _batch()
    g = torch.Generator().manual_seed(1)
    state = g.get_state()
    assert Appearance()(image, fov, g) is image
    assert torch.equal(g.get_state(), state)  # the studies' random stream is untouched


def test_appearance_crop_zooms_to_the_crop_size_with_binary_masks():
    image, label, fov = _batch()
    g = torch.Generator().manual_seed(2)
    out = ALL_ON.crop(image, label, fov, 64, g)
    assert [t.shape for t in out] == [(2, 3, 64, 64), (2, 1, 64, 64), (2, 1, 64, 64)]
    assert out[1].dtype == torch.bool and out[2].dtype == torch.bool


def test_appearance_renormalises_and_is_seeded():
    image, _, fov = _batch()
    a = ALL_ON(image, fov, torch.Generator().manual_seed(3))
    b = ALL_ON(image, fov, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.allclose(a, image)
    assert a.mean(dim=(2, 3)).abs().max() < 1e-4  # z-scored inside the FOV, as inference does
    assert (a.std(dim=(2, 3), unbiased=False) - 1).abs().max() < 1e-3


def test_blur_keeps_a_constant_image_and_smooths_an_edge():
    flat = torch.full((1, 3, 20, 20), 2.0)
    assert torch.allclose(gaussian_blur(flat, 1.5), flat)
    edge = torch.zeros((1, 1, 20, 20))
    edge[..., 10:] = 1
    blurred = gaussian_blur(edge, 1.5)
    assert 0 < blurred[0, 0, 5, 9] < 0.5 < blurred[0, 0, 5, 10] < 1


@pytest.mark.parametrize("change, words", [
    (dict(scale=0.3, crop=None), "set crop too"),
    (dict(color=-0.1), "color=-0.1 is invalid"),
    (dict(blur=float("nan")), "blur=nan is invalid"),
])
def test_bad_appearance_settings_are_refused_by_name(change, words):
    with pytest.raises(UsageError, match=words):
        general.config("drive", **change)


def test_combined_sets_are_padded_and_centred():
    def part(name, h, w):
        return dict(images=torch.full((1, 3, h, w), 7, dtype=torch.uint8),
                    labels=torch.ones((1, 1, h, w), dtype=torch.bool),
                    fovs=torch.ones((1, 1, h, w), dtype=torch.bool), label2=None,
                    ids=["a"], meta={"dataset": name})

    data = _combine("x+y", [part("x", 4, 6), part("y", 8, 8)])
    assert data["images"].shape == (2, 3, 8, 8) and data["ids"] == ["x/a", "y/a"]
    fov = data["fovs"][0, 0]
    assert fov.sum() == 24 and fov[2:6, 1:7].all()  # centred; the border lies outside the FOV
    assert not data["labels"][0, 0, 0].any() and data["label2"] is None


def test_the_recipe_is_the_cpu_study_plus_appearance():
    cpu = general.get_profile("cpu").config(model=general.MODEL, dataset="drive").to_dict()
    mine = general.config("drive").to_dict()
    assert {k for k in mine if mine[k] != cpu[k]} == set(general.APPEARANCE)
    with pytest.raises(UsageError, match="choose one of: drive, stare, drive\\+stare"):
        general.config("chase_db1")


@pytest.mark.parametrize("trained_on", general.TRAINED_ON)
def test_committed_runs_were_trained_with_the_recipe(trained_on):
    folder = general.result_dir(trained_on)
    saved = json.loads((folder / "config.json").read_text())
    expected = general.config(trained_on).to_dict()
    differs = {k for k in expected if saved[k] != expected[k]} - set(RUNTIME_FIELDS)
    assert not differs
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["epochs_run"] >= 1


def test_weights_are_small_half_precision_and_from_the_committed_run():
    path = general.weights()
    assert path.stat().st_size < 5 * 2**20
    payload = torch.load(path, map_location="cpu", weights_only=False)
    assert {t.dtype for t in payload["model"].values() if t.is_floating_point()} == {torch.float16}
    assert payload["config"]["dataset"] == general.COMMITTED
    summary = json.loads((general.result_dir(general.COMMITTED) / "summary.json").read_text())
    assert payload["epoch"] == summary["best_epoch"]
    assert 0 < payload["threshold"] < 1  # chosen on its validation images: predict's default


def test_missing_weights_say_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setattr(general, "WEIGHTS", tmp_path / "gone.pt")
    with pytest.raises(CheckpointError, match="--checkpoint"):
        general.weights()


def test_the_model_card_table_matches_the_records():
    table = records.cross_dataset_table()
    assert len(table) == 2 * (6 + 3)
    for key, text in records.blocks().items():
        assert update_block(records.CARD, key, text, check=True), \
            f"model card block {key} is stale: python -m afunet.general evaluate"
    saved = records.TABLE.read_text()
    assert saved == table.round(4).to_csv(index=False)


def test_selection_chose_what_the_recipe_uses():
    means = pd.read_csv(records.SELECTION).groupby("recipe")["f1"].mean()
    assert set(means.index) == set(records.candidates("drive"))
    assert means.idxmax() == "with appearance augmentations"  # else APPEARANCE would be off


def test_predict_without_a_checkpoint_uses_the_general_model(tmp_path, capsys):
    photo = tmp_path / "eye.png"
    Image.fromarray(generate(1, size=(96, 96), seed=3)[0].image).save(photo)
    code = main(["predict", str(photo), "--out", str(tmp_path / "out"), "--format", "mask"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "eye_mask.png").is_file()


def test_torch_hub_loads_the_general_model():
    model = torch.hub.load(str(REPO), "afunet", source="local", pretrained=True)
    payload = torch.load(general.weights(), map_location="cpu", weights_only=False)
    weights = payload["model"]
    for name, value in model.state_dict().items():
        assert torch.equal(value, weights[name].to(value.dtype)), name
    assert model.train_config.dataset == general.COMMITTED
    assert model.threshold == payload["threshold"]  # what afunet predict uses
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)
    fresh = torch.hub.load(str(REPO), "afunet", source="local", pretrained=False)
    assert fresh.config["width"] == 16
    assert not np.allclose(next(fresh.parameters()).detach().numpy(),
                           next(model.parameters()).detach().float().numpy())
