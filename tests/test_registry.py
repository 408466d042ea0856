"""One definition per concept: a model or a profile added in one place reaches everything."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.colors import to_hex
from test_reporting import BASE, write_run
from torch import nn

from afunet import plotting, registry, reporting, study
from afunet.cli import build_parser
from afunet.models import SegmentationModel, create_model
from afunet.profiles import PROFILES, Profile, make_config

matplotlib.use("Agg")


class ToyNet(SegmentationModel):
    """One convolution: the smallest model the package accepts."""

    def __init__(self, in_channels=3, out_channels=1, width=4):
        super().__init__(in_channels, out_channels, width)
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def _forward(self, x):
        return self.conv(x)


@pytest.fixture()
def toy():
    """ToyNet registered for one test, and taken away after it."""
    spec = registry.register(registry.ModelSpec("toy", "Toy Net", ToyNet, color="#123456"))
    yield spec
    registry.unregister(spec.name)
    assert "toy" not in registry.names()


def test_unknown_model_lists_the_registered_ones():
    with pytest.raises(Exception, match="choose one of: unet, unetpp"):
        create_model("nope")
    with pytest.raises(Exception, match="already registered"):
        registry.register(registry.MODELS["unet"])


def test_a_registered_model_reaches_models_plan_tables_and_plots(toy, tmp_path):
    model = create_model("toy", width=4)
    assert model(torch.zeros(1, 3, 20, 30)).shape == (1, 1, 20, 30)

    runs = [r.name for r in study.plan("cpu")]
    assert "drive-toy-s0" in runs and "stare-toy-s2" in runs
    assert study.run_config("cpu", "drive-toy-s1").model == "toy"
    assert "toy" in {a.dest: a for a in _train_parser()._actions}["model"].help

    root = tmp_path / "results"
    for model_name, offset in (("unet", 0.0), ("toy", 0.01)):
        write_run(root, "cpu", f"drive-{model_name}-s0", {"drive": BASE + offset})
    df = reporting.collect("cpu", root)
    table = reporting.summary_table(df, "drive")
    assert "Toy Net" in set(table["method"])
    # Registration order is table order: the toy model comes after the paper's six.
    assert list(table["model"][table["model"] != "observer2"])[-1] == "toy"

    points = df[(df["rule"] == "fixed") & (df["rater"] == "model")][["model", "f1"]]
    points = points.assign(gflops=[50.0, 1.0], params=[31e6, 1e3])
    fig = plotting.efficiency_plot(points, extra=())
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    assert "Toy Net" in texts
    colours = {to_hex(c) for coll in fig.axes[0].collections for c in coll.get_facecolors()}
    assert toy.color in colours


def test_a_profile_added_in_one_place_reaches_study_config_and_cli(monkeypatch):
    tiny = Profile("tiny", "a test's own profile", recipe=dict(PROFILES["cpu"].recipe, epochs=3),
                   seeds=(4,), beside="cpu")
    monkeypatch.setitem(PROFILES, "tiny", tiny)
    assert [r.name for r in study.plan("tiny")][:2] == ["drive-unet-s4", "drive-unetpp-s4"]
    assert len(study.plan("tiny")) == len(registry.names()) * len(study.DATASETS)
    assert make_config("tiny").epochs == 3 and study.run_config("tiny", "drive-unet-s4").seed == 4
    actions = {a.dest: a for a in _train_parser()._actions}
    assert "tiny" in actions["profile"].choices and "tiny 3" in actions["epochs"].help


def test_each_registered_model_has_its_paper_row_or_none():
    methods = registry.paper_methods()
    paper = pd.read_csv(reporting.tables.PAPER_CSV)
    assert set(methods) == set(paper["method"])  # every row of the paper maps to one model
    assert np.all([registry.MODELS[m].paper_method for m in methods.values()])


def _train_parser():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["train"]
