"""The approval task: Airflow's human-in-the-loop branch operator, with the pipeline's two answers.

``Approve`` branches to the promotion, ``Reject`` (also applied when nobody answers within the timeout)
to the hold. The form asks for one field, *reason*; the answer (who, why, timed out) is pushed as XCom
``response`` for the task that acts on it (:mod:`champion_challenger.cycle.approval`). Respond in the
Airflow UI (the task's *Required actions*) or through the REST API:
``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/promote.approve/-1/hitlDetails`` with
``{"chosen_options": ["Approve"], "params_input": {"reason": "..."}}``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLBranchOperator
from airflow.sdk import Param

from champion_challenger.cycle.approval import APPROVE, REJECT

REASON = "reason"
REASON_PARAM = Param("", type="string", title="Reason", description="Why; goes to the ledger and the version.")
RESPONSE_KEY = "response"


class PromotionApprovalOperator(HITLBranchOperator):
    """Wait for a person to approve or refuse a promotion.

    Args:
        approve_task / refuse_task: the task ids Approve and Reject lead to.
        timeout_hours: after this long without an answer, Reject is applied.
    """

    def __init__(self, *, approve_task: str, refuse_task: str, timeout_hours: float, **kwargs: Any) -> None:
        # Airflow hands every task the DAG's params; the form field is added to them (and only it is asked).
        kwargs["params"] = {**(kwargs.get("params") or {}), REASON: REASON_PARAM}
        super().__init__(
            options=[APPROVE, REJECT],
            options_mapping={APPROVE: approve_task, REJECT: refuse_task},
            defaults=[REJECT],
            multiple=False,
            response_timeout=timedelta(hours=timeout_hours),
            **kwargs,
        )

    @property
    def serialized_params(self) -> dict[str, dict[str, Any]]:
        """The form: only *reason* (the DAG's trigger-form params are inherited by every task, not asked here)."""
        return {REASON: self.params.get_param(REASON).serialize()}

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from champion_challenger.cycle.approval import ApprovalResponse

        if "error" not in event:
            context["ti"].xcom_push(key=RESPONSE_KEY, value=ApprovalResponse.from_event(event).as_dict())
        return super().execute_complete(context=context, event=event)
