"""Approval of a promotion: the answer as Airflow resumes the approval task with it, and when one is needed."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from champion_challenger.config.sections import DecisionConfig
from champion_challenger.cycle.approval import ApprovalResponse, needs_approval
from champion_challenger.payloads import Decision

AT = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


def test_an_approval_names_who_and_why():
    event = {"chosen_options": ["Approve"], "params_input": {"reason": " audit done "}, "responded_at": AT,
             "responded_by_user": {"id": "7", "name": "alice"}, "timedout": False}  # fmt: skip
    answer = ApprovalResponse.from_event(event)
    assert answer == ApprovalResponse(approved=True, by="alice", why="audit done", timed_out=False, at=AT.isoformat())
    assert answer.summary() == "approved by alice: audit done"
    assert ApprovalResponse(**answer.as_dict()) == answer  # what the approval task hands on through XCom


def test_a_rejection_without_a_reason_says_so():
    event = {"chosen_options": ["Reject"], "params_input": {}, "responded_at": AT, "responded_by_user": {"id": "bob"}}
    answer = ApprovalResponse.from_event(event)
    assert not answer.approved and answer.by == "bob"
    assert answer.summary() == "refused by bob (no reason given)"


def test_no_answer_in_time_is_a_refusal_by_nobody():
    # the scheduler's timeout sweep resumes the task with the defaults (Reject), no user, timedout=True
    event = {"chosen_options": ["Reject"], "params_input": {"reason": ""}, "responded_at": AT,
             "responded_by_user": None, "timedout": True}  # fmt: skip
    answer = ApprovalResponse.from_event(event)
    assert not answer.approved and answer.by is None and answer.timed_out
    assert answer.summary(24) == "not approved: nobody answered within 24 h"


@pytest.mark.parametrize(
    ("approval", "action", "dry_run", "needed"),
    [
        ("required", "promote", False, True),
        ("required", "hold", False, False),
        ("required", "reject", False, False),
        ("required", "promote", True, False),  # a dry run changes nothing, so asks nobody
        ("none", "promote", False, False),
    ],
)
def test_only_a_real_promotion_of_a_pipeline_that_requires_it_waits_for_a_person(approval, action, dry_run, needed):
    ctx = SimpleNamespace(config=SimpleNamespace(decision=DecisionConfig(approval=approval)))
    decision = Decision(action=action, reason="r", metric="roc_auc", challenger_value=0.8, dry_run=dry_run)
    assert needs_approval(ctx, decision) is needed


def test_approval_settings_are_validated():
    with pytest.raises(ValueError, match="approval"):
        DecisionConfig(approval="maybe")
    with pytest.raises(ValueError, match="approval_timeout_hours"):
        DecisionConfig(approval_timeout_hours=0)
