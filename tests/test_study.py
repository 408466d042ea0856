"""The study: its run list, where a run's weights are looked for, and that it needs no torch."""

import json
import subprocess
import sys

import pytest

from afunet import study
from afunet.config import TrainConfig
from afunet.profiles import PROFILES
from afunet.study import Run


def test_plan_seed_zero_first_and_ablation_only_off_paper():
    runs = study.plan("cpu")
    assert len(runs) == 6 * 2 * 3 + 2
    assert {r.seed for r in runs[:12]} == {0}
    assert [r.name for r in runs[-2:]] == ["drive-afunet@first-s0", "drive-afunet@none-s0"]
    assert not any(r.skip_source for r in study.plan("paper"))


@pytest.mark.parametrize("name, profile, shared", [
    ("drive-afunet-s0", "cpu", True),
    ("stare-unet-s0", "cpu", True),
    ("drive-afunet-s1", "cpu", False),  # seed 0 only
    ("drive-unetpp-s0", "cpu", False),  # AF-UNet and U-Net only
    ("drive-afunet@first-s0", "cpu", False),  # no ablation weights
    ("drive-afunet-s0", "paper", False),  # width 64 is too large to commit
])
def test_shares_weights(name, profile, shared):
    assert study.shares_weights(profile, Run.parse(name)) is shared


def test_best_checkpoint_prefers_local_then_committed(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "REPO", tmp_path)
    run = Run.parse("drive-afunet-s0")
    assert study.best_checkpoint("cpu", run) is None
    shared = study.shared_checkpoint("cpu", run)
    shared.parent.mkdir(parents=True)
    shared.write_bytes(b"x")
    assert study.best_checkpoint("cpu", run) == shared
    local = study.run_dir("cpu", run) / "best.pt"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"x")
    assert study.best_checkpoint("cpu", run) == local


OF_RECORD = [p.name for p in PROFILES.values() if p.of_record]


def test_there_are_profiles_of_record():
    assert OF_RECORD  # else the parametrized tests below would pass by running nothing


@pytest.mark.parametrize("profile", OF_RECORD)
def test_committed_runs_were_trained_with_their_profile_as_it_is(profile):
    # A profile edited after its runs were filed would no longer reproduce them: such a
    # change needs a new profile or a retrained study.
    # How often a checkpoint is written changes no weight (the GPU script writes only the last).
    io_only = {"checkpoint_every"}
    paths = sorted((study.REPO / "results" / profile / "runs").glob("*/config.json"))
    assert paths, f"results/{profile}/runs/ holds no run: a profile of record must have some"
    for path in paths:
        recorded = TrainConfig.from_dict(json.loads(path.read_text())).to_dict()
        expected = study.run_config(profile, path.parent.name).to_dict()
        differ = {k for k in expected if recorded[k] != expected[k]} - io_only
        assert not differ, f"{path}: {sorted(differ)} differ from profile {profile}"


def test_study_imports_without_torch():
    # The Makefile asks afunet.study with the system's Python, before any install.
    code = ("import sys, afunet.study, afunet.profiles, afunet.registry; "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=study.REPO, timeout=60)


def test_study_command_answers_the_makefile():
    def ask(*args):
        return subprocess.run([sys.executable, "-m", "afunet.study", *args], check=True,
                              capture_output=True, text=True, cwd=study.REPO,
                              timeout=60).stdout.split()

    assert ask("list", "--profile", "cpu") == [r.name for r in study.plan("cpu")]
    assert ask("get", "ablation", "--profile", "cpu") == list(PROFILES["cpu"].ablation)
    assert ask("get", "ablation", "--profile", "paper") == []
    assert ask("get", "bench_csv", "--profile", "paper") == [PROFILES["paper"].bench_csv]
    assert ask("default", "--device", "cuda") == ["paper"]
    assert ask("default", "--device", "cpu") == ["cpu"]
    assert ask("profiles") == list(PROFILES)
    assert ask("datasets") == list(study.DATASETS)
