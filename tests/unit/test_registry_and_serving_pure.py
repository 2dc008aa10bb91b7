from __future__ import annotations

import json

import pytest

from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.registry.model_registry import AliasState, promotion_target
from champion_challenger.serving.triton_client import TritonModelClient
from champion_challenger.serving.triton_repository import SPEC_FILE, render_config, write_model_config
from champion_challenger.stack.processes import free_port
from champion_challenger.tracking import flatten


@pytest.mark.parametrize(
    ("before", "version", "after"),
    [
        pytest.param(AliasState(None, 1, None), 1, AliasState(1, None, None), id="first"),
        pytest.param(AliasState(1, 2, None), 2, AliasState(2, None, 1), id="second"),
        pytest.param(AliasState(2, 3, 1), 3, AliasState(3, None, 2), id="third"),
        pytest.param(AliasState(3, 4, 2), 1, AliasState(1, 4, 3), id="manual-older"),
    ],
)
def test_promotion_target(before, version, after):
    assert promotion_target(before, version) == after


def test_served_versions_are_all_aliased_versions():
    assert AliasState(3, 5, 2).served_versions() == [2, 3, 5]
    assert AliasState(None, None, None).served_versions() == []


def test_render_config_lists_versions_and_typed_inputs():
    text = render_config("m", {"age": True, "plan": False}, [2, 5])
    assert 'version_policy: { specific: { versions: [ 2, 5 ] } }' in text
    assert '{ name: "age" data_type: TYPE_FP32 dims: [ 1 ] }' in text
    assert '{ name: "plan" data_type: TYPE_STRING dims: [ 1 ] }' in text
    assert 'backend: "python"' in text


def test_model_config_is_rewritten_only_when_it_changes(tmp_path):
    """Triton reloads every version of a model whose config file is newer than its last load."""
    for version in (1, 2):
        (tmp_path / "m" / str(version)).mkdir(parents=True)
        spec = {"target": "churn", "threshold": 0.5, "features": [{"name": "age", "numeric": True}]}
        (tmp_path / "m" / str(version) / SPEC_FILE).write_text(json.dumps(spec))
    config = tmp_path / "m" / "config.pbtxt"
    assert write_model_config(tmp_path, "m", [1]) is True
    written = config.stat().st_mtime_ns
    assert write_model_config(tmp_path, "m", [1]) is False
    assert config.stat().st_mtime_ns == written
    assert write_model_config(tmp_path, "m", [1, 2]) is True
    assert "versions: [ 1, 2 ]" in config.read_text()


def test_a_load_at_an_unreachable_grpc_endpoint_says_where_it_went():
    client = TritonModelClient(f"127.0.0.1:{free_port()}", timeout_s=5, control_url=f"127.0.0.1:{free_port()}")
    with pytest.raises(ServiceUnavailableError, match=r"Triton \(gRPC 127\.0\.0\.1:\d+\) could not load 'm'"):
        client.load("m")


def test_flatten_ludwig_config():
    flat = flatten({"trainer": {"epochs": 3}, "input_features": [{"name": "age", "type": "number"}]})
    assert flat == {"trainer.epochs": "3", "input_features.age.type": "number"}
