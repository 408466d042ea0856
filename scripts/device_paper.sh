#!/usr/bin/env bash
# The paper profile's twelve runs (six models x DRIVE, STARE; seed 0) on one GPU, in one call.
#
#   bash scripts/device_paper.sh [PROFILE] [SECONDS]      # defaults: paper 420
#
# Runs JOBS (default 4) trainings side by side on the one GPU, most expensive first, each
# through `python -m afunet.pipeline run` (train, evaluate on both test sets, file results/).
# Stops at the deadline; finished runs are kept, unfinished ones resume from runs/ next time.
# The data come as the native-size tensor caches in .devcache/paper (40 MB, made here with
# `python -m afunet.data.cache --names drive stare --cache-dir .devcache/paper`); the 512 x 512
# copies are derived from them there. Extra TrainConfig fields: SETS="--set epochs=2 ...".
set -u
profile=${1:-paper}
budget=${2:-420}
jobs=${JOBS:-4}
py=${PYTHON:-python3}
out=${OUT:-build/device}
mkdir -p "$out" logs
export PYTHONPATH=$PWD AFUNET_CACHE=$PWD/.devcache/paper AFUNET_DATA=${AFUNET_DATA:-/nonexistent}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
start=$(date +%s)
{
    date -u +%FT%TZ
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
    $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    echo "commit ${AFUNET_GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null)}"
} > "$out/device.txt"
cat "$out/device.txt"
# Longest first (bench: ResUNet++ trains 5x slower than U-Net at width 64), STARE has half the images.
names="drive-resunetpp drive-unetpp stare-resunetpp drive-resunet stare-unetpp drive-attention_unet
stare-resunet drive-afunet drive-unet stare-attention_unet stare-afunet stare-unet"
# Runs already filed under results/ are not redone.
todo=$(for n in $names; do [ -f "results/$profile/runs/$n-s0/summary.json" ] || echo "$n-s0"; done)
printf '%s\n' $todo | timeout "$budget" xargs -P "$jobs" -I{} sh -c \
    "$py -m afunet.pipeline run {} --profile $profile --no-progress ${SETS:-} > logs/{}.log 2>&1 \
     && echo \"done {} \$(date -u +%T)\" || echo \"FAILED {} (see logs/{}.log)\"" | tee "$out/runs.txt"
echo "wall $(($(date +%s) - start)) s" | tee -a "$out/runs.txt"
tar czf "$out/results_$profile.tgz" "results/$profile" logs 2>/dev/null
ls -la "$out"
