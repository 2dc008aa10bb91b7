"""decision.md's "How sure is this decision?" and the status line of the error budget, in plain words."""

from __future__ import annotations

from dataclasses import asdict

from champion_challenger.cli.status import format_status
from champion_challenger.evaluation.comparison import how_sure_markdown
from champion_challenger.payloads import BudgetSpend, CheckResult, Decision, SequentialOutcome

PRIMARY = CheckResult("offline/primary:roc_auc", True, "roc_auc challenger 0.7900 vs champion 0.7300: gain +0.0600", 0.73,
                      0.79, 0.04, 0.08)  # fmt: skip
SEQUENTIAL = SequentialOutcome("promote", "challenger better with confidence: mean brier gain +0.0120", 1800, 0.012, 0.004,
                               0.020, 0.025, "brier")  # fmt: skip


def test_every_number_of_a_budgeted_sequential_decision_is_explained():
    decision = Decision("promote", "r", "roc_auc", 0.79, 0.73, (PRIMARY,), sequential=SEQUENTIAL,
                        budget=BudgetSpend(test=3, level=0.05 / 12, alpha=0.05, remaining=0.05 / 4))  # fmt: skip
    text = "\n".join(how_sure_markdown(asdict(decision), 2500))
    assert "**What was tested**: is the challenger better than the champion on roc_auc over 2500 fresh holdout rows" in text
    assert "and on live traffic mirrored to it" in text
    assert "**What was found offline**: roc_auc challenger 0.7900 vs champion 0.7300: gain +0.0600." in text
    assert "**What was found online** (always-valid test, looked at every cycle): challenger better with confidence" in text
    assert "with probability at most 0.417%" in text
    assert "this is test 3 of the pipeline's lifetime error budget of 5%" in text and "1.250% remains" in text


def test_without_a_budget_the_fixed_confidence_level_is_named():
    text = "\n".join(how_sure_markdown(asdict(Decision("promote", "no champion yet", "roc_auc", 0.79)), 900))
    assert "judged at the fixed `confidence_level`" in text and "live traffic" not in text
    assert how_sure_markdown(None, 0) == ["No decision was recorded."]


def test_status_prints_what_is_left_of_the_budget():
    status = {
        "model_name": "churn", "mlflow_tracking_uri": "http://m", "triton_url": "t", "champion": None,
        "challenger": None, "previous": None, "router": None, "pending_transition": None, "last_decision": None,
        "error_budget": {"alpha": 0.05, "tests": 2, "carry": 0.0, "remaining": 0.05 / 3, "next_level": 0.05 / 12},
    }  # fmt: skip
    line = format_status(status).splitlines()[-1]
    assert line == ("error budget: 5% lifetime chance of a false promotion; 2 challenger(s) judged; next test at 0.417%; "
                    "1.667% left for all later tests")  # fmt: skip
