#!/usr/bin/env bash
# The paper profile's runs of one seed side by side on one leased GPU, within a deadline: the
# study launcher (`afunet study run`, afunet/launch.py) with the set-up such a machine needs.
#
#   bash scripts/device_paper.sh [PROFILE] [SECONDS]      # defaults: paper 540
#
# Runs JOBS (default 12: all at once) runs of seed SEED (default 0) side by side with the local
# executor. A leased GPU is lost with all on it, so SECONDS is the launch's budget: training ends
# the profile's eval_min before it, a run cut short is filed with its best weights
# (summary.json: stopped_by "deadline"), and a run still going when it is spent is stopped.
# Runs already filed under results/ are not redone. Checkpoints only at a run's end
# (CKPT_EVERY): width-64 checkpoints are large and nothing resumes there.
# Data: the native-size caches packed by `make cache` into .devcache/pack/paper.tar.xz (a call
# carries 64 MiB at most), unpacked here into .devcache/paper.
# Options: SETS="--set epochs=2 ..." (TrainConfig fields), SEED=1, NAMES="drive-afunet ..."
# (without -s<seed>; the order they start in: slowest first), ARGS="..." (launcher options).
set -u
profile=${1:-paper}
budget=${2:-540}
py=${PYTHON:-python3}
out=${OUT:-build/device}
seed=${SEED:-0}
mkdir -p "$out"
if [ ! -d .devcache/paper ] && [ -f .devcache/pack/paper.tar.xz ]; then
    tar xJf .devcache/pack/paper.tar.xz -C .devcache || exit 1
fi
export PYTHONPATH=$PWD AFUNET_CACHE=$PWD/.devcache/paper AFUNET_DATA=${AFUNET_DATA:-/nonexistent}
{
    date -u +%FT%TZ
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
    $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    echo "commit ${AFUNET_GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null)}"
} > "$out/device.txt"
cat "$out/device.txt"
# GPU use and memory over the call, to size JOBS for another card
smi=
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 10 \
        > "$out/gpu.csv" 2>/dev/null &
    smi=$!
fi
# Twelve at once need most of a 140 GiB card: on an 80 GB card run fewer (e.g. JOBS=6).
runs=()
for name in ${NAMES:-}; do runs+=("$name-s$seed"); done
start=$(date +%s)
# One torch thread a run (--cpus 1): twelve runs share the machine's cores.
$py -m afunet.cli study run --profile "$profile" --executor local --jobs "${JOBS:-12}" \
    --seed "$seed" ${runs[@]:+--runs "${runs[@]}"} --budget "$budget" --cpus 1 \
    --set checkpoint_every="${CKPT_EVERY:-100000}" ${SETS:-} ${ARGS:-} 2>&1 | tee "$out/runs.txt"
echo "wall $(($(date +%s) - start)) s" | tee -a "$out/runs.txt"
[ -n "$smi" ] && kill "$smi" 2>/dev/null
tar czf "$out/results_$profile.tgz" "results/$profile" "runs/$profile/.launch/logs" 2>/dev/null
ls -la "$out"
