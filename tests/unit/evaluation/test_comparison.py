"""The cycle's comparison evidence: table, plots and decision story, without MLflow."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config.sections import DecisionConfig
from champion_challenger.evaluation.comparison import (
    TABLE_COLUMNS,
    TABLE_METRICS,
    ModelScores,
    better,
    comparison_rows,
    headline,
    markdown_checks,
    run_url,
    slice_frame,
    version_description,
    write_comparison,
)
from champion_challenger.metrics import binary_metrics
from champion_challenger.policy.gate import PairedScores, evaluate_gate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("roc_curves.png", "pr_curves.png", "confusion_matrices.png", "calibration.png")


def paired_frame(n: int = 1200, seed: int = 0, champion: bool = True) -> pd.DataFrame:
    """Labels, a slice column with three values and probabilities; the challenger is a little sharper."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = y + rng.normal(0, 1, n)
    frame = pd.DataFrame(
        {
            "churned": y,
            "contract_type": rng.choice(["month-to-month", "one_year", "two_year"], n, p=[0.6, 0.3, 0.1]),
            "region": rng.choice(list("ABCDE"), n),
            "challenger": 1 / (1 + np.exp(-1.6 * (signal - 0.5))),
        }
    )
    if champion:
        frame["champion"] = 1 / (1 + np.exp(-1.1 * (signal - 0.5) + rng.normal(0, 1.0, n)))
    return frame


def gate_decision(frame: pd.DataFrame, **rules) -> dict:
    rules = DecisionConfig(**{"min_samples": 100, "bootstrap_samples": 200, **rules})
    champion = frame["champion"].to_numpy() if "champion" in frame else None
    slices = frame[rules.slice_columns] if rules.slice_columns else None
    scores = PairedScores(frame["churned"].to_numpy(), frame["challenger"].to_numpy(), champion, slices)
    return evaluate_gate(scores, rules).as_dict()


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory):
    """One promoted cycle's comparison, written once for the tests that only read it."""
    frame = paired_frame()
    decision = gate_decision(frame)
    summary = write_comparison(frame, "churned", ["contract_type"], tmp_path_factory.mktemp("cmp"), 5, 7, decision)
    return frame, decision, summary


def test_every_file_is_written(promoted):
    _, _, summary = promoted
    names = {path.name for path in summary.out_dir.iterdir()}
    assert {"comparison_table.csv", "comparison_table.json", "decision.md", "slice_metrics.png", *PLOTS} <= names
    assert set(summary.files) == set(summary.out_dir.iterdir())
    for path in summary.files:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG_MAGIC, path


def test_table_equals_binary_metrics_of_both_models(promoted):
    frame, _, summary = promoted
    y = frame["churned"].to_numpy()
    expected = {role: binary_metrics(y, frame[role].to_numpy()) for role in ("champion", "challenger")}
    table = pd.read_csv(summary.table_csv)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table["metric"]) == list(TABLE_METRICS)
    for _, row in table.iterrows():
        assert row["champion"] == pytest.approx(expected["champion"][row["metric"]])
        assert row["challenger"] == pytest.approx(expected["challenger"][row["metric"]])
        assert row["delta"] == pytest.approx(row["challenger"] - row["champion"])


def test_table_json_is_in_log_table_format(promoted):
    _, _, summary = promoted
    stored = json.loads(summary.table_json.read_text())
    assert stored["columns"] == list(TABLE_COLUMNS)
    assert [row[0] for row in stored["data"]] == list(TABLE_METRICS)
    # MlflowClient.load_table reads tables back with exactly this call
    assert pd.read_json(summary.table_json, orient="split")["metric"].tolist() == list(TABLE_METRICS)


def test_primary_check_annotates_its_row_with_ci_and_reason(promoted):
    _, decision, summary = promoted
    primary = next(c for c in decision["checks"] if c["name"] == "primary:roc_auc")
    row = next(r for r in summary.rows if r["metric"] == "roc_auc")
    assert (row["ci_low"], row["ci_high"]) == (primary["ci_low"], primary["ci_high"])
    assert primary["reason"] in row["check"]
    untouched = next(r for r in summary.rows if r["metric"] == "recall")
    assert untouched["ci_low"] is None and untouched["check"] is None


def test_decision_story_names_versions_action_and_checks(promoted):
    _, decision, summary = promoted
    story = summary.decision_md.read_text()
    assert decision["action"] == "promote", decision["reason"]
    assert story.count("v7 promoted over v5 because") == 1
    assert "| roc_auc |" in story
    assert all(c["reason"] in story for c in decision["checks"])
    assert "`slice_metrics.png`" in story


def test_first_cycle_without_champion_shows_the_challenger_alone(tmp_path):
    frame = paired_frame(champion=False)
    decision = gate_decision(frame)
    summary = write_comparison(frame, "churned", [], tmp_path, None, 1, decision)
    assert all(row["champion"] is None and row["delta"] is None and row["better"] is None for row in summary.rows)
    challenger = binary_metrics(frame["churned"].to_numpy(), frame["challenger"].to_numpy())
    assert {r["metric"]: r["challenger"] for r in summary.rows} == pytest.approx({m: challenger[m] for m in TABLE_METRICS})
    assert summary.slice_metrics is None and summary.slice_table is None
    assert not (tmp_path / "slice_metrics.png").exists()
    assert all((tmp_path / name).exists() for name in PLOTS)
    assert "v1 promoted as the first champion" in summary.decision_md.read_text()
    assert pd.read_csv(summary.table_csv)["champion"].isna().all()


def test_slices_cover_every_value_of_every_column_for_both_models(tmp_path):
    frame = paired_frame()
    summary = write_comparison(frame, "churned", ["contract_type", "region"], tmp_path, 5, 7)
    slices = pd.read_csv(summary.slice_table)
    assert summary.slice_metrics.read_bytes()[:8] == PNG_MAGIC
    assert len(slices) == 2 * (3 + 5)
    assert set(slices["role"]) == {"champion", "challenger"}
    month = frame[frame["contract_type"] == "month-to-month"]
    row = slices[(slices["value"] == "month-to-month") & (slices["role"] == "challenger")].iloc[0]
    assert row["rows"] == len(month)
    assert row["roc_auc"] == pytest.approx(binary_metrics(month["churned"], month["challenger"])["roc_auc"])


def test_slice_metric_is_the_decisions_primary_metric_and_missing_values_form_a_slice():
    frame = paired_frame(n=400)
    frame.loc[:9, "contract_type"] = None
    models = [ModelScores("challenger", 2, frame["challenger"].to_numpy())]
    slices = slice_frame(frame, "churned", ["contract_type"], models, "log_loss")
    assert "log_loss" in slices.columns
    assert slices.set_index("value").loc["(missing)", "rows"] == 10
    assert slices["rows"].sum() == len(frame)


def test_one_class_slice_draws_without_crashing(tmp_path):
    frame = paired_frame(n=600)
    frame.loc[frame["contract_type"] == "two_year", "churned"] = 0
    summary = write_comparison(frame, "churned", ["contract_type"], tmp_path, 5, 7)
    slices = pd.read_csv(summary.slice_table)
    assert slices.loc[slices["value"] == "two_year", "roc_auc"].isna().all()


@pytest.mark.parametrize(
    ("metric", "challenger", "champion", "expected"),
    [
        pytest.param("roc_auc", 0.80, 0.75, "challenger", id="higher-auc-wins"),
        pytest.param("accuracy", 0.70, 0.72, "champion", id="lower-accuracy-loses"),
        pytest.param("log_loss", 0.40, 0.45, "challenger", id="lower-log-loss-wins"),
        pytest.param("brier", 0.21, 0.19, "champion", id="higher-brier-loses"),
        pytest.param("f1", 0.6, 0.6, "tie", id="equal-is-a-tie"),
        pytest.param("roc_auc", 0.8, None, None, id="no-champion"),
        pytest.param("roc_auc", math.nan, 0.7, None, id="undefined-value"),
    ],
)
def test_better_respects_metric_direction(metric, challenger, champion, expected):
    assert better(metric, challenger, champion) == expected


def test_lower_is_better_ci_is_turned_into_a_delta_ci():
    """The gate's CI is of the gain (positive = better); the table's is of challenger − champion."""
    y = np.array([0, 1] * 50)
    champion = np.where(y == 1, 0.6, 0.4)
    challenger = np.where(y == 1, 0.8, 0.2)
    decision = {
        "action": "promote",
        "reason": "r",
        "metric": "log_loss",
        "champion_value": 0.5,
        "challenger_value": 0.2,
        "checks": [
            {
                "name": "primary:log_loss",
                "passed": True,
                "reason": "gain",
                "champion": 0.5,
                "challenger": 0.2,
                "ci_low": 0.2,
                "ci_high": 0.4,
            }
        ],
    }
    models = [ModelScores("champion", 1, champion), ModelScores("challenger", 2, challenger)]
    row = next(r for r in comparison_rows(y, models, decision) if r["metric"] == "log_loss")
    assert row["delta"] < 0 and row["better"] == "challenger"
    assert (row["ci_low"], row["ci_high"]) == (-0.4, -0.2)


def test_guardrail_failure_is_reported_on_its_metric_row(tmp_path):
    frame = paired_frame()
    frame["challenger"] = np.clip(frame["challenger"] * 1.6, 0, 1)  # same ranking, badly calibrated
    decision = gate_decision(frame, guardrails={"brier": 0.001})
    row = next(
        r
        for r in comparison_rows(
            frame["churned"].to_numpy(),
            [
                ModelScores("champion", 1, frame["champion"].to_numpy()),
                ModelScores("challenger", 2, frame["challenger"].to_numpy()),
            ],
            decision,
        )
        if r["metric"] == "brier"
    )
    assert decision["action"] == "reject"
    assert row["better"] == "champion" and row["check"].startswith("FAIL guardrail:brier")


def test_passing_guardrail_and_slice_checks_read_as_passed(tmp_path):
    """The gate reports every guardrail and slice it checked; those that hold show as passed."""
    frame = paired_frame()
    decision = gate_decision(
        frame, guardrails={"brier": 1.0}, slice_columns=["contract_type"], slice_tolerance=1.0, min_slice_samples=50
    )
    guardrail = next(c for c in decision["checks"] if c["name"] == "guardrail:brier")
    slice_checks = [c for c in decision["checks"] if c["name"].startswith("slice:contract_type=")]
    assert guardrail["passed"] and len(slice_checks) == 3 and all(c["passed"] for c in slice_checks)

    summary = write_comparison(frame, "churned", ["contract_type"], tmp_path, 5, 7, decision)
    brier = next(r for r in summary.rows if r["metric"] == "brier")
    assert brier["check"] == f"PASS guardrail:brier: {guardrail['reason']}"
    slices = pd.read_csv(summary.slice_table)
    assert set(slices["check"]) == {"PASS"}
    story = summary.decision_md.read_text()
    assert f"- ✓ PASS `guardrail:brier`: {guardrail['reason']}" in story
    assert all(f"- ✓ PASS `{c['name']}`: {c['reason']}" in story for c in slice_checks)
    assert f"{len(decision['checks'])} of {len(decision['checks'])} checks passed." in story
    assert "✗" not in story and "FAIL" not in story
    described = version_description(decision, {"versions": {"champion": 5, "challenger": 7}, "rows": len(frame)}, "http://u")
    assert "Failed checks" not in described


def test_combined_checks_mark_each_slice_and_guardrail_passed_or_failed():
    """Offline checks annotate the table whichever way they went; online ones concern other rows."""
    frame = paired_frame(n=400)
    models = [ModelScores(role, version, frame[role].to_numpy()) for role, version in (("champion", 5), ("challenger", 7))]
    checks = [
        {"name": "offline/guardrail:brier", "passed": True, "reason": "brier holds"},
        {"name": "online/guardrail:accuracy", "passed": False, "reason": "live accuracy dropped"},
        {"name": "offline/slice:contract_type=one_year", "passed": True, "reason": "one_year holds"},
        {"name": "offline/slice:contract_type=two_year", "passed": False, "reason": "two_year drops"},
    ]
    decision = {
        "action": "reject",
        "reason": "r",
        "metric": "roc_auc",
        "champion_value": 0.7,
        "challenger_value": 0.8,
        "checks": [{"champion": None, "challenger": None, "ci_low": None, "ci_high": None, **c} for c in checks],
    }
    rows = {r["metric"]: r for r in comparison_rows(frame["churned"].to_numpy(), models, decision)}
    assert rows["brier"]["check"] == "PASS offline/guardrail:brier: brier holds"
    assert rows["accuracy"]["check"] is None
    slices = slice_frame(frame, "churned", ["contract_type"], models, "roc_auc", decision=decision)
    verdicts = slices.drop_duplicates("value").set_index("value")["check"].to_dict()
    assert (verdicts["one_year"], verdicts["two_year"]) == ("PASS", "FAIL")
    assert pd.isna(verdicts["month-to-month"])  # not checked by the gate
    story = markdown_checks(decision)
    assert story[0] == "2 of 4 checks passed."
    assert "- ✓ PASS `offline/slice:contract_type=one_year`: one_year holds" in story
    assert "- ✗ FAIL `offline/slice:contract_type=two_year`: two_year drops" in story


def test_mismatched_lengths_are_refused():
    models = [ModelScores("challenger", 2, np.full(9, 0.5))]
    with pytest.raises(ValueError, match="equally long"):
        comparison_rows(np.array([0, 1] * 5), models)


@pytest.mark.parametrize(
    ("change", "champion_version", "message"),
    [
        pytest.param(lambda f: f.drop(columns="challenger"), 5, r"lack columns \['challenger'\]", id="no-challenger-column"),
        pytest.param(lambda f: f.drop(columns="contract_type"), 5, r"lack columns \['contract_type'\]", id="no-slice-column"),
        pytest.param(lambda f: f, None, "have a 'champion' column but champion_version is None", id="champion-without-version"),
        pytest.param(lambda f: f.drop(columns="champion"), 5, "lack a 'champion' column", id="version-without-champion"),
        pytest.param(lambda f: f.assign(challenger=np.nan), 5, "'challenger' has 1200 missing values", id="unscored-rows"),
        pytest.param(lambda f: f.iloc[:0], 5, "empty", id="no-rows"),
    ],
)
def test_bad_paired_scores_are_refused(tmp_path, change, champion_version, message):
    with pytest.raises(ValueError, match=message):
        write_comparison(change(paired_frame()), "churned", ["contract_type"], tmp_path, champion_version, 7)


def test_rewriting_gives_the_same_table(tmp_path, promoted):
    frame, decision, summary = promoted
    again = write_comparison(frame, "churned", ["contract_type"], tmp_path, 5, 7, decision)
    assert again.rows == summary.rows
    assert again.table_json.read_text() == summary.table_json.read_text()


@pytest.mark.parametrize(
    ("action", "champion", "expected"),
    [
        pytest.param("promote", 5, "v7 promoted over v5 because", id="promote"),
        pytest.param("hold", 5, "v7 held: v5 stays champion because", id="hold"),
        pytest.param("reject", 5, "v7 rejected: v5 stays champion because", id="reject"),
        pytest.param("promote", None, "v7 promoted as the first champion because", id="first-champion"),
        pytest.param("reject", None, "v7 rejected: there is still no champion because", id="reject-first"),
    ],
)
def test_headline(action, champion, expected):
    assert headline({"action": action, "reason": "why."}, champion, 7) == f"{expected} why"


def test_run_url_is_the_mlflow_ui_address():
    assert run_url("http://mlflow:5000/", "3", "abc") == "http://mlflow:5000/#/experiments/3/runs/abc"


def test_version_description_summarises_the_decision_and_links_the_evidence():
    frame = paired_frame()
    decision = gate_decision(frame, guardrails={"brier": 0.0}, min_improvement=0.5)
    evaluation = {"versions": {"champion": 5, "challenger": 7}, "rows": len(frame)}
    text = version_description(decision, evaluation, "http://mlflow:5000/#/experiments/3/runs/abc")
    primary = next(c for c in decision["checks"] if c["name"] == "primary:roc_auc")
    assert text.startswith(f"**Decision: {decision['action']}**")
    assert f"challenger {decision['challenger_value']:.4f} vs champion {decision['champion_value']:.4f}" in text
    assert f"CI {primary['ci_low']:+.4f} .. {primary['ci_high']:+.4f}" in text
    assert all(c["name"] in text for c in decision["checks"] if not c["passed"])
    assert text.endswith("(http://mlflow:5000/#/experiments/3/runs/abc)")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        pytest.param("below the floor", "there was no champion to compare with", id="no-champion"),
        pytest.param("x" * 9000, "(truncated)", id="longer-than-mlflow-keeps"),
    ],
)
def test_version_description_without_champion(reason, expected):
    decision = {
        "action": "reject",
        "reason": reason,
        "metric": "roc_auc",
        "champion_value": None,
        "challenger_value": 0.51,
        "checks": [],
    }
    text = version_description(decision, {"versions": {"champion": None, "challenger": 1}, "rows": 10}, "http://u/#/r")
    assert expected in text
    assert len(text) <= 5000
    assert text.endswith("(http://u/#/r)")


def test_a_dry_run_candidate_without_a_version_is_reported(tmp_path):
    frame = paired_frame()
    decision = {**gate_decision(frame), "action": "hold", "reason": "dry run, nothing changed: would promote"}
    summary = write_comparison(frame, "churned", ["contract_type"], tmp_path, 3, None, decision)
    text = summary.decision_md.read_text()
    assert "challenger (dry run, unregistered)" in text and "the dry-run candidate held" in text
