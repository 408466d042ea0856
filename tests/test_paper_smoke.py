"""`make paper PROFILE=smoke` end to end: every table and figure it promises exists and is non-empty."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROMISED = [
    "results/smoke/table1_drive.csv",
    "results/smoke/table1_drive.md",
    "results/smoke/table1_drive.tex",
    "results/smoke/table2_stare.csv",
    "results/smoke/table2_stare.md",
    "results/smoke/table2_stare.tex",
    "results/smoke/efficiency.csv",
    "results/smoke/ablation.csv",
    "results/smoke/checkpoints/drive-afunet-s0.pt",
    "results/smoke/checkpoints/stare-unet-s0.pt",
    "figures/smoke/figure2_drive.png",
    "figures/smoke/figure2_drive.pdf",
    "figures/smoke/figure2_stare.png",
    "figures/smoke/efficiency.png",
    "figures/smoke/efficiency.pdf",
    "figures/smoke/ablation.png",
    "figures/smoke/pr_curves_drive.png",
]


@pytest.mark.slow
def test_make_paper_smoke_writes_every_table_and_figure(data_root):
    for folder in ("results/smoke", "figures/smoke", "runs/smoke", "build/smoke"):
        shutil.rmtree(ROOT / folder, ignore_errors=True)
    # One torch thread per run: two runs side by side on two cores, not four threads fighting.
    env = {**os.environ, "AFUNET_DATA": str(data_root), "OMP_NUM_THREADS": "1"}
    # JOBS=2: smoke runs are tiny, two at a time use both cores of a small CI machine.
    done = subprocess.run(["make", "paper", "PROFILE=smoke", "JOBS=2"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "some runs failed" not in done.stdout, done.stdout[-3000:]
    missing = [p for p in PROMISED if not (ROOT / p).is_file() or (ROOT / p).stat().st_size == 0]
    assert not missing, f"make paper PROFILE=smoke did not write: {missing}"
