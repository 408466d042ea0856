"""The study's tables from its result files, testable without notebooks.

    >>> from afunet import reporting
    >>> df = reporting.collect("cpu")                      # one row per run x set x rater x rule
    >>> table = reporting.summary_table(df, "drive")       # Table 1: ours (mean ± std) vs paper
    >>> tests = reporting.paired_tests(reporting.per_image("cpu"), "drive")
    >>> reporting.write_table(table, "results/cpu/table1_drive",
    ...                       display=reporting.format_summary(table))

Modules: ``results`` reads results/<profile>/runs/*/ (collect, per_image, run_status),
``tables`` builds the tables (paper, summary, cross-data-set, ablation, efficiency),
``stats`` the paired tests, ``maps`` curves and figure inputs from kept probability maps,
``writers`` CSV / Markdown / LaTeX output.
"""

from afunet.reporting.maps import (
    figure_inputs,
    load_pr_curve,
    load_test_set,
    observer_point,
    operating_points,
    pr_curve_data,
)
from afunet.reporting.results import (
    ALL_METRICS,
    MAKE_PAPER,
    MAKE_RUN,
    collect,
    figures_dir,
    load_prob,
    missing_message,
    missing_runs,
    per_image,
    prob_ids,
    results_dir,
    run_config,
    run_paths,
    run_status,
)
from afunet.reporting.stats import TEST_METRICS, holm, paired_tests
from afunet.reporting.tables import (
    METRIC_LABELS,
    PAPER_METRICS,
    RULE_LABELS,
    TABLE_METRICS,
    ablation_table,
    bench_best,
    cross_dataset_table,
    efficiency_table,
    fmt,
    format_ablation,
    format_cross,
    format_efficiency,
    format_summary,
    in_domain,
    mean_std,
    model_costs,
    paper_table,
    results_table,
    summary_table,
    table_parts,
)
from afunet.reporting.writers import latex_escape, to_latex, to_markdown, write_table

__all__ = [
    "ALL_METRICS",
    "MAKE_PAPER",
    "MAKE_RUN",
    "METRIC_LABELS",
    "PAPER_METRICS",
    "RULE_LABELS",
    "TABLE_METRICS",
    "TEST_METRICS",
    "ablation_table",
    "bench_best",
    "collect",
    "cross_dataset_table",
    "efficiency_table",
    "figure_inputs",
    "figures_dir",
    "fmt",
    "format_ablation",
    "format_cross",
    "format_efficiency",
    "format_summary",
    "holm",
    "in_domain",
    "load_test_set",
    "latex_escape",
    "load_pr_curve",
    "load_prob",
    "mean_std",
    "missing_message",
    "missing_runs",
    "model_costs",
    "observer_point",
    "operating_points",
    "paired_tests",
    "paper_table",
    "per_image",
    "pr_curve_data",
    "prob_ids",
    "results_dir",
    "results_table",
    "run_config",
    "run_paths",
    "run_status",
    "summary_table",
    "table_parts",
    "load_test_set",
    "to_latex",
    "to_markdown",
    "write_table",
]
