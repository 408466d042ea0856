"""Run a profile's study here, on several GPUs, or on a SLURM cluster: one launcher, one entry point.

Every executor runs the same command once per run of the plan that has no results yet,
``python -m afunet.pipeline run NAME --profile P`` (train, evaluate, file under results/):

    local   on this machine, one run at a time; ``jobs=N`` runs N side by side (they share its
            CPU cores, or its one GPU)
    gpus    one run per GPU of this machine (``per_gpu=N``: N side by side on each)
    slurm   one job array through submitit; partition, time, CPUs, GPUs and memory from the
            profile (afunet/profiles.py), each overridable

A ledger, runs/<profile>/.launch/jobs.json, keeps each run's last job (executor, id, host, log):
a second launch waits for the runs still queued or running instead of starting them again, and a
run whose job ended without results is reported by name with its log, then retried by the next
launch. A run learns where it runs from AFUNET_EXECUTOR and SLURM's variables, and its
summary.json says so (`launch_record`). Importable without torch; only `slurm` needs submitit.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from afunet import study
from afunet.errors import AfunetError, UsageError
from afunet.profiles import get_profile

EXECUTORS = ("local", "gpus", "slurm")
EXECUTOR_ENV = "AFUNET_EXECUTOR"  # set by the launcher for the run's process
POLL = 10.0  # seconds between two looks at the queue (and at runs of other launches)


@dataclass(frozen=True)
class Resources:
    """What one run asks for: the profile's values, then the command line's."""

    cpus: int
    gpus: int
    mem_gb: int
    time_min: int
    eval_min: int
    partition: str | None = None

    @classmethod
    def of(cls, profile: str, **overrides) -> Resources:
        """The profile's resources with each override that is not None."""
        p = get_profile(profile)
        values = {f.name: getattr(p, f.name) for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        res = cls(**values)
        for name in ("cpus", "mem_gb", "time_min"):
            if getattr(res, name) < 1:
                raise UsageError(f"{name} must be at least 1, got {getattr(res, name)}")
        if res.gpus < 0 or not 0 <= res.eval_min < res.time_min:
            raise UsageError(f"need gpus >= 0 and 0 <= eval_min < time_min, got gpus {res.gpus}, "
                             f"eval_min {res.eval_min}, time_min {res.time_min}")
        return res


def launch_record() -> dict:
    """Where this process runs, for summary.json: executor, host, job id, visible GPUs."""
    env = os.environ
    array = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    slurm = "_".join(array) if all(array) else env.get("SLURM_JOB_ID")
    return dict(executor=env.get(EXECUTOR_ENV) or ("slurm" if slurm else "local"),
                host=socket.gethostname(), job_id=slurm or f"pid {os.getpid()}",
                gpus=env.get("CUDA_VISIBLE_DEVICES"))


def launch_dir(profile: str) -> Path:
    """The launcher's own files: the ledger, local logs, submitit's folder (ignored by git)."""
    return study.REPO / "runs" / profile / ".launch"


def is_finished(profile: str, name: str) -> bool:
    """A run counts as finished once its results are filed, as for `make runs`."""
    return (study.result_dir(profile, study.Run.parse(name)) / "summary.json").is_file()


def select(profile: str, runs=None, seed: int | None = None) -> list[str]:
    """Names of the plan to launch, in the plan's order or in the order given."""
    plan = [r.name for r in study.plan(profile)]
    chosen = list(dict.fromkeys(runs)) if runs else plan
    unknown = [n for n in chosen if n not in plan]
    if unknown:
        raise UsageError(f"not runs of the {profile!r} study: {', '.join(unknown)} "
                         f"(python -m afunet.study list --profile {profile} names them)")
    if seed is not None:
        chosen = [n for n in chosen if study.Run.parse(n).seed == seed]
    return chosen


def run_argv(profile: str, name: str, *, deadline: float | None = None,
             overrides: dict | None = None, data_dir=None) -> list[str]:
    """The study's single entry point for one run, as a command line."""
    argv = [sys.executable, "-m", "afunet.pipeline", "run", name, "--profile", profile,
            "--no-progress"]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    if deadline is not None:
        argv += ["--deadline", f"{deadline:.0f}"]
    for key, value in (overrides or {}).items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    return argv


class Ledger:
    """runs/<profile>/.launch/jobs.json, read and written under an exclusive lock."""

    def __init__(self, profile: str):
        self.path = launch_dir(profile) / "jobs.json"
        self.jobs: dict[str, dict] = {}

    def __enter__(self) -> Ledger:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path.with_suffix(".lock"), "a+")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._text = self.path.read_text() if self.path.is_file() else ""
        self.jobs = json.loads(self._text) if self._text else {}
        return self

    def __exit__(self, *exc) -> None:
        try:
            text = json.dumps(self.jobs, indent=2, sort_keys=True) + "\n"
            if text != self._text:
                tmp = self.path.with_name(f".{self.path.name}.tmp")
                tmp.write_text(text)
                os.replace(tmp, self.path)
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


def squeue() -> dict[str, tuple[str, str]]:
    """This user's SLURM jobs not yet ended, one array task each: {job id: (state, job name)}."""
    if shutil.which("squeue") is None:
        raise AfunetError("squeue not found: the ledger names SLURM jobs, so run this where "
                          "the SLURM commands are (a login node)")
    done = subprocess.run(["squeue", "-h", "-r", "-u", getpass.getuser(), "-o", "%i %T %j"],
                          capture_output=True, text=True)
    if done.returncode:
        raise AfunetError(f"squeue failed: {' '.join(done.stderr.split()) or done.returncode}")
    jobs = (line.split(maxsplit=2) for line in done.stdout.splitlines() if line.strip())
    return {job[0]: (job[1], job[2] if len(job) > 2 else "") for job in jobs}


def live_jobs(jobs: dict[str, dict | None], *, strict: bool = True,
              out: Callable = print) -> dict[str, str]:
    """Of these runs' ledger entries, those whose job has not ended: {name: state}.

    A SLURM job counts when squeue lists its id under the name it was submitted with (ids
    start again on a new cluster). Without a queue to ask, ``strict`` is an error; otherwise
    such runs count as ended, with a warning (a local launch on a machine outside the cluster).
    """
    jobs = {name: job for name, job in jobs.items() if job}
    slurm = [name for name, job in jobs.items() if job["executor"] == "slurm"]
    queue = {}
    if slurm:
        try:
            queue = squeue()
        except AfunetError as exc:
            if strict:
                raise
            out(f"warning: {exc}; taking {', '.join(slurm)} as not queued")
    live = {}
    for name, job in jobs.items():
        if job["executor"] == "slurm":
            state, job_name = queue.get(job["job_id"], (None, None))
            if state and job_name == job.get("name", job_name):
                live[name] = state.lower()
        elif job.get("host") == socket.gethostname() and _runs_here(job.get("pid"), name):
            live[name] = "running"
    return live


def _runs_here(pid, name: str) -> bool:
    """Whether process ``pid`` of this machine is still the run ``name``."""
    try:
        proc = Path(f"/proc/{int(pid)}")
        for _ in range(40):
            if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False  # exited, not yet reaped
            command = proc.joinpath("cmdline").read_bytes()
            if command:
                return name in command.decode(errors="replace")
            time.sleep(0.05)  # a process that is just starting shows no command line yet
    except (OSError, TypeError, ValueError, IndexError):
        pass
    return False


def launch(profile: str, executor: str = "local", *, runs=None, seed: int | None = None,
           jobs: int = 1, devices=None, per_gpu: int = 1, budget: float | None = None,
           wait: bool = True, overrides: dict | None = None, data_dir=None,
           sbatch: dict | None = None, poll: float = POLL, out: Callable = print,
           **resources) -> list[str]:
    """Run every selected run of a profile's study that has no results yet; wait for them.

    Args:
        executor: local, gpus or slurm (see the module docstring).
        runs, seed: a subset of the plan (names; one seed), default all of it.
        jobs: runs side by side (local); per_gpu: runs side by side on each GPU (gpus).
        devices: the GPUs of `gpus` (default: $CUDA_VISIBLE_DEVICES, else all nvidia-smi lists).
        budget: seconds from now for the whole launch (local, gpus): training ends the
            profile's eval_min before, runs cut short are filed with their best weights, and
            what still runs when it is spent is stopped.
        wait: False submits (slurm) and returns at once; a later launch waits for the jobs.
        overrides: TrainConfig fields for every run (recorded in its config.json).
        sbatch: further sbatch options, e.g. {"account": "lab", "qos": "short"}.
        resources: cpus, gpus, mem_gb, time_min, eval_min, partition over the profile's.
    Returns:
        The runs that failed (an empty list when every selected run is filed).
    """
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if budget is not None and executor == "slurm":
        raise UsageError("a budget is for the local executors; on SLURM each run's time limit "
                         "(time_min) is its deadline")
    if not wait and executor != "slurm":
        raise UsageError("only the slurm executor can submit without waiting")
    if jobs < 1 or per_gpu < 1:
        raise UsageError(f"jobs and per_gpu must be at least 1, got {jobs} and {per_gpu}")
    res = Resources.of(profile, **resources)
    names = select(profile, runs, seed)
    gpus = _devices(devices) if executor == "gpus" else []
    before = [n for n in names if is_finished(profile, n)]
    todo = [n for n in names if n not in before]
    with Ledger(profile) as ledger:
        live = live_jobs({n: ledger.jobs.get(n) for n in todo}, strict=executor == "slurm",
                         out=out)
        new = [n for n in todo if n not in live]
        if executor == "slurm" and new:
            ledger.jobs.update(_submit_slurm(profile, new, res, overrides, data_dir, sbatch))
    out(f"afunet study: {profile}, executor {executor}: {len(names)} runs, {len(before)} filed "
        f"before, {len(live)} still queued or running elsewhere, "
        + (f"{len(new)} submitted" if executor == "slurm" else f"{len(new)} to run here"))
    for name, state in live.items():
        out(f"  {name}: {state}, {_where(ledger.jobs[name])}")
    if executor == "slurm":
        with Ledger(profile) as ledger:
            for name in new:
                out(f"  {name}: submitted, {_where(ledger.jobs[name])}")
        if not wait:
            out(f"afunet study: not waiting; `afunet study status --profile {profile}` shows "
                "them, and running this again waits for them without submitting them again")
            return []
        waiting = set(new) | set(live)
    else:
        slots = ([{}] * jobs if executor == "local" else
                 [{"CUDA_VISIBLE_DEVICES": d} for _ in range(per_gpu) for d in gpus])
        waiting = set(live) | _run_here(profile, executor, new, slots, res, budget, overrides,
                                        data_dir, out)
    try:
        failed = _wait(profile, waiting, poll, out)
    except KeyboardInterrupt:
        if executor == "slurm":
            out("afunet study: stopped waiting; the jobs stay queued, and running this again "
                "waits for them (scancel cancels them)")
        raise
    failed += [n for n in new if n not in waiting and not is_finished(profile, n)]
    done = sum(is_finished(profile, n) for n in names)
    out(f"afunet study: {profile}: {done} of {len(names)} runs filed"
        + (f"; failed: {', '.join(failed)}" if failed else ""))
    return failed


def _where(job: dict) -> str:
    """``slurm job 12_3 on node7, log runs/...`` for a ledger entry."""
    host = f" on {job['host']}" if job.get("host") else ""
    return f"{job['executor']} job {job['job_id']}{host}, log {_rel(job['log'])}"


def _rel(path) -> str:
    try:
        return str(Path(path).relative_to(study.REPO))
    except ValueError:
        return str(path)


def _devices(devices) -> list[str]:
    """The GPUs of the `gpus` executor, as CUDA_VISIBLE_DEVICES values."""
    if devices:
        return [str(d) for d in devices]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if visible:
        return [d.strip() for d in visible.split(",") if d.strip()]
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    except OSError:
        listed = ""
    found = [str(i) for i, line in enumerate(listed.splitlines()) if line.startswith("GPU ")]
    if not found:
        raise UsageError("the gpus executor found no GPU (nvidia-smi lists none): name them "
                         "with --devices, or use the local executor")
    return found


def _run_here(profile, executor, names, slots, res, budget, overrides, data_dir,
              out) -> set[str]:
    """Run ``names`` on this machine, len(slots) at a time; returns those another launch runs."""
    start = time.time()
    deadline = start + budget - 60 * res.eval_min if budget is not None else None
    logs = launch_dir(profile) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    queue, running, elsewhere = list(names), {}, set()
    try:
        while queue or running:
            free = [i for i in range(len(slots)) if i not in running]
            while queue and free and (deadline is None or time.time() < deadline):
                name = queue.pop(0)
                with Ledger(profile) as ledger:
                    if is_finished(profile, name):
                        continue
                    if live_jobs({name: ledger.jobs.get(name)}, strict=False, out=out):
                        elsewhere.add(name)  # started meanwhile by another launch
                        continue
                    log = logs / f"{name}.log"
                    env = {**os.environ, **slots[free[0]], EXECUTOR_ENV: executor,
                           "OMP_NUM_THREADS": str(res.cpus), "PYTHONUNBUFFERED": "1"}
                    with open(log, "w") as f:
                        proc = subprocess.Popen(
                            run_argv(profile, name, deadline=deadline, overrides=overrides,
                                     data_dir=data_dir),
                            stdout=f, stderr=subprocess.STDOUT, env=env, cwd=study.REPO)
                    ledger.jobs[name] = dict(executor=executor, job_id=f"pid {proc.pid}",
                                             pid=proc.pid, host=socket.gethostname(),
                                             log=str(log), submitted=_now(),
                                             gpus=slots[free[0]].get("CUDA_VISIBLE_DEVICES"))
                running[free.pop(0)] = (name, proc)
            if deadline is not None and time.time() >= deadline and queue:
                for name in queue:
                    out(f"NOT STARTED {name}: the budget is spent")
                queue = []
            for slot, (name, proc) in list(running.items()):
                if proc.poll() is not None:
                    del running[slot]
                    _report(profile, name, out)
            if budget is not None and time.time() > start + budget:
                for name, proc in running.values():
                    out(f"STOPPED {name}: still running when the budget was spent")
                    _stop(proc)
                running = {}
            time.sleep(0.2)
    finally:
        for _name, proc in running.values():  # interrupted: no run may outlive its launcher
            _stop(proc)
    return elsewhere


def _stop(proc: subprocess.Popen) -> None:
    """Terminate a run (it resumes from its last checkpoint next time), kill it if it hangs."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _submit_slurm(profile, names, res, overrides, data_dir, sbatch) -> dict[str, dict]:
    """Submit ``names`` as one job array; returns their ledger entries."""
    try:
        import submitit  # only this executor needs it
    except ImportError:
        raise AfunetError("the slurm executor needs submitit: pip install submitit "
                          "(constraints.txt has the version)") from None
    try:
        executor = submitit.SlurmExecutor(folder=launch_dir(profile) / "slurm")
    except RuntimeError as exc:  # no srun: not a SLURM machine
        raise AfunetError(f"cannot submit to SLURM here: {exc}") from None
    job_name = f"afunet-{profile}"
    params = dict(job_name=job_name, time=res.time_min, cpus_per_task=res.cpus,
                  mem=f"{res.mem_gb}G", partition=res.partition,
                  gpus_per_node=res.gpus or None, additional_parameters=sbatch or None)
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    try:
        with executor.batch():
            jobs = [executor.submit(_task, profile, name, res.time_min, res.eval_min,
                                    res.cpus, overrides, data_dir) for name in names]
    except (subprocess.CalledProcessError, submitit.core.utils.FailedSubmissionError) as exc:
        detail = getattr(exc, "stderr", None) or getattr(exc, "output", None) or exc
        detail = detail.decode() if isinstance(detail, bytes) else str(detail)
        raise AfunetError(f"sbatch refused the {profile!r} runs: {' '.join(detail.split())}") \
            from None
    return {name: dict(executor="slurm", job_id=job.job_id, name=job_name, host=None,
                       log=str(job.paths.stderr), out=str(job.paths.stdout), submitted=_now())
            for name, job in zip(names, jobs, strict=True)}


def _task(profile, name, time_min, eval_min, cpus, overrides, data_dir) -> str:
    """One SLURM array task: the run's command, its training ended in time to be filed."""
    deadline = time.time() + 60 * (time_min - eval_min)
    env = {**os.environ, EXECUTOR_ENV: "slurm", "OMP_NUM_THREADS": str(cpus),
           "PYTHONUNBUFFERED": "1"}
    # submitit has SLURM signal the job shortly before its limit, which would end the run
    # mid-evaluation: the run's own deadline ends its training in time instead.
    warning = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))
    previous = signal.signal(warning, signal.SIG_IGN)  # the run's process inherits it
    try:
        done = subprocess.run(run_argv(profile, name, deadline=deadline, overrides=overrides,
                                       data_dir=data_dir), env=env, cwd=study.REPO)
    finally:
        signal.signal(warning, previous)
    if done.returncode:
        raise RuntimeError(f"{name}: python -m afunet.pipeline exited with {done.returncode}")
    return name


def _wait(profile: str, names: set[str], poll: float, out) -> list[str]:
    """Wait until none of ``names`` has a live job; report each as it ends; the failed ones."""
    pending, failed = set(names), []
    while pending:
        with Ledger(profile) as ledger:
            jobs = {n: ledger.jobs.get(n) for n in pending}
        live = live_jobs(jobs, out=out)
        for name in sorted(pending - set(live)):
            pending.discard(name)
            if not _report(profile, name, out):
                failed.append(name)
        if pending:
            time.sleep(poll)
    return failed


def _report(profile: str, name: str, out) -> bool:
    """One line on a run whose job ended: where it ran and how it stopped, or its log."""
    result = study.result_dir(profile, study.Run.parse(name)) / "summary.json"
    with Ledger(profile) as ledger:
        job = ledger.jobs.get(name) or {}
    if result.is_file():
        summary = json.loads(result.read_text())
        where = summary.get("launch") or {}
        out(f"done {name} at {datetime.now(timezone.utc):%H:%M:%S} UTC: {where.get('executor')} "
            f"job {where.get('job_id')} on {where.get('host')}, {summary['epochs_run']} epochs in "
            f"{summary['train_seconds']:.0f} s, stopped by {summary['stopped_by']}")
        return True
    log = job.get("log")
    out(f"FAILED {name} ({job.get('executor')} job {job.get('job_id')}): {_last_error(log)}; "
        f"log: {_rel(log) if log else 'none'}")
    return False


def _last_error(log) -> str:
    """The last line of a log that says what went wrong, else its last line."""
    try:
        lines = [line.strip() for line in Path(log).read_text(errors="replace").splitlines()
                 if line.strip()]
    except (OSError, TypeError):
        return "no log was written (the job may not have started)"
    ours = [line for line in lines if line.startswith("afunet: error:")]
    errors = [line for line in lines if "error" in line.lower()]
    return (ours or errors or lines or ["the log is empty"])[-1][:300]


def status(profile: str, out: Callable = print) -> dict[str, str]:
    """Each run's state, {name: state}: filed, queued or running (with its job), failed, to do."""
    names = select(profile)
    with Ledger(profile) as ledger:
        jobs = {n: ledger.jobs.get(n) for n in names}
    live = live_jobs({n: j for n, j in jobs.items() if not is_finished(profile, n)},
                     strict=False, out=out)
    states = {}
    for name in names:
        if is_finished(profile, name):
            record = json.loads((study.result_dir(profile, study.Run.parse(name))
                                 / "summary.json").read_text()).get("launch") or {}
            where = (f"{record.get('executor')} job {record.get('job_id')} on "
                     f"{record.get('host')}") if record else "no launch record"
            states[name] = "filed"
            out(f"{name}: filed ({where})")
        elif name in live:
            states[name] = live[name]
            out(f"{name}: {live[name]}, {_where(jobs[name])}")
        elif jobs[name]:
            states[name] = "failed"
            out(f"{name}: failed, {_where(jobs[name])}: {_last_error(jobs[name]['log'])}")
        else:
            states[name] = "to do"
            out(f"{name}: to do")
    counts = {s: list(states.values()).count(s) for s in dict.fromkeys(states.values())}
    out(f"afunet study: {profile}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return states


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

