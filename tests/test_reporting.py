"""Reporting: result files -> tables, paired tests and written tables, on a planted results tree.

The tree is written in the format of afunet.evaluation (metrics.json / metrics.csv) and
afunet.training (config.json, summary.json, log.csv), with per-image F1 values chosen so that
the tests know the answer: AF-UNet beats U-Net on every image, and ResUNet differs from AF-UNet
by symmetric noise only.
"""

import csv
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from afunet import reporting
from afunet.evaluation import CSV_FIELDS
from afunet.metrics import METRIC_NAMES
from afunet.profiles import PROFILES
from afunet.study import REPO, Run

PROFILE = "cpu"
N_IMAGES = 20
IDS = [f"{i:02d}" for i in range(1, N_IMAGES + 1)]
BASE = np.linspace(0.74, 0.86, N_IMAGES)  # image difficulty, shared by every model
NOISE = np.tile([0.01, -0.01, 0.02, -0.02], N_IMAGES // 4)  # symmetric: mean 0, signs balanced
OFFSET = {"afunet": 0.02, "unet": 0.0, "resunet": 0.02}  # planted model effects on F1


def _scores(f1: float) -> dict:
    """All per-image metrics derived from one F1 value (consistent, not realistic)."""
    return dict(jaccard=f1 / (2 - f1), f1=f1, recall=f1 + 0.01, precision=f1 - 0.01,
                accuracy=0.94 + 0.02 * f1, specificity=0.98, accuracy_image=0.96 + 0.02 * f1,
                cldice=f1 - 0.05, betti0_error=int(round(40 * (1 - f1))), thin_f1=f1 - 0.15,
                auc_roc=0.97, auc_pr=f1 + 0.05)


def _block(values: np.ndarray, threshold: float) -> dict:
    """A metrics.json threshold block: pooled (= mean here) and per-image means."""
    rows = [_scores(v) for v in values]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    pooled = {k: mean[k] for k in (*METRIC_NAMES, "accuracy_image")}
    return dict(threshold=threshold, pooled=pooled, per_image_mean=mean)


def write_run(root, profile, name, per_image_f1, *, evals=None, observer=True, probs=None,
              dataset_kwargs=None, seconds=100.0, pr_curve=False):
    """Write one run's result folder in the pipeline's format.

    Args:
        root: results root (holds <profile>/runs/).
        profile, name: profile and run name (e.g. "drive-afunet-s0").
        per_image_f1: {eval dataset: array of per-image F1 at the fixed threshold}.
        evals: {eval dataset: list of ids}; default IDS for every set in per_image_f1.
        observer: add the second observer (F1 0.79 on every image).
        probs: {eval dataset: {id: (H, W) float array}} maps to keep.
        dataset_kwargs: config.json's loader options.
        seconds: training time in summary.json.
        pr_curve: write eval/<set>/pr_curve.csv (as afunet.evaluation does) with a made-up curve.
    """
    run = Run.parse(name)
    out = root / profile / "runs" / name
    out.mkdir(parents=True)
    config = dict(model=run.model, width=16, dataset=run.dataset, seed=run.seed,
                  dataset_kwargs=dataset_kwargs or {},
                  model_kwargs={"skip_source": run.skip_source} if run.skip_source else {})
    (out / "config.json").write_text(json.dumps(config))
    summary = dict(model=run.model, dataset=run.dataset, seed=run.seed, best_epoch=10,
                   best_val_loss=0.3 - 0.01 * run.seed, best_val_f1=0.8, epochs_run=20,
                   stopped_early=True, train_seconds=seconds, seconds_per_epoch=seconds / 20,
                   params=2_000_000, device_name="test CPU")
    (out / "summary.json").write_text(json.dumps(summary))
    (out / "log.csv").write_text("epoch,train_loss,val_loss,val_f1,lr,seconds,elapsed\n"
                                 "1,0.9,0.8,0.5,0.001,5,5\n2,0.6,0.5,0.7,0.001,5,10\n")
    for dataset, f1 in per_image_f1.items():
        ids = (evals or {}).get(dataset, IDS)[: len(f1)]
        folder = out / "eval" / dataset
        folder.mkdir(parents=True)
        report = dict(model=run.model, trained_on=run.dataset, dataset=dataset, split="test",
                      n_images=len(ids), fixed=_block(f1, 0.5), val=_block(f1 + 0.005, 0.45),
                      auc_roc=0.975, auc_pr=float(np.mean(f1)) + 0.05, observer2=None)
        report["val"]["val_f1"] = 0.81
        rows = [dict(id=i, rater="model", threshold_rule=rule, threshold=t, **_scores(v + dv))
                for rule, t, dv in (("fixed", 0.5, 0.0), ("val", 0.45, 0.005))
                for i, v in zip(ids, f1, strict=True)]
        if observer:
            report["observer2"] = _block(np.full(len(ids), 0.79), "")
            rows += [dict(id=i, rater="observer2", threshold_rule="", threshold="",
                          **{**_scores(0.79), "auc_roc": "nan", "auc_pr": "nan"}) for i in ids]
        (folder / "metrics.json").write_text(json.dumps(report))
        with (folder / "metrics.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        if pr_curve:
            recall = np.linspace(1, 0, 50)
            (folder / "pr_curve.csv").write_text("threshold,precision,recall\n" + "".join(
                f"{t:.6g},{1 - 0.5 * r**4:.6g},{r:.6g}\n" for t, r in zip(recall[::-1], recall,
                                                                          strict=True)))
        for i, prob in ((probs or {}).get(dataset) or {}).items():
            (folder / "probs").mkdir(exist_ok=True)
            Image.fromarray(np.rint(prob * 255).astype(np.uint8)).save(folder / "probs" / f"{i}.png")
    return out


def planted_f1(model: str, seed: int) -> np.ndarray:
    """Per-image F1 of a model: shared difficulty + model effect (+ symmetric noise) + seed."""
    noise = NOISE if model == "resunet" else 0.0
    return BASE + OFFSET[model] + noise + 0.002 * seed


@pytest.fixture()
def tree(tmp_path):
    """Three models x three seeds on DRIVE (also tested on STARE), and two ablation runs."""
    root = tmp_path / "results"
    for model in OFFSET:
        for seed in range(3):
            f1 = planted_f1(model, seed)
            write_run(root, PROFILE, f"drive-{model}-s{seed}",
                      {"drive": f1, "stare": f1[:10] - 0.05})
    write_run(root, PROFILE, "drive-afunet@first-s0", {"drive": BASE + 0.01})
    (root / PROFILE / "runs" / "drive-unet-s9.tmp").mkdir()  # half-written: ignored
    return root


def test_collect_one_row_per_run_set_rater_rule(tree):
    df = reporting.collect(PROFILE, tree)
    assert set(reporting.results.COLLECT_COLUMNS) <= set(df.columns)
    assert df["run"].nunique() == 10  # 9 runs + the ablation, not the .tmp folder
    # 9 runs x 2 sets x (2 rules + observer) + ablation x 1 set x 3
    assert len(df) == 9 * 2 * 3 + 3
    row = df[(df["run"] == "drive-afunet-s1") & (df["dataset"] == "drive")
             & (df["rule"] == "fixed")].iloc[0]
    assert row["f1"] == pytest.approx(planted_f1("afunet", 1).mean())
    assert (row["seed"], row["trained_on"], row["skip_source"]) == (1, "drive", "adjacent")
    assert row["threshold"] == 0.5 and row["train_seconds"] == 100.0
    ablation = df[df["run"] == "drive-afunet@first-s0"]
    assert set(ablation["skip_source"]) == {"first"}
    assert set(df.loc[df["model"] == "unet", "skip_source"]) == {""}
    assert set(df.loc[df["rater"] == "observer2", "rule"]) == {"none"}


def test_collect_prefers_pooled_thin_f1(tree):
    path = tree / PROFILE / "runs" / "drive-unet-s0" / "eval" / "drive" / "metrics.json"
    report = json.loads(path.read_text())
    report["fixed"]["pooled"]["thin_f1"] = 0.123  # evaluation pools it since the engine's update
    path.write_text(json.dumps(report))
    df = reporting.collect(PROFILE, tree).set_index(["run", "dataset", "rule"])
    assert df.loc[("drive-unet-s0", "drive", "fixed"), "thin_f1"] == 0.123
    mean = planted_f1("unet", 0).mean() + 0.005 - 0.15
    assert df.loc[("drive-unet-s0", "drive", "val"), "thin_f1"] == pytest.approx(mean)


def test_absent_results_give_empty_tables(tmp_path):
    df = reporting.collect(PROFILE, tmp_path)
    assert df.empty and "f1" in df.columns
    assert reporting.per_image(PROFILE, tmp_path).empty
    table = reporting.summary_table(df, "drive")
    assert list(table["model"]) == ["unet", "unetpp", "resunet", "resunetpp", "attention_unet",
                                    "afunet"]  # the paper's rows, ours empty
    assert (table["n_seeds"] == 0).all() and table["f1_mean"].isna().all()
    assert table["f1_paper"].notna().all()
    assert reporting.paired_tests(reporting.per_image(PROFILE, tmp_path), "drive").empty
    assert reporting.cross_dataset_table(df).empty
    assert not reporting.ablation_table(df)["present"].any()
    missing = reporting.missing_runs(PROFILE, results_root=tmp_path)
    assert "drive-afunet-s0" in missing
    assert "make paper PROFILE=cpu" in reporting.missing_message(PROFILE, missing)


def test_summary_table_mean_std_over_seeds_and_paper(tree):
    df = reporting.collect(PROFILE, tree)
    table = reporting.summary_table(df, "drive").set_index("model")
    per_seed = [planted_f1("afunet", s).mean() for s in range(3)]
    assert table.loc["afunet", "f1_mean"] == pytest.approx(np.mean(per_seed))
    assert table.loc["afunet", "f1_std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert table.loc["afunet", "n_seeds"] == 3 and table.loc["afunet", "seeds"] == "0,1,2"
    assert table.loc["afunet", "f1_paper"] == pytest.approx(0.8301)
    assert table.loc["afunet", "f1_diff"] == pytest.approx(np.mean(per_seed) - 0.8301)
    assert table.loc["unetpp", "n_seeds"] == 0  # in the paper, not run here
    assert table.loc["observer2", "f1_mean"] == pytest.approx(0.79)
    # the ablation variant and cross-data-set rows stay out of the main table
    assert table.loc["afunet", "f1_mean"] != pytest.approx(np.mean(BASE + 0.01))
    both = reporting.results_table(df, "drive")
    assert list(both["rule"]).count("val") == 6 and list(both["model"]).count("observer2") == 1
    shown = reporting.format_summary(both)
    assert {"F1", "F1 (paper)", "Acc (FOV)", "Acc (image)", "Acc (paper)"} <= set(shown.columns)
    assert "±" in shown.loc[shown["Method"] == "AF-UNet", "F1"].iloc[0]
    assert list(shown.columns).index("Acc (paper)") == list(shown.columns).index("Acc (image)") + 1


def test_paired_tests_find_planted_difference_only(tree):
    tests = reporting.paired_tests(reporting.per_image(PROFILE, tree), "drive")
    tests = tests.set_index(["baseline", "metric"])
    consistent = tests.loc[("unet", "f1")]
    assert consistent["n_images"] == N_IMAGES and consistent["n_seeds_reference"] == 3
    assert consistent["mean_diff"] == pytest.approx(0.02)
    assert consistent["reference_better"]
    assert consistent["wilcoxon_p"] < 1e-4  # 20 of 20 images favour AF-UNet
    assert consistent["wilcoxon_p_holm"] >= consistent["wilcoxon_p"]
    none = tests.loc[("resunet", "f1")]
    assert none["mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert none["wilcoxon_p"] > 0.5 and none["ttest_p"] > 0.5
    # Betti-0 error: lower is better, so AF-UNet's fewer components count as better
    assert tests.loc[("unet", "betti0_error"), "reference_better"]
    assert reporting.paired_tests(reporting.per_image(PROFILE, tree), "drive",
                                  reference="unetpp").empty


def test_holm_adjustment():
    p = pd.Series([0.01, 0.04, 0.03, np.nan])
    assert list(reporting.holm(p).round(6)[:3]) == [0.03, 0.06, 0.06]
    assert np.isnan(reporting.holm(p).iloc[3])


def test_cross_dataset_and_ablation(tree):
    df = reporting.collect(PROFILE, tree)
    cross = reporting.cross_dataset_table(df)
    assert set(cross["trained_on"]) == {"drive"} and set(cross["dataset"]) == {"stare"}
    assert len(cross) == 3 and (cross["n_seeds"] == 3).all()
    ablation = reporting.ablation_table(df).set_index("variant")
    assert list(ablation.index) == ["adjacent", "first", "none", "unet (reference)"]
    assert ablation.loc["unet (reference)", "f1"] == pytest.approx(planted_f1("unet", 0).mean())
    assert ablation.loc["adjacent", "f1"] == pytest.approx(planted_f1("afunet", 0).mean())
    assert ablation.loc["first", "f1"] == pytest.approx(np.mean(BASE + 0.01))
    assert not ablation.loc["none", "present"] and np.isnan(ablation.loc["none", "f1"])
    assert ablation.loc["first", "best_val_loss"] == pytest.approx(0.3)
    shown = reporting.format_ablation(ablation.reset_index())
    assert shown.loc[1, "F1"] == f"{np.mean(BASE + 0.01):.4f}" and shown.loc[2, "F1"] == ""
    assert set(reporting.format_cross(cross)["Tested on"]) == {"STARE"}


def test_write_table_csv_md_tex(tree, tmp_path):
    df = reporting.collect(PROFILE, tree)
    table = reporting.results_table(df, "drive")
    stem = tmp_path / "out" / "table1_drive"
    parts = reporting.table_parts(reporting.format_summary(table))
    assert [title for title, _ in parts] == ["the paper's metrics", "beyond the paper"]
    paths = reporting.write_table(table, stem, display=parts, caption="Table 1: DRIVE")
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex"]
    back = pd.read_csv(paths[0])
    assert len(back) == len(table) and back["f1_mean"].iloc[5] == pytest.approx(
        table["f1_mean"].iloc[5])
    md = paths[1].read_text().splitlines()
    assert md[0] == "Table 1: DRIVE" and md[2] == "the paper's metrics"
    assert md[4].startswith("| Method | Threshold | n | Jaccard | Jaccard (paper) |")
    assert set(md[5]) <= set("|-: ") and md[5].count("|") == md[4].count("|")
    assert "beyond the paper" in md and "| Method | Threshold | n | clDice |" in "\n".join(md)
    tex = paths[2].read_text()
    assert tex.count(r"\begin{tabular}") == 2 and r"$\pm$" in tex
    assert r"\caption{Table 1: DRIVE (the paper's metrics)}" in tex
    assert not list(stem.parent.glob(".*.tmp"))
    plain = reporting.write_table(pd.DataFrame({"a_b": [0.123456, np.nan], "c": ["x|y", "z"]}),
                                  tmp_path / "plain", formats=("md", "tex"))
    assert "0.1235" in plain[0].read_text() and r"x\|y" in plain[0].read_text()
    assert r"a\_b" in plain[1].read_text()


def test_one_table_per_threshold_rule(tree, tmp_path):
    df = reporting.collect(PROFILE, tree)
    table = reporting.results_table(df, "drive")
    parts = reporting.rule_parts(table)
    assert [title for title, _ in parts] == [
        "Threshold 0.5 (fixed): the paper's metrics", "Threshold 0.5 (fixed): beyond the paper",
        "Threshold F1-optimal on each run's validation images: the paper's metrics",
        "Threshold F1-optimal on each run's validation images: beyond the paper"]
    for title, part in parts:
        assert "Threshold" not in part.columns and list(part.index) == list(range(len(part)))
        # the six models (three run, three from the paper only), then the observer
        assert len(part) == 7 and part["Method"].iloc[-1] == "2nd human observer", title
    fixed = parts[0][1].set_index("Method")
    row = table[(table["model"] == "afunet") & (table["rule"] == "fixed")].iloc[0]
    assert fixed.loc["AF-UNet", "F1"] == reporting.mean_std(row["f1_mean"], row["f1_std"])
    paths = reporting.write_table(table, tmp_path / "table1_drive", display=parts,
                                  caption="Table 1: DRIVE")
    md = paths[1].read_text()
    assert md.count("| Method | n | Jaccard |") == 2 and "Threshold 0.5 (fixed): the" in md
    assert "| Threshold |" not in md and "0.5 (fixed) |" not in md
    assert paths[2].read_text().count(r"\begin{tabular}") == 4
    assert len(pd.read_csv(paths[0])) == len(table)  # the CSV keeps every row, rule as a column


def test_p_values_in_one_format(tree):
    assert [reporting.format_p(p) for p in (1.9073e-06, 0.00195, 0.0098, 0.87, 1.0, np.nan)] == \
        ["< 0.001", "0.002", "0.010", "0.870", "1.000", ""]
    tests = reporting.paired_tests(reporting.per_image(PROFILE, tree), "drive")
    shown = reporting.format_tests(tests)
    for col in reporting.P_COLUMNS:
        assert all(re.fullmatch(r"(< 0\.001|[01]\.\d{3})?", v) for v in shown[col]), col
        assert not any("e-" in v for v in shown[col])
    assert shown["mean_diff"].iloc[0].startswith(("+", "-"))


def test_seed_spread_pools_the_models_seeds(tree):
    df = reporting.collect(PROFILE, tree)
    spread = reporting.seed_spread(df, "drive", models=("afunet", "unet"), metrics=("f1",))
    per_seed = [planted_f1("afunet", s).mean() for s in range(3)]  # U-Net: the same spread
    assert spread["f1"] == pytest.approx(np.std(per_seed, ddof=1))
    assert np.isnan(reporting.seed_spread(df, "stare", metrics=("f1",))["f1"])


def test_run_status_and_missing(tree):
    status = reporting.run_status(PROFILE, tree).set_index("run")
    assert status.loc["drive-afunet-s0", "complete"]
    assert status.loc["drive-afunet-s0", "evaluated"] == "drive, stare"
    assert not status.loc["drive-afunet@first-s0", "complete"]  # no STARE evaluation
    assert not status.loc["stare-afunet-s0", "trained"]
    missing = reporting.missing_runs(PROFILE, ["drive-unet-s0", "drive-unetpp-s0"], tree)
    assert missing == ["drive-unetpp-s0"]


def test_paper_table():
    drive = reporting.paper_table("DRIVE")
    assert list(drive["method"]) == ["UNet", "UNet++", "ResUNet", "ResUNet++", "AttentionUNet",
                                     "AF-UNet"]
    assert drive.set_index("model").loc["afunet", "f1"] == pytest.approx(0.8301)
    assert reporting.paper_table("stare").set_index("model").loc["afunet", "accuracy"] == \
        pytest.approx(0.9791)
    assert reporting.paper_table("synthetic").empty


def test_curves_and_figure_inputs_from_kept_maps(tmp_path):
    from afunet.data import load_dataset

    options = {"n_train": 6, "n_test": 2, "size": [64, 64]}
    samples = load_dataset("synthetic", "test", **options)
    rng = np.random.default_rng(0)
    probs = {s.id: np.clip(0.7 * s.label + 0.3 * rng.random(s.label.shape), 0, 1)
             for s in samples[:1]}  # only the first image's map is kept
    write_run(tmp_path, "smoke", "synthetic-afunet-s0", {"synthetic": BASE[:2]},
              evals={"synthetic": [s.id for s in samples]}, observer=False,
              probs={"synthetic": probs}, dataset_kwargs=options)
    both = {s.id: np.clip(0.6 * s.label + 0.4 * rng.random(s.label.shape), 0, 1) for s in samples}
    write_run(tmp_path, "smoke", "synthetic-resunet-s0", {"synthetic": BASE[:2]},
              evals={"synthetic": [s.id for s in samples]}, observer=False,
              probs={"synthetic": both}, dataset_kwargs=options)
    write_run(tmp_path, "smoke", "synthetic-unet-s0", {"synthetic": BASE[:2]},
              evals={"synthetic": [s.id for s in samples]}, observer=False, pr_curve=True)
    curves, notes = reporting.pr_curve_data("smoke", "synthetic", results_root=tmp_path)
    precision, recall = curves["afunet"]
    assert precision.shape == recall.shape and recall.max() == 1.0
    assert list(curves) == ["unet", "resunet", "afunet"]  # the paper's order
    assert curves["unet"][1][0] == 1.0 and curves["unet"][0][-1] == 1.0  # from pr_curve.csv
    assert notes[0] == "U-Net: pooled over every test image"
    # the runs without pr_curve.csv: both curves over the one image whose map both kept
    assert "1 of 2 test images (syntest000)" in notes[1]
    assert notes[-1].startswith("no seed-0 run yet: UNet++, ResUNet++")
    sample, maps, notes = reporting.figure_inputs("smoke", "synthetic", ["unet", "afunet"],
                                                  results_root=tmp_path)
    assert sample.id == samples[0].id and list(maps) == ["afunet"]
    assert maps["afunet"] == pytest.approx(probs[sample.id], abs=1 / 255)
    assert any("U-Net" in n for n in notes)
    df = reporting.collect("smoke", tmp_path)
    assert reporting.operating_points(df, "synthetic")["afunet"][0] == pytest.approx(
        BASE[:2].mean() + 0.01)
    assert reporting.observer_point(df, "synthetic") is None


def test_efficiency_table_with_bench(tree):
    df = reporting.collect(PROFILE, tree)
    costs = pd.DataFrame([dict(model=m, width=w, size=512, params=1e6 * w, gflops=float(w))
                          for m in ("unet", "afunet") for w in (16, 64)])
    bench = pd.DataFrame([dict(model=m, width=16, height=512, input_width=512, precision=p,
                               channels_last=False, train_images_per_s=v, train_step_ms=1e3 / v,
                               infer_ms=ms, device_name="cpu")
                          for m, p, v, ms in (("afunet", "fp32", 2.0, 5.0),
                                              ("afunet", "bf16", 3.0, 8.0),
                                              ("unet", "fp32", 4.0, 2.5))])
    best = reporting.bench_best(bench)
    assert list(best["model"]) == ["unet", "afunet"] and best.loc[1, "precision"] == "bf16"
    # trains fastest in bf16 but infers fastest in fp32: each figure at its own best setting
    assert best.loc[1, "infer_ms"] == 5.0 and best.loc[1, "infer_precision"] == "fp32"
    eff = reporting.efficiency_table(df, costs, bench).set_index("model")
    assert eff.loc["afunet", "train_images_per_s"] == 3.0 and eff.loc["afunet", "infer_ms"] == 5.0
    assert eff.loc["unet", "n_seeds"] == 3
    assert eff.loc["afunet", "f1_mean"] == pytest.approx(
        np.mean([planted_f1("afunet", s).mean() for s in range(3)]))
    assert eff.loc["afunet", "gflops_w64"] == 64.0
    assert eff.loc["afunet", "train_minutes"] == pytest.approx(100 / 60)
    shown = reporting.format_efficiency(eff.reset_index())
    assert {"Params (M), width 16", "GFLOPs, width 64", "Latency (ms)", "F1"} <= set(shown.columns)


def test_readme_block_written_checked_and_left_alone_without_markers(tree, tmp_path):
    from afunet.reporting import readme

    path = tmp_path / "README.md"
    begin, end = readme.markers(PROFILE)
    path.write_text(f"# x\n\nby hand\n{begin}\nstale 0.9999\n{end}\ntail\n")
    assert not readme.update(PROFILE, path, check=True, results_root=tree)
    assert "stale" in path.read_text()  # check mode writes nothing
    assert readme.update(PROFILE, path, results_root=tree)
    text = path.read_text()
    assert text.startswith("# x\n\nby hand\n") and text.endswith(f"{end}\ntail\n")
    assert "stale" not in text and "Runs filed: 10 of 38" in text
    # AF-UNet is planted 0.02 above U-Net on every image: the claims say so.
    assert "AF-UNet has the highest F1 of the 3 models run here: yes" in text
    assert "f1 +0.0200" in text
    assert "averaged over its seeds: AF-UNet 3, U-Net 3)" in text
    first = reporting.fmt(np.mean(BASE + 0.01))
    assert f"; first {first} (" in text and "none (U-Net's wiring) not filed yet" in text
    assert "; U-Net (reference) " in text
    assert readme.update(PROFILE, path, check=True, results_root=tree)
    other = tmp_path / "OTHER.md"
    other.write_text("no block\n")
    assert readme.update(PROFILE, other, results_root=tree) and other.read_text() == "no block\n"


def test_readme_claim_gives_the_gap_to_a_better_model(tree, tmp_path):
    from afunet.reporting import readme

    # UNet++ planted 0.03 above AF-UNet on every image: the "no" must say by how much.
    write_run(tree, PROFILE, "drive-unetpp-s0", {"drive": BASE + 0.05})
    path = tmp_path / "README.md"
    begin, end = readme.markers(PROFILE)
    path.write_text(f"{begin}\n{end}\n")
    readme.update(PROFILE, path, results_root=tree)
    afunet = reporting.fmt(np.mean([planted_f1("afunet", s).mean() for s in range(3)]))
    line = next(x for x in path.read_text().splitlines() if "highest F1" in x)
    assert (f"highest F1 of the 4 models run here: no; highest: UNet++ "
            f"{reporting.fmt(np.mean(BASE + 0.05))}, AF-UNet {afunet}; per image AF-UNet minus "
            f"UNet++ -0.0280, Wilcoxon p < 0.001 (") in line  # 20 of 20 images worse


@pytest.mark.parametrize("profile", [p.name for p in PROFILES.values() if p.of_record])
def test_committed_readme_matches_committed_results(profile):
    from afunet.reporting import readme

    assert readme.markers(profile)[0] in readme.PAGE.read_text()
    assert readme.update(profile, check=True), \
        f"docs/results.md block is stale: make readme PROFILE={profile}"


def test_readme_findings_match_the_committed_results():
    from afunet.reporting import findings, readme
    from afunet.reporting.writers import update_block

    assert update_block(readme.README, "findings", findings.render(), check=True), \
        "README Findings table is stale: make readme"


def test_readme_answers_first_and_types_no_number():
    from afunet.reporting import readme

    lines = readme.README.read_text().splitlines()
    assert len(lines) < 200
    assert lines.index("<!-- findings:begin -->") < 40
    # Outside its generated blocks, the README cites no measured number: those live in blocks.
    prose, inside = [], False
    for line in lines:
        inside = (inside or line.endswith(":begin -->")) and not line.endswith(":end -->")
        if not inside and not line.startswith(("```", "    ")):
            prose.append(line)
    typed = re.findall(r"(?<!Python )(?<![\w./-])\d+\.\d+(?![\w/])", " ".join(prose))
    assert not typed, f"numbers typed by hand in README.md: {typed}"


def test_docs_prose_numbers_come_from_the_runs():
    # docs/reproducing.md quotes what the studies cost; recomputed here from their records.
    text = " ".join((REPO / "docs" / "reproducing.md").read_text().split())
    cpu = [json.loads(p.read_text())["train_seconds"]
           for p in (REPO / "results" / "cpu" / "runs").glob("*/summary.json")]
    assert len(cpu) == 38 and f"{sum(cpu) / 3600:.1f} hours" in text
    train, evaluate, seed0 = [], [], []
    for path in sorted((REPO / "results" / "paper" / "runs").glob("*/summary.json")):
        train.append(json.loads(path.read_text())["train_seconds"])
        evaluate.append(sum(json.loads(m.read_text())["seconds"]
                            for m in path.parent.glob("eval/*/metrics.json")))
        if path.parent.name.endswith("-s0"):
            seed0.append(train[-1])
    assert len(train) == 23 and len(seed0) == 12
    assert (f"{len(train)} committed runs trained in {min(train):.0f}-{max(train):.0f} s each "
            f"(median {np.median(train):.0f} s) and evaluated in {min(evaluate):.0f}-"
            f"{max(evaluate):.0f} s, {(sum(train) + sum(evaluate)) / 60:.0f} minutes") in text
    assert f"add up to {sum(seed0) / 60:.0f} minutes" in text


def test_committed_experiments_match_their_runs():
    from afunet.reporting import experiments

    assert experiments.EXPERIMENTS
    for name in experiments.EXPERIMENTS:
        assert experiments.update(name, check=True) is True, \
            f"results/README.md block experiment:{name} is stale: make readme"


def test_results_readme_prose_numbers_come_from_the_runs():
    # results/README.md's prose quotes these; recomputed here from the committed run records.
    from afunet.reporting import experiments

    text = " ".join(experiments.RESULTS_README.read_text().split())
    df = reporting.collect("cpu")
    runs = df.drop_duplicates("run")
    assert len(runs) == 38
    assert f"epoch {runs['best_epoch'].median():.0f} of 90 in the median run" in text
    assert f"after epoch 75 in {(runs['best_epoch'] > 75).sum()} of the 38 runs" in text
    mine = reporting.in_domain(df, "drive")
    afunet = mine[mine["model"] == "afunet"].sort_values("seed")
    assert len(afunet) == 3
    scores = [reporting.fmt(v) for v in afunet["f1"]]
    assert f"score {scores[0]}, {scores[1]} and {scores[2]}" in text
    seconds = afunet["train_seconds"]
    assert f"in {seconds.min():.0f}-{seconds.max():.0f} s of training" in text
    study = reporting.mean_std(afunet["f1"].mean(), afunet["f1"].std(ddof=1))
    longer = experiments.experiment_table("longer-schedule")
    longer = longer[(longer["folder"] == "runs") & (longer["model"] == "afunet")]["f1"]
    assert len(longer) == 3
    mean = reporting.mean_std(longer.mean(), longer.std(ddof=1))
    assert f"{mean} over three seeds against the study's {study}" in text


def test_teaching_guide_lab_block_matches_the_measured_runs():
    from afunet.reporting import experiments

    assert experiments.update_lab(check=True) is True, "docs/teaching.md is stale: make readme"
    lab = experiments.lab_table()
    assert len(lab) >= 1
    # The lab's promise to a class: within 15 minutes, at least the second human observer.
    assert (lab["notebook_minutes"] <= 15).all()
    assert (lab["drive_f1"] >= lab["drive_observer2_f1"]).all()
