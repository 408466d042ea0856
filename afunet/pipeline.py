"""Train, evaluate and file one run of the study: what `make paper` does for each run name.

`make paper` lists the runs (`afunet.study`), then executes `notebooks/02_train.ipynb` once per
name through papermill; the notebook calls `execute`. By hand::

    python -m afunet.pipeline run drive-afunet-s0 --profile cpu
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from afunet.config import parse_overrides
from afunet.errors import run_command
from afunet.evaluation import evaluate
from afunet.profiles import PROFILES, default_profile, get_profile
from afunet.study import (
    Run,
    eval_datasets,
    result_dir,
    run_config,
    run_dir,
    shared_checkpoint,
    shares_weights,
)
from afunet.training import export_checkpoint, train

FIGURE_IMAGES = 1  # probability maps kept per evaluation (the first test images, by id)
# Light files copied from a run folder into results/ (no checkpoints, no probability maps).
RESULT_FILES = ("config.json", "log.csv", "summary.json")


def execute(profile: str, name: str, *, root=None, cache_dir=None, progress: bool = True,
            overrides: dict | None = None, deadline: float | None = None,
            results_root=None, on_epoch_end=None) -> Path:
    """Train (or resume) one run, evaluate it on every test set, copy its results into results/.

    Runs that `shares_weights` also get their best weights exported in fp16 to
    results/<profile>/checkpoints/<name>.pt.

    Args:
        profile: a name of `afunet.profiles.PROFILES`.
        name: run name, see `afunet.study.Run.parse`.
        root: data root (default: afunet.data.resolve_root()).
        cache_dir: tensor cache folder (default: the cache module's).
        overrides: TrainConfig fields to replace (a dry run's tiny width, say); recorded in
            the run's config.json like every other setting.
        deadline: Unix time by which training must end (a leased GPU's budget); a run cut
            short is filed with its best weights so far and says so (see training.train).
        results_root: where to file the results instead of the repository's results/ (a
            notebook's scratch folder); only the repository's results/ get shared weights.
        on_epoch_end: called with each epoch's log row (live learning curves).
    Returns:
        The run's folder under results/.
    """
    run = Run.parse(name)
    config = run_config(profile, name, overrides)
    work, out = run_dir(profile, run), result_dir(profile, run, results_root)
    train(config, work, root=root, cache_dir=cache_dir, progress=progress, deadline=deadline,
          on_epoch_end=on_epoch_end)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for dataset in eval_datasets(run):
        evaluate(work / "best.pt", dataset, "test", tmp / "eval" / dataset, root=root,
                 cache_dir=cache_dir, limit=get_profile(profile).eval_limit)
        _keep_figure_maps(tmp / "eval" / dataset / "probs")
    for file in RESULT_FILES:
        shutil.copy2(work / file, tmp / file)
    if shares_weights(profile, run) and results_root is None:
        export_checkpoint(work / "best.pt", shared_checkpoint(profile, run))
    # Replace the whole folder at once: a failure never leaves half a result behind.
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out


def _keep_figure_maps(probs: Path) -> None:
    """Keep only the first test image's map: Figure 2 is rebuilt from it, PR curves from CSV."""
    for extra in sorted(probs.glob("*.png"))[FIGURE_IMAGES:]:
        extra.unlink()


def main(argv=None) -> int:
    """Train, evaluate and file one run of a profile's study."""
    parser = argparse.ArgumentParser(prog="python -m afunet.pipeline", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("run", help="train, evaluate and file one run")
    ex.add_argument("name", help="run name, e.g. drive-afunet-s0 (python -m afunet.study list)")
    ex.add_argument("--profile", default=default_profile("cpu"), choices=list(PROFILES))
    ex.add_argument("--data-dir", help="data root (default: $AFUNET_DATA, else data/)")
    ex.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    ex.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="replace a TrainConfig field, e.g. --set epochs=2 (repeatable)")
    ex.add_argument("--deadline", type=float, metavar="UNIX_TIME",
                    help="end training by this time, e.g. $(date -d '+7 min' +%%s), and file "
                         "the best weights so far with stopped_by=deadline (default: none; "
                         "runs end by their epochs cap or patience, the same on any machine)")
    ex.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    return run_command(lambda: print(execute(
        args.profile, args.name, root=args.data_dir, progress=not args.no_progress,
        overrides=parse_overrides(args.set), deadline=args.deadline)), debug=args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
