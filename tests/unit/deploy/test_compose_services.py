"""Static checks of docker-compose.yml: the interpolation helper, services, health, restarts,
dependencies, volumes, ports and images.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO
from tests.unit.deploy.compose import (
    COMPOSE,
    LONG_RUNNING,
    ONE_SHOT,
    SERVICES,
    MissingVariable,
    interpolate,
    mounts,
    published,
    read_only,
    references,
)


# ---- the interpolation helper itself --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        pytest.param("a ${X} b", {"X": "1"}, "a 1 b", id="braced"),
        pytest.param("$X/$$X/$${X}", {"X": "1"}, "1/$X/${X}", id="bare-and-escaped"),
        pytest.param("${X:-d}|${X-d}", {"X": ""}, "d|", id="default-empty-vs-unset"),
        pytest.param("${X:?need X}", {"X": "v"}, "v", id="required-set"),
        pytest.param("${X:+alt}${Y:+alt}", {"X": "v"}, "alt", id="alternative"),
    ],
)
def test_interpolate_follows_compose_rules(text, env, expected):
    assert interpolate(text, env) == expected


def test_interpolate_refuses_a_missing_required_variable():
    with pytest.raises(MissingVariable, match="X is missing a value: need X"):
        interpolate("${X:?need X}", {"X": ""})


def test_references_skip_escaped_dollars():
    assert references("$$HOSTNAME $${HOSTNAME} ${A:-x} $B ${C:?e}") == [("A", ":-"), ("B", ""), ("C", ":?")]


# ---- services, health, restarts, dependencies, volumes -----------------------------------------
def test_every_production_service_is_present():
    expected = {
        "secrets-check",
        "postgres",
        "redis",
        "minio",
        "minio-init",
        "mlflow",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "airflow-worker-gpu",
        "triton",
        "ccp-exporter",
        "prometheus",
        "grafana",
    }
    assert set(SERVICES) == expected


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_are_health_checked_and_restarted(name):
    service = SERVICES[name]
    check = service["healthcheck"]
    assert check["test"] and check["test"][0] in {"CMD", "CMD-SHELL"}, name
    assert {"interval", "timeout", "retries", "start_period"} <= set(check), name
    assert service["restart"] in {"always", "unless-stopped"}, name


@pytest.mark.parametrize("name", sorted(ONE_SHOT))
def test_one_shot_services_run_once(name):
    assert SERVICES[name]["restart"] == "no"
    assert "healthcheck" not in SERVICES[name]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_logs_are_rotated(name):
    logging = SERVICES[name]["logging"]
    assert logging["driver"] == "json-file" and logging["options"]["max-size"]


def test_dependencies_wait_for_health_or_completion_and_have_no_cycle():
    graph = {}
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends.items():
            assert target in SERVICES, (name, target)
            wanted = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert spec["condition"] == wanted, (name, target)
        graph[name] = set(depends)

    def visit(node, path):
        assert node not in path, f"dependency cycle: {[*path, node]}"
        for target in graph[node]:
            visit(target, [*path, node])

    for name in graph:
        visit(name, [])


def _needs(name: str) -> set[str]:
    """Every service ``name`` waits for, directly or through others."""
    direct = set(SERVICES[name].get("depends_on", {}))
    return direct.union(*(_needs(d) for d in direct))


@pytest.mark.parametrize("name", [n for n in SERVICES if n not in {"secrets-check", "prometheus"}])
def test_no_service_with_secrets_starts_before_the_placeholder_check(name):
    assert "secrets-check" in _needs(name)


def test_named_volumes_are_declared_and_used():
    used = {v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", []) if not v.startswith((".", "/"))}
    assert used == set(COMPOSE["volumes"])


def test_bind_mounts_exist_and_are_read_only():
    for name, service in SERVICES.items():
        for target, source in mounts(service).items():
            if source.startswith("."):
                assert (REPO / source).exists(), (name, source)
                assert read_only(service, target), f"{name}: {source} is mounted writable"


def test_published_ports_are_deliberate():
    # Admin and metrics endpoints without their own login stay on the host's loopback interface.
    everywhere = {name: [p for a, p in published(s) if a == ""] for name, s in SERVICES.items()}
    assert {n: p for n, p in everywhere.items() if p} == {
        "airflow-apiserver": ["8080"],
        "mlflow": ["5000"],
        "grafana": ["3000"],
        "triton": ["8000", "8001"],  # inference clients; documented as behind a gateway or firewall
    }
    local_only = {n: [p for a, p in published(s) if a == "127.0.0.1"] for n, s in SERVICES.items()}
    assert {n: p for n, p in local_only.items() if p} == {"prometheus": ["9090"], "triton": ["8002"], "minio": ["9001"]}


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if "build" not in s])
def test_pulled_images_are_pinned(name):
    image = SERVICES[name]["image"]
    assert ":" in image and not image.endswith(":latest"), image


# ---- images -------------------------------------------------------------------------------------
def test_airflow_image_matches_the_pinned_airflow_and_python():
    dockerfile = (REPO / "docker" / "airflow.Dockerfile").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    version = re.search(r'"apache-airflow==([\d.]+)"', pyproject).group(1)
    assert f"FROM apache/airflow:{version}-python3.12" in dockerfile
    assert "apache-airflow-providers-fab" in dockerfile and "apache-airflow-providers-celery" in dockerfile
    assert "-c /opt/ccp/constraints.txt" in dockerfile
    for target, source in mounts(SERVICES["airflow-worker"]).items():
        if not source.startswith(".") and target.startswith("/opt/ccp/runtime/"):
            assert target in dockerfile, f"{target} must exist in the image so the new volume is writable"


def test_mlflow_image_has_the_auth_s3_and_postgres_extras_and_drops_root():
    dockerfile = (REPO / "docker" / "mlflow.Dockerfile").read_text()
    for requirement in ('"mlflow[auth]"', "psycopg2-binary", "boto3==", "flask-wtf=="):
        assert requirement in dockerfile, requirement
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)


def test_build_context_excludes_secrets_and_the_virtualenv():
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {".env", ".venv", ".git"} <= set(ignored)
