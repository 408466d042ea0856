"""The study's run list and where a run's weights are looked for (afunet.pipeline)."""

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
