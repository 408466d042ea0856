"""Every number typed in docs/results.md's prose traces back to the committed results.

The page's generated blocks are checked against results/ by tests/test_reporting.py. Here, the
prose around them: each number in it must appear in one of those blocks or be recomputed below
from results/<profile>/ (paired tests, tables, run records), formatted as the prose writes it.
Each p-value must also be written in the one format of `format_p` / `p_phrase`. No data, no
training; settings (width, batch size, epochs...) are the short allow-list `SETTINGS`.
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from afunet.reporting.stats import p_phrase

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "results.md"
RESULTS = REPO / "results"
PROFILES = ("cpu", "paper")
DATASETS = ("drive", "stare")
TABLES = {"drive": "table1_drive", "stare": "table2_stare"}

BLOCK = re.compile(r"<!-- results:(\w+):begin -->.*?<!-- results:\1:end -->", re.S)
# Settings and names, not measurements: removed from the prose before its numbers are read.
SETTINGS = re.compile(
    r"width[- ](16|64)\b|512 x 512|resize to 512|batch (size )?\d\b|Adam 1e-3|200 epochs|"
    r"(90|200)-epoch|patience 30|2-core|seeds? ?-?\d\b|epoch (20|75)\b|3 px|inputs x100\b|"
    r"(Table|Figure) \d\b|image 01\b", re.I)
# A signed number only after a space or "(" ("0.003-0.005" is a range); "x150" reads as 150;
# "1.7e5" is read whole (and so never traceable: the page writes no scientific notation).
_DIGITS = r"\d+(?:,\d{3})*(?:\.\d+)?(?:e[+-]?\d+)?(?!\w)"
NUMBER = re.compile(rf"(?<=[\s(])[+-]{_DIGITS}|(?<![A-Za-wyz0-9_.,]){_DIGITS}")
P_VALUE = re.compile(r"\bp\s*([=<>]+)\s*([\d.eE+-]*\d)")
P_FORMAT = re.compile(r"p (= \d\.\d{3}|< 0\.001)")
WORDS = dict(enumerate(("zero one two three four five six seven eight nine ten eleven "
                        "twelve").split()))


def prose(text: str) -> str:
    """The page without its generated blocks, comments, link targets, code spans and settings."""
    text = BLOCK.sub(" ", text)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"`[^`]*`", " ", text)
    return SETTINGS.sub(" ", " ".join(text.split()))


def p_values(text: str) -> list[str]:
    return [f"p {op} {value}" for op, value in P_VALUE.findall(text)]


def numbers(text: str) -> list[str]:
    return NUMBER.findall(P_VALUE.sub(" ", text))


def ceil(value: float, digits: int) -> str:
    """An upper bound at `digits` decimals ("within 0.014" for 0.0138)."""
    return f"{math.ceil(value * 10 ** digits - 1e-9) / 10 ** digits:.{digits}f}"


def significant(value: float, digits: int) -> str:
    return f"{round(value, digits - 1 - math.floor(math.log10(abs(value)))):,.0f}"


def paired(profile: str) -> pd.DataFrame:
    return pd.concat([pd.read_csv(RESULTS / profile / f"tests_{d}.csv") for d in DATASETS])


def table(profile: str, dataset: str, rule: str = "fixed") -> pd.DataFrame:
    df = pd.read_csv(RESULTS / profile / f"{TABLES[dataset]}.csv")
    return df[df["rule"] == rule].set_index("model")


@functools.cache
def runs(profile: str) -> list[dict]:
    """Per run: its name, summary.json, log.csv and evaluations (metrics.json by data set)."""
    out = []
    for path in sorted((RESULTS / profile / "runs").glob("*/summary.json")):
        out.append(dict(name=path.parent.name, summary=json.loads(path.read_text()),
                        log=pd.read_csv(path.parent / "log.csv"),
                        eval={m.parent.name: json.loads(m.read_text())
                              for m in path.parent.glob("eval/*/metrics.json")}))
    return out


def gate_gains() -> list[float]:
    """Output scale for inputs x100 of ResUNet++'s attention block: as published, then with a
    sigmoid on its gate (the setting of tests/test_models.py)."""
    torch = pytest.importorskip("torch")
    from afunet.models.blocks import EncoderAttention

    torch.manual_seed(0)
    block = EncoderAttention(4, 4).eval()
    e, x = torch.randn(1, 4, 16, 16), torch.randn(1, 4, 8, 8)
    gains = []
    with torch.no_grad():
        for gate in (block.mix, torch.nn.Sequential(block.mix, torch.nn.Sigmoid())):
            block.mix = gate
            gains.append(float(block(100 * e, 100 * x).std() / block(e, x).std()))
    return gains


@functools.lru_cache(maxsize=1)
def traceable() -> tuple[frozenset, frozenset]:
    """(numbers, p phrases) the prose may cite: the blocks' and those recomputed here."""
    blocks = " ".join(m.group(0) for m in BLOCK.finditer(PAGE.read_text()))
    found = set(numbers(blocks)) | {n.lstrip("+-") for n in numbers(blocks)}
    p_ok = set(p_values(blocks))
    add = found.add

    for profile in PROFILES:
        tests = paired(profile)
        p_ok |= {p_phrase(p) for p in tests["wilcoxon_p"]}
        for d in tests[tests["metric"].isin(["f1", "jaccard", "recall", "precision",
                                               "auc_pr"])]["mean_diff"]:
            add(f"{d:+.4f}")
            add(f"{abs(d):.4f}")
        for run in runs(profile):
            for report in run["eval"].values():  # each seed's F1 at 0.5
                add(f"{report['fixed']['pooled']['f1']:.4f}")

    # cpu: cost, best epochs, spread of the five models on DRIVE, ablation margins
    cpu = runs("cpu")
    add(f"{sum(r['summary']['train_seconds'] for r in cpu) / 3600:.1f}")
    evaluation = [sum(e["seconds"] for e in r["eval"].values()) for r in cpu]
    add(f"{min(evaluation):.0f}")
    add(f"{max(evaluation):.0f}")
    add(str(len(cpu)))
    add(str(sum(r["summary"]["best_epoch"] > 75 for r in cpu)))
    f1 = table("cpu", "drive")["f1_mean"].drop("resunetpp")
    add(ceil(f1.max() - f1.min(), 3))
    ablation = pd.read_csv(RESULTS / "cpu" / "ablation.csv")
    ablation = ablation[ablation["rule"] == "fixed"].set_index("variant")["f1"]
    for variant in ("first", "none"):
        add(f"{ablation['adjacent'] - ablation[variant]:.3f}")

    # validation-loss spikes (log.csv): ResUNet++'s peaks, the other runs' ceiling
    for profile, by_set in (("cpu", True), ("paper", False)):
        others = {}
        for run in runs(profile):
            log = run["log"].set_index("epoch")["val_loss"]
            late = log[log.index > 20]
            if run["summary"]["model"] != "resunetpp":
                key = run["summary"]["dataset"] if by_set else profile
                others[key] = max(others.get(key, 0.0), late.max())
                continue
            for peak in (log, late):
                value = peak.max()
                add(str(int(peak.idxmax())))
                add(f"{value:,.0f}")
                add(f"{value:.2f}")
                add(significant(value, 3))
                if value >= 1e6:
                    add(f"{value / 1e6:.1f}")
                    add(f"{value / 1e6:.0f}")
        for ceiling in others.values():
            add(ceil(ceiling, 2))

    # paper: the calls' wall time, the runs that hit the epoch cap, gaps to the paper
    for call in sorted((RESULTS / "paper" / "calls").glob("*/runs.txt")):
        add(re.search(r"wall (\d+) s", call.read_text()).group(1))
    capped = [r["summary"]["best_epoch"] for r in runs("paper")
              if r["summary"]["dataset"] == "drive" and r["summary"]["epochs_run"] == 200]
    add(str(min(capped)))
    for dataset in DATASETS:
        paper, cpu_f1 = table("paper", dataset), table("cpu", dataset)["f1_mean"]
        gap = paper["f1_diff"].abs()
        add(ceil(gap.drop(["afunet", "resunetpp"]).max(), 3))
        add(f"{gap['afunet']:.3f}")
        change = (paper["f1_mean"] - cpu_f1).abs()
        if dataset == "stare":
            change = change.drop("resunetpp")
        add(f"{change.min():.3f}")
        add(f"{change.max():.3f}")
    drive = table("paper", "drive")
    for column in ("recall_mean", "precision_mean"):
        add(f"{drive[column].min():.2f}")
        add(f"{drive[column].max():.2f}")
    gain = table("paper", "drive", "val")["f1_mean"] - drive["f1_mean"]
    add(f"{gain.dropna().min():.3f}")
    add(f"{gain.dropna().max():.3f}")

    for value in gate_gains():  # the attention block's output scale, ResUNet++ section
        add(significant(value, 2))
        add(significant(value, 3))
    return frozenset(found), frozenset(p_ok)


def untraced(text: str) -> list[str]:
    """The prose's numbers and p-values that no committed result gives."""
    found, p_ok = traceable()
    bad = [p for p in p_values(text) if not P_FORMAT.fullmatch(p) or p not in p_ok]
    return bad + [n for n in numbers(text) if n not in found]


def test_every_number_in_the_results_page_prose_is_traceable():
    text = prose(PAGE.read_text())
    assert len(BLOCK.findall(PAGE.read_text())) == len(PROFILES)
    assert len(numbers(text)) >= 50 and len(p_values(text)) >= 10, "too few numbers read"
    assert not untraced(text), \
        f"docs/results.md prose cites numbers not in results/ (or p not as format_p): " \
        f"{untraced(text)}"


def test_a_mistyped_number_or_p_value_is_caught():
    text = prose(PAGE.read_text())
    found, _ = traceable()
    typed = next(n for n in numbers(text) if re.fullmatch(r"[+-]\d\.\d{4}", n))
    wrong = typed
    while wrong in found:
        wrong = f"{float(wrong) + 0.0001:+.4f}"
    assert untraced(text.replace(typed, wrong, 1)) == [wrong]
    p = p_values(text)[0]
    assert untraced(text.replace(p, "p = 6.3e-05", 1)) == ["p = 6.3e-05"]


def test_counts_in_words_match_the_run_records():
    text = " ".join(PAGE.read_text().split())
    paper = runs("paper")
    calls = [c.read_text() for c in sorted((RESULTS / "paper" / "calls").glob("*/runs.txt"))]
    done = [len(re.findall(r"^done ", c, re.M)) for c in calls]
    wall = [re.search(r"wall (\d+) s", c).group(1) for c in calls]
    assert (f"Seed 0 was {WORDS[done[0]]} runs side by side, {wall[0]} s in all; "
            f"seed 1 {WORDS[done[1]]} runs, {wall[1]} s.") in text
    drive = [r["summary"] for r in paper if r["summary"]["dataset"] == "drive"]
    stare = [r["summary"] for r in paper if r["summary"]["dataset"] == "stare"]
    capped = sum(s["epochs_run"] == 200 for s in drive)
    patience = sum(s["stopped_early"] for s in stare)
    assert f"{WORDS[capped].capitalize()} of the {WORDS[len(drive)]} DRIVE runs" in text
    assert f"{WORDS[patience].capitalize()} of the {WORDS[len(stare)]} STARE runs" in text
