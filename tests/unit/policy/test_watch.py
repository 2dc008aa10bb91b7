"""The post-promotion watch's limits: serving errors and latency, the label metric, the rollback reason."""

from __future__ import annotations

import pytest

from champion_challenger.config.sections import WatchConfig
from champion_challenger.policy.watch import WatchFindings, label_findings, rollback_reason, serving_findings

LIMITS = WatchConfig(
    min_requests=20,
    max_error_rate=0.05,
    max_mean_latency_ms=250,
    label_metric="roc_auc",
    max_label_metric_drop=0.05,
    min_labelled_rows=200,
)
LOG_LOSS = LIMITS.model_copy(update={"label_metric": "log_loss"})


# ---- serving_findings --------------------------------------------------------------------------
def test_too_few_requests_are_not_judged():
    assert serving_findings(19, error_rate=1.0, mean_latency_ms=10_000, limits=LIMITS) == WatchFindings()


@pytest.mark.parametrize(
    ("error_rate", "latency", "problems"),
    [
        pytest.param(0.01, 50.0, (), id="healthy"),
        pytest.param(0.05, 250.0, (), id="exactly-at-the-limits"),
        pytest.param(0.10, 50.0, ("error rate 10.0% > 5.0% over 100 requests",), id="errors"),
        pytest.param(0.01, 300.0, ("mean latency 300.0 ms > 250 ms",), id="slow"),
        pytest.param(
            0.20, 900.0, ("error rate 20.0% > 5.0% over 100 requests", "mean latency 900.0 ms > 250 ms"), id="errors-and-slow"
        ),
    ],
)
def test_serving_limits(error_rate, latency, problems):
    findings = serving_findings(100, error_rate, latency, LIMITS)
    assert findings.problems == problems
    assert findings.observed == {"requests": 100, "error_rate": error_rate, "mean_latency_ms": latency}


# ---- label_findings ----------------------------------------------------------------------------
def test_too_few_labelled_predictions_are_not_judged():
    assert label_findings(0.1, labelled=199, offline=0.9, limits=LIMITS) == WatchFindings()


def test_without_an_offline_value_the_live_metric_is_only_observed():
    findings = label_findings(0.1, labelled=300, offline=None, limits=LIMITS)
    assert findings == WatchFindings({"live_roc_auc": 0.1, "labelled_predictions": 300.0})


@pytest.mark.parametrize(
    ("limits", "live", "offline", "crossed"),
    [
        pytest.param(LIMITS, 0.70, 0.80, True, id="auc-dropped-beyond-tolerance"),
        pytest.param(LIMITS, 0.77, 0.80, False, id="auc-dropped-within-tolerance"),
        pytest.param(LIMITS, 0.85, 0.80, False, id="auc-improved"),
        pytest.param(LOG_LOSS, 0.60, 0.45, True, id="log-loss-rose-beyond-tolerance"),
        pytest.param(LOG_LOSS, 0.48, 0.45, False, id="log-loss-rose-within-tolerance"),
        pytest.param(LOG_LOSS, 0.30, 0.45, False, id="log-loss-fell"),
    ],
)
def test_label_metric_drop_beyond_the_tolerance_whichever_way_is_better(limits, live, offline, crossed):
    findings = label_findings(live, labelled=300, offline=offline, limits=limits)
    metric = limits.label_metric
    assert findings.observed == {f"live_{metric}": live, "labelled_predictions": 300.0, f"offline_{metric}": offline}
    assert bool(findings.problems) is crossed
    if crossed:
        (problem,) = findings.problems
        assert problem.startswith(f"live {metric} {live:.4f} on 300 labelled predictions is ")
        assert f"worse than offline {offline:.4f} (tolerance 0.0500)" in problem


def test_the_drop_is_named_in_the_metric_s_units():
    (problem,) = label_findings(0.60, labelled=300, offline=0.45, limits=LOG_LOSS).problems
    assert "is 0.1500 worse" in problem


# ---- findings and the rollback reason ----------------------------------------------------------
def test_findings_add_up():
    serving = WatchFindings({"requests": 100.0}, ("slow",))
    labels = WatchFindings({"live_roc_auc": 0.7}, ("auc dropped",))
    both = serving + labels
    assert both == WatchFindings({"requests": 100.0, "live_roc_auc": 0.7}, ("slow", "auc dropped"))
    assert WatchFindings() + serving == serving == serving + WatchFindings()


def test_a_later_observation_of_the_same_name_wins():
    assert (WatchFindings({"n": 1.0}) + WatchFindings({"n": 2.0})).observed == {"n": 2.0}


def test_no_problem_no_rollback():
    assert rollback_reason(3, WatchFindings({"requests": 100.0})) is None


def test_rollback_reason_names_the_version_and_every_problem():
    findings = WatchFindings(problems=("error rate 10.0% > 5.0% over 100 requests", "mean latency 300.0 ms > 250 ms"))
    assert rollback_reason(3, findings) == (
        "v3 since its promotion: error rate 10.0% > 5.0% over 100 requests; mean latency 300.0 ms > 250 ms"
    )
