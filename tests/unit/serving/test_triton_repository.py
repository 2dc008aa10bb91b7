"""The Triton model repository's config per task, rendered and rewritten without Triton, and the
serving contract's frames (class alignment by name)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from champion_challenger.serving.output_frames import frame_scores, output_frame
from champion_challenger.serving.routing import RoutingTable, config_classes
from champion_challenger.serving.triton_repository import (
    SPEC_FILE,
    ServedSignature,
    render_config,
    render_router_config,
    served_signature,
    serving_spec,
    write_model_config,
    write_router,
)

INPUTS = {"age": True, "plan": False}


def _parsed(text: str) -> dict:
    """A rendered config as Triton hands it to a Python model (``args["model_config"]``)."""
    message = text_format.Parse(text, model_config_pb2.ModelConfig())
    return json.loads(json_format.MessageToJson(message, preserving_proto_field_name=True))


def _outputs(config: dict) -> dict[str, tuple[str, list[int]]]:
    return {o["name"]: (o["data_type"], [int(d) for d in o["dims"]]) for o in config["output"]}


def test_render_config_lists_versions_and_typed_inputs():
    text = render_config("m", ServedSignature(INPUTS), [2, 5])
    assert "version_policy: { specific: { versions: [ 2, 5 ] } }" in text
    assert '{ name: "age" data_type: TYPE_FP32 dims: [ 1 ] }' in text
    assert '{ name: "plan" data_type: TYPE_STRING dims: [ 1 ] }' in text
    assert 'backend: "python"' in text


@pytest.mark.parametrize(
    ("served", "outputs"),
    [
        pytest.param(
            ServedSignature(INPUTS), {"probability": ("TYPE_FP32", [1]), "prediction": ("TYPE_INT32", [1])}, id="binary"
        ),
        pytest.param(
            ServedSignature(INPUTS, "multiclass", ("a", "b", "c")),
            {"probabilities": ("TYPE_FP32", [3]), "prediction": ("TYPE_STRING", [1])},
            id="multiclass",
        ),
        pytest.param(ServedSignature(INPUTS, "regression"), {"prediction": ("TYPE_FP32", [1])}, id="regression"),
    ],
)
def test_configs_declare_the_outputs_of_the_task(served, outputs):
    versions, router = _parsed(render_config("m_versions", served, [1, 2])), _parsed(render_router_config("m", served))
    assert _outputs(versions) == outputs
    assert _outputs(router) == {**outputs, "version": ("TYPE_INT32", [1])}
    for config in (versions, router):
        assert config["parameters"]["task"]["string_value"] == served.task
        assert config_classes(config["parameters"]) == served.classes
    assert [i["name"] for i in router["input"]] == ["age", "plan", "entity_key"]


def test_class_names_survive_the_text_format():
    classes = ('say "hi"', "back\\slash", "café", "a,b", "[x]")
    config = _parsed(render_config("m", ServedSignature(INPUTS, "multiclass", tuple(sorted(classes))), [1]))
    assert config_classes(config["parameters"]) == tuple(sorted(classes))


def test_a_multiclass_config_needs_classes():
    with pytest.raises(ValueError, match="at least one class"):
        render_config("m", ServedSignature(INPUTS, "multiclass", ()), [1])


def _export(repo: Path, model: str, version: int, task: str = "binary", classes=(), features=None) -> None:
    (repo / model / str(version)).mkdir(parents=True)
    spec = {"target": "y", "threshold": 0.5, "task": task, "classes": list(classes)}
    spec["features"] = features or [{"name": "age", "numeric": True}]
    (repo / model / str(version) / SPEC_FILE).write_text(json.dumps(spec))


def test_served_classes_are_the_sorted_union_of_the_versions(tmp_path):
    _export(tmp_path, "m", 1, "multiclass", ["b", "c"])
    _export(tmp_path, "m", 2, "multiclass", ["a", "b", "d"])
    assert served_signature(tmp_path, "m", [1, 2]) == ServedSignature({"age": True}, "multiclass", ("a", "b", "c", "d"))
    assert served_signature(tmp_path, "m", [1]).classes == ("b", "c")
    write_model_config(tmp_path, "m", [1, 2])
    config = _parsed((tmp_path / "m" / "config.pbtxt").read_text())
    assert config_classes(config["parameters"]) == ("a", "b", "c", "d") and _outputs(config)["probabilities"][1] == [4]


def test_versions_of_different_tasks_are_refused(tmp_path):
    _export(tmp_path, "m", 1, "regression")
    _export(tmp_path, "m", 2, "binary")
    with pytest.raises(ValueError, match="serve different tasks"):
        served_signature(tmp_path, "m", [1, 2])


def test_a_version_exported_before_tasks_were_recorded_is_binary(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "1" / SPEC_FILE).write_text(json.dumps({"target": "y", "threshold": 0.5, "features": []}))
    assert served_signature(tmp_path, "m", [1]) == ServedSignature({}, "binary", ())


def test_a_router_given_only_inputs_takes_task_and_classes_from_the_exported_versions(tmp_path):
    _export(tmp_path, "m_versions", 1, "multiclass", ["x", "y"])
    _export(tmp_path, "m_versions", 2, "multiclass", ["y", "z"])
    assert write_router(tmp_path, "m", {"age": True}, RoutingTable("m_versions", champion=1)) is True
    config = _parsed((tmp_path / "m" / "config.pbtxt").read_text())
    assert config_classes(config["parameters"]) == ("x", "y", "z")
    assert write_router(tmp_path, "m", served_signature(tmp_path, "m_versions", [1, 2]), RoutingTable("m_versions", 2)) is False


def test_model_config_is_rewritten_only_when_it_changes(tmp_path):
    """Triton reloads every version of a model whose config file is newer than its last load."""
    for version in (1, 2):
        _export(tmp_path, "m", version)
    config = tmp_path / "m" / "config.pbtxt"
    assert write_model_config(tmp_path, "m", [1]) is True
    written = config.stat().st_mtime_ns
    assert write_model_config(tmp_path, "m", [1]) is False
    assert config.stat().st_mtime_ns == written
    assert write_model_config(tmp_path, "m", [1, 2]) is True
    assert "versions: [ 1, 2 ]" in config.read_text()


def _saved_model(path: Path, output: dict, metadata: dict | None = None) -> Path:
    path.mkdir()
    hyper = {
        "input_features": [{"name": "age", "type": "number"}, {"name": "plan", "type": "category"}],
        "output_features": [output],
    }
    (path / "model_hyperparameters.json").write_text(json.dumps(hyper))
    (path / "training_set_metadata.json").write_text(json.dumps(metadata or {}))
    return path


@pytest.mark.parametrize(
    ("output", "metadata", "task", "classes"),
    [
        pytest.param({"name": "y", "type": "binary", "threshold": 0.3}, None, "binary", [], id="binary"),
        pytest.param(
            {"name": "y", "type": "category"}, {"y": {"idx2str": ["b", "c", "a"]}}, "multiclass", ["a", "b", "c"], id="multiclass"
        ),
        pytest.param({"name": "y", "type": "number"}, None, "regression", [], id="regression"),
    ],
)
def test_serving_spec_records_task_and_sorted_classes(tmp_path, output, metadata, task, classes):
    spec = serving_spec(_saved_model(tmp_path / "model", output, metadata))
    assert spec["task"] == task and spec["classes"] == classes and spec["target"] == "y"
    assert spec["features"] == [{"name": "age", "numeric": True}, {"name": "plan", "numeric": False}]


def test_serving_spec_refuses_an_output_type_it_cannot_serve(tmp_path):
    with pytest.raises(ValueError, match="'y' has type 'text'"):
        serving_spec(_saved_model(tmp_path / "model", {"name": "y", "type": "text"}))


@pytest.mark.parametrize(
    ("task", "scores", "predictions", "classes", "columns"),
    [
        pytest.param("binary", np.array([0.2, 0.9]), np.array([0, 1]), (), ["probability", "prediction"], id="binary"),
        pytest.param(
            "multiclass",
            np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]]),
            np.array(["b", "a"], dtype=object),
            ("a", "b", "c"),
            ["prediction", "probability_a", "probability_b", "probability_c"],
            id="multiclass",
        ),
        pytest.param("regression", np.array([3.5, -1.0]), np.array([3.5, -1.0]), (), ["prediction"], id="regression"),
    ],
)
def test_output_frame_round_trips_to_scores(task, scores, predictions, classes, columns):
    frame = output_frame(task, scores, predictions, classes)
    assert list(frame.columns) == columns
    np.testing.assert_allclose(frame_scores(frame, task, classes), scores)


def test_frame_scores_align_classes_by_name():
    frame = pd.DataFrame({"prediction": ["b"], "probability_b": [0.6], "probability_a": [0.4]})
    np.testing.assert_allclose(frame_scores(frame, "multiclass"), [[0.4, 0.6]])  # default: sorted
    np.testing.assert_allclose(frame_scores(frame, "multiclass", ["c", "b", "a"]), [[0.0, 0.6, 0.4]])
    assert frame_scores(frame.head(0), "multiclass", ["a", "b", "c"]).shape == (0, 3)


def _spec_version(repo: Path, model: str, version: int, fmt: str, classes: list[str]) -> None:
    folder = repo / model / str(version)
    folder.mkdir(parents=True)
    spec = {"target": "t", "threshold": 0.5, "task": "multiclass", "classes": classes, "format": fmt}
    spec["features"] = [{"name": n, "numeric": v} for n, v in INPUTS.items()]
    (folder / "serving_spec.json").write_text(json.dumps(spec))


@pytest.mark.parametrize(
    ("formats", "classes", "native"),
    [
        pytest.param(("onnx", "onnx"), (["a", "b"], ["a", "b"]), True, id="all-exported"),
        pytest.param(("onnx", "ludwig"), (["a", "b"], ["a", "b"]), False, id="one-on-the-ludwig-path"),
        pytest.param(("onnx", "onnx"), (["a", "b"], ["a", "b", "c"]), False, id="classes-differ"),
    ],
)
def test_the_native_onnxruntime_backend_serves_only_versions_it_can(tmp_path, formats, classes, native):
    """Production's Triton serves exported versions with its onnxruntime backend on the GPU; a version on the Ludwig
    path, or versions whose classes differ (the native backend cannot reorder them), keep the Python backend."""
    for version, (fmt, own) in enumerate(zip(formats, classes, strict=True), start=1):
        _spec_version(tmp_path, "m_versions", version, fmt, own)
    assert write_model_config(tmp_path, "m_versions", [1, 2], onnx_backend="onnxruntime", kind="KIND_GPU")
    config = _parsed((tmp_path / "m_versions" / "config.pbtxt").read_text())
    assert config.get("platform", "") == ("onnxruntime_onnx" if native else "")
    assert config.get("backend", "") == ("" if native else "python")
    assert config["instance_group"][0]["kind"] == "KIND_GPU"
    assert "dynamic_batching" in config
    write_model_config(tmp_path, "m_versions", [1, 2])  # the embedded default: always the Python backend
    assert _parsed((tmp_path / "m_versions" / "config.pbtxt").read_text())["backend"] == "python"
