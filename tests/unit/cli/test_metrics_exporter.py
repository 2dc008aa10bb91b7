"""The Prometheus exporter of the deployment metrics: the text format, the cache, and the HTTP endpoint."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from champion_challenger.cli.metrics_exporter import CachedReports, exposition, metrics_server
from champion_challenger.registry.deployment_metrics import compute
from tests.unit.registry.test_deployment_metrics import CYCLES, LEDGER


def test_every_defined_figure_is_a_gauge_labelled_with_its_model_and_a_broken_model_is_down():
    text = exposition({"m": compute("m", LEDGER, CYCLES, 24), "broken": "MLflow unreachable"})
    lines = text.splitlines()
    assert 'ccp_deploy_up{model="m"} 1' in lines and 'ccp_deploy_up{model="broken"} 0' in lines
    assert 'ccp_deploy_promotions{model="m"} 4' in lines
    assert 'ccp_deploy_change_failure_rate{model="m"} 0.5' in lines
    assert 'ccp_deploy_mean_time_to_restore_seconds{model="m"} 5400' in lines
    assert "# TYPE ccp_deploy_promotion_rate gauge" in lines
    assert not any('model="broken"' in line for line in lines if not line.startswith("ccp_deploy_up"))


def test_undefined_figures_are_left_out():
    text = exposition({"new": compute("new", [], [], 24)})
    assert 'ccp_deploy_cycles{model="new"} 0' in text
    assert "promotion_rate" not in text and "lead_time" not in text


def test_mlflow_is_read_at_most_once_per_cache_period():
    calls = []
    reports = CachedReports(lambda: calls.append(1) or {"m": compute("m", LEDGER, CYCLES, 24)}, cache_seconds=3600)
    assert reports.text() == reports.text() and len(calls) == 1


def test_the_server_answers_metrics_and_only_metrics():
    server = metrics_server(CachedReports(lambda: {"m": compute("m", LEDGER, CYCLES, 24)}), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert 'ccp_deploy_cycles{model="m"} 10' in answer.read().decode()
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"{base}/other", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
