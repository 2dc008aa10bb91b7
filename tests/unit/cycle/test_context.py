"""The cycle's context checks, without servers."""

from __future__ import annotations

import pytest

from champion_challenger.cycle.context import check_mlflow
from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.stack.processes import free_port


def test_unreachable_mlflow_says_what_to_do():
    with pytest.raises(ServiceUnavailableError, match=r"MLflow at .* is unreachable .*`make up` or set MLFLOW_TRACKING_URI"):
        check_mlflow(f"http://127.0.0.1:{free_port()}", timeout_s=2)
