"""Evaluation: per-image and pooled metrics at two thresholds, saved maps, cross-data-set use."""

import csv
import json

import pytest
from PIL import Image

from afunet.evaluation import CSV_FIELDS, evaluate
from afunet.metrics import METRIC_NAMES
from afunet.training import make_config, train


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def run(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("run")
    train(make_config("smoke", epochs=2), out, cache_dir=cache_dir, progress=False)
    return out


def test_evaluate_writes_metrics_and_maps(run, cache_dir, tmp_path):
    report = evaluate(run / "best.pt", "synthetic", "test", tmp_path, cache_dir=cache_dir,
                      dataset_kwargs={"n_test": 2, "size": [64, 64]})
    assert report == json.loads((tmp_path / "metrics.json").read_text())
    assert report["fixed"]["threshold"] == 0.5
    assert 0 < report["val"]["threshold"] <= 1 and "val_f1" in report["val"]
    assert "validation images" in report["threshold_source"]
    for rule in ("fixed", "val"):
        assert set(METRIC_NAMES) | {"accuracy_image"} <= set(report[rule]["pooled"])
        assert "cldice" in report[rule]["per_image_mean"]
    assert 0 <= report["auc_roc"] <= 1 and 0 <= report["auc_pr"] <= 1
    assert report["observer2"] is None  # the synthetic set has no second observer
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert tuple(rows[0]) == CSV_FIELDS
    assert [(r["threshold_rule"], r["id"]) for r in rows] == [
        (rule, i) for rule in ("fixed", "val") for i in ("syntest000", "syntest001")]
    with Image.open(tmp_path / "probs" / "syntest000.png") as im:
        assert im.size == (64, 64) and im.mode == "L"


def test_tta_and_default_folder(run, cache_dir):
    report = evaluate(run, "synthetic", cache_dir=cache_dir, tta=True, save_probs=False)
    assert report["tta"] and (run / "eval" / "synthetic-test" / "metrics.csv").is_file()
    assert not (run / "eval" / "synthetic-test" / "probs").exists()


@pytest.mark.data
def test_cross_data_set_with_second_observer(run, cache_dir, data_root, tmp_path):
    # A synthetic-trained checkpoint on DRIVE test: the threshold still comes from the
    # training run's (synthetic) validation images; DRIVE's second observer is scored.
    report = evaluate(run, "drive", "test", tmp_path, root=data_root, cache_dir=cache_dir,
                      save_probs=False)
    assert report["trained_on"] == "synthetic" and report["n_images"] == 20
    assert "synthetic validation images" in report["threshold_source"]
    human = report["observer2"]["pooled"]
    assert human["accuracy"] == pytest.approx(0.9473, abs=1e-3)  # data/README.md
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert sum(r["rater"] == "observer2" for r in rows) == 20
