"""The launcher (afunet/launch.py): executors, ledger, failures, resources, the `study` command.

Most tests replace the run's command by a stand-in that files (or fails to file) a result in a
scratch repository, and SLURM's commands by stand-ins on PATH; one runs real smoke runs through
the local executors. The real cluster is `make test-cluster` (scripts/test_cluster.sh).
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from afunet import launch, study
from afunet.cli import main as cli_main
from afunet.errors import AfunetError, UsageError
from afunet.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[1]
SMOKE = [r.name for r in study.plan("smoke")]

# Stand-in for `python -m afunet.pipeline run`: sleeps, then files a summary.json with the
# launch record (or fails, for names in $FAKE_FAIL), as the real entry point does.
FAKE_RUN = textwrap.dedent("""\
    import json, os, signal, sys, time
    from pathlib import Path
    from afunet.launch import launch_record
    out, name, deadline = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    print("training", name, flush=True)
    begin = time.time()
    time.sleep(float(os.environ.get("FAKE_SECONDS", "0.3")))
    if name in os.environ.get("FAKE_FAIL", "").split():
        sys.exit("afunet: error: " + name + " broke")
    out.mkdir(parents=True, exist_ok=True)
    summary = dict(epochs_run=2, train_seconds=0.3, stopped_by="epochs", deadline=deadline,
                   threads=os.environ.get("OMP_NUM_THREADS"), begin=begin, end=time.time(),
                   usr2=signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN,
                   launch=launch_record())
    (out / "summary.json").write_text(json.dumps(summary))
""")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A scratch repository for runs/ and results/, and the stand-in run command."""
    monkeypatch.setattr(study, "REPO", tmp_path)

    def fake_argv(profile, name, *, deadline=None, overrides=None, data_dir=None):
        out = study.result_dir(profile, study.Run.parse(name))
        return [sys.executable, "-c", FAKE_RUN, str(out), name, str(deadline)]

    monkeypatch.setattr(launch, "run_argv", fake_argv)
    return tmp_path


def summary(profile, name) -> dict:
    return json.loads((study.result_dir(profile, study.Run.parse(name)) / "summary.json")
                      .read_text())


def test_every_profile_asks_for_resources():
    for name in PROFILES:
        res = launch.Resources.of(name)
        assert res.cpus >= 1 and res.mem_gb >= 1 and 0 <= res.eval_min < res.time_min, name
    assert launch.Resources.of("paper").gpus == 1 and launch.Resources.of("cpu").gpus == 0
    res = launch.Resources.of("paper", time_min=90, partition="gpu", cpus=None)
    assert (res.time_min, res.partition, res.cpus) == (90, "gpu", PROFILES["paper"].cpus)
    with pytest.raises(UsageError, match="eval_min"):
        launch.Resources.of("smoke", eval_min=10, time_min=10)


def test_launch_record_says_where(monkeypatch):
    for var in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
                "AFUNET_EXECUTOR", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(var, raising=False)
    record = launch.launch_record()
    assert record["executor"] == "local" and record["job_id"] == f"pid {os.getpid()}"
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "70")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "7")
    assert launch.launch_record()["executor"] == "slurm"
    assert launch.launch_record()["job_id"] == "70_7"
    monkeypatch.setenv("AFUNET_EXECUTOR", "gpus")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert launch.launch_record()["executor"] == "gpus" and launch.launch_record()["gpus"] == "3"


def test_select_and_run_argv():
    assert launch.select("smoke") == SMOKE
    assert launch.select("smoke", ["stare-unet-s0", "drive-unet-s0"]) == ["stare-unet-s0",
                                                                       "drive-unet-s0"]
    assert launch.select("cpu", seed=2) == [r.name for r in study.plan("cpu") if r.seed == 2]
    with pytest.raises(UsageError, match="drive-unet-s9"):
        launch.select("smoke", ["drive-unet-s9"])
    argv = launch.run_argv("smoke", "drive-unet-s0", deadline=12.4, overrides={"lr": 0.01})
    assert argv[1:] == ["-m", "afunet.pipeline", "run", "drive-unet-s0", "--profile", "smoke",
                        "--no-progress", "--deadline", "12", "--set", "lr=0.01"]


def test_local_runs_side_by_side_and_never_redoes_a_run(repo, monkeypatch):
    monkeypatch.setenv("FAKE_SECONDS", "1")
    lines = []
    failed = launch.launch("smoke", "local", runs=SMOKE[:4], jobs=2, out=lines.append)
    assert failed == []
    first, second = (summary("smoke", n) for n in SMOKE[:2])
    assert max(first["begin"], second["begin"]) < min(first["end"], second["end"])  # together
    assert {summary("smoke", n)["launch"]["executor"] for n in SMOKE[:4]} == {"local"}
    assert summary("smoke", SMOKE[0])["threads"] == str(PROFILES["smoke"].cpus)
    assert sum(line.startswith("done ") for line in lines) == 4
    lines.clear()
    assert launch.launch("smoke", "local", runs=SMOKE[:5], out=lines.append) == []
    assert "4 filed before" in lines[0] and "1 to run here" in lines[0]
    assert sum(line.startswith("done ") for line in lines) == 1


def test_a_failed_run_is_named_with_its_log_and_retried(repo, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", SMOKE[1])
    lines = []
    failed = launch.launch("smoke", "local", runs=SMOKE[:3], jobs=3, out=lines.append)
    assert failed == [SMOKE[1]]
    line = next(x for x in lines if x.startswith("FAILED"))
    assert SMOKE[1] in line and f"broke; log: runs/smoke/.launch/logs/{SMOKE[1]}.log" in line
    assert launch.status("smoke", out=lambda _: None)[SMOKE[1]] == "failed"
    monkeypatch.delenv("FAKE_FAIL")
    assert launch.launch("smoke", "local", runs=SMOKE[:3], out=lambda _: None) == []
    assert launch.status("smoke", out=lambda _: None)[SMOKE[1]] == "filed"


def test_cli_exit_status_and_message_for_failed_runs(repo, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_FAIL", SMOKE[0])
    assert cli_main(["study", "run", "--profile", "smoke", "--runs", SMOKE[0]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("afunet: error: 1 run(s) failed: drive-unet-s0")


def test_gpus_one_run_per_gpu(repo, monkeypatch):
    monkeypatch.setenv("FAKE_SECONDS", "0.5")
    assert launch.launch("smoke", "gpus", runs=SMOKE[:4], devices=["0", "1"],
                         out=lambda _: None) == []
    records = [summary("smoke", n)["launch"] for n in SMOKE[:4]]
    assert {r["executor"] for r in records} == {"gpus"}
    assert {r["gpus"] for r in records} == {"0", "1"}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    assert launch._devices(None) == ["4", "5", "6"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("PATH", str(repo))  # no nvidia-smi
    with pytest.raises(UsageError, match="no GPU"):
        launch._devices(None)


def test_budget_stops_runs_and_sets_their_deadline(repo, monkeypatch):
    monkeypatch.setenv("FAKE_SECONDS", "30")
    lines = []
    begin = time.time()
    failed = launch.launch("smoke", "local", runs=SMOKE[:2], budget=2, out=lines.append,
                           eval_min=0)
    assert time.time() - begin < 20 and failed == SMOKE[:2]
    assert any(line.startswith(f"STOPPED {SMOKE[0]}") for line in lines)
    assert any(line.startswith(f"NOT STARTED {SMOKE[1]}") for line in lines)
    log = (launch.launch_dir("smoke") / "logs" / f"{SMOKE[0]}.log").read_text()
    assert log.startswith("training")


def test_a_run_already_running_is_waited_for_not_started_again(repo):
    name = SMOKE[0]
    out = study.result_dir("smoke", study.Run.parse(name))
    other = subprocess.Popen([sys.executable, "-c", FAKE_RUN, str(out), name, "None"],
                             env={**os.environ, "FAKE_SECONDS": "1.5"})
    with launch.Ledger("smoke") as ledger:
        ledger.jobs[name] = dict(executor="local", job_id=f"pid {other.pid}", pid=other.pid,
                                 host=launch.socket.gethostname(), log="elsewhere.log")
    lines = []
    try:
        assert launch.launch("smoke", "local", runs=[name], poll=0.2, out=lines.append) == []
    finally:
        other.wait()
    assert "1 still queued or running elsewhere, 0 to run here" in lines[0]
    assert summary("smoke", name)["launch"]["job_id"] == f"pid {other.pid}"


def test_usage_errors():
    with pytest.raises(UsageError, match="executor"):
        launch.launch("smoke", "cloud")
    with pytest.raises(UsageError, match="budget"):
        launch.launch("smoke", "slurm", budget=60)
    with pytest.raises(UsageError, match="without waiting"):
        launch.launch("smoke", "local", wait=False)


@pytest.fixture
def fake_slurm(repo, monkeypatch):
    """sbatch, squeue and srun stand-ins on PATH; the queue is whatever queue.txt holds."""
    bin_dir = repo / "bin"
    bin_dir.mkdir()
    scripts = {
        "sbatch": f"""cat "$1" >> {repo}/sbatch.log; n=$(( $(ls {repo}/*.sbatch 2>/dev/null \
                      | wc -l) + 40 )); cp "$1" {repo}/$n.sbatch; echo "Submitted batch job $n"
                   """,
        "squeue": f"cat {repo}/queue.txt 2>/dev/null; true",
        "srun": "exit 0",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return repo


def test_slurm_array_with_the_profiles_resources_submitted_once(fake_slurm):
    pytest.importorskip("submitit")
    repo = fake_slurm
    first = study.result_dir("smoke", study.Run.parse(SMOKE[0]))
    first.mkdir(parents=True)
    (first / "summary.json").write_text("{}")  # filed: never submitted
    lines = []
    launch.launch("smoke", "slurm", wait=False, partition="short", mem_gb=3,
                  sbatch={"account": "lab"}, out=lines.append)
    script = (repo / "40.sbatch").read_text()
    res = launch.Resources.of("smoke")
    for flag in ("--partition=short", f"--time={res.time_min}", f"--cpus-per-task={res.cpus}",
                 "--mem=3G", "--account=lab", "--array=0-12%13", "--job-name=afunet-smoke"):
        assert f"#SBATCH {flag}\n" in script, flag
    assert "--gpus-per-node" not in script
    with launch.Ledger("smoke") as ledger:
        assert sorted(j["job_id"] for j in ledger.jobs.values()) == sorted(
            f"40_{k}" for k in range(13))
    assert "1 filed before, 0 still queued or running elsewhere, 13 submitted" in lines[0]

    # Still queued (one running): a second submission submits nothing.
    (repo / "queue.txt").write_text("40_0 RUNNING afunet-smoke\n" + "".join(
        f"40_{k} PENDING afunet-smoke\n" for k in range(1, 13)) + "7 RUNNING other\n")
    lines.clear()
    launch.launch("smoke", "slurm", wait=False, out=lines.append)
    assert "13 still queued or running elsewhere, 0 submitted" in lines[0]
    assert not (repo / "41.sbatch").exists()
    states = launch.status("smoke", out=lambda _: None)
    assert states[SMOKE[1]] == "running" and states[SMOKE[2]] == "pending"

    # The queue empties: 12 filed their results, one did not and is named with its log.
    with launch.Ledger("smoke") as ledger:
        broken = ledger.jobs[SMOKE[5]]
    Path(broken["log"]).parent.mkdir(parents=True, exist_ok=True)
    Path(broken["log"]).write_text("srun: error: task 0: Killed\nafunet: error: out of memory\n")
    for name in SMOKE[1:]:
        if name != SMOKE[5]:
            out = study.result_dir("smoke", study.Run.parse(name))
            out.mkdir(parents=True)
            (out / "summary.json").write_text(json.dumps(dict(
                epochs_run=2, train_seconds=1.0, stopped_by="epochs",
                launch=dict(executor="slurm", job_id="40_1", host="node1"))))
    (repo / "queue.txt").write_text("")
    lines.clear()
    failed = launch.launch("smoke", "slurm", wait=True, poll=0.1, out=lines.append,
                           runs=SMOKE[:2])
    assert failed == [] and "2 filed before" in lines[0]
    failed = launch._wait("smoke", set(SMOKE[1:]), 0.1, lines.append)
    assert failed == [SMOKE[5]]
    line = next(x for x in lines if x.startswith("FAILED"))
    assert f"FAILED {SMOKE[5]} (slurm job {broken['job_id']}): afunet: error: out of memory" \
        in line and broken["log"].replace(str(repo) + "/", "") in line


def test_a_reused_job_id_or_a_queue_out_of_reach(fake_slurm):
    name = SMOKE[0]
    job = dict(executor="slurm", job_id="3_1", name="afunet-smoke", log="x.log")
    (fake_slurm / "queue.txt").write_text("3_1 PENDING someone-else\n")
    assert launch.live_jobs({name: job}) == {}  # a new cluster gave the id to another job
    squeue = fake_slurm / "bin" / "squeue"
    squeue.write_text("#!/bin/sh\necho 'squeue: error: controller down' >&2; exit 1\n")
    with pytest.raises(AfunetError, match="squeue failed: squeue: error: controller down"):
        launch.live_jobs({name: job})
    with launch.Ledger("smoke") as ledger:
        ledger.jobs[name] = job
    lines = []  # a local launch outside the cluster: warned, not stopped
    assert launch.launch("smoke", "local", runs=[name], out=lines.append) == []
    assert any(line.startswith("warning: squeue failed") for line in lines)


def test_slurm_asks_for_gpus_when_the_profile_does(fake_slurm):
    pytest.importorskip("submitit")
    launch.launch("paper", "slurm", wait=False, seed=1, runs=["drive-unet-s1"],
                  out=lambda _: None)
    script = (fake_slurm / "40.sbatch").read_text()
    assert "#SBATCH --gpus-per-node=1\n" in script and "--array" not in script
    assert f"#SBATCH --mem={PROFILES['paper'].mem_gb}G\n" in script


def test_slurm_task_runs_the_entry_point_before_its_time_limit(repo, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "9")
    begin = time.time()
    assert launch._task("smoke", SMOKE[0], 10, 1, 1, None, None) == SMOKE[0]
    record = summary("smoke", SMOKE[0])
    assert record["launch"]["executor"] == "slurm" and record["launch"]["job_id"] == "9"
    assert abs(float(record["deadline"]) - (begin + 9 * 60)) < 5
    assert record["usr2"]  # submitit's warning before the time limit would kill the run
    monkeypatch.setenv("FAKE_FAIL", SMOKE[1])
    with pytest.raises(RuntimeError, match="exited with 1"):
        launch._task("smoke", SMOKE[1], 10, 1, 1, None, None)


def test_study_help_and_bad_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["study", "run", "--help"])
    assert exit_.value.code == 0 and "--executor" in capsys.readouterr().out
    assert cli_main(["study", "run", "--profile", "smoke", "--runs", "drive-unet-s9"]) == 2
    assert "not runs of the 'smoke' study: drive-unet-s9" in capsys.readouterr().err


@pytest.mark.slow
def test_local_executors_train_and_file_real_runs(data_root, monkeypatch):
    """Two real smoke runs side by side, two more pinned to (stand-in) GPUs: all filed."""
    names = ["stare-unet-s0", "stare-afunet-s0", "drive-afunet@first-s0", "drive-afunet@none-s0"]
    for name in names:
        run = study.Run.parse(name)
        shutil.rmtree(study.run_dir("smoke", run), ignore_errors=True)
        shutil.rmtree(study.result_dir("smoke", run), ignore_errors=True)
    monkeypatch.setenv("AFUNET_DATA", str(data_root))
    assert launch.launch("smoke", "local", runs=names[:2], jobs=2, out=print) == []
    assert launch.launch("smoke", "gpus", runs=names[2:], devices=["0", "1"], out=print) == []
    for name in names:
        record = summary("smoke", name)
        assert record["epochs_run"] == 2 and record["device"] == "cpu"
        assert record["launch"]["executor"] == ("local" if name in names[:2] else "gpus")
        assert (study.result_dir("smoke", study.Run.parse(name)) / "eval" / "drive"
                / "metrics.json").is_file()
    assert sorted(summary("smoke", n)["launch"]["gpus"] for n in names[2:]) == ["0", "1"]
