"""MLflow tracking helpers that need no server."""

from __future__ import annotations

from champion_challenger.tracking import flatten


def test_flatten_ludwig_config():
    flat = flatten({"trainer": {"epochs": 3}, "input_features": [{"name": "age", "type": "number"}]})
    assert flat == {"trainer.epochs": "3", "input_features.age.type": "number"}
