"""The README's Findings table: each claim of the paper, checked in each study of record.

One row per claim, one column per study (width 16 on a CPU, width 64 on a GPU), each cell a
verdict, the figure behind it and its p-value. Verdicts follow fixed rules, stated under the
table: "yes" needs the paper's direction and, where there is a test, p < ALPHA.
"""

from __future__ import annotations

import pandas as pd

from afunet import registry
from afunet.profiles import PROFILES
from afunet.reporting.results import collect, per_image, results_dir
from afunet.reporting.stats import p_phrase, paired_tests
from afunet.reporting.tables import fmt, summary_table
from afunet.reporting.writers import to_markdown
from afunet.study import DATASETS

ALPHA = 0.05  # two-sided Wilcoxon signed-rank over the test images
LIGHT = 1.10  # "lightweight": at most 10 % more parameters than U-Net, the network it extends
REFERENCE = "unet"  # the paper's claims of "improved" are against U-Net (its section 4)


def studies() -> list[str]:
    """The profiles of record, in the order their columns appear."""
    return [p.name for p in PROFILES.values() if p.of_record]


def _column(profile: str, results_root=None) -> dict[str, str]:
    """Each claim's cell for one study."""
    df = collect(profile, results_root)
    images = per_image(profile, results_root)
    tables, tests = {}, {}
    for dataset in DATASETS:
        table = summary_table(df, dataset).set_index("model").drop(index="observer2")
        tables[dataset] = table[table["n_seeds"] > 0]
        tests[dataset] = paired_tests(images, dataset).set_index(["baseline", "metric"])
    cells = {}
    for dataset in DATASETS:
        paper = fmt(tables[dataset].loc[registry.PAPER_MODEL, "f1_paper"])
        cells[f"Highest F1 on {dataset.upper()} (paper: {paper})"] = _highest(
            tables[dataset], tests[dataset])
    for dataset in DATASETS:
        cells[f"Precision and recall both above U-Net's, {dataset.upper()}"] = _both(
            tests[dataset], ("precision", "recall"))
    for dataset in DATASETS:
        cells[f"Thin vessels and connectivity better than U-Net's, {dataset.upper()}"] = _both(
            tests[dataset], ("thin_f1", "cldice"))
    cells["Lightweight: about U-Net's size"] = _light(profile, results_root)
    cells["Figure 2: AF-UNet closest to the truth in the red (complex) and green (thin) boxes"] = \
        _boxes(profile, results_root)
    return cells


def _highest(table: pd.DataFrame, tests: pd.DataFrame) -> str:
    f1 = table["f1_mean"].sort_values(ascending=False)
    ours = f1[registry.PAPER_MODEL]
    others = f1.drop(index=registry.PAPER_MODEL)
    rival = others.idxmax()
    diff, p = tests.loc[(rival, "f1"), ["mean_diff", "wilcoxon_p"]]
    if ours >= others.max():
        verdict = "yes" if p < ALPHA else "tied"
        return (f"**{verdict}**: AF-UNet {fmt(ours)}, next {registry.label(rival)} "
                f"{fmt(others.max())} ({diff:+.4f} per image, {p_phrase(p)})")
    return (f"**no**: {registry.label(rival)} first, {fmt(others.max())}; AF-UNet "
            f"{fmt(ours)} ({diff:+.4f} per image, {p_phrase(p)})")


def _both(tests: pd.DataFrame, metrics: tuple[str, str]) -> str:
    parts, up = [], 0
    for metric in metrics:
        diff, p = tests.loc[(REFERENCE, metric), ["mean_diff", "wilcoxon_p"]]
        up += bool(diff > 0 and p < ALPHA)
        parts.append(f"{_METRIC_WORDS[metric]} {diff:+.4f} ({p_phrase(p)})")
    verdict = {2: "yes", 1: "partly", 0: "no"}[up]
    return f"**{verdict}**: " + ", ".join(parts)


def _light(profile: str, results_root=None) -> str:
    width = PROFILES[profile].recipe.get("width", 64)
    costs = pd.read_csv(results_dir(profile, results_root) / "efficiency.csv").set_index("model")
    params = costs[f"params_w{width}"]
    ratio = params[registry.PAPER_MODEL] / params[REFERENCE]
    verdict = "yes" if ratio <= LIGHT else "no"
    return (f"**{verdict}**: {params[registry.PAPER_MODEL] / 1e6:.2f} M parameters at width "
            f"{width}, U-Net {params[REFERENCE] / 1e6:.2f} M ({ratio - 1:+.0%})")


def _boxes(profile: str, results_root=None) -> str:
    """In how many of Figure 2's boxes AF-UNet has the highest F1 of the models drawn."""
    parts, won, total = [], 0, 0
    for dataset in DATASETS:
        path = results_dir(profile, results_root) / f"figure2_boxes_{dataset}.csv"
        scores = pd.read_csv(path, dtype={"box": str})
        counts = []
        for kind in ("red", "green"):
            boxes = scores[scores["region"] == kind].groupby("box")
            best = [g.loc[g["f1"].idxmax(), "model"] == registry.PAPER_MODEL for _, g in boxes]
            won, total = won + sum(best), total + len(best)
            counts.append(f"{kind} {sum(best)} of {len(best)}")
        parts.append(f"{dataset.upper()} {', '.join(counts)}")
    verdict = "yes" if won == total else "no" if won == 0 else "partly"
    return f"**{verdict}**: highest F1 in " + "; ".join(parts) + " (one image each, no test)"


_METRIC_WORDS = {"precision": "precision", "recall": "recall", "thin_f1": "thin-vessel F1",
                 "cldice": "clDice"}


def render(results_root=None) -> str:
    """The block: the table, then how to read it."""
    columns = {p: _column(p, results_root) for p in studies()}
    first = next(iter(columns.values()))
    rows = []
    for claim in first:
        row = {"The paper's claim": claim}
        for profile, cells in columns.items():
            recipe = PROFILES[profile].recipe
            seeds = len(PROFILES[profile].seeds)
            row[f"Width {recipe['width']}, `{profile}` ({seeds} seeds)"] = cells[claim]
        rows.append(row)
    notes = (f"Differences are AF-UNet minus the model named, per test image at the threshold "
             f"0.5 (each model averaged over its seeds); p: two-sided Wilcoxon signed-rank over "
             f"the test images. **yes** needs the paper's direction with p < {ALPHA} (**tied**: "
             f"highest, but not measurably; **partly**: some, not all); lightweight means at "
             f"most {LIGHT - 1:.0%} more parameters than U-Net; Figure 2's boxes are placed by "
             f"the rule of notebook 04, on the first test image.")
    return to_markdown(pd.DataFrame(rows)).rstrip("\n") + "\n\n" + notes
