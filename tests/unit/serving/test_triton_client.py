"""The Triton client's errors, without Triton."""

from __future__ import annotations

import pytest

from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.serving.triton_client import TritonModelClient
from champion_challenger.stack.processes import free_port


def test_a_load_at_an_unreachable_grpc_endpoint_says_where_it_went():
    client = TritonModelClient(f"127.0.0.1:{free_port()}", timeout_s=5, control_url=f"127.0.0.1:{free_port()}")
    with pytest.raises(ServiceUnavailableError, match=r"Triton \(gRPC 127\.0\.0\.1:\d+\) could not load 'm'"):
        client.load("m")
