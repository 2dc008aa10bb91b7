"""The embedded stack's servers are reachable from this machine only: REAL MLflow and Triton
listen on 127.0.0.1, never on every interface."""

from __future__ import annotations

import ipaddress

import psutil
import pytest

pytestmark = pytest.mark.integration


def listening_addresses(port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def test_mlflow_and_triton_listen_on_loopback_only(stack_settings, mlflow_server, triton_server):
    ports = {
        "mlflow": stack_settings.mlflow_port,
        "triton http": int(triton_server.rsplit(":", 1)[1]),
        "triton grpc": stack_settings.triton_grpc_port,
        "triton metrics": stack_settings.triton_metrics_port,
    }
    found = {name: listening_addresses(port) for name, port in ports.items()}
    assert all(found.values()) and all(_loopback(ip) for addresses in found.values() for ip in addresses), found


def _loopback(ip: str) -> bool:
    """127.0.0.1, ::1, or 127.0.0.1 seen through an IPv6 socket (``::ffff:127.0.0.1``, gRPC's choice)."""
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback
