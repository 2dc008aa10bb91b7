"""A version's answer arrays, and the exported champion the router scores in its own process."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from champion_challenger.serving.onnx_scoring import ONNX_FILE, GraphAnswer
from champion_challenger.serving.served_tensors import (
    IN_PROCESS_ENV,
    AnswerArrays,
    InProcessVersion,
    load_in_process,
    request_columns,
)
from champion_challenger.serving.triton_repository import SPEC_FILE

FEATURES = [{"name": "tenure", "numeric": True}, {"name": "plan", "numeric": False}]


def test_request_columns_decode_numbers_and_utf8_text():
    arrays = {
        "tenure": np.array([[1.5], [2.0]], dtype=np.float32),
        "plan": np.array([[b"pro"], ["bäsic".encode()]], dtype=object),
    }
    columns = request_columns(FEATURES, arrays.__getitem__)
    assert columns["tenure"].dtype == np.float64 and columns["tenure"].tolist() == [1.5, 2.0]
    assert columns["plan"].tolist() == ["pro", "bäsic"]


def test_answer_arrays_per_task():
    binary = AnswerArrays("binary").arrays(GraphAnswer(np.array([0.2, 0.9]), np.array([0, 1])), slice(1, 2))
    assert binary["probability"].tolist() == [[pytest.approx(0.9)]] and binary["prediction"].dtype == np.int32
    regression = AnswerArrays("regression").arrays(GraphAnswer(np.array([3.5]), np.array([3.5])), slice(None))
    assert list(regression) == ["prediction"] and regression["prediction"].shape == (1, 1)
    multi = AnswerArrays("multiclass", ["a", "b"])
    answer = GraphAnswer(np.array([[0.3, 0.7]]), np.array(["b"], dtype=object))
    own = multi.arrays(answer, slice(None))
    assert own["probabilities"].tolist() == [[pytest.approx(0.3), pytest.approx(0.7)]] and own["prediction"].tolist() == [[b"b"]]
    served = multi.arrays(answer, slice(None), ("b", "c", "a"))  # the router's order; "c" unknown to this version
    assert served["probabilities"].tolist() == [[pytest.approx(0.7), 0.0, pytest.approx(0.3)]]


def _write_binary_version(folder, fmt="onnx"):
    """A tiny exported binary version: probability = sigmoid(tenure), prediction = probability > 0.5."""
    folder.mkdir(parents=True)
    nodes = [
        helper.make_node("Sigmoid", ["tenure"], ["probability"]),
        helper.make_node("Greater", ["probability", "half"], ["above"]),
        helper.make_node("Cast", ["above"], ["prediction"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("tenure", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("plan", TensorProto.STRING, [None, 1]),
        ],
        [
            helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("prediction", TensorProto.INT64, [None, 1]),
        ],
        initializer=[helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / ONNX_FILE)
    (folder / SPEC_FILE).write_text(json.dumps({"format": fmt, "task": "binary", "features": FEATURES, "classes": []}))


def test_an_exported_version_is_scored_in_process(tmp_path):
    _write_binary_version(tmp_path / "m_versions" / "3")
    version = load_in_process(tmp_path / "m_versions", 3)
    assert isinstance(version, InProcessVersion)
    inputs = {"tenure": np.array([[-2.0], [0.0], [3.0]], dtype=np.float32), "plan": np.array([[b"x"]] * 3, dtype=object)}
    out = version.outputs(inputs.__getitem__)
    np.testing.assert_allclose(out["probability"].reshape(-1), 1 / (1 + np.exp([2.0, 0.0, -3.0])), rtol=1e-6)
    assert out["prediction"].reshape(-1).tolist() == [0, 0, 1] and out["prediction"].dtype == np.int32


def test_the_versions_model_answers_when_the_champion_is_not_exported_native_or_turned_off(tmp_path, monkeypatch):
    _write_binary_version(tmp_path / "m_versions" / "1", fmt="ludwig")
    assert load_in_process(tmp_path / "m_versions", 1) is None  # the Ludwig path stays in its own stub
    _write_binary_version(tmp_path / "n_versions" / "1")
    (tmp_path / "n_versions" / "config.pbtxt").write_text('name: "n_versions"\nplatform: "onnxruntime_onnx"\n')
    assert load_in_process(tmp_path / "n_versions", 1) is None  # Triton's native backend: a cheap hop, on the GPU
    _write_binary_version(tmp_path / "o_versions" / "1")
    monkeypatch.setenv(IN_PROCESS_ENV, "0")
    assert load_in_process(tmp_path / "o_versions", 1) is None
    with pytest.raises(FileNotFoundError):
        monkeypatch.delenv(IN_PROCESS_ENV)
        load_in_process(tmp_path / "o_versions", 9)  # no such version: the router logs it and calls over BLS
