"""Read Triton's Prometheus metrics: per-version request success, failure and latency counters (Triton's own, and
the router's for the versions it scores in its process)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import requests

#: Triton data type → NumPy dtype of an output array (strings travel as bytes objects).
NUMPY_TYPES = {"TYPE_FP32": np.float32, "TYPE_INT32": np.int32, "TYPE_STRING": np.object_}
#: The router's counters: key → (Prometheus name, help text).
ROUTER_COUNTERS = {
    "rows": ("ccp_router_rows_total", "Rows answered (champion/canary) or mirrored (shadow) per version"),
    "errors": ("ccp_router_errors_total", "Rows that failed at a version"),
    "disagreements": (
        "ccp_shadow_disagreements_total",
        "Mirrored rows where the challenger's answer differs from the champion's "
        "(labels; regression: values further apart than the routing table's disagreement_tolerance)",
    ),
    "dropped": ("ccp_shadow_dropped_total", "Mirrored rows lost: the shadow queue was full or the shadow path failed"),
    "captured": ("ccp_capture_records_total", "Capture records written"),
}

#: Requests of a version the router scored in its own process (an exported version; see
#: :func:`.served_tensors.load_in_process`), read together with Triton's own ``nv_inference_request_*`` counters of
#: that version: key → (Prometheus name, help text). Labelled ``model`` (the router), ``version`` and
#: ``versions_model``, never ``model="<versions model>"``: Triton 2.51 aborts (``boost::interprocess::lock_exception``
#: in the Python backend) when the versions model reloads while another model's custom metric carries its name as
#: ``model`` (reproduced under canary load; the same load with the label renamed runs clean).
IN_PROCESS_COUNTERS = {
    "success": ("ccp_inprocess_request_success", "Requests of a version scored in the router's process, answered"),
    "failure": ("ccp_inprocess_request_failure", "Requests of a version scored in the router's process, failed"),
    "duration_us": ("ccp_inprocess_request_duration_us", "Time spent scoring them in the router's process (µs)"),
}

_IN_PROCESS_NAMES = frozenset(name for name, _ in IN_PROCESS_COUNTERS.values())
_LINE = re.compile(r"^(?P<name>(nv_inference|ccp)_[a-z_]+)\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.eE+\-]+)$")


@dataclass(frozen=True)
class VersionTraffic:
    """Cumulative counters of one model version since Triton loaded it."""

    success: float = 0.0
    failure: float = 0.0
    duration_us: float = 0.0

    def since(self, baseline: dict[str, float] | None) -> VersionTraffic:
        """Traffic after a snapshot (``as_dict`` of an earlier reading); the whole count when the
        counters restarted below the snapshot (Triton restarted or reloaded the version)."""
        if not baseline or self.success + self.failure < baseline.get("success", 0) + baseline.get("failure", 0):
            return self
        return VersionTraffic(
            success=max(self.success - baseline.get("success", 0), 0.0),
            failure=max(self.failure - baseline.get("failure", 0), 0.0),
            duration_us=max(self.duration_us - baseline.get("duration_us", 0), 0.0),
        )

    def as_dict(self) -> dict[str, float]:
        return {"success": self.success, "failure": self.failure, "duration_us": self.duration_us}

    @property
    def requests(self) -> float:
        return self.success + self.failure

    @property
    def error_rate(self) -> float:
        return self.failure / self.requests if self.requests else 0.0

    @property
    def mean_latency_ms(self) -> float:
        return self.duration_us / 1000 / self.success if self.success else 0.0


def parse_metrics(text: str, model_name: str) -> dict[int, VersionTraffic]:
    """Per-version counters of ``model_name`` from Triton's metrics text."""
    counters: dict[int, dict[str, float]] = {}
    fields = {
        "nv_inference_request_success": "success",
        "nv_inference_request_failure": "failure",
        "nv_inference_request_duration_us": "duration_us",
        "ccp_invalid_requests_total": "invalid",
        **{name: key for key, (name, _) in IN_PROCESS_COUNTERS.items()},
    }
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if not match or match["name"] not in fields:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        owner = labels.get("versions_model") if match["name"] in _IN_PROCESS_NAMES else labels.get("model")
        if owner != model_name or not labels.get("version", "").isdigit():
            continue
        version = counters.setdefault(int(labels["version"]), {})
        key = fields[match["name"]]
        version[key] = version.get(key, 0.0) + float(match["value"])  # failures come per reason
    traffic = {}
    for version, c in counters.items():
        invalid = c.pop("invalid", 0.0)  # answered with an error, yet counted by Triton as a success
        traffic[version] = VersionTraffic(
            success=max(c.get("success", 0.0) - invalid, 0.0),
            failure=c.get("failure", 0.0) + invalid,
            duration_us=c.get("duration_us", 0.0),
        )
    return traffic


def fetch_traffic(metrics_url: str, model_name: str) -> dict[int, VersionTraffic]:
    """Scrape Triton's metrics endpoint once."""
    response = requests.get(metrics_url, timeout=10)
    response.raise_for_status()
    return parse_metrics(response.text, model_name)


def parse_counters(text: str, model_name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The router's own ``ccp_*`` counters of ``model_name``, keyed by (metric, sorted labels
    without ``model``), e.g. ``("ccp_router_rows_total", (("role", "shadow"), ("version", "2")))``."""
    counters = {}
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if not match or not match["name"].startswith("ccp_"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if labels.pop("model", None) != model_name:
            continue
        counters[(match["name"], tuple(sorted(labels.items())))] = float(match["value"])
    return counters
