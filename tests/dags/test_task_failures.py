"""The one translation of pipeline errors into Airflow task outcomes."""

from __future__ import annotations

import inspect

import pytest
from airflow.sdk.exceptions import AirflowFailException

from champion_challenger.airflow.failures import fail_fast_on_user_errors
from champion_challenger.errors import ConfigError, DataValidationError, ServiceUnavailableError


@fail_fast_on_user_errors
def _task(error: Exception | None = None, run_id: str | None = None, params: dict | None = None) -> str:
    if error is not None:
        raise error
    return "done"


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(ConfigError("pipeline.yaml: decision.primary_metric: not a metric"), id="config"),
        pytest.param(DataValidationError("batch_0003.csv: column churned: 4 rows not 0/1"), id="data"),
    ],
)
def test_user_errors_fail_the_task_without_retries_keeping_the_message(error):
    with pytest.raises(AirflowFailException, match=str(error).split(":")[0]):
        _task(error)


def test_other_errors_pass_through_for_airflow_to_retry():
    with pytest.raises(ServiceUnavailableError, match="MLflow"):
        _task(ServiceUnavailableError("MLflow at http://127.0.0.1:9 is unreachable"))
    assert _task() == "done"


def test_airflow_still_sees_the_task_signature():
    """Airflow injects ``run_id`` and ``params`` by the body's parameter names."""
    assert list(inspect.signature(_task).parameters) == ["error", "run_id", "params"]
