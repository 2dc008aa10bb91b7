"""The comparison report of a multiclass and of a regression cycle: table rows, figures and decision.md per task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config.sections import DecisionConfig
from champion_challenger.evaluation.comparison import (
    TABLE_COLUMNS,
    TASK_PLOTS,
    ModelScores,
    checks_by_metric,
    comparison_rows,
    scatter_rows,
    slice_frame,
    table_metrics,
    write_comparison,
)
from champion_challenger.metrics import class_recalls, metric_value, multiclass_metrics, regression_metrics
from champion_challenger.policy.gate import PairedScores, evaluate_gate
from champion_challenger.task import TASK_DEFAULTS, TASK_METRICS, encode_labels, score_cells, stack_scores
from tests.unit.policy.scores import class_probabilities

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSES = ("billing", "outage", "sales", "technical")


def multiclass_frame(n: int = 1200, seed: int = 0, champion: bool = True) -> pd.DataFrame:
    """Raw class labels, a slice column and class-probability lists (as read back from Parquet); the
    challenger adds more to the true class's logit than the champion."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    shared = rng.normal(0, 1, (n, len(CLASSES)))

    def model(skill: float) -> np.ndarray:
        return class_probabilities(rng, y, shared, skill)

    frame = pd.DataFrame(
        {
            "topic": np.array(CLASSES)[y],
            "channel": rng.choice(["email", "phone", "chat"], n, p=[0.5, 0.3, 0.2]),
            "challenger": score_cells(model(2.2)),
        }
    )
    if champion:
        frame["champion"] = score_cells(model(1.4))
    return frame


def regression_frame(n: int = 1200, seed: int = 0, champion: bool = True) -> pd.DataFrame:
    """Values, a slice column and predictions; the challenger's errors are smaller."""
    rng = np.random.default_rng(seed)
    y = rng.normal(50, 10, n)
    frame = pd.DataFrame(
        {
            "price": y,
            "region": rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]),
            "challenger": y + rng.normal(0, 3, n),
        }
    )
    if champion:
        frame["champion"] = y + rng.normal(0.5, 4.5, n)
    return frame


def multiclass_decision(frame: pd.DataFrame, **rules) -> dict:
    defaults = TASK_DEFAULTS["multiclass"]
    rules = DecisionConfig(
        **{"primary_metric": defaults["primary_metric"], "guardrails": dict(defaults["guardrails"]), "min_samples": 100,
           "bootstrap_samples": 200, **rules}
    )  # fmt: skip
    y = encode_labels("multiclass", frame["topic"], CLASSES)
    scores = PairedScores(
        y, stack_scores(frame["challenger"], "multiclass"), stack_scores(frame["champion"], "multiclass"),
        frame[rules.slice_columns] if rules.slice_columns else None, task="multiclass", classes=CLASSES,
    )  # fmt: skip
    return evaluate_gate(scores, rules).as_dict()


def regression_decision(frame: pd.DataFrame, **rules) -> dict:
    defaults = TASK_DEFAULTS["regression"]
    rules = DecisionConfig(
        **{"primary_metric": defaults["primary_metric"], "guardrails": dict(defaults["guardrails"]), "min_samples": 100,
           "bootstrap_samples": 200, **rules}
    )  # fmt: skip
    scores = PairedScores(
        frame["price"].to_numpy(), frame["challenger"].to_numpy(), frame["champion"].to_numpy(), task="regression"
    )
    return evaluate_gate(scores, rules).as_dict()


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory: pytest.TempPathFactory):
    """One multiclass cycle's comparison, its paired scores written to Parquet and read back first."""
    path = tmp_path_factory.mktemp("paired") / "paired_scores.parquet"
    multiclass_frame().to_parquet(path, index=False)
    frame = pd.read_parquet(path)
    decision = multiclass_decision(frame)
    out = tmp_path_factory.mktemp("multiclass")
    summary = write_comparison(frame, "topic", ["channel"], out, 5, 7, decision, task="multiclass", classes=CLASSES)
    return frame, decision, summary


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory):
    frame = regression_frame()
    decision = regression_decision(frame)
    out = tmp_path_factory.mktemp("regression")
    summary = write_comparison(frame, "price", ["region"], out, 5, 7, decision, task="regression")
    return frame, decision, summary


@pytest.mark.parametrize("case", [pytest.param("multiclass", id="multiclass"), pytest.param("regression", id="regression")])
def test_every_file_of_the_task_is_written(case, request):
    _, _, summary = request.getfixturevalue(case)
    assert tuple(summary.plots) == TASK_PLOTS[case]
    assert set(summary.files) == set(summary.out_dir.iterdir())
    assert {p.name for p in summary.files} == {
        "comparison_table.json", "comparison_table.csv", "slice_metrics.png", "slice_metrics.csv", "decision.md",
        *(f"{name}.png" for name in TASK_PLOTS[case]),
    }  # fmt: skip
    for path in [*summary.plots.values(), summary.slice_metrics]:
        assert path.read_bytes()[:8] == PNG_MAGIC, path
    assert "roc_curves.png" not in {p.name for p in summary.files}


def test_multiclass_table_rows_are_the_task_metrics_and_each_class_recall(multiclass):
    frame, _, summary = multiclass
    y = encode_labels("multiclass", frame["topic"], CLASSES)
    table = pd.read_csv(summary.table_csv)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table["metric"]) == [*TASK_METRICS["multiclass"], *(f"recall[{c}]" for c in CLASSES)]
    for role in ("champion", "challenger"):
        scores = stack_scores(frame[role], "multiclass")
        recalls = dict(zip((f"recall[{c}]" for c in CLASSES), class_recalls(y, scores), strict=True))
        expected = {**multiclass_metrics(y, scores), **recalls}
        assert dict(zip(table["metric"], table[role], strict=True)) == pytest.approx({m: expected[m] for m in table["metric"]})


def test_multiclass_checks_annotate_the_primary_row_and_each_class_recall_row(multiclass):
    _, decision, summary = multiclass
    rows = {r["metric"]: r for r in summary.rows}
    primary = next(c for c in decision["checks"] if c["name"] == "primary:macro_f1")
    assert (rows["macro_f1"]["ci_low"], rows["macro_f1"]["ci_high"]) == (primary["ci_low"], primary["ci_high"])
    recall_checks = {c["name"]: c for c in decision["checks"] if c["name"].startswith("guardrail:class_recall=")}
    assert set(recall_checks) == {f"guardrail:class_recall={c}" for c in CLASSES}
    for cls in CLASSES:
        check = recall_checks[f"guardrail:class_recall={cls}"]
        assert rows[f"recall[{cls}]"]["check"] == f"{'PASS' if check['passed'] else 'FAIL'} {check['name']}: {check['reason']}"
        assert rows[f"recall[{cls}]"]["champion"] == pytest.approx(check["champion"])


def test_multiclass_decision_says_what_the_scores_are(multiclass):
    _, decision, summary = multiclass
    story = summary.decision_md.read_text()
    assert "positive at probability" not in story
    assert "class probabilities over 4 classes (billing, outage, sales, technical)" in story
    assert "most probable class" in story and "lower is better for brier, log_loss." in story
    assert "| recall[outage] |" in story and "| macro_f1 |" in story
    assert all(c["reason"] in story for c in decision["checks"])
    assert all(f"`{name}.png`" in story for name in TASK_PLOTS["multiclass"])


def test_multiclass_slices_show_the_primary_metric(multiclass):
    frame, _, summary = multiclass
    slices = pd.read_csv(summary.slice_table)
    assert "macro_f1" in slices.columns and len(slices) == 2 * 3
    email = frame[frame["channel"] == "email"]
    row = slices[(slices["value"] == "email") & (slices["role"] == "challenger")].iloc[0]
    expected = metric_value(
        "macro_f1", encode_labels("multiclass", email["topic"], CLASSES), stack_scores(email["challenger"], "multiclass"),
        task="multiclass",
    )  # fmt: skip
    assert row["rows"] == len(email) and row["macro_f1"] == pytest.approx(expected)


def test_multiclass_first_cycle_shows_the_challenger_alone(tmp_path):
    frame = multiclass_frame(champion=False)
    summary = write_comparison(frame, "topic", [], tmp_path, None, 1, task="multiclass", classes=CLASSES)
    assert all(row["champion"] is None and row["delta"] is None for row in summary.rows)
    assert summary.slice_metrics is None and tuple(summary.plots) == TASK_PLOTS["multiclass"]
    assert "slice_metrics.png" not in {p.name for p in tmp_path.iterdir()}


def test_a_class_without_rows_has_no_recall(tmp_path):
    frame = multiclass_frame(n=600)
    frame = frame[frame["topic"] != "sales"]
    summary = write_comparison(frame, "topic", [], tmp_path, 5, 7, task="multiclass", classes=CLASSES)
    sales = next(r for r in summary.rows if r["metric"] == "recall[sales]")
    assert sales["champion"] is None and sales["challenger"] is None and sales["better"] is None


def test_many_classes_draw_without_crashing(tmp_path):
    """Beyond 15 classes the confusion matrices are colour only; decision.md names the first 20 classes."""
    classes = tuple(f"c{i:02d}" for i in range(25))
    rng = np.random.default_rng(1)
    y = rng.integers(0, len(classes), 800)
    probabilities = rng.dirichlet(np.ones(len(classes)), 800)
    frame = pd.DataFrame({"label": np.array(classes)[y], "challenger": score_cells(probabilities)})
    summary = write_comparison(frame, "label", [], tmp_path, None, 1, task="multiclass", classes=classes)
    assert summary.plots["confusion_matrices"].read_bytes()[:8] == PNG_MAGIC
    assert "(c00, c01" in summary.decision_md.read_text() and "… (5 more)" in summary.decision_md.read_text()


@pytest.mark.parametrize(
    ("change", "classes", "message"),
    [
        pytest.param(lambda f: f, CLASSES[:3], "holds 4 class probabilities per row, expected 3", id="fewer-classes"),
        pytest.param(lambda f: f, (), "needs the classes", id="no-classes"),
        pytest.param(lambda f: f.assign(topic="refund"), CLASSES, r"labels \['refund'\] are not among", id="unknown-label"),
        pytest.param(
            lambda f: f.assign(challenger=[[0.5, 0.5]] + list(f["challenger"][1:])), CLASSES, "cannot be read", id="ragged"
        ),
    ],
)
def test_bad_multiclass_scores_are_refused(tmp_path, change, classes, message):
    with pytest.raises(ValueError, match=message):
        write_comparison(change(multiclass_frame(n=50)), "topic", [], tmp_path, 5, 7, task="multiclass", classes=classes)


def test_regression_table_rows_are_the_error_metrics(regression):
    frame, _, summary = regression
    table = pd.read_csv(summary.table_csv)
    assert list(table["metric"]) == list(TASK_METRICS["regression"]) == ["rmse", "mae", "r2", "smape"]
    for role in ("champion", "challenger"):
        expected = regression_metrics(frame["price"].to_numpy(), frame[role].to_numpy())
        assert dict(zip(table["metric"], table[role], strict=True)) == pytest.approx({m: expected[m] for m in table["metric"]})
    assert set(table["better"]) == {"challenger"}  # lower rmse/mae/smape and higher r2 all point the same way


def test_regression_primary_ci_is_turned_into_a_delta_ci(regression):
    """The gate's CI is of the gain (lower RMSE = positive); the table's is of challenger − champion."""
    _, decision, summary = regression
    primary = next(c for c in decision["checks"] if c["name"] == "primary:rmse")
    row = next(r for r in summary.rows if r["metric"] == "rmse")
    assert (row["ci_low"], row["ci_high"]) == (-primary["ci_high"], -primary["ci_low"])
    assert row["delta"] < 0 and row["ci_high"] < 0
    smape = next(r for r in summary.rows if r["metric"] == "smape")
    assert smape["check"].startswith("PASS guardrail:smape")


def test_regression_decision_says_what_the_scores_are(regression):
    _, decision, summary = regression
    story = summary.decision_md.read_text()
    assert "positive at probability" not in story and "class probabilities" not in story
    assert "scores are the predicted values" in story and "lower is better for mae, rmse, smape." in story
    assert f"v7 {'promoted over v5' if decision['action'] == 'promote' else ''}" in story
    assert all(f"`{name}.png`" in story for name in TASK_PLOTS["regression"])


def test_regression_slices_show_the_error_by_slice(regression):
    frame, _, summary = regression
    slices = pd.read_csv(summary.slice_table)
    north = frame[frame["region"] == "north"]
    row = slices[(slices["value"] == "north") & (slices["role"] == "champion")].iloc[0]
    assert row["rmse"] == pytest.approx(regression_metrics(north["price"].to_numpy(), north["champion"].to_numpy())["rmse"])


def test_regression_slice_with_negative_r2_draws(tmp_path):
    frame = regression_frame(n=300)
    frame.loc[frame["region"] == "east", "challenger"] = 0.0  # far off: R² well below 0 on that slice
    models = [ModelScores(role, v, frame[role].to_numpy()) for role, v in (("champion", 5), ("challenger", 7))]
    slices = slice_frame(frame, "price", ["region"], models, "r2", task="regression")
    assert slices.loc[(slices["value"] == "east") & (slices["role"] == "challenger"), "r2"].iloc[0] < 0
    decision = {"action": "hold", "reason": "r", "metric": "r2", "champion_value": 0.7, "challenger_value": 0.1, "checks": []}
    summary = write_comparison(frame, "price", ["region"], tmp_path, 5, 7, decision, task="regression")
    assert summary.slice_metrics.read_bytes()[:8] == PNG_MAGIC


def test_regression_scatter_is_sampled_to_a_bounded_number_of_rows(tmp_path):
    assert len(scatter_rows(100, 500)) == 100
    rows = scatter_rows(20_000, 500, seed=3)
    assert len(rows) == 500 and len(set(rows)) == 500 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, scatter_rows(20_000, 500, seed=3))
    summary = write_comparison(regression_frame(n=12_000), "price", [], tmp_path, 5, 7, task="regression")
    assert summary.plots["predicted_vs_actual"].stat().st_size > 10_000


def test_regression_first_cycle_shows_the_challenger_alone(tmp_path):
    summary = write_comparison(regression_frame(champion=False), "price", ["region"], tmp_path, None, 1, task="regression")
    assert all(row["champion"] is None for row in summary.rows)
    assert set(pd.read_csv(summary.slice_table)["role"]) == {"challenger"}


@pytest.mark.parametrize(
    ("task", "classes", "expected"),
    [
        pytest.param("binary", (), ("accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier"), id="binary"),
        pytest.param("multiclass", ("a", "b"), ("accuracy", "macro_f1", "log_loss", "brier", "recall[a]", "recall[b]"), id="mc"),
        pytest.param("regression", (), ("rmse", "mae", "r2", "smape"), id="regression"),
    ],
)
def test_table_metrics_per_task(task, classes, expected):
    assert table_metrics(task, classes) == expected


def test_checks_by_metric_understands_class_recall_and_prefixes():
    checks = [
        {"name": "offline/guardrail:class_recall=outage", "passed": False, "reason": "outage recall dropped"},
        {"name": "guardrail:class_recall=a=b", "passed": True, "reason": "a class with '=' in its name"},
        {"name": "online/guardrail:class_recall=outage", "passed": True, "reason": "other rows"},
        {"name": "primary:macro_f1", "passed": True, "reason": "gain"},
        {"name": "quality_floor", "passed": True, "reason": "floor"},
        {"name": "slice:channel=email", "passed": True, "reason": "slice"},
    ]
    grouped = checks_by_metric({"metric": "macro_f1", "checks": checks})
    assert [c["reason"] for c in grouped["recall[outage]"]] == ["outage recall dropped"]
    assert [c["reason"] for c in grouped["recall[a=b]"]] == ["a class with '=' in its name"]
    assert [c["reason"] for c in grouped["macro_f1"]] == ["gain", "floor"]
    assert set(grouped) == {"recall[outage]", "recall[a=b]", "macro_f1"}


def test_comparison_rows_on_class_indices_directly():
    y = np.array([0, 1, 2, 2])
    probabilities = np.eye(3)[[0, 1, 1, 2]]
    rows = comparison_rows(y, [ModelScores("challenger", 1, probabilities)], task="multiclass", classes=("x", "y", "z"))
    values = {r["metric"]: r["challenger"] for r in rows}
    assert values["accuracy"] == pytest.approx(0.75) and values["recall[z]"] == pytest.approx(0.5)
