"""The Triton model repository's config, rendered and rewritten without Triton."""

from __future__ import annotations

import json

from champion_challenger.serving.triton_repository import SPEC_FILE, render_config, write_model_config


def test_render_config_lists_versions_and_typed_inputs():
    text = render_config("m", {"age": True, "plan": False}, [2, 5])
    assert "version_policy: { specific: { versions: [ 2, 5 ] } }" in text
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
