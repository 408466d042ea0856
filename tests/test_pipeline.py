"""The study's run list and where a run's weights are looked for (afunet.pipeline)."""

import json

import pytest

from afunet import pipeline
from afunet.pipeline import Run


def test_plan_seed_zero_first_and_ablation_only_off_paper():
    runs = pipeline.plan("cpu")
    assert len(runs) == 6 * 2 * 3 + 2
    assert {r.seed for r in runs[:12]} == {0}
    assert [r.name for r in runs[-2:]] == ["drive-afunet@first-s0", "drive-afunet@none-s0"]
    assert not any(r.skip_source for r in pipeline.plan("paper"))


@pytest.mark.parametrize("name, profile, shared", [
    ("drive-afunet-s0", "cpu", True),
    ("stare-unet-s0", "cpu", True),
    ("drive-afunet-s1", "cpu", False),  # seed 0 only
    ("drive-unetpp-s0", "cpu", False),  # AF-UNet and U-Net only
    ("drive-afunet@first-s0", "cpu", False),  # no ablation weights
    ("drive-afunet-s0", "paper", False),  # width 64 is too large to commit
])
def test_shares_weights(name, profile, shared):
    assert pipeline.shares_weights(profile, Run.parse(name)) is shared


def test_best_checkpoint_prefers_local_then_committed(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "REPO", tmp_path)
    run = Run.parse("drive-afunet-s0")
    assert pipeline.best_checkpoint("cpu", run) is None
    shared = pipeline.shared_checkpoint("cpu", run)
    shared.parent.mkdir(parents=True)
    shared.write_bytes(b"x")
    assert pipeline.best_checkpoint("cpu", run) == shared
    local = pipeline.run_dir("cpu", run) / "best.pt"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"x")
    assert pipeline.best_checkpoint("cpu", run) == local


@pytest.mark.parametrize("profile", ["cpu", "cpu-e90", "paper"])
def test_committed_runs_were_trained_with_their_profile_as_it_is(profile):
    # A profile edited after its runs were filed would no longer reproduce them: such a
    # change needs a new profile (as cpu-e90 keeps the first cpu recipe) or a retrained study.
    from afunet.training import TrainConfig

    # How often a checkpoint is written changes no weight (the GPU script writes only the last).
    io_only = {"checkpoint_every"}
    paths = sorted((pipeline.REPO / "results" / profile / "runs").glob("*/config.json"))
    for path in paths:
        recorded = TrainConfig.from_dict(json.loads(path.read_text())).to_dict()
        expected = pipeline.run_config(profile, path.parent.name).to_dict()
        differ = {k for k in expected if recorded[k] != expected[k]} - io_only
        assert not differ, f"{path}: {sorted(differ)} differ from profile {profile}"
