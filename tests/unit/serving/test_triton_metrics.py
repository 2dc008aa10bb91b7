from __future__ import annotations

import pytest

from champion_challenger.serving.triton_metrics import parse_metrics

TEXT = """
# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
nv_inference_request_success{model="m",version="1"} 90
nv_inference_request_success{model="m",version="2"} 40
nv_inference_request_success{model="other",version="2"} 7
nv_inference_request_failure{model="m",reason="BACKEND",version="2"} 5
nv_inference_request_failure{model="m",reason="REJECTED",version="2"} 1
nv_inference_request_duration_us{model="m",version="1"} 180000
ccp_invalid_requests_total{model="m",version="2"} 4
"""


def test_parse_counts_per_version_and_invalid_requests_as_failures():
    traffic = parse_metrics(TEXT, "m")
    assert set(traffic) == {1, 2}
    assert traffic[1].requests == 90 and traffic[1].error_rate == 0
    assert traffic[1].mean_latency_ms == pytest.approx(2.0)
    assert traffic[2].success == 36 and traffic[2].failure == 10
    assert traffic[2].error_rate == pytest.approx(10 / 46)


def test_requests_the_router_scored_in_its_process_count_as_the_versions_own():
    text = TEXT + (
        'ccp_inprocess_request_success{model="r",version="1",versions_model="m"} 10\n'
        'ccp_inprocess_request_failure{model="r",version="1",versions_model="m"} 2\n'
        'ccp_inprocess_request_duration_us{model="r",version="1",versions_model="m"} 20000\n'
        'ccp_inprocess_request_success{model="r",version="1",versions_model="other"} 99\n'
        'ccp_inprocess_request_success{model="m",version="1"} 99\n'  # labelled by the router, never by "model"
    )
    traffic = parse_metrics(text, "m")
    assert traffic[1].success == 100 and traffic[1].failure == 2
    assert traffic[1].mean_latency_ms == pytest.approx(200000 / 1000 / 100)
