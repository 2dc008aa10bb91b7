"""Deployment metrics for Prometheus: ``ccp exporter`` serves every model's figures at ``/metrics``.

The figures are :mod:`champion_challenger.registry.deployment_metrics` (read from the ledger and the cycle
runs in MLflow), one gauge per figure with a ``model`` label, so Grafana's ``model`` variable selects a
model. MLflow is read at most once per ``cache_seconds`` whatever the scrape interval; a model whose figures
cannot be read reports ``ccp_deploy_up{model=...} 0`` (and the reason on the exporter's log) instead of failing
the whole scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from champion_challenger.registry.deployment_metrics import RATES, DeploymentMetrics

log = logging.getLogger(__name__)

PREFIX = "ccp_deploy_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Gauge name (after :data:`PREFIX`) → its help text; the names are ``DeploymentMetrics.metrics()`` without ``deploy_``.
GAUGES = {
    "cycles": "Cycle runs recorded in the model's experiment",
    "promotions": "Promotions (cycle or manual) in the ledger",
    "change_failures": "Promotions rolled back within watch.window_hours",
    "canary_rollbacks": "Challengers a progressive canary stopped before they became champion",
    **{rate: f"{rate.replace('_', ' ').capitalize()} (0-1)" for rate in RATES},
    "mean_time_to_restore_seconds": "Mean seconds from a failed promotion to its rollback",
    "lead_time_seconds_median": "Median seconds from data landing to the champion serving",
}

#: model name → its metrics, or why they could not be read.
Reports = dict[str, DeploymentMetrics | str]


def exposition(reports: Reports) -> str:
    """Prometheus' text format of ``reports``: ``ccp_deploy_up`` per model, then one gauge per figure (figures
    that are undefined, e.g. a rate without cycles, are left out)."""
    lines = [f"# HELP {PREFIX}up 1 when the model's ledger and cycle runs were read", f"# TYPE {PREFIX}up gauge"]
    lines += [f'{PREFIX}up{{model="{model}"}} {0 if isinstance(m, str) else 1}' for model, m in reports.items()]
    figures = {model: m.metrics() for model, m in reports.items() if not isinstance(m, str)}
    for name, help_text in GAUGES.items():
        samples = [(model, values[f"deploy_{name}"]) for model, values in figures.items() if f"deploy_{name}" in values]
        if samples:
            lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} gauge"]
            lines += [f'{PREFIX}{name}{{model="{model}"}} {value:g}' for model, value in samples]
    return "\n".join(lines) + "\n"


class CachedReports:
    """``collect()`` at most once per ``cache_seconds`` (scrapes in between get the last answer)."""

    def __init__(self, collect: Callable[[], Reports], cache_seconds: float = 60) -> None:
        self.collect, self.cache_seconds = collect, cache_seconds
        self._lock = threading.Lock()
        self._at, self._text = -float("inf"), ""

    def text(self) -> str:
        with self._lock:
            if time.monotonic() - self._at >= self.cache_seconds:
                self._text, self._at = exposition(self.collect()), time.monotonic()
            return self._text


def collect_fleet() -> Reports:
    """Every runnable pipeline's deployment metrics (``CCP_PIPELINES``), each read on its own."""
    from champion_challenger.config.settings import load_fleet
    from champion_challenger.cycle.context import CycleContext
    from champion_challenger.registry.deployment_metrics import collect

    reports: Reports = {}
    for pipeline in load_fleet(runnable_only=True):
        try:
            ctx = CycleContext.from_env(model=pipeline.name)
            config = ctx.config
            reports[pipeline.name] = collect(ctx.client, ctx.model_name, config.experiment_name, config.watch.window_hours)
        except Exception as exc:  # noqa: BLE001 - one model's failure must not hide the others
            log.warning("deployment metrics of %s could not be read: %s", pipeline.name, exc)
            reports[pipeline.name] = str(exc)
    return reports


def metrics_server(reports: CachedReports, host: str = "127.0.0.1", port: int = 9108) -> ThreadingHTTPServer:
    """An HTTP server answering ``GET /metrics`` (call ``serve_forever``; ``port`` 0 picks a free one)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            if self.path.split("?")[0] != "/metrics":
                self._send(404, "text/plain", "only /metrics is served\n")
                return
            try:
                self._send(200, CONTENT_TYPE, reports.text())
            except Exception as exc:  # noqa: BLE001 - the scrape fails, the exporter keeps running
                log.exception("deployment metrics could not be collected")
                self._send(500, "text/plain", f"deployment metrics could not be collected: {exc}\n")

        def _send(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            log.debug(format, *args)

    return ThreadingHTTPServer((host, port), Handler)
