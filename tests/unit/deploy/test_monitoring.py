"""Static checks of the monitoring configuration: Prometheus scrape config, Grafana provisioning and dashboard."""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

import pytest
import yaml

from champion_challenger.cli.metrics_exporter import GAUGES, PREFIX
from tests.conftest import REPO

MONITORING = REPO / "configs" / "monitoring"
DASHBOARD_FILE = MONITORING / "grafana" / "dashboards" / "champion_challenger.json"
DASHBOARD = json.loads(DASHBOARD_FILE.read_text())
DATASOURCES = yaml.safe_load((MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
PROVIDERS = yaml.safe_load((MONITORING / "grafana" / "provisioning" / "dashboards" / "dashboards.yml").read_text())
PROMETHEUS = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
GRAFANA = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["grafana"]

# Series exported by Triton (--metrics-config summary_latencies=true) and by the router / models.
KNOWN_METRICS = {
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_count",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_request_summary_us",
    "ccp_router_rows_total",
    "ccp_router_errors_total",
    "ccp_shadow_disagreements_total",
    "ccp_shadow_dropped_total",
    "ccp_capture_records_total",
    "ccp_invalid_requests_total",
    # the router, for the versions it scores in its own process (an exported champion, Python backend)
    "ccp_inprocess_request_success",
    "ccp_inprocess_request_failure",
    "ccp_inprocess_request_duration_us",
    # ccp exporter: the deployment metrics of every model
    *(PREFIX + name for name in GAUGES),
}
_SUFFIXES = ("_bucket", "_sum", "_count")
_PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}


def _panels(panels):
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


PANELS = [p for p in _panels(DASHBOARD["panels"]) if p.get("type") != "row"]
EXPRS = [t["expr"] for p in PANELS for t in p.get("targets", []) if t.get("expr")]


def metric_names(expr: str) -> set[str]:
    """Metric names used in a PromQL expression: identifiers that are neither functions, keywords nor labels."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values)
    stripped = re.sub(r"\{[^{}]*\}", " ", stripped)  # label matchers, ${var} included
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)  # range selectors
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", stripped):
        if re.match(r"\s*\(", stripped[match.end() :]) or match.group().lower() in _PROMQL_WORDS:
            continue  # a function call or a keyword
        names.add(match.group())
    return names


def known(name: str) -> bool:
    return name in KNOWN_METRICS or any(name.endswith(suffix) and name[: -len(suffix)] in KNOWN_METRICS for suffix in _SUFFIXES)


def test_metric_name_extraction():
    expr = (
        'sum by (version) (rate(ccp_router_rows_total{model="${model}", role="shadow"}[$__rate_interval]))'
        ' / max(nv_inference_request_summary_us_count{quantile="0.99"}) or vector(0) * 1e3'
    )
    assert metric_names(expr) == {"ccp_router_rows_total", "nv_inference_request_summary_us_count"}
    assert known("nv_inference_request_summary_us_sum") and not known("nv_inference_request_summary")


def test_dashboard_has_identity():
    assert DASHBOARD["uid"] and DASHBOARD["title"]
    assert len(DASHBOARD["uid"]) <= 40  # Grafana's limit
    assert PANELS


def test_model_variable_defaults_to_the_router_model():
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["model"]["current"]["value"] == "churn_classifier"


@pytest.mark.parametrize("panel", PANELS, ids=lambda p: p.get("title", "?"))
def test_every_panel_has_a_title_and_a_query(panel):
    assert panel.get("title"), panel
    assert panel.get("description"), panel["title"]
    assert any(t.get("expr") for t in panel.get("targets", [])), panel["title"]


def test_panel_ids_are_unique():
    ids = [p["id"] for p in _panels(DASHBOARD["panels"])]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("expr", EXPRS)
def test_exprs_use_only_known_metrics(expr):
    names = metric_names(expr)
    assert names, expr
    assert all(known(n) for n in names), (sorted(n for n in names if not known(n)), expr)


def test_dashboard_covers_every_custom_counter():
    used = set().union(*(metric_names(e) for e in EXPRS))
    deployment = {PREFIX + n for n in ("cycles", "promotions", "change_failures", "mean_time_to_restore_seconds")}
    assert {n for n in KNOWN_METRICS if n.startswith("ccp_")} - deployment <= used
    assert {"nv_inference_request_summary_us", "nv_inference_count", "nv_inference_request_success"} <= used


def test_exprs_are_scoped_to_the_selected_model():
    for expr in EXPRS:
        selectors = re.findall(r"\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", expr)
        assert selectors and all("$model" in s or "${model}" in s for s in selectors), expr


def test_panels_use_the_provisioned_datasource():
    (source,) = [d for d in DATASOURCES["datasources"] if d["type"] == "prometheus"]
    assert source.get("uid")
    refs = [p["datasource"] for p in PANELS]
    refs += [t["datasource"] for p in PANELS for t in p["targets"] if "datasource" in t]
    refs += [v["datasource"] for v in DASHBOARD["templating"]["list"] if "datasource" in v]
    assert refs
    for ref in refs:
        assert ref == {"type": "prometheus", "uid": source["uid"]}, ref


def _mounts(service) -> dict[str, str]:
    """Container path -> host path of a compose service's bind mounts."""
    return {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}


def test_dashboard_provider_reads_the_folder_compose_mounts():
    (provider,) = PROVIDERS["providers"]
    assert provider["type"] == "file"
    container_path = provider["options"]["path"]
    mounts = _mounts(GRAFANA)
    assert container_path in mounts, mounts
    host = (REPO / mounts[container_path]).resolve()
    assert DASHBOARD_FILE.resolve().parent == host
    # The provisioning folder itself is mounted where Grafana looks for it.
    assert (REPO / mounts["/etc/grafana/provisioning"]).resolve() == (MONITORING / "grafana" / "provisioning").resolve()
    assert not PurePosixPath(container_path).is_relative_to("/etc/grafana/provisioning")


def test_prometheus_scrapes_triton_often():
    jobs = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}
    triton = [j for j in jobs.values() if any("triton:8002" in t for s in j["static_configs"] for t in s["targets"])]
    assert triton, jobs
    (job,) = triton
    interval = job.get("scrape_interval", PROMETHEUS["global"]["scrape_interval"])
    seconds = int(re.fullmatch(r"(\d+)s", interval).group(1))
    assert seconds <= 10
    timeout = job.get("scrape_timeout")
    assert timeout is None or int(re.fullmatch(r"(\d+)s", timeout).group(1)) <= seconds


def test_prometheus_scrapes_the_deployment_exporter_compose_runs():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    exporter = services["ccp-exporter"]
    assert "ccp exporter --host 0.0.0.0 --port 9108" in " ".join(exporter["command"])
    targets = [t for job in PROMETHEUS["scrape_configs"] for s in job["static_configs"] for t in s["targets"]]
    assert "ccp-exporter:9108" in targets
