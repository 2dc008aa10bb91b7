from __future__ import annotations

import pytest

from champion_challenger.registry.model_registry import AliasState, promotion_target
from champion_challenger.serving.triton_repository import render_config
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


def test_flatten_ludwig_config():
    flat = flatten({"trainer": {"epochs": 3}, "input_features": [{"name": "age", "type": "number"}]})
    assert flat == {"trainer.epochs": "3", "input_features.age.type": "number"}
