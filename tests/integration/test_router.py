"""The BLS router in a REAL Triton server with real Ludwig models: champion by default, shadow
mirroring into the capture store, sticky canary, per-version counters, clear errors. v1 is exported (ONNX:
the router scores it in its own process while it is the champion), v2 is served by the Ludwig path (BLS)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.http as httpclient

from champion_challenger.config.ludwig_schema import load_candidate_configs, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.generate import BatchSpec, generate_batch
from champion_challenger.serving import triton_repository
from champion_challenger.serving.capture import FEATURE_PREFIX, RECORD_COLUMNS, read_captures
from champion_challenger.serving.pending_counts import PUBLISH_LAG_S
from champion_challenger.serving.routing import CANARY_SALT, SHADOW_SALT, RoutingTable, bucket
from champion_challenger.serving.triton_client import TritonModelClient, _inputs
from champion_challenger.serving.triton_metrics import VersionTraffic, fetch_traffic, parse_counters
from champion_challenger.training.ludwig_trainer import train_ludwig
from tests.integration import shadow_traffic

pytestmark = pytest.mark.integration
ROUTER = "router_test"
VERSIONS = triton_repository.versions_model_name(ROUTER)


@pytest.fixture(scope="module")
def served(stack_settings, triton_server, tmp_path_factory):
    """Two different Ludwig models as versions 1 (exported) and 2 (Ludwig path) behind a router whose champion is v1."""
    config = PipelineConfig.from_yaml(stack_settings.pipeline_config)
    candidates = load_candidate_configs(config)
    schema = model_schema(config, candidates)
    fit = pd.concat([generate_batch(BatchSpec(i, 800, 5, False)) for i in range(3)], ignore_index=True)
    valid = generate_batch(BatchSpec(3, 400, 5, False))
    repo = stack_settings.triton_repository
    for version, (candidate, seed) in enumerate([("churn_mlp", 1), ("churn_ft_transformer", 2)], start=1):
        model = train_ludwig(candidates[candidate], fit, valid, schema, tmp_path_factory.mktemp(f"v{version}"), seed=seed)
        export = shadow_traffic.export_for_serving(model.model_dir, valid) if version == 1 else None
        triton_repository.export_version(repo, VERSIONS, version, model.model_dir, export)
    triton_repository.write_model_config(repo, VERSIONS, [1, 2])
    client = TritonModelClient(triton_server)
    client.load(VERSIONS)
    client.wait_ready(VERSIONS, [1, 2])
    captures = tmp_path_factory.mktemp("captures")
    route(stack_settings, client, RoutingTable(VERSIONS, champion=1, challenger=None, capture_dir=str(captures)))
    return client, schema, captures


def route(settings, client: TritonModelClient, table: RoutingTable) -> None:
    inputs = triton_repository.served_inputs(settings.triton_repository, VERSIONS, [1, 2])
    if triton_repository.write_router(settings.triton_repository, ROUTER, inputs, table):
        client.load(ROUTER)
        client.wait_ready(ROUTER, [1])


def entities(n: int, seed: int) -> pd.DataFrame:
    rows = generate_batch(BatchSpec(20 + seed, n, seed, False))
    rows["customer_id"] = [f"cust-{seed}-{i}" for i in range(n)]
    return rows


def counters(settings) -> dict:
    """The router's counters, once every count so far is published (the router batches them)."""
    time.sleep(PUBLISH_LAG_S)
    text = requests.get(settings.triton_metrics_url, timeout=10).text
    return parse_counters(text, ROUTER)


def test_a_client_naming_no_version_gets_the_champion(stack_settings, served):
    client, schema, captures = served
    route(stack_settings, client, RoutingTable(VERSIONS, champion=1, challenger=2, capture_dir=str(captures)))
    assert client.ready_versions(VERSIONS) == [1, 2] and client.is_ready(ROUTER, 1)
    rows = entities(300, 1)
    answered = client.score(ROUTER, rows, schema, rows["customer_id"], batch_size=64)
    assert answered["version"].tolist() == [1] * 300  # v2 is loaded and higher, yet v1 answers
    direct = client.predict_proba(VERSIONS, rows, schema, version=1)
    np.testing.assert_allclose(answered["probability"], direct, atol=1e-6)

    route(stack_settings, client, RoutingTable(VERSIONS, champion=2, challenger=None, capture_dir=str(captures)))
    assert client.score(ROUTER, rows.head(5), schema)["version"].tolist() == [2] * 5  # switched without reload


def test_an_exported_champion_is_scored_in_the_router_and_counted_for_the_watch(stack_settings, served):
    """No second Python stub on the request path; the post-promotion watch still sees the champion's requests."""
    client, schema, captures = served
    route(stack_settings, client, RoutingTable(VERSIONS, champion=1, challenger=None, capture_dir=str(captures)))
    time.sleep(PUBLISH_LAG_S)
    before = fetch_traffic(stack_settings.triton_metrics_url, VERSIONS)
    raw_before = _triton_successes(stack_settings, version="1")
    rows = entities(120, 6)
    answered = client.score(ROUTER, rows, schema, batch_size=40)  # 3 requests, the champion-alone path
    time.sleep(PUBLISH_LAG_S)
    after = fetch_traffic(stack_settings.triton_metrics_url, VERSIONS)
    assert _triton_successes(stack_settings, version="1") == raw_before  # v1's own stub was not called
    assert after[1].since(before.get(1, VersionTraffic()).as_dict()).success == 3  # yet the watch sees the 3 requests v1 answered
    assert after[1].duration_us > before.get(1, VersionTraffic()).duration_us
    assert answered["version"].tolist() == [1] * 120
    np.testing.assert_allclose(answered["probability"], client.predict_proba(VERSIONS, rows, schema, version=1), atol=1e-6)

    route(stack_settings, client, RoutingTable(VERSIONS, champion=2, challenger=None, capture_dir=str(captures)))
    raw_before = _triton_successes(stack_settings, version="2")
    assert client.score(ROUTER, rows.head(5), schema)["version"].tolist() == [2] * 5
    assert _triton_successes(stack_settings, version="2") - raw_before == 1  # a Ludwig-path champion: over BLS


def _triton_successes(settings, version: str) -> float:
    """Triton's own success counter of a version of the versions model (requests that reached its stub)."""
    text = requests.get(settings.triton_metrics_url, timeout=10).text
    prefix = f'nv_inference_request_success{{model="{VERSIONS}",version="{version}"}}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


def test_shadow_mirrors_the_configured_entities_into_the_capture_store(stack_settings, served):
    client, schema, captures = served
    table = RoutingTable(VERSIONS, 1, 2, shadow_fraction=0.4, capture_dir=str(captures), capture_flush_seconds=0.5)
    route(stack_settings, client, table)
    before = counters(stack_settings)
    rows = entities(500, 2)
    started = pd.Timestamp.now(tz="UTC")
    answered = client.score(ROUTER, rows, schema, rows["customer_id"], batch_size=50)
    assert answered["version"].tolist() == [1] * 500

    expected = set(rows["customer_id"][bucket(rows["customer_id"].tolist(), SHADOW_SALT) < 0.4])
    records = shadow_traffic.wait_for_records(captures, ROUTER, started, len(expected))
    assert set(records["entity_key"]) == expected and len(records) == len(expected)
    assert set(RECORD_COLUMNS) <= set(records.columns)
    assert {FEATURE_PREFIX + f for f in schema.feature_names} <= set(records.columns)
    by_key = records.set_index("entity_key")
    mirrored = rows[rows["customer_id"].isin(expected)].reset_index(drop=True)
    client_answer = answered[rows["customer_id"].isin(expected).to_numpy()]["probability"].to_numpy()
    np.testing.assert_allclose(by_key.loc[mirrored["customer_id"], "champion_score"], client_answer, atol=1e-6)
    challenger = client.predict_proba(VERSIONS, mirrored, schema, version=2)
    np.testing.assert_allclose(by_key.loc[mirrored["customer_id"], "challenger_score"], challenger, atol=1e-6)
    assert (records["champion_version"] == 1).all() and (records["challenger_version"] == 2).all()
    assert (records["champion_latency_ms"] > 0).all() and (records["challenger_latency_ms"] > 0).all()

    after = counters(stack_settings)
    assert _delta(after, before, "ccp_router_rows_total", version="2", role="shadow") == len(expected)
    assert _delta(after, before, "ccp_router_rows_total", version="1", role="champion") == 500
    disagreements = int((records["champion_prediction"] != records["challenger_prediction"]).sum())
    assert _delta(after, before, "ccp_shadow_disagreements_total", version="2") == disagreements


def test_unloading_the_router_writes_every_buffered_capture_record(stack_settings, served, tmp_path):
    """Records wait in the router's buffer (an hour, 100,000 rows); unloading the router (as Triton's
    shutdown does) calls finalize, which mirrors what is queued and writes them all: none is lost."""
    client, schema, _ = served
    captures = tmp_path / "captures"
    table = RoutingTable(VERSIONS, 1, 2, shadow_fraction=1.0, capture_dir=str(captures), capture_flush_rows=100_000,
                         capture_flush_seconds=3600)  # fmt: skip
    route(stack_settings, client, table)
    rows = entities(300, 6)
    client.score(ROUTER, rows, schema, rows["customer_id"], batch_size=30)
    time.sleep(1)  # the shadow thread scored them; the records sit in the buffer
    assert read_captures(captures, ROUTER).empty
    client.unload(ROUTER)
    deadline = time.monotonic() + 60  # Triton unloads in the background; finalize runs then
    while (records := read_captures(captures, ROUTER)).empty and time.monotonic() < deadline:
        time.sleep(0.5)
    assert sorted(records["entity_key"]) == sorted(rows["customer_id"]) and (records["challenger_version"] == 2).all()
    route(stack_settings, client, RoutingTable(VERSIONS, champion=1, capture_dir=str(served[2])))
    client.load(ROUTER)
    client.wait_ready(ROUTER, [1])


def test_malformed_requests_get_clear_errors_and_the_champion_keeps_serving(stack_settings, served):
    client, schema, captures = served
    route(stack_settings, client, RoutingTable(VERSIONS, champion=1, capture_dir=str(captures)))
    raw = httpclient.InferenceServerClient(stack_settings.triton_url)
    features = [f for f in schema.features if f.name in client.input_names(ROUTER)]
    huge = entities(triton_repository.MAX_BATCH_SIZE + 1, 7)
    with pytest.raises(Exception, match=f"batch-size must be <= {triton_repository.MAX_BATCH_SIZE}"):
        raw.infer(ROUTER, _inputs(huge, features))
    rows = entities(4, 8)
    wrong = _inputs(rows, features)
    numeric = next(i for i, f in enumerate(features) if f.is_numeric)
    wrong[numeric] = httpclient.InferInput(features[numeric].name, [4, 1], "FP64")
    wrong[numeric].set_data_from_numpy(rows[[features[numeric].name]].to_numpy(np.float64))
    with pytest.raises(Exception, match="data-type is 'FP64', but model 'router_test' expects 'FP32'"):
        raw.infer(ROUTER, wrong)
    # no entity_key: documented acceptance — answered by the champion, rows keyed by their values
    answered = client.score(ROUTER, rows, schema)
    assert answered["version"].tolist() == [1, 1, 1, 1]


def test_canary_is_sticky_per_entity_and_counted_per_version(stack_settings, served):
    client, schema, captures = served
    route(stack_settings, client, RoutingTable(VERSIONS, 1, 2, canary_fraction=0.3, capture_dir=str(captures)))
    before = counters(stack_settings)
    rows = entities(400, 3)
    first = client.score(ROUTER, rows, schema, rows["customer_id"], batch_size=40)
    for batch_size in (1000, 7):  # other batchings of the same entities: the same answers
        again = client.score(ROUTER, rows, schema, rows["customer_id"], batch_size=batch_size)
        assert again["version"].tolist() == first["version"].tolist()
    canary = bucket(rows["customer_id"].tolist(), CANARY_SALT) < 0.3
    assert first["version"].to_numpy().tolist() == np.where(canary, 2, 1).tolist()
    assert 0.2 < canary.mean() < 0.4
    after = counters(stack_settings)
    assert _delta(after, before, "ccp_router_rows_total", version="2", role="canary") == 3 * canary.sum()
    assert _delta(after, before, "ccp_router_rows_total", version="1", role="champion") == 3 * (~canary).sum()


def test_router_errors_say_what_is_wrong(stack_settings, served):
    client, schema, captures = served
    route(stack_settings, client, RoutingTable(VERSIONS, champion=None, capture_dir=str(captures)))
    with pytest.raises(Exception, match="no champion is being served"):
        client.score(ROUTER, entities(2, 4), schema)
    route(stack_settings, client, RoutingTable(VERSIONS, champion=7, capture_dir=str(captures)))
    before = counters(stack_settings)
    with pytest.raises(Exception, match=f"{VERSIONS} v7"):
        client.score(ROUTER, entities(2, 4), schema)
    assert _delta(counters(stack_settings), before, "ccp_router_errors_total", version="7", role="champion") == 2
    raw = httpclient.InferenceServerClient(stack_settings.triton_url)
    only_one = httpclient.InferInput("tenure_months", [1, 1], "FP32")
    only_one.set_data_from_numpy(np.array([[3.0]], dtype=np.float32))
    with pytest.raises(Exception, match="expected .* inputs"):
        raw.infer(ROUTER, [only_one])
    route(stack_settings, client, RoutingTable(VERSIONS, champion=1, capture_dir=str(captures)))
    before = counters(stack_settings)
    rows, features = entities(3, 5), [f for f in schema.features if f.name in client.input_names(ROUTER)]
    uneven = _inputs(rows, features[:-1]) + _inputs(rows.head(2), features[-1:])  # 3 rows, and 2 in the last
    with pytest.raises(Exception, match="batch size does not match other inputs"):
        raw.infer(ROUTER, uneven)
    after = counters(stack_settings)  # refused before the router: no version is blamed for it
    assert _delta(after, before, "ccp_router_errors_total", version="1", role="champion") == 0
    assert _delta(after, before, "ccp_router_rows_total", version="1", role="champion") == 0


def _delta(after: dict, before: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)
