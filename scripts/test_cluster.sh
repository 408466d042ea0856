#!/usr/bin/env bash
# The launcher on a real SLURM cluster, end to end: `make test-cluster DATA=<data root>`.
#
# 1. `make paper PROFILE=smoke JOBS=2` here, as CI runs it: the reference.
# 2. A one-node cluster on this machine (scripts/slurm_cluster.sh: munged, slurmctld and slurmd
#    on 127.0.0.1, stopped at the end whatever happens), and in it:
#    - a run that fails (an invalid setting) is reported by name with its SLURM log;
#    - the study submitted without waiting, then submitted again while its jobs are queued:
#      nothing is submitted twice;
#    - `make paper PROFILE=smoke EXECUTOR=slurm` waits for those jobs, then builds the tables
#      and figures; once more, it submits nothing (finished runs are never redone);
#    - every run's summary.json says it ran as a SLURM job, with its id and host.
# 3. Both results/smoke/ and figures/smoke/ trees equal byte for byte, but for times and the
#    record of where each run ran (scripts/compare_results.py).
# Needs root (or slurm-wlm and munge installed, and root to start slurmd). Writes results/smoke/
# and figures/smoke/ as `make paper PROFILE=smoke` does.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
AFUNET=.venv/bin/afunet

if [ "${1:-}" = "--on-cluster" ]; then
    squeued() { squeue -h -r -o %i | wc -l; }
    echo "== a run that fails is named with its log"
    if $AFUNET study run --profile smoke --executor slurm --runs stare-unet-s0 --set lr=-1 \
            --poll 1 > build/cluster-fail.log 2>&1; then
        cat build/cluster-fail.log; echo "FAIL: an invalid run did not fail"; exit 1
    fi
    cat build/cluster-fail.log
    grep -q "^FAILED stare-unet-s0 (slurm job [0-9]*): .*lr.*; log: runs/smoke/.launch/slurm/" \
        build/cluster-fail.log || { echo "FAIL: the failed run is not reported with its log"; exit 1; }

    echo "== submit without waiting, then again while the jobs are queued"
    $AFUNET study run --profile smoke --executor slurm --no-wait | tee build/cluster-submit1.log
    n=$($PY -m afunet.study list --profile smoke | wc -l)
    grep -q ", $n submitted$" build/cluster-submit1.log || { echo "FAIL: not $n submitted"; exit 1; }
    queued=$(squeued)
    $AFUNET study run --profile smoke --executor slurm --no-wait | tee build/cluster-submit2.log
    grep -q ", 0 submitted$" build/cluster-submit2.log || { echo "FAIL: submitted twice"; exit 1; }
    [ "$(squeued)" -le "$queued" ] || { echo "FAIL: the queue grew"; exit 1; }
    squeue

    echo "== make paper PROFILE=smoke EXECUTOR=slurm"
    make paper PROFILE=smoke EXECUTOR=slurm LAUNCH_ARGS="--poll 2" 2>&1 | tee build/cluster-paper.log \
        | grep -v "Kernel is running over TCP"
    if grep -q "some runs failed" build/cluster-paper.log; then echo "FAIL: runs failed"; exit 1; fi
    $AFUNET study run --profile smoke --executor slurm | tee build/cluster-again.log
    grep -q ", 0 submitted$" build/cluster-again.log || { echo "FAIL: finished runs redone"; exit 1; }
    [ "$(squeued)" -eq 0 ] || { echo "FAIL: jobs left in the queue"; exit 1; }
    $PY - <<'EOF'
import json
from pathlib import Path
runs = sorted(Path("results/smoke/runs").glob("*/summary.json"))
where = [json.loads(p.read_text())["launch"] for p in runs]
bad = [str(p) for p, w in zip(runs, where) if w["executor"] != "slurm" or "_" not in w["job_id"]]
assert runs and not bad, f"not recorded as SLURM array jobs: {bad}"
print(f"{len(runs)} runs recorded as SLURM jobs {sorted(w['job_id'] for w in where)} "
      f"on {sorted({w['host'] for w in where})}")
EOF
    exit 0
fi

: "${AFUNET_DATA:?give the data root: make test-cluster DATA=<folder with DRIVE/ and STARE/>}"
export OMP_NUM_THREADS=1  # as tests/test_paper_smoke.py: one torch thread per run
start=$(date +%s)
ref=$(mktemp -d /tmp/afunet-cluster-test.XXXXXX)
trap 'status=$?; [ "$status" -eq 0 ] && rm -rf "$ref" || echo "test-cluster: FAILED; the local reference is kept in $ref" >&2' EXIT
clean() { rm -rf results/smoke figures/smoke runs/smoke build/smoke; }
mkdir -p build

echo "== the reference: make paper PROFILE=smoke JOBS=2, here"
clean
make paper PROFILE=smoke JOBS=2 > build/cluster-local.log 2>&1 \
    || { tail -n 40 build/cluster-local.log; echo "FAIL: the local smoke study"; exit 1; }
mv results/smoke "$ref/results"
mv figures/smoke "$ref/figures"
echo "local: $(($(date +%s) - start)) s"

clean
cluster_start=$(date +%s)
bash scripts/slurm_cluster.sh bash "$0" --on-cluster
echo "cluster (start, tests, stop): $(($(date +%s) - cluster_start)) s"

echo "== SLURM against local"
$PY scripts/compare_results.py "$ref/results" results/smoke
$PY scripts/compare_results.py "$ref/figures" figures/smoke
echo "test-cluster: passed in $(($(date +%s) - start)) s"
