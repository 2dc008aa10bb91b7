"""One cycle's champion–challenger comparison, written as evidence a person reads in the MLflow UI.

From the paired shadow scores (both models on the SAME holdout rows) and the gate's decision this
package writes a comparison table (CSV, and JSON in the format of ``MlflowClient.log_table`` so the
UI renders it as a table), the task's figures, per-slice bars of the primary metric and
``decision.md``, the story of the cycle in a few lines. The figures follow the task
(:mod:`champion_challenger.task`): binary overlaid ROC and precision–recall curves, confusion matrices
and a reliability diagram; multiclass K×K confusion matrices and per-class precision/recall/F1 bars;
regression a predicted-vs-actual scatter and residual histograms. On the first cycle there is no
champion: every table cell and plot shows the challenger alone.

Deltas and their confidence intervals are always ``challenger − champion`` in the metric's own
units; ``better`` says which model wins, respecting metrics where lower is better
(:mod:`champion_challenger.policy.direction`). Every check the gate made, passed or failed, is
shown: on its metric's table row, on its slice's rows of the slice table, and in ``decision.md``.

Modules: :mod:`.paired_scores` (the models and their checked scores), :mod:`.table` (metric rows,
slice numbers), :mod:`.plots` (figures), :mod:`.decision_markdown` (headline, ``decision.md``,
version description), :mod:`.report` (write everything, log it to MLflow).
"""

from champion_challenger.evaluation.comparison.decision_markdown import (
    MAX_DESCRIPTION_CHARS,
    decision_markdown,
    headline,
    how_sure_markdown,
    markdown_checks,
    scores_sentence,
    version_description,
)
from champion_challenger.evaluation.comparison.paired_scores import COLORS, ModelScores, paired_labels, paired_models
from champion_challenger.evaluation.comparison.plots import (
    MAX_SCATTER_POINTS,
    MAX_SLICE_VALUES,
    plot_calibration,
    plot_class_metrics,
    plot_confusion,
    plot_pr,
    plot_predicted_vs_actual,
    plot_residuals,
    plot_roc,
    plot_slices,
    scatter_rows,
)
from champion_challenger.evaluation.comparison.report import (
    TASK_PLOTS,
    log_comparison,
    run_url,
    write_comparison,
)
from champion_challenger.evaluation.comparison.table import (
    TABLE_COLUMNS,
    TABLE_FILE,
    TABLE_METRICS,
    ComparisonSummary,
    checks_by_metric,
    class_recall_metric,
    comparison_rows,
    delta_ci,
    metric_row,
    model_metrics,
    slice_frame,
    table_metrics,
    write_table,
)
from champion_challenger.policy.direction import better

__all__ = [
    "COLORS",
    "MAX_DESCRIPTION_CHARS",
    "MAX_SCATTER_POINTS",
    "MAX_SLICE_VALUES",
    "TABLE_COLUMNS",
    "TABLE_FILE",
    "TABLE_METRICS",
    "TASK_PLOTS",
    "ComparisonSummary",
    "ModelScores",
    "better",
    "checks_by_metric",
    "class_recall_metric",
    "comparison_rows",
    "decision_markdown",
    "delta_ci",
    "headline",
    "log_comparison",
    "how_sure_markdown",
    "markdown_checks",
    "metric_row",
    "model_metrics",
    "paired_labels",
    "paired_models",
    "plot_calibration",
    "plot_class_metrics",
    "plot_confusion",
    "plot_pr",
    "plot_predicted_vs_actual",
    "plot_residuals",
    "plot_roc",
    "plot_slices",
    "run_url",
    "scatter_rows",
    "scores_sentence",
    "slice_frame",
    "table_metrics",
    "version_description",
    "write_comparison",
    "write_table",
]
