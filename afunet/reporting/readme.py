"""Generated blocks of the README and docs/results.md, so that no number in them is typed.

docs/results.md holds one block per profile between two markers::

    <!-- results:cpu:begin -->
    ...
    <!-- results:cpu:end -->

and the README the Findings table (`afunet.reporting.findings`) between ``findings`` markers.
`make readme PROFILE=cpu` (also part of `make tables`) rewrites them; a test checks that the
committed files equal what the committed results give.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from afunet import general, registry
from afunet.profiles import PROFILES, default_profile, get_profile
from afunet.reporting import experiments, findings
from afunet.reporting import general as records
from afunet.reporting.results import collect, per_image
from afunet.reporting.stats import p_phrase, paired_tests
from afunet.reporting.tables import (
    ablation_table,
    cross_dataset_table,
    fmt,
    format_summary,
    mean_std,
    summary_table,
)
from afunet.reporting.writers import to_markdown, update_block
from afunet.study import DATASETS, REPO, plan

README = REPO / "README.md"
PAGE = REPO / "docs" / "results.md"  # the studies' full results, one block per profile
COLUMNS = ("Method", "n", "Jaccard", "Jaccard (paper)", "F1", "F1 (paper)", "Recall",
           "Recall (paper)", "Precision", "Precision (paper)", "Acc (image)", "Acc (paper)",
           "clDice", "Thin-vessel F1")
CLAIM_METRICS = ("f1", "jaccard", "precision", "recall")  # the paper's claims, in its words' order
TABLE_NAMES = {"drive": "Table 1", "stare": "Table 2"}


def markers(profile: str) -> tuple[str, str]:
    """The begin and end marker lines of a profile's block."""
    return f"<!-- results:{profile}:begin -->", f"<!-- results:{profile}:end -->"


def render_block(profile: str, results_root=None) -> str:
    """The block's text (without markers) from results/<profile>/.

    Args:
        profile: "cpu", "paper", ...
        results_root: folder holding <profile>/ (default: the repository's results/).

    Returns:
        Markdown: runs filed, then per data set its table (ours beside the paper, pooled in
        the FOV at 0.5) and the paper's claims checked against ours with paired tests; then
        a line across data sets and, once a variant is filed, one for the ablation.
    """
    df = collect(profile, results_root)
    done = df["run"].nunique() if not df.empty else 0
    lines = [f"Runs filed: {done} of {len(plan(profile))} "
             f"(`python -m afunet.study list --profile {profile}`); source: "
             f"`results/{profile}/runs/*/eval/*/metrics.json`, written by "
             f"`make readme PROFILE={profile}`.", ""]
    if df.empty:
        return "\n".join(lines + ["No run has finished yet."])
    images = per_image(profile, results_root)
    for dataset in DATASETS:
        table = summary_table(df, dataset)
        table = table[(table["n_seeds"] > 0) | (table["model"] == "observer2")]
        if not (table["model"] != "observer2").any():
            continue
        shown = format_summary(table)
        shown = shown[[c for c in COLUMNS if c in shown.columns]]
        lines += [f"**{dataset.upper()} test set** ({TABLE_NAMES[dataset]}): pooled inside the "
                  "FOV at the fixed threshold 0.5; ours mean ± std over n seeds, the paper's as "
                  "printed; Acc (image) counts the whole frame, as the paper's accuracy does.",
                  "", to_markdown(shown).rstrip("\n"), ""]
        lines += _claims(table, paired_tests(images, dataset))
    cross = cross_dataset_table(df)
    if not cross.empty:
        lines += ["**Across data sets** (trained on one, tested on the other, F1 at 0.5): "
                  + "; ".join(f"{registry.label(r.model)} {r.trained_on.upper()} -> "
                              f"{r.dataset.upper()} {fmt(r.f1_mean)} (n={int(r.n_seeds)})"
                              for r in cross.itertuples()) + ".", ""]
    lines += _ablation(df)
    lines += _beside(df, profile, results_root)
    return "\n".join(lines).rstrip("\n")


def _beside(df: pd.DataFrame, profile: str, results_root) -> list[str]:
    """F1 per model and data set under this profile, the one it is shown beside, the paper."""
    other = get_profile(profile).beside
    theirs = collect(other, results_root) if other else pd.DataFrame()
    if theirs.empty:
        return []
    rows = {}
    for dataset in DATASETS:
        for name, runs in ((other, theirs), (profile, df)):
            table = summary_table(runs, dataset).set_index("model")
            for model, r in table.drop(index="observer2", errors="ignore").iterrows():
                row = rows.setdefault(model, {"Method": registry.label(model)})
                n = int(r["n_seeds"]) if r["n_seeds"] > 0 else 0
                row[f"{dataset.upper()} `{name}` profile"] = (
                    f"{mean_std(r['f1_mean'], r['f1_std'])} (n={n})" if n else "")
                row[f"{dataset.upper()} published"] = fmt(r["f1_paper"])
    columns = [f"{d.upper()} {k}" for d in DATASETS
               for k in (f"`{other}` profile", f"`{profile}` profile", "published")]
    table = pd.DataFrame(list(rows.values()), columns=["Method", *columns])
    return [f"**Beside the `{other}` profile** (F1 at 0.5 inside the FOV, mean ± std over n "
            f"seeds; published: the paper's, as printed; `{other}` from `results/{other}/`):", "",
            to_markdown(table).rstrip("\n"), ""]


def _ablation(df: pd.DataFrame) -> list[str]:
    """The ablation's line, once a variant besides the default has been filed."""
    table = ablation_table(df)
    if not table.loc[~table["variant"].isin(["adjacent", "unet (reference)"]), "present"].any():
        return []
    notes = {"adjacent": "adjacent (the default)", "none": "none (U-Net's wiring)",
             "unet (reference)": "U-Net (reference)"}
    parts = [f"{notes.get(r.variant, r.variant)} "
             + (f"{fmt(r.f1)} ({fmt(r.best_val_f1)})" if r.present else "not filed yet")
             for r in table.itertuples()]
    return ["**Ablation** (AF-UNet's skip source, trained and tested on DRIVE, seed 0; test F1 "
            "at 0.5, validation F1 in brackets): " + "; ".join(parts) + ".", ""]


def _claims(table: pd.DataFrame, tests: pd.DataFrame) -> list[str]:
    """The paper's claims on one data set, checked: best F1, and AF-UNet against U-Net."""
    ours = table[table["model"] != "observer2"].set_index("model")
    if "afunet" not in ours.index or len(ours) < 2:
        return []
    # A tie at the top counts for AF-UNet (its mean is then the highest).
    best = "afunet" if ours.loc["afunet", "f1_mean"] >= ours["f1_mean"].max() \
        else ours["f1_mean"].idxmax()
    verdict = "yes" if best == "afunet" else f"no; highest: {registry.label(best)}"
    lines = [f"- AF-UNet has the highest F1 of the {len(ours)} models run here: {verdict} "
             f"{fmt(ours.loc[best, 'f1_mean'])}{_gap(ours, tests, best)} (the paper: AF-UNet "
             f"highest, {fmt(ours.loc['afunet', 'f1_paper'])})."]
    pair = tests[(tests["baseline"] == "unet") & tests["metric"].isin(CLAIM_METRICS)]
    if not pair.empty:
        pair = pair.set_index("metric")
        first = pair.iloc[0]
        parts = [f"{m} {pair.loc[m, 'mean_diff']:+.4f} ({p_phrase(pair.loc[m, 'wilcoxon_p'])})"
                 for m in CLAIM_METRICS if m in pair.index]
        # Each model's per-image value is its mean over its own seeds, which may differ in number.
        lines.append(f"- AF-UNet minus U-Net, mean over {int(first['n_images'])} test images "
                     f"(each model's value on an image averaged over its seeds: AF-UNet "
                     f"{int(first['n_seeds_reference'])}, U-Net {int(first['n_seeds_baseline'])}), "
                     f"Wilcoxon signed-rank p: {', '.join(parts)}.")
    return lines + [""]


def _gap(ours: pd.DataFrame, tests: pd.DataFrame, best: str) -> str:
    """AF-UNet's F1 beside a better model's, with their paired test, so a "no" shows its size."""
    if best == "afunet":
        return ""
    text = f", AF-UNet {fmt(ours.loc['afunet', 'f1_mean'])}"
    pair = tests[(tests["baseline"] == best) & (tests["metric"] == "f1")]
    if pair.empty:
        return text
    row = pair.iloc[0]
    return (f"{text}; per image AF-UNet minus {registry.label(best)} {row['mean_diff']:+.4f}, "
            f"Wilcoxon {p_phrase(row['wilcoxon_p'])}")


def update(profile: str, path: str | Path = PAGE, check: bool = False,
           results_root=None) -> bool:
    """Rewrite (or, with ``check``, compare) a profile's block in docs/results.md.

    Returns:
        True when the file holds the current block (after writing, or as found); False when
        ``check`` finds it stale. A README without the profile's markers is left alone (True).
    """
    found = update_block(path, f"results:{profile}", render_block(profile, results_root), check)
    return found is not False


def main(argv=None) -> int:
    """Write the README's results block of a profile from results/<profile>/, and the blocks
    that depend on it: profiles shown beside it, experiments that vary it."""
    parser = argparse.ArgumentParser(prog="python -m afunet.reporting.readme",
                                     description=main.__doc__)
    parser.add_argument("--profile", default=default_profile("cpu"), choices=list(PROFILES),
                        help="whose block (default: %(default)s); a profile without one is "
                        "left alone")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a block differs from the results")
    args = parser.parse_args(argv)
    blocks = [(PAGE, f"results:{args.profile}", lambda: render_block(args.profile))]
    blocks += [(PAGE, f"results:{p.name}", lambda p=p: render_block(p.name))
               for p in PROFILES.values() if p.beside == args.profile]
    if args.profile in findings.studies():
        blocks.append((README, "findings", findings.render))
    if args.profile == general.STUDY:
        blocks += [(records.CARD, key, lambda text=text: text)
                   for key, text in records.blocks().items()]
    blocks += [(experiments.RESULTS_README, f"experiment:{name}",
                lambda name=name: experiments.render_experiment(name))
               for name, profile in experiments.EXPERIMENTS.items() if profile == args.profile]
    if args.profile == default_profile("cpu"):  # the lab is the CPU study's recipe, cut short
        blocks.append((experiments.TEACHING, "teaching:lab", experiments.render_lab))
    status = 0
    for path, key, render in blocks:
        where = f"{path.relative_to(REPO)} block {key}"
        if f"<!-- {key}:begin -->" not in path.read_text():
            print(f"{where}: no such markers, nothing to write.")
            continue
        before = path.read_text()
        if update_block(path, key, render(), check=args.check) is False:
            print(f"{where} differs from results/: run `make readme PROFILE={args.profile}`.",
                  file=sys.stderr)
            status = 1
        else:
            print(f"{where}: {'rewritten' if path.read_text() != before else 'up to date'}.")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
