"""`ccp status` says how each version is served, and why a version keeps the Ludwig path."""

from __future__ import annotations

from champion_challenger.cli.status import format_status


def _version(number: int, fmt: str, reason: str | None) -> dict:
    return {
        "version": number, "served_by_triton": True, "metrics": {"roc_auc": 0.8, "f1": 0.7}, "decision": "promote",
        "run_id": "r", "serving_format": fmt, "serving_fallback_reason": reason,
    }  # fmt: skip


def test_status_shows_the_serving_format_and_the_reason_for_the_ludwig_path():
    reason = "ParityError: parity check failed: max |onnx - ludwig| 0.104 (tolerance 1e-05), 12 label(s) differ"
    status = {
        "model_name": "churn", "mlflow_tracking_uri": "http://m", "triton_url": "t", "champion": _version(3, "onnx", None),
        "challenger": _version(4, "ludwig", reason), "previous": None, "router": None, "pending_transition": None,
        "last_decision": None,
    }  # fmt: skip
    lines = format_status(status).splitlines()
    assert lines[1].split()[:4] == ["role", "version", "served", "as"]
    assert lines[2].split()[:4] == ["champion", "3", "yes", "onnx"]
    assert lines[3].split()[:4] == ["challenger", "4", "yes", "ludwig"]
    assert f"challenger v4 is served by the Ludwig path: {reason}" in lines
    assert not any(line.startswith("champion v3 is served") for line in lines)
