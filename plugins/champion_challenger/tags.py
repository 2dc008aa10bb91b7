"""Every MLflow tag name the pipeline writes or reads, in one place.

Runs (the cycle run, a candidate's training run), registry versions and the registered model
carry these tags; ``ccp status``, the demo, recovery and idempotent retries read them back.
"""

from __future__ import annotations

# ---- which run is which (idempotent retries find their run again) -----------------------------
CYCLE_ID = "ccp.cycle_id"
RUN_KIND = "ccp.run_kind"
CANDIDATE = "ccp.candidate"
MODEL_URI = "ccp.model_uri"
CONFIG_HASH = "ccp.config_hash"
CODE_VERSION = "ccp.code_version"
DATA_WINDOW = "ccp.data_window"
#: On a cycle run: when the newest batch it claimed landed (ISO, UTC), the start of its lead time.
DATA_LANDED_AT = "ccp.data_landed_at"
DEVICE = "ccp.device"

# ---- the cycle run -------------------------------------------------------------------------
FAILURE = "ccp.failure"
DRIFT = "ccp.drift"
DRIFTED_COLUMNS = "ccp.drifted_columns"
PREDICTION_DRIFT = "ccp.prediction_drift"
TARGET_DRIFT = "ccp.target_drift"
DRIFT_SAMPLING = "ccp.drift_sampling"
TRAINING_PLAN = "ccp.training_plan"
TRAINING_PLAN_REASON = "ccp.training_plan_reason"
BEST_CANDIDATE = "ccp.best_candidate"
ONLINE_WINDOW = "ccp.online_window"

# ---- the decision: the same three names on the cycle run and on the challenger's version ----------
DECISION_ACTION = "ccp.decision.action"
DECISION_REASON = "ccp.decision.reason"
DECISION_AT = "ccp.decision.at"
EVIDENCE_RUN_ID = "ccp.evidence_run_id"
#: On the challenger's version (``decision.approval: required``): who approved or refused its promotion, and why.
APPROVAL = "ccp.approval"

# ---- registry versions ------------------------------------------------------------------------
TRAIN_END = "ccp.train_end"
TRAINING_RUN_ID = "ccp.training_run_id"
#: On a training run and its version: how Triton serves it, ``onnx`` (the exported graph) or ``ludwig``; and why
#: ``ludwig`` (the export or its parity check failed).
SERVING_FORMAT = "ccp.serving_format"
SERVING_FALLBACK_REASON = "ccp.serving_fallback_reason"
#: ``ccp.metric.<name>``: the version's offline metric (set when its cycle records the decision).
METRIC_PREFIX = "ccp.metric."

#: On a version that went through canary steps: how its canary ended (completed, or rolled back and why).
CANARY_RESULT = "ccp.canary.result"

#: The challenger's test in the error budget: its number and its one-sided level.
BUDGET_TEST = "ccp.budget.test"
BUDGET_LEVEL = "ccp.budget.level"

# ---- the registered model -----------------------------------------------------------------------
PENDING_TRANSITION = "ccp.pending_transition"
#: The canary in progress (JSON, :mod:`champion_challenger.registry.canary`); absent when none runs.
CANARY = "ccp.canary"
#: The lifetime error budget: its alpha, challengers judged so far, the level a promotion passed on.
BUDGET_ALPHA = "ccp.budget.alpha"
BUDGET_TESTS = "ccp.budget.tests"
BUDGET_CARRY = "ccp.budget.carry"
#: ``ccp.ledger.*`` tags of the ledger's runs.
LEDGER_PREFIX = "ccp.ledger."


def metric(name: str) -> str:
    """The version tag holding offline metric ``name``."""
    return METRIC_PREFIX + name
