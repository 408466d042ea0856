"""The study as a list of named runs, and where each run's files go. Importable without torch.

A run's name carries its setting (timm style): ``drive-afunet-s0``, ``drive-afunet@first-s0``.
Reporting reads the plan and the paths from here; `afunet.pipeline` trains and files the runs.
The Makefile asks this module about a profile, with the system's Python and no install::

    python -m afunet.study list --profile cpu        # the run names, one a line
    python -m afunet.study get bench_csv --profile paper
    python -m afunet.study default --device cuda     # the profile `make paper` runs there
    python -m afunet.study profiles                  # every profile's name; `datasets` likewise

Layout (the heavy part stays out of git):
    runs/<profile>/<name>/                    checkpoints, full logs (ignored)
    results/<profile>/runs/<name>/            config.json, log.csv, summary.json, eval/ (committed)
    results/<profile>/checkpoints/<name>.pt   fp16 best weights, where the profile shares them
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, fields
from pathlib import Path

from afunet import registry
from afunet.config import TrainConfig
from afunet.errors import UsageError
from afunet.profiles import PROFILES, default_profile, get_profile

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("drive", "stare")  # every model is trained on each and tested on both

_NAME = re.compile(r"^(?P<dataset>[a-z0-9_]+)-(?P<model>[a-z_]+)(@(?P<skip>[a-z]+))?-s(?P<seed>\d+)$")


class RunNameError(UsageError, ValueError):
    """A run name that does not follow ``<data set>-<model>[@<skip>]-s<seed>``."""


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
            raise RunNameError(f"not a run name: {name!r} (expected e.g. 'drive-afunet-s0'; "
                               "python -m afunet.study list names them)")
        return cls(m["dataset"], m["model"], int(m["seed"]), m["skip"])


def plan(profile: str) -> list[Run]:
    """Every run of a profile's study: each model x data set x seed, then the ablation.

    Seed 0 of everything comes first, so a partial study already fills every table cell once.
    """
    p = get_profile(profile)
    runs = [Run(d, m, s) for s in p.seeds for d in DATASETS for m in registry.names()]
    return runs + [Run("drive", registry.PAPER_MODEL, 0, skip) for skip in p.ablation]


def run_dir(profile: str, run: Run) -> Path:
    """Where a run's checkpoints live (ignored by git)."""
    return REPO / "runs" / profile / run.name


def result_dir(profile: str, run: Run, results_root=None) -> Path:
    """Where a run's results are filed: results/<profile>/runs/<name>, or under results_root."""
    root = Path(results_root) if results_root is not None else REPO / "results"
    return root / profile / "runs" / run.name


def shared_checkpoint(profile: str, run: Run) -> Path:
    """Where a run's committed fp16 weights go (only runs that `shares_weights`)."""
    return REPO / "results" / profile / "checkpoints" / f"{run.name}.pt"


def shares_weights(profile: str, run: Run) -> bool:
    """Whether the run's best weights are committed: seed 0 of the profile's shared models."""
    return (run.seed == 0 and not run.skip_source
            and run.model in get_profile(profile).shared_weights)


def best_checkpoint(profile: str, run: Run) -> Path | None:
    """The run's best.pt if trained here, else its committed fp16 copy, else None."""
    for path in (run_dir(profile, run) / "best.pt", shared_checkpoint(profile, run)):
        if path.is_file():
            return path
    return None


def eval_datasets(run: Run) -> list[str]:
    """Its own test split first, then the other study set's (cross-data-set generalisation)."""
    if run.dataset not in DATASETS:
        return [run.dataset]
    return [run.dataset] + [d for d in DATASETS if d != run.dataset]


def run_config(profile: str, name: str, overrides: dict | None = None) -> TrainConfig:
    """The TrainConfig a run of the study trains with; ``overrides`` replace fields last."""
    run = Run.parse(name)
    kwargs = {"skip_source": run.skip_source} if run.skip_source else {}
    p = get_profile(profile)
    return p.config(model=run.model, dataset=run.dataset, seed=run.seed, model_kwargs=kwargs,
                    **{**p.study_overrides, **(overrides or {})})


def main(argv=None) -> int:
    """Answer the Makefile's questions about a profile, one value a line."""
    parser = argparse.ArgumentParser(prog="python -m afunet.study", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", help="print the run names of a profile's study")
    lst.add_argument("--profile", default=default_profile("cpu"), choices=list(PROFILES))
    get = sub.add_parser("get", help="print one field of a profile (lists: one item a line)")
    get.add_argument("field", choices=[f.name for f in fields(PROFILES[next(iter(PROFILES))])])
    get.add_argument("--profile", default=default_profile("cpu"), choices=list(PROFILES))
    sub.add_parser("profiles", help="print the profiles' names")
    sub.add_parser("datasets", help="print the data sets every model is trained and tested on")
    default = sub.add_parser("default", help="print the profile `make paper` runs on a device")
    default.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(r.name for r in plan(args.profile)))
    elif args.command == "get":
        value = getattr(PROFILES[args.profile], args.field)
        values = value if isinstance(value, (tuple, list)) else [] if value is None else [value]
        print("\n".join(str(v) for v in values))
    elif args.command == "profiles":
        print("\n".join(PROFILES))
    elif args.command == "datasets":
        print("\n".join(DATASETS))
    else:
        print(default_profile(args.device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
