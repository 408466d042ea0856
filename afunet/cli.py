"""The `afunet` command: data, train, evaluate, predict, bench.

Every error prints as one line, ``afunet: error: ...``, naming the file or setting and the fix:
exit status 2 for a usage error (an invalid or contradictory setting), 1 for a failure (missing
data, a busy run folder, a full disk); ``afunet --debug ...`` shows the traceback. Each sub-command imports its heavy modules (torch) when it runs, so that
`afunet --help` and a mistyped option answer at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import afunet
from afunet import registry
from afunet.config import TrainConfig
from afunet.data.cli import add_parser as add_data_parser
from afunet.errors import AfunetError, UsageError, print_error, run_command
from afunet.profiles import PROFILES, default_profile
from afunet.study import Run

FORMAT = argparse.RawDescriptionHelpFormatter

TRAIN_EPILOG = """\
examples:
  afunet train --profile smoke                       # seconds, synthetic data
  afunet train --profile cpu --model afunet --dataset drive --seed 0
  afunet train --profile cpu --model unet --set crop=256 --set lr=5e-4
  afunet train --profile paper --model afunet --out runs/paper/drive-afunet-s0   # on a GPU

The run folder gets config.json, log.csv, last.pt, best.pt and summary.json. Running the same
command again resumes an interrupted run, and does nothing for a finished one."""

EVALUATE_EPILOG = """\
examples:
  afunet evaluate --checkpoint runs/cpu/drive-afunet-s0
  afunet evaluate --checkpoint runs/cpu/drive-afunet-s0/best.pt --dataset stare --tta

Writes metrics.csv (per image), metrics.json (pooled) and probs/<id>.png. Scores are reported
at a fixed 0.5 threshold and at the threshold that maximises F1 on the run's validation
images (chosen before looking at the test set)."""

PREDICT_EPILOG = """\
examples:
  afunet predict eye.jpg                                # the general model, into predictions/
  afunet predict eye1.jpg eye2.png --checkpoint runs/cpu/drive-afunet-s0 --out predictions/
  afunet predict scans/*/eye.png --fov scans/*/eye_mask.png --format mask --out out/

Without --checkpoint, the general-purpose model shipped with afunet segments the photographs:
AF-UNet at width 16 trained on DRIVE and STARE together, with augmentations for other
cameras (its model card, with scores and limits: results/general/README.md).

For each image writes <stem>_prob.png, <stem>_mask.png and <stem>_overlay.png (--format),
under --out at the image's path below the images' common folder, so names never collide.
Every file gets a line: what was written, or why it was skipped; one bad file never stops
the others, and the exit status is 1 if any was skipped.

The field of view is the --fov mask, or found automatically (red channel > 35, cleaned; the
whole frame when almost nothing passes that test, as in a tightly cropped photograph); only
pixels inside it can be vessels. The network sees the photograph at its own size unless its
FOV's diameter differs from the training images' by more than 25 %: then it is rescaled to
match, and the result scaled back (as `afunet evaluate` does); a photograph cropped inside
its field of view (the FOV touches every edge) has no measurable scale and stays at its own
size. Expect the best masks from
45-degree fundus photographs like DRIVE's and STARE's."""

STUDY_EPILOG = """\
examples:
  afunet study run --profile cpu                            # here, one run at a time
  afunet study run --profile paper --executor gpus          # one run per GPU of this machine
  afunet study run --profile paper --executor local --jobs 12 --budget 540   # one GPU, shared
  afunet study run --profile paper --executor slurm --partition gpu --time 45
  afunet study status --profile paper

`make paper EXECUTOR=slurm` (or gpus) runs the study this way, then the tables and figures.
Logs: runs/<profile>/.launch/; each run's summary.json records its executor, host and job."""

BENCH_EPILOG = """\
examples:
  afunet bench --models all --width 16 --size 512 --out results/bench/bench_w16_512_cpu.csv
  afunet bench --models unet --width 16 --size 584x565 --precision fp32 bf16 --channels-last false true"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="afunet",
        description="AF-UNet (Asymmetric Fusion UNet) retinal vessel segmentation: get the data, "
        "train, evaluate, segment your own images, time the models.",
        epilog="Run 'afunet COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"afunet {afunet.__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (for bug reports)")
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="data root (default: $AFUNET_DATA, else <repo>/data)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_data_parser(sub)
    # SUPPRESS: an unset sub-command option must not overwrite the top-level one.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error (for bug reports)")
    common = argparse.ArgumentParser(add_help=False, parents=[debug])
    # SUPPRESS: an unset sub-command option must not overwrite a top-level --data-dir.
    common.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS,
                        help="data root (default: $AFUNET_DATA, else <repo>/data)")
    common.add_argument("--cache-dir", metavar="DIR", default=None,
                        help="tensor cache (default: $AFUNET_CACHE, else <repo>/.cache)")

    p = sub.add_parser("train", parents=[common], help="train a model (resumable)",
                       description="Train one model with Adam at a fixed learning rate on "
                       "Dice + BCE, stopping early on the validation loss (paper, section 3.3).",
                       epilog=TRAIN_EPILOG, formatter_class=FORMAT)
    p.add_argument("--profile", default=default_profile("cpu"), choices=list(PROFILES),
                   help="settings preset (default: %(default)s): "
                   + "; ".join(f"{p.name} ({p.summary})" for p in PROFILES.values())
                   + " (afunet/profiles.py)")
    p.add_argument("--model", help=f"{', '.join(registry.names())} "
                   f"(default: {TrainConfig().model})")
    p.add_argument("--dataset", help="drive, stare, chase_db1 or synthetic "
                   f"(default: the profile's: {_per_profile('dataset')})")
    p.add_argument("--seed", type=_at_least(0), help="initialisation, data order and augmentation "
                   f"(default: {TrainConfig().seed})")
    p.add_argument("--width", type=_at_least(1), help="channels of the first stage "
                   f"(default: the profile's: {_per_profile('width')})")
    p.add_argument("--epochs", type=_at_least(1), help="maximum number of epochs; early stopping "
                   f"may end sooner (default: the profile's: {_per_profile('epochs')})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any TrainConfig field (listed with a comment each in "
                   "afunet/config.py), value as JSON or text, repeatable: "
                   "e.g. --set lr=5e-4 --set crop=256 --set device=cpu")
    p.add_argument("--out", metavar="DIR",
                   help="run folder (default: runs/<profile>/<dataset>-<model>-s<seed>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", parents=[common], help="score a checkpoint on a test set",
                       description="Evaluate a trained checkpoint on whole images at native "
                       "size: per-image and pooled metrics inside the field of view.",
                       epilog=EVALUATE_EPILOG, formatter_class=FORMAT)
    p.add_argument("--checkpoint", required=True, metavar="PATH",
                   help="checkpoint file or run folder (uses its best.pt)")
    p.add_argument("--dataset", help="data set to test on, e.g. stare for a DRIVE checkpoint "
                   "(default: the data set the checkpoint was trained on)")
    p.add_argument("--split", default="test", choices=["test", "train"],
                   help="test, or train for diagnostics: all training images, the validation "
                   "ones included (default: test)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: "
                   "<folder of the checkpoint>/eval/<dataset>-<split>)")
    p.add_argument("--tta", action="store_true", help="average over flips (test-time augmentation)")
    p.add_argument("--no-probs", action="store_true", help="do not save probability maps")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (default: auto)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("predict", parents=[debug], help="segment your own fundus photographs",
                       description="Segment the vessels of fundus photographs (PNG, JPEG, "
                       "TIFF, PPM; any size) with the general-purpose model or a checkpoint.",
                       epilog=PREDICT_EPILOG, formatter_class=FORMAT)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="checkpoint file or run folder (uses its best.pt); default: the "
                   "general-purpose model shipped with afunet")
    p.add_argument("--out", default="predictions", metavar="DIR",
                   help="output folder (default: predictions)")
    p.add_argument("--threshold", type=_probability,
                   help="vessel if prob >= this, in [0, 1] (default: the checkpoint's own, "
                   "chosen on its validation images, as the general model carries; else 0.5)")
    p.add_argument("--fov", nargs="+", metavar="MASK",
                   help="field-of-view masks, one per image in the same order (default: "
                   "computed from each photograph)")
    p.add_argument("--format", nargs="+", dest="outputs", metavar="KIND",
                   help="what to write per image: prob (probability x 255), mask (vessels at "
                   "the threshold) and/or overlay (default: all three)")
    p.add_argument("--tta", action="store_true", help="average over flips")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (default: auto)")
    p.set_defaults(func=_predict)

    p = sub.add_parser("bench", parents=[debug], help="time the models on this machine",
                       description="Training throughput, inference latency, parameters, FLOPs "
                       "and achieved FLOP/s of each model on the current device.",
                       epilog=BENCH_EPILOG, formatter_class=FORMAT)
    p.add_argument("--models", nargs="+", default=["all"],
                   help="model names or 'all' for the six (default: all)")
    p.add_argument("--width", type=_at_least(1), default=16, help="channels of the first stage (16)")
    p.add_argument("--size", default="512",
                   help="input size: 512 or HxW, e.g. 584x565 (default: 512)")
    p.add_argument("--batch-size", type=_at_least(1), default=2,
                   help="images per training step (2); inference is timed on one image")
    p.add_argument("--steps", type=_at_least(1), default=5,
                   help="timed steps per model, for training and for inference (5)")
    p.add_argument("--warmup", type=_at_least(0), default=2, help="untimed warm-up steps (2)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (default: auto)")
    p.add_argument("--precision", nargs="+", default=["auto"], choices=["auto", "bf16", "fp32"],
                   help="one or more, each timed: bf16 autocast or fp32; auto = what "
                   "training uses on this device (fp32 on a CPU, bf16 on CUDA; see "
                   "afunet/device.py) (default: auto)")
    p.add_argument("--channels-last", nargs="+", default=["auto"],
                   choices=["auto", "true", "false"],
                   help="one or more, each timed: NHWC memory format; auto = what training "
                   "uses (true on CUDA, false on a CPU; see afunet/device.py) (default: auto)")
    p.add_argument("--threads", type=_at_least(1), help="torch CPU threads (default: torch's)")
    p.add_argument("--out", metavar="CSV",
                   help="also write the table as CSV (default: print it only)")
    p.set_defaults(func=_bench)

    p = sub.add_parser("study", help="run a profile's study here, on several GPUs or on SLURM",
                       description="Train, evaluate and file every run of a profile's study "
                       "that results/ lacks (`python -m afunet.pipeline run NAME` each), here or "
                       "on a cluster (afunet/launch.py). Finished runs are never redone; runs "
                       "still queued or running from an earlier launch are waited for, not "
                       "started again; a failed run is named with its log.",
                       epilog=STUDY_EPILOG, formatter_class=FORMAT)
    study_sub = p.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    run = study_sub.add_parser("run", parents=[debug], help="launch the runs results/ lacks",
                               epilog=STUDY_EPILOG, formatter_class=FORMAT)
    state = study_sub.add_parser("status", parents=[debug], help="each run: filed, queued, "
                                 "running, failed (with its log) or to do")
    for q in (run, state):
        q.add_argument("--profile", default=default_profile("cpu"), choices=list(PROFILES),
                       help="whose study (default: %(default)s)")
    run.add_argument("--executor", default="local", choices=["local", "gpus", "slurm"],
                     help="local: this machine, --jobs at a time; gpus: one run per GPU here "
                     "(--per-gpu to share); slurm: a job array (default: local)")
    run.add_argument("--runs", nargs="+", metavar="NAME",
                     help="only these runs, in this order (default: the whole plan)")
    run.add_argument("--seed", type=_at_least(0), help="only the runs of this seed")
    run.add_argument("--jobs", "-j", type=_at_least(1), default=1,
                     help="local: runs side by side (default: 1)")
    run.add_argument("--devices", nargs="+", metavar="GPU", help="gpus: which GPUs "
                     "(default: $CUDA_VISIBLE_DEVICES, else every one nvidia-smi lists)")
    run.add_argument("--per-gpu", type=_at_least(1), default=1,
                     help="gpus: runs side by side on each GPU (default: 1)")
    run.add_argument("--budget", type=_at_least(1), metavar="SECONDS",
                     help="local, gpus: time for the whole launch; training ends the profile's "
                     "eval_min before it and a run cut short is filed with its best weights "
                     "(default: none)")
    res = run.add_argument_group("resources of one run (default: the profile's, "
                                 "afunet/profiles.py)")
    res.add_argument("--cpus", type=_at_least(1), help="cores (and torch threads)")
    res.add_argument("--gpus", type=_at_least(0), help="slurm: GPUs per run")
    res.add_argument("--mem-gb", type=_at_least(1), help="slurm: memory per run")
    res.add_argument("--time", type=_at_least(1), dest="time_min", metavar="MINUTES",
                     help="slurm: time limit per run; training stops in time to file the run")
    res.add_argument("--eval-min", type=_at_least(0), metavar="MINUTES",
                     help="of the time limit or budget, kept for evaluating and filing")
    res.add_argument("--partition", help="slurm: partition (default: the cluster's)")
    res.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE",
                     help="slurm: any other sbatch option, e.g. --sbatch account=lab "
                     "(repeatable)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="replace a TrainConfig field in every run, e.g. --set epochs=2")
    run.add_argument("--no-wait", action="store_true",
                     help="slurm: submit and return; running this again waits for the jobs")
    run.add_argument("--poll", type=float, default=10.0, metavar="SECONDS",
                     help="how often to look at the queue (default: 10)")
    run.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS,
                     help="data root (default: $AFUNET_DATA, else <repo>/data)")
    p.set_defaults(func=_study)
    return parser


def _at_least(low: int):
    """An argparse type: a whole number >= low, else a usage error naming the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum, {low}")
        return value
    return parse


def _probability(text: str) -> float:
    """An argparse type: a number in [0, 1] (NaN refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also false for NaN
        raise argparse.ArgumentTypeError(f"{text} is outside [0, 1]")
    return value


def _per_profile(field: str) -> str:
    """A TrainConfig field's value under each profile, for help texts: "smoke 4, cpu 16"."""
    return ", ".join(f"{p.name} {getattr(p.config(), field)}" for p in PROFILES.values())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `afunet` command (and `python -m afunet`)."""
    args = build_parser().parse_args(argv)
    return run_command(args.func, args, debug=args.debug)


def _train(args) -> int:
    from afunet.training import make_config, parse_overrides, train  # torch: see the docstring

    overrides = {k: v for k, v in (("model", args.model), ("dataset", args.dataset),
                                   ("seed", args.seed), ("width", args.width),
                                   ("epochs", args.epochs)) if v is not None}
    sets = parse_overrides(args.set)
    both = sorted(set(overrides) & set(sets))
    if both:
        raise UsageError("given twice: " + "; ".join(
            f"--{k} {overrides[k]} and --set {k}={sets[k]}" for k in both) + "; keep one")
    overrides.update(sets)
    config = make_config(args.profile, **overrides)
    out = Path(args.out or f"runs/{args.profile}/{Run(config.dataset, config.model, config.seed).name}")
    summary = train(config, out, root=args.data_dir, cache_dir=args.cache_dir,
                    progress=not args.no_progress)
    print(f"{out}: best epoch {summary['best_epoch']} of {summary['epochs_run']}, "
          f"val loss {summary['best_val_loss']:.4f}, val F1 {summary['best_val_f1']:.4f}, "
          f"{summary['train_seconds']:.0f} s on {summary['device_name']} "
          f"({summary['precision']})")
    return 0


def _evaluate(args) -> int:
    from afunet.evaluation import evaluate  # torch: see the module docstring
    from afunet.inference import load_with_metadata

    dataset = args.dataset
    if dataset is None:
        dataset = load_with_metadata(args.checkpoint, "cpu")[1].dataset
    report = evaluate(args.checkpoint, dataset, args.split, args.out, root=args.data_dir,
                      cache_dir=args.cache_dir, tta=args.tta, save_probs=not args.no_probs,
                      device=args.device, progress=True)
    for rule in ("fixed", "val"):
        r = report[rule]
        p = r["pooled"]
        print(f"{dataset} {args.split} @ {rule} threshold {r['threshold']:.3f}: "
              f"F1 {p['f1']:.4f} Jaccard {p['jaccard']:.4f} recall {p['recall']:.4f} "
              f"precision {p['precision']:.4f} accuracy {p['accuracy']:.4f}")
    print(f"AUC-ROC {report['auc_roc']:.4f}  AUC-PR {report['auc_pr']:.4f}")
    if report["observer2"]:
        p = report["observer2"]["pooled"]
        print(f"second observer: F1 {p['f1']:.4f} accuracy {p['accuracy']:.4f}")
    return 0


def _predict(args) -> int:
    from afunet.inference import predict_files  # torch: see the module docstring

    results = predict_files(args.images, args.checkpoint, args.out, args.threshold,
                            device=args.device, tta=args.tta, fovs=args.fov,
                            **({"outputs": tuple(args.outputs)} if args.outputs else {}))
    for r in results:
        if r["ok"]:
            scale = "" if r["scale"] == 1.0 else f", segmented at {r['scale']:.2f}x its size"
            written = ", ".join(v for k, v in r.items() if k in ("prob", "mask", "overlay"))
            print(f"{r['path']}: {r['width']} x {r['height']} px{scale}, threshold "
                  f"{r['threshold']:.4g}, vessels "
                  f"{100 * r['vessel_fraction']:.1f}% of the FOV -> {written}")
        else:
            print_error(f"{r['error']} (skipped)")
    return 0 if all(r["ok"] for r in results) else 1


def _bench(args) -> int:
    import torch  # see the module docstring

    from afunet.bench import bench

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise AfunetError(f"--size must be like 512 or 584x565, got {args.size!r}") from None
    size = size[0] if len(size) == 1 else size
    layouts = [{"true": True, "false": False}.get(v, v) for v in args.channels_last]
    bench(args.models, args.width, size, batch_size=args.batch_size, steps=args.steps,
          warmup=args.warmup, device=args.device, precisions=tuple(args.precision),
          channels_last=tuple(layouts), out=args.out)
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _study(args) -> int:
    from afunet import launch  # no torch: runs go to their own processes
    from afunet.config import parse_overrides

    if args.study_command == "status":
        launch.status(args.profile)
        return 0
    sbatch = parse_overrides(args.sbatch)
    failed = launch.launch(
        args.profile, args.executor, runs=args.runs, seed=args.seed, jobs=args.jobs,
        devices=args.devices, per_gpu=args.per_gpu, budget=args.budget, wait=not args.no_wait,
        overrides=parse_overrides(args.set), data_dir=args.data_dir, sbatch=sbatch,
        poll=args.poll, cpus=args.cpus, gpus=args.gpus, mem_gb=args.mem_gb,
        time_min=args.time_min, eval_min=args.eval_min, partition=args.partition)
    if failed:
        raise AfunetError(f"{len(failed)} run(s) failed: {', '.join(failed)}; each is named "
                          "above with its log, and running this again retries them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
