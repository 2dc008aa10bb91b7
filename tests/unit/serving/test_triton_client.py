"""The Triton client's errors and output decoding, without Triton."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config.ludwig_schema import ModelSchema
from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.serving.triton_client import TritonModelClient, _output_array
from champion_challenger.stack.processes import free_port


def test_a_load_at_an_unreachable_grpc_endpoint_says_where_it_went():
    client = TritonModelClient(f"127.0.0.1:{free_port()}", timeout_s=5, control_url=f"127.0.0.1:{free_port()}")
    with pytest.raises(ServiceUnavailableError, match=r"Triton \(gRPC 127\.0\.0\.1:\d+\) could not load 'm'"):
        client.load("m")


def test_outputs_are_flat_per_row_or_per_class_and_text_is_decoded():
    np.testing.assert_array_equal(_output_array(np.array([[0.5], [0.25]], np.float32)), [0.5, 0.25])
    assert _output_array(np.ones((2, 3), np.float32)).shape == (2, 3)
    assert _output_array(np.array([[b"gold"], [b"caf\xc3\xa9"]], dtype=object)).tolist() == ["gold", "café"]


def test_predict_proba_is_for_binary_models_only():
    schema = ModelSchema(features=(), target="tier", timestamp_column="ts", id_column="id", task="multiclass")
    client = TritonModelClient(f"127.0.0.1:{free_port()}", timeout_s=5)
    with pytest.raises(ValueError, match="'m' is multiclass: use predict_scores"):
        client.predict_proba("m", pd.DataFrame(), schema)
