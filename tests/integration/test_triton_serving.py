"""Export trained Ludwig models into a REAL Triton server and compare with Ludwig's predictions: a binary
model, and for multiclass and regression two versions behind the versions model and the router, with the
challenger's answers captured in shadow."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.http as httpclient

from champion_challenger.config.ludwig_schema import FeatureSpec, ModelSchema, load_candidate_configs, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.generate import BatchSpec, generate_batch
from champion_challenger.serving import triton_repository
from champion_challenger.serving.batch_scoring import score_file
from champion_challenger.serving.capture import NO_CHALLENGER, RECORD_COLUMNS, SCORE_CLASSES
from champion_challenger.serving.pending_counts import PUBLISH_LAG_S
from champion_challenger.serving.routing import CANARY_SALT, RoutingTable, bucket
from champion_challenger.serving.triton_client import TritonModelClient, _inputs
from champion_challenger.serving.triton_metrics import parse_counters
from champion_challenger.task import stack_scores
from champion_challenger.training.ludwig_trainer import train_ludwig
from champion_challenger.training.pyfunc import ludwig_scores, positive_probability
from tests.integration import shadow_traffic
from tests.integration.shadow_traffic import TASK_INPUTS, export_for_serving, train_task_model, with_task_targets

pytestmark = pytest.mark.integration
MODEL = "serving_test"


@pytest.fixture(scope="module")
def trained(stack_settings, tmp_path_factory):
    config = PipelineConfig.from_yaml(stack_settings.pipeline_config)
    candidates = load_candidate_configs(config)
    schema = model_schema(config, candidates)
    fit = pd.concat([generate_batch(BatchSpec(i, 1000, 3, False)) for i in range(3)], ignore_index=True)
    valid = generate_batch(BatchSpec(3, 500, 3, False))
    model = train_ludwig(candidates["churn_mlp"], fit, valid, schema, tmp_path_factory.mktemp("train"), seed=1)
    return model, schema


def test_versions_serve_as_configured_and_match_ludwig(stack_settings, triton_server, trained):
    """v1 is served from its exported graph, v2 (no export) from the Ludwig model: both answer as Ludwig does."""
    model, schema = trained
    repo = stack_settings.triton_repository
    exported = export_for_serving(model.model_dir, generate_batch(BatchSpec(8, 500, 3, False)))
    triton_repository.export_version(repo, MODEL, 1, model.model_dir, exported)
    triton_repository.export_version(repo, MODEL, 2, model.model_dir)
    assert triton_repository.version_format(repo, MODEL, 1) == ("onnx", None)
    assert triton_repository.version_format(repo, MODEL, 2)[0] == "ludwig"
    assert not (repo / MODEL / "1" / triton_repository.LUDWIG_DIR).exists()
    triton_repository.write_model_config(repo, MODEL, [1])
    client = TritonModelClient(triton_server)
    client.load(MODEL)
    client.wait_ready(MODEL, [1])
    assert client.ready_versions(MODEL) == [1]

    triton_repository.write_model_config(repo, MODEL, [1, 2])
    client.load(MODEL)
    client.wait_ready(MODEL, [1, 2])
    assert client.ready_versions(MODEL) == [1, 2]

    rows = generate_batch(BatchSpec(9, 500, 3, False))
    from ludwig.api import LudwigModel

    expected = positive_probability(
        LudwigModel.load(str(model.model_dir), logging_level=logging.ERROR).predict(rows[schema.feature_names])[0],
        schema.target,
    )
    for version in (1, 2):
        served = client.predict_proba(MODEL, rows, schema, version=version, batch_size=128)
        assert served.shape == (500,)
        np.testing.assert_allclose(served, expected, atol=1e-5)

    triton_repository.write_model_config(repo, MODEL, [2])
    client.load(MODEL)
    assert client.ready_versions(MODEL) == [2]
    assert not client.is_ready(MODEL, 1)


def test_unreachable_triton_says_what_to_do():
    from champion_challenger.errors import ServiceUnavailableError
    from champion_challenger.stack.processes import free_port

    with pytest.raises(ServiceUnavailableError, match=r"unreachable .* `make up` or set CCP_TRITON_URL"):
        TritonModelClient(f"127.0.0.1:{free_port()}").check_live()


# ---- every task: multiclass and regression versions behind the versions model and the router ----------------------
#: Per task: the output feature, and (multiclass) the class v1 never sees, so v1 and v2 know different classes.
TASK_OUTPUTS = {"multiclass": {"name": "tier", "type": "category"}, "regression": {"name": "value", "type": "number"}}
TOLERANCE = 5.0  # regression: a mirrored row disagrees when the two values are further apart


@pytest.fixture(scope="module", params=list(TASK_OUTPUTS))
def task_served(request, stack_settings, triton_server, tmp_path_factory):
    """Two one-epoch Ludwig models of one task as versions 1 and 2 of ``serving_<task>_versions``, behind the
    router ``serving_<task>`` (v1 champion, v2 challenger shadowed for every entity). Multiclass: v1 never saw
    the class ``pro``."""
    task, output = request.param, TASK_OUTPUTS[request.param]
    router = f"serving_{task}"
    versions = triton_repository.versions_model_name(router)
    fit = with_task_targets(pd.concat([generate_batch(BatchSpec(i, 400, 6, False)) for i in range(2)], ignore_index=True), 2)
    repo, models = stack_settings.triton_repository, {}
    for version, rows in ((1, fit[fit["tier"] != "pro"]), (2, fit)):
        models[version] = train_task_model(output, rows, tmp_path_factory.mktemp(f"{task}-v{version}"), seed=version)
        exported = shadow_traffic.export_for_serving(models[version], fit)
        triton_repository.export_version(repo, versions, version, models[version], exported)
    triton_repository.write_model_config(repo, versions, [1, 2])
    captures = tmp_path_factory.mktemp(f"{task}-captures")
    table = RoutingTable(
        versions,
        1,
        2,
        shadow_fraction=1.0,
        capture_dir=str(captures),
        capture_flush_seconds=0.5,
        disagreement_tolerance=TOLERANCE,
    )
    triton_repository.write_router(repo, router, triton_repository.served_signature(repo, versions, [1, 2]), table)
    client = TritonModelClient(triton_server)
    client.load(versions)
    client.wait_ready(versions, [1, 2])
    client.load(router)
    client.wait_ready(router, [1])
    schema = ModelSchema(
        features=tuple(FeatureSpec(name=f["name"], type=f["type"]) for f in TASK_INPUTS),
        target=output["name"],
        timestamp_column="event_timestamp",
        id_column="customer_id",
        task=task,
    )
    return TaskServing(client, schema, router, versions, models, captures)


@dataclass(frozen=True)
class TaskServing:
    client: TritonModelClient
    schema: ModelSchema
    router: str
    versions: str
    models: dict[int, Path]
    captures: Path


def _ludwig(served: TaskServing, version: int, rows: pd.DataFrame, classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels of ``LudwigModel.predict`` for that version (the reference)."""
    from ludwig.api import LudwigModel

    model = LudwigModel.load(str(served.models[version]), logging_level=logging.ERROR)
    scored = model.predict(rows[served.schema.feature_names], return_type=pd.DataFrame)[0]
    target = served.schema.target
    return ludwig_scores(scored, target, served.schema.task, classes), scored[f"{target}_predictions"].to_numpy()


def _close(task: str, got: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to FP32 transport (regression values are in the hundreds)."""
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-6 if task == "regression" else 0)


def test_each_version_serves_its_task_like_ludwig(task_served):
    served, task = task_served, task_served.schema.task
    client, schema = served.client, served.schema
    classes = client.model_classes(served.versions)
    if task == "multiclass":
        assert classes == ("basic", "plus", "premium", "pro") == client.model_classes(served.router)
    else:
        assert classes == ()
    rows = generate_batch(BatchSpec(40, 300, 6, False))
    for version in (1, 2):
        expected, labels = _ludwig(served, version, rows, classes)
        _close(task, client.predict_scores(served.versions, rows, schema, version=version, batch_size=128), expected)
        frame = client.score_version(served.versions, rows, schema, version)
        assert (frame["version"] == version).all() and len(frame) == 300
        if task == "multiclass":
            assert list(frame.columns) == ["prediction", "version", *(f"probability_{c}" for c in classes)]
            assert frame["prediction"].tolist() == [str(v) for v in labels]
            _close(task, frame[[f"probability_{c}" for c in classes]].to_numpy(), expected)
        else:
            assert list(frame.columns) == ["prediction", "version"]
            _close(task, frame["prediction"].to_numpy(), expected)
    if task == "multiclass":
        v1 = client.predict_scores(served.versions, rows, schema, version=1, classes=("pro", "basic", "absent"))
        assert (v1[:, [0, 2]] == 0).all()  # v1 never saw "pro"; nobody knows "absent"
        _close(task, v1[:, 1], _ludwig(served, 1, rows, ("basic",))[0][:, 0])
        # A request's own class order (the router sends its own): what a router whose classes differ from the
        # versions model's config (while a retired version's class is still configured) gets back.
        order = ["pro", "basic", "absent"]
        raw = httpclient.InferenceServerClient(client.url).infer(
            served.versions, _inputs(rows, list(schema.features)), model_version="1", parameters={"classes": json.dumps(order)}
        )
        _close(task, raw.as_numpy("probabilities"), _ludwig(served, 1, rows, tuple(order))[0])


def test_the_router_answers_with_the_champion_and_captures_the_challenger(stack_settings, task_served):
    served, task = task_served, task_served.schema.task
    client, schema = served.client, served.schema
    classes = client.model_classes(served.router)
    rows = generate_batch(BatchSpec(41, 200, 6, False))
    rows["customer_id"] = [f"{task}-{i}" for i in range(len(rows))]
    before = _counters(stack_settings, served.router)
    started = pd.Timestamp.now(tz="UTC")
    answered = client.score(served.router, rows, schema, rows["customer_id"], batch_size=40)
    assert (answered["version"] == 1).all()
    champion, champion_labels = _ludwig(served, 1, rows, classes)
    challenger, challenger_labels = _ludwig(served, 2, rows, classes)
    got = (
        answered[[f"probability_{c}" for c in classes]].to_numpy() if task == "multiclass" else answered["prediction"].to_numpy()
    )
    _close(task, got, champion)

    records = shadow_traffic.wait_for_records(served.captures, served.router, started, len(rows))
    assert len(records) == len(rows) and set(RECORD_COLUMNS) <= set(records.columns)
    records = records.set_index("entity_key").loc[rows["customer_id"]]
    assert (records["champion_version"] == 1).all() and (records["challenger_version"] == 2).all()
    _close(task, stack_scores(records["champion_score"], task), champion)
    _close(task, stack_scores(records["challenger_score"], task), challenger)
    if task == "multiclass":
        assert records["champion_prediction"].tolist() == [str(v) for v in champion_labels]
        assert records["challenger_prediction"].tolist() == [str(v) for v in challenger_labels]
        assert json.loads(records[SCORE_CLASSES].iloc[0]) == list(classes)
        expected_disagreements = int((champion_labels != challenger_labels).sum())
    else:
        _close(task, records["champion_prediction"].to_numpy(dtype=float), champion)
        differ = np.abs(
            records["champion_prediction"].to_numpy(dtype=float) - records["challenger_prediction"].to_numpy(dtype=float)
        )
        expected_disagreements = int((differ > TOLERANCE).sum())
    after = _counters(stack_settings, served.router)
    key = ("ccp_shadow_disagreements_total", (("version", "2"),))
    assert after.get(key, 0) - before.get(key, 0) == expected_disagreements
    _close(task, client.predict_scores(served.router, rows, schema, batch_size=40), champion)  # mirrored again: last


def test_ccp_predict_writes_the_tasks_columns(task_served, tmp_path):
    served, task = task_served, task_served.schema.task
    rows = generate_batch(BatchSpec(43, 150, 6, False))
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    summary = score_file(served.client, served.schema, served.router, path, batch_size=64)
    written = pd.read_csv(summary.output, dtype={"customer_id": str, "prediction": str if task == "multiclass" else float})
    classes = served.client.model_classes(served.router)
    expected = ["customer_id", "prediction", "version", *(f"probability_{c}" for c in classes)]
    assert list(written.columns) == expected and summary.answered_by == {1: 150}
    scores, labels = _ludwig(served, 1, rows, classes)
    if task == "multiclass":
        assert written["prediction"].tolist() == [str(v) for v in labels]
        _close(task, written[[f"probability_{c}" for c in classes]].to_numpy(), scores)
    else:
        _close(task, written["prediction"].to_numpy(), scores)


def test_canary_rows_get_the_challengers_answer_in_the_routers_class_order(stack_settings, task_served):
    """The router's general path (rows split between versions), and prediction-log records per task."""
    served, task = task_served, task_served.schema.task
    client, schema, repo = served.client, served.schema, stack_settings.triton_repository
    table = RoutingTable(served.versions, 1, 2, canary_fraction=0.5, capture_dir=str(served.captures), capture_flush_seconds=0.5)
    table = replace(table, prediction_log_fraction=1.0)
    assert not triton_repository.write_router(
        repo, served.router, triton_repository.served_signature(repo, served.versions, [1, 2]), table
    )
    rows = generate_batch(BatchSpec(42, 120, 6, False))
    rows["customer_id"] = [f"{task}-canary-{i}" for i in range(len(rows))]
    started = pd.Timestamp.now(tz="UTC")
    answered = client.score(served.router, rows, schema, rows["customer_id"], batch_size=120)
    canary = bucket(rows["customer_id"].tolist(), CANARY_SALT) < 0.5
    assert answered["version"].tolist() == np.where(canary, 2, 1).tolist()
    classes = client.model_classes(served.router)
    expected = np.where(
        canary[:, None] if task == "multiclass" else canary,
        _ludwig(served, 2, rows, classes)[0],
        _ludwig(served, 1, rows, classes)[0],
    )
    got = (
        answered[[f"probability_{c}" for c in classes]].to_numpy() if task == "multiclass" else answered["prediction"].to_numpy()
    )
    _close(task, got, expected)

    logged = shadow_traffic.wait_for_records(served.captures, served.router, started, int((~canary).sum()))
    assert (
        set(logged["entity_key"]) == set(rows["customer_id"][~canary]) and (logged["challenger_version"] == NO_CHALLENGER).all()
    )
    assert logged["challenger_score"].isna().all()
    if task == "multiclass":
        assert (logged["challenger_prediction"] == "").all()
    else:
        assert logged["challenger_prediction"].isna().all()


def _counters(settings, model: str) -> dict:
    time.sleep(PUBLISH_LAG_S)  # every count so far published (the router batches them)
    return parse_counters(requests.get(settings.triton_metrics_url, timeout=10).text, model)
