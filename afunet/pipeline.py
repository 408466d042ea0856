"""The study as a list of runs: which (data set, model, seed) a profile trains, and where each run's files go.

`make paper` asks this module for the run names (`python -m afunet.pipeline list --profile cpu`),
then executes `notebooks/02_train.ipynb` once per name through papermill; the notebook calls
`execute`. Names carry their setting (timm style): ``drive-afunet-s0``, ``drive-afunet@first-s0``.

Layout (the heavy part stays out of git):
    runs/<profile>/<name>/              checkpoints, full logs (ignored)
    results/<profile>/runs/<name>/      config.json, log.csv, summary.json, eval/<dataset>/... (committed)
    results/<profile>/checkpoints/<name>.pt   fp16 best weights of the runs in SHARED_WEIGHTS (committed)
"""

from __future__ import annotations

import argparse
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL_NAMES = ("unet", "unetpp", "resunet", "resunetpp", "attention_unet", "afunet")
DATASETS = ("drive", "stare")
# paper: two seeds, which one H200 call each trains in 4-6 minutes (scripts/device_paper.sh).
SEEDS = {"smoke": (0,), "cpu": (0, 1, 2), "cpu-e90": (0, 1, 2), "paper": (0, 1)}
ABLATION = ("first", "none")  # AF-UNet skip sources besides the default "adjacent"; DRIVE, seed 0
# Smoke runs prove the pipeline, fast: small inputs and two test images per evaluation.
SMOKE = dict(overrides={"input_size": 128}, eval_limit=2)
FIGURE_IMAGES = 1  # probability maps kept per evaluation (the first test images, by id)
# Light files copied from a run folder into results/ (no checkpoints, no probability maps).
RESULT_FILES = ("config.json", "log.csv", "summary.json")
# Models whose seed-0 weights are committed (fp16, a few MB at width 16), so that `afunet
# predict` and the notebooks work without retraining. Not `paper`: width 64 is 60+ MB.
SHARED_WEIGHTS = {"smoke": ("afunet", "unet"), "cpu": ("afunet", "unet"),
                  "cpu-e90": ("afunet", "unet")}

_NAME = re.compile(r"^(?P<dataset>[a-z0-9_]+)-(?P<model>[a-z_]+)(@(?P<skip>[a-z]+))?-s(?P<seed>\d+)$")


@dataclass(frozen=True)
class Run:
    """One training run of the study."""

    dataset: str
    model: str
    seed: int
    skip_source: str | None = None  # AF-UNet ablation variant; None = the model's default

    @property
    def name(self) -> str:
        variant = f"@{self.skip_source}" if self.skip_source else ""
        return f"{self.dataset}-{self.model}{variant}-s{self.seed}"

    @classmethod
    def parse(cls, name: str) -> Run:
        """Run from its name, e.g. ``stare-unetpp-s2`` or ``drive-afunet@first-s0``."""
        m = _NAME.match(name)
        if not m:
            raise ValueError(f"not a run name: {name!r} (expected e.g. 'drive-afunet-s0')")
        return cls(m["dataset"], m["model"], int(m["seed"]), m["skip"])


def plan(profile: str) -> list[Run]:
    """Every run a profile's study needs: six models x two data sets x seeds, plus the ablation.

    Args:
        profile: "smoke", "cpu", "cpu-e90" or "paper".
    Returns:
        Runs in the order `make paper` trains them (seed 0 of everything first, so that a
        partial study already fills every table cell once).
    """
    if profile not in SEEDS:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(SEEDS)}")
    runs = [Run(d, m, s) for s in SEEDS[profile] for d in DATASETS for m in MODEL_NAMES]
    if profile != "paper":
        runs += [Run("drive", "afunet", 0, skip) for skip in ABLATION]
    return runs


def run_dir(profile: str, run: Run) -> Path:
    """Where a run's checkpoints live (ignored by git)."""
    return REPO / "runs" / profile / run.name


def result_dir(profile: str, run: Run) -> Path:
    """Where a run's committed results live."""
    return REPO / "results" / profile / "runs" / run.name


def shared_checkpoint(profile: str, run: Run) -> Path:
    """Where a run's committed fp16 weights go (only runs that `shares_weights`)."""
    return REPO / "results" / profile / "checkpoints" / f"{run.name}.pt"


def shares_weights(profile: str, run: Run) -> bool:
    """Whether the run's best weights are committed: seed 0 of SHARED_WEIGHTS, no ablation."""
    return run.seed == 0 and not run.skip_source and run.model in SHARED_WEIGHTS.get(profile, ())


def best_checkpoint(profile: str, run: Run) -> Path | None:
    """The run's best.pt if trained here, else its committed fp16 copy, else None."""
    for path in (run_dir(profile, run) / "best.pt", shared_checkpoint(profile, run)):
        if path.is_file():
            return path
    return None


def eval_datasets(run: Run) -> list[str]:
    """Its own test split first, then the other data set's (cross-data-set generalisation).

    A run on another set (synthetic, CHASE_DB1) is evaluated on its own test split only.
    """
    if run.dataset not in DATASETS:
        return [run.dataset]
    return [run.dataset] + [d for d in DATASETS if d != run.dataset]


def run_config(profile: str, name: str, overrides: dict | None = None):
    """The TrainConfig a run of the study trains with.

    Args:
        profile: training profile (see afunet.training.PROFILES).
        name: run name, see `Run.parse`.
        overrides: TrainConfig fields to replace after the profile's and the run's own.
    Returns:
        TrainConfig.
    """
    from afunet.training import make_config

    run = Run.parse(name)
    kwargs = {"skip_source": run.skip_source} if run.skip_source else {}
    overrides = {**(SMOKE["overrides"] if profile == "smoke" else {}), **(overrides or {})}
    return make_config(profile, model=run.model, dataset=run.dataset, seed=run.seed,
                       model_kwargs=kwargs, **overrides)


def execute(profile: str, name: str, *, root=None, cache_dir=None, progress: bool = True,
            overrides: dict | None = None, deadline: float | None = None) -> Path:
    """Train (or resume) one run, evaluate it on every test set, copy its results into results/.

    Runs that `shares_weights` also get their best weights exported in fp16 to
    results/<profile>/checkpoints/<name>.pt.

    Args:
        profile: training profile (see afunet.training.PROFILES).
        name: run name, see `Run.parse`.
        root: data root (default: afunet.data.resolve_root()).
        cache_dir: tensor cache folder (default: the cache module's).
        progress: show progress bars.
        overrides: TrainConfig fields to replace (a dry run's tiny width, say); they are
            recorded in the run's config.json like every other setting.
        deadline: Unix time by which training must end (a leased GPU's budget); a run cut
            short is filed with its best weights so far and says so (see training.train).
    Returns:
        The run's folder under results/.
    """
    from afunet.evaluation import evaluate
    from afunet.training import train

    run = Run.parse(name)
    smoke = profile == "smoke"
    config = run_config(profile, name, overrides)
    work, out = run_dir(profile, run), result_dir(profile, run)
    train(config, work, root=root, cache_dir=cache_dir, progress=progress, deadline=deadline)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for dataset in eval_datasets(run):
        evaluate(work / "best.pt", dataset, "test", tmp / "eval" / dataset, root=root,
                 cache_dir=cache_dir, limit=SMOKE["eval_limit"] if smoke else None)
        _keep_figure_maps(tmp / "eval" / dataset / "probs")
    for file in RESULT_FILES:
        shutil.copy2(work / file, tmp / file)
    if shares_weights(profile, run):
        from afunet.training.checkpoint import export_checkpoint

        export_checkpoint(work / "best.pt", shared_checkpoint(profile, run))
    # Replace the whole folder at once: a failure never leaves half a result behind.
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out


def _keep_figure_maps(probs: Path) -> None:
    """Keep the probability map of the first test image only: Figure 2 is rebuilt from it.

    All 20 maps of 38 runs would add ~75 MB to the repository; PR curves come from
    pr_curve.csv instead.
    """
    maps = sorted(probs.glob("*.png"))
    for extra in maps[FIGURE_IMAGES:]:
        extra.unlink()


def main(argv=None) -> int:
    """`python -m afunet.pipeline list --profile cpu` prints the run names, one a line."""
    parser = argparse.ArgumentParser(prog="python -m afunet.pipeline", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", help="print the run names of a profile")
    lst.add_argument("--profile", default="cpu", choices=sorted(SEEDS))
    ex = sub.add_parser("run", help="train, evaluate and file one run")
    ex.add_argument("name")
    ex.add_argument("--profile", default="cpu", choices=sorted(SEEDS))
    ex.add_argument("--data-dir", help="data root (default: $AFUNET_DATA, else data/)")
    ex.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    ex.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="replace a TrainConfig field, e.g. --set epochs=2 (repeatable)")
    ex.add_argument("--deadline", type=float, metavar="UNIX_TIME",
                    help="end training by this time, e.g. $(date -d '+7 min' +%%s), and file "
                         "the best weights so far with stopped_by=deadline (default: none; "
                         "runs end by their epochs cap or patience, the same on any machine)")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(r.name for r in plan(args.profile)))
    else:
        from afunet.training.config import parse_overrides

        print(execute(args.profile, args.name, root=args.data_dir, progress=not args.no_progress,
                      overrides=parse_overrides(args.set), deadline=args.deadline))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
