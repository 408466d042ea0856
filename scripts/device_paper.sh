#!/usr/bin/env bash
# The paper profile's runs of one seed (every model x data set) on one GPU, in one call.
#
#   bash scripts/device_paper.sh [PROFILE] [SECONDS]      # defaults: paper 540
#
# Runs JOBS (default 12: all at once) `python -m afunet.pipeline run` side by side (train,
# evaluate on both test sets, file results/). A leased GPU is lost with all on it, so SECONDS
# is a deadline for every run: training ends EVAL_MARGIN s (default 60) before it and a run cut
# short is filed with its best weights (summary.json: stopped_by "deadline"). Checkpoints only
# at a run's end (CKPT_EVERY): width-64 checkpoints are large and nothing resumes there.
# Data: the native-size caches packed by `make cache` into .devcache/pack/paper.tar.xz (a call
# carries 64 MiB at most), unpacked here into .devcache/paper.
# Options: SETS="--set epochs=2 ..." (TrainConfig fields), SEED=1, NAMES="drive-afunet ...".
set -u
profile=${1:-paper}
budget=${2:-540}
jobs=${JOBS:-12}
py=${PYTHON:-python3}
out=${OUT:-build/device}
mkdir -p "$out" logs
if [ ! -d .devcache/paper ] && [ -f .devcache/pack/paper.tar.xz ]; then
    tar xJf .devcache/pack/paper.tar.xz -C .devcache || exit 1
fi
export PYTHONPATH=$PWD AFUNET_CACHE=$PWD/.devcache/paper AFUNET_DATA=${AFUNET_DATA:-/nonexistent}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
start=$(date +%s)
deadline=$((start + budget - ${EVAL_MARGIN:-60}))
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
# The seed's runs of the study plan (afunet/profiles.py), all at once by default. Twelve at once
# need most of a 140 GiB card: on an 80 GB card run fewer (e.g. JOBS=6), and name the slowest
# first in NAMES (ResUNet++, UNet++). results/paper/calls/ holds the records.
seed=${SEED:-0}
names=${NAMES:-$($py -m afunet.study list --profile "$profile" | sed -n "s/-s$seed\$//p")}
# Runs already filed under results/ are not redone.
todo=$(for n in $names; do [ -f "results/$profile/runs/$n-s$seed/summary.json" ] || echo "$n-s$seed"; done)
printf '%s\n' $todo | timeout "$budget" xargs -P "$jobs" -I{} sh -c \
    "$py -m afunet.pipeline run {} --profile $profile --no-progress --deadline $deadline \
     --set checkpoint_every=${CKPT_EVERY:-100000} ${SETS:-} > logs/{}.log 2>&1 \
     && echo \"done {} \$(date -u +%T)\" || echo \"FAILED {} (see logs/{}.log)\"" | tee "$out/runs.txt"
echo "wall $(($(date +%s) - start)) s" | tee -a "$out/runs.txt"
[ -n "$smi" ] && kill "$smi" 2>/dev/null
tar czf "$out/results_$profile.tgz" "results/$profile" logs 2>/dev/null
ls -la "$out"
