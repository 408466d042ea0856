#!/usr/bin/env bash
# The paper profile's runs of one seed (six models x DRIVE, STARE) on one GPU, in one call.
#
#   bash scripts/device_paper.sh [PROFILE] [SECONDS]      # defaults: paper 540
#
# Runs JOBS (default 12: all at once) trainings side by side on the one GPU, each
# through `python -m afunet.pipeline run` (train, evaluate on both test sets, file results/).
# A leased GPU is given back with everything on it, so the budget is a deadline for every
# run (`--deadline`): training ends EVAL_MARGIN seconds (default 60) before it, and a run cut
# short is evaluated and filed with its best weights so far, its summary.json saying
# stopped_by "deadline". Checkpoints are written only at a run's end (CKPT_EVERY, default
# 100000 epochs): a width-64 checkpoint is 0.4-0.8 GB and nothing resumes from it there.
# The data come as the native-size tensor caches, packed by `make cache` into
# .devcache/pack/paper.tar.xz (32 MB: with the code and results/ a call carries 64 MiB at most)
# and unpacked here into .devcache/paper; the 512 x 512 copies are derived from them.
# Extra TrainConfig fields: SETS="--set epochs=2 ..."; another seed: SEED=1; some runs only:
# NAMES="drive-afunet stare-afunet".
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
# GPU use and memory every 10 s, to size JOBS for another card (results/paper/calls/*/gpu.csv)
smi=
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 10 \
        > "$out/gpu.csv" 2>/dev/null &
    smi=$!
fi
# Longest first (bench: ResUNet++ trains 5x slower than U-Net at width 64), STARE has half the
# images. On one H200 (2026-11-27), twelve at once kept it at 100 % and took 373 s in all, the
# last (DRIVE ResUNet++) 335 s of training; results/paper/calls/ holds each call's record.
# They held up to 113 GiB of its 140 GiB (gpu.csv there): on an 80 GB card (H100) run fewer at
# once, e.g. JOBS=6 (not timed here).
names=${NAMES:-"drive-resunetpp drive-unetpp stare-resunetpp drive-resunet stare-unetpp
drive-attention_unet stare-resunet drive-afunet drive-unet stare-attention_unet stare-afunet stare-unet"}
seed=${SEED:-0}
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
