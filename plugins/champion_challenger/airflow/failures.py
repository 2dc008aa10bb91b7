"""One translation of pipeline errors into Airflow task outcomes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from champion_challenger.errors import ConfigError, DataValidationError

#: Errors a retry cannot fix: the task fails at once, its message on the task page. Anything else
#: (an unreachable MLflow or Triton, say) is retried as ``default_args`` say.
NOT_RETRIABLE: tuple[type[Exception], ...] = (ConfigError, DataValidationError)


def fail_fast_on_user_errors[F: Callable[..., Any]](function: F) -> F:
    """Decorate a task body so that a config or data error fails the task without retries.

    Put it under ``@task``: Airflow still sees the body's own signature (``run_id``, ``params``).
    """

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except NOT_RETRIABLE as exc:
            raise AirflowFailException(str(exc)) from None

    return run  # type: ignore[return-value]
