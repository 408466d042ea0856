"""The general-purpose model: what `afunet predict` uses when no checkpoint is named.

AF-UNet at width 16 with the `cpu` study's recipe plus the appearance augmentations
(`afunet.data.appearance`), trained on the training images of DRIVE and STARE together. The
recipe is judged leave-one-data-set-out (trained on one set, scored on the other's test images)
and its augmentations kept only because they win on the other set's *training* images. The
model card, with every score and command: results/general/README.md.

    python -m afunet.general train                # each of TRAINED_ON (or one); resumes
    python -m afunet.general select               # augmentations on or off (validation only)
    python -m afunet.general evaluate             # test scores and the cross-data-set table
    python -m afunet.general export               # the committed fp16 weights
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from afunet.config import TrainConfig
from afunet.errors import CheckpointError, UsageError, run_command
from afunet.profiles import get_profile
from afunet.study import DATASETS, REPO

STUDY = "cpu"  # the profile whose recipe it extends and whose models it is compared with
MODEL = "afunet"  # over U-Net on the other set's training images (input-resolution record)
APPEARANCE = dict(scale=0.35,  # zoom 0.70-1.42: DRIVE's and STARE's FOVs differ by 17 %
                  color=0.2, illumination=0.5, blur=1.5)
COMMITTED = "drive+stare"  # the weights users get; the single sets judge the recipe
TRAINED_ON = (*DATASETS, COMMITTED)
RESULTS = REPO / "results" / "general"
WEIGHTS = Path(__file__).resolve().parent / "weights" / "afunet-general-w16.pt"
RESULT_FILES = ("config.json", "log.csv", "summary.json")


def config(trained_on: str, **overrides) -> TrainConfig:
    """The recipe on one training set (a name of TRAINED_ON)."""
    if trained_on not in TRAINED_ON:
        raise UsageError(f"no general run is trained on {trained_on!r}; choose one of: "
                              f"{', '.join(TRAINED_ON)}")
    return get_profile(STUDY).config(model=MODEL, dataset=trained_on,
                                     **{**APPEARANCE, **overrides})


def run_dir(trained_on: str) -> Path:
    """Where a run trains (ignored by git)."""
    return REPO / "runs" / "general" / trained_on


def result_dir(trained_on: str) -> Path:
    """Where a run's records are filed."""
    return RESULTS / "runs" / trained_on


def weights() -> Path:
    """The committed weights, or a CheckpointError saying how to make them."""
    if not WEIGHTS.is_file():
        raise CheckpointError(
            f"the general model's weights {WEIGHTS} are missing (a source checkout without "
            "them?); reinstall afunet, name a checkpoint with --checkpoint, or rebuild them "
            "with: python -m afunet.general train drive+stare && python -m afunet.general export")
    return WEIGHTS


def train(trained_on: str, *, root=None, progress=True, **overrides) -> Path:
    """Train (or resume) one run and file its records; returns its run folder."""
    from afunet.training import train as train_run  # torch: only when training

    work = run_dir(trained_on)
    train_run(config(trained_on, **overrides), work, root=root, progress=progress)
    out = result_dir(trained_on)
    out.mkdir(parents=True, exist_ok=True)
    for file in RESULT_FILES:
        shutil.copy2(work / file, out / file)
    return work


def evaluate(*, root=None, progress=True) -> None:
    """Score each trained run on both test sets; writes eval/<set>/ and the summary table."""
    from afunet.evaluation import evaluate as evaluate_run
    from afunet.reporting.general import write_tables

    for trained_on in TRAINED_ON:
        # The committed model is scored as users get it: the fp16 weights.
        checkpoint = weights() if trained_on == COMMITTED else run_dir(trained_on) / "best.pt"
        for dataset in DATASETS:
            out = result_dir(trained_on) / "eval" / dataset
            evaluate_run(checkpoint, dataset, "test", out, root=root, save_probs=False,
                         progress=progress)
    write_tables()


def export(root=None) -> Path:
    """The committed run's best weights in fp16, where `afunet predict` finds them.

    They carry the threshold that maximises F1 on the run's validation images, computed with
    these very fp16 weights: `afunet predict` uses it unless given --threshold.
    """
    from afunet.evaluation import validation_threshold
    from afunet.inference import load_with_metadata
    from afunet.training.checkpoint import export_checkpoint, save_checkpoint

    export_checkpoint(run_dir(COMMITTED) / "best.pt", WEIGHTS)
    model, config, payload = load_with_metadata(WEIGHTS, "cpu")  # payload: the file as written
    threshold, _ = validation_threshold(model, config, payload, root)
    save_checkpoint({**payload, "threshold": round(float(threshold), 4)}, WEIGHTS)
    return WEIGHTS


def main(argv=None) -> int:
    """Train, select, evaluate and export the general-purpose model."""
    parser = argparse.ArgumentParser(prog="python -m afunet.general", description=main.__doc__)
    parser.add_argument("--data-dir", help="data root (default: $AFUNET_DATA, else data/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show the full traceback")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train runs (each resumes), then file their records")
    t.add_argument("trained_on", nargs="*", choices=TRAINED_ON, default=list(TRAINED_ON),
                   help=f"which (default: all, in this order: {', '.join(TRAINED_ON)})")
    t.add_argument("--threads", type=int, help="torch CPU threads (two runs side by side: 1)")
    sub.add_parser("select", help="augmentations on or off, on the other set's training images")
    sub.add_parser("evaluate", help="score every run on both test sets; write the tables")
    sub.add_parser("export", help="write the committed fp16 weights from the drive+stare run")
    args = parser.parse_args(argv)
    progress = not args.no_progress

    def command():
        if args.command == "train":
            extra = {"num_threads": args.threads} if args.threads else {}
            for trained_on in args.trained_on:
                train(trained_on, root=args.data_dir, progress=progress, **extra)
        elif args.command == "select":
            from afunet.reporting.general import select
            select(root=args.data_dir, progress=progress)
        elif args.command == "evaluate":
            evaluate(root=args.data_dir, progress=progress)
        else:
            print(export(root=args.data_dir))
        return 0

    return run_command(command, debug=args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
