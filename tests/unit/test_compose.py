"""Static checks of the production stack: docker-compose.yml, docker/, .env.example (no Docker engine here).

What `docker compose config` would check is checked by rendering the file with a small implementation of
Compose's variable interpolation; the real command runs too where the docker client has the compose plugin.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from champion_challenger.config import PipelineConfig
from tests.conftest import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE_FILE = REPO / ".env.example"
COMPOSE_TEXT = COMPOSE_FILE.read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]

ONE_SHOT = {"secrets-check", "minio-init", "airflow-init"}
LONG_RUNNING = sorted(set(SERVICES) - ONE_SHOT)
AIRFLOW = sorted(name for name in SERVICES if name.startswith("airflow-"))
WORKERS = ["airflow-worker", "airflow-worker-gpu"]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET")

# Files a deployment reads besides docker-compose.yml: none may hold a secret value.
DEPLOYMENT_FILES = sorted(
    [COMPOSE_FILE, ENV_EXAMPLE_FILE, REPO / ".dockerignore", *(REPO / "docker").iterdir()]
    + [p for p in (REPO / "configs").rglob("*") if p.is_file() and p.suffix in {".yml", ".yaml", ".json", ".ini"}]
)


# ---- helpers: .env files and Compose interpolation ------------------------------------------------
def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of an env file (comments and blank lines skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {name.strip(): value for name, value in pairs}


ENV_EXAMPLE = read_env_file(ENV_EXAMPLE_FILE)
_REFERENCE = re.compile(r"\$(?:\$|\{(?P<braced>[A-Za-z_]\w*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}|(?P<bare>[A-Za-z_]\w*))")


class MissingVariable(ValueError):
    """A ``${VAR:?message}`` whose variable is unset or empty, as ``docker compose`` reports it."""


def references(text: str) -> list[tuple[str, str]]:
    """(variable, operator) for every interpolation in ``text``; ``$$`` escapes are skipped."""
    found = []
    for match in _REFERENCE.finditer(text):
        if match.group() == "$$":
            continue
        found.append((match["braced"] or match["bare"], match["op"] or ""))
    return found


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and kin."""

    def substitute(match: re.Match) -> str:
        if match.group() == "$$":
            return "$"
        name, op, arg = match["braced"] or match["bare"], match["op"] or "", match["arg"] or ""
        value = env.get(name)
        unset = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return arg if unset else value
        if op.endswith("?"):
            if unset:
                raise MissingVariable(f"required variable {name} is missing a value: {arg}")
            return value
        if op.endswith("+"):
            return "" if unset else arg
        return value or ""

    return _REFERENCE.sub(substitute, text)


def scalars(node) -> list[str]:
    """Every string value in the parsed file (Compose interpolates values, never keys or comments)."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in scalars(value)]
    if isinstance(node, list):
        return [s for value in node for s in scalars(value)]
    return [node] if isinstance(node, str) else []


def render(env: dict[str, str], node=COMPOSE):
    """The parsed file with every value interpolated from ``env``, as ``docker compose config`` does."""
    if isinstance(node, dict):
        return {key: render(env, value) for key, value in node.items()}
    if isinstance(node, list):
        return [render(env, value) for value in node]
    return interpolate(node, env) if isinstance(node, str) else node


USED = [ref for text in scalars(COMPOSE) for ref in references(text)]
RENDERED = render(ENV_EXAMPLE)["services"]


def command_tokens(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def option(tokens: list[str], name: str) -> str:
    """Value of ``--name value`` or ``--name=value`` in a command line."""
    for i, token in enumerate(tokens):
        if token == name:
            return tokens[i + 1]
        if token.startswith(f"{name}="):
            return token.split("=", 1)[1]
    raise KeyError(name)


def mounts(service: dict) -> dict[str, str]:
    """Container path -> source (named volume or ./host path) of a service's short-syntax volumes."""
    return {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}


def read_only(service: dict, target: str) -> bool:
    return any(v.split(":")[1] == target and v.endswith(":ro") for v in service["volumes"])


def published(service: dict) -> list[tuple[str, str]]:
    """(host address, host port) of each published port; an empty address means every interface."""
    result = []
    for port in service.get("ports", []):
        parts = str(port).split(":")
        result.append(("", parts[0]) if len(parts) == 2 else (parts[0], parts[1]))
    return result


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
        "secrets-check", "postgres", "redis", "minio", "minio-init", "mlflow",
        "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
        "airflow-worker", "airflow-worker-gpu", "triton", "prometheus", "grafana",
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
    used = {
        v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", []) if not v.startswith((".", "/"))
    }
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
        "airflow-apiserver": ["8080"], "mlflow": ["5000"], "grafana": ["3000"],
        "triton": ["8000", "8001"],  # inference clients; documented as behind a gateway or firewall
    }
    local_only = {n: [p for a, p in published(s) if a == "127.0.0.1"] for n, s in SERVICES.items()}
    assert {n: p for n, p in local_only.items() if p} == {"prometheus": ["9090"], "triton": ["8002"], "minio": ["9001"]}


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if "build" not in s])
def test_pulled_images_are_pinned(name):
    image = SERVICES[name]["image"]
    assert ":" in image and not image.endswith(":latest"), image


# ---- Postgres: separate databases and roles -----------------------------------------------------
INIT_SQL = (REPO / "docker" / "postgres-init.sql").read_text()


def test_postgres_runs_the_init_script_with_the_passwords_it_reads():
    postgres = SERVICES["postgres"]
    assert mounts(postgres)["/docker-entrypoint-initdb.d/init.sql"] == "./docker/postgres-init.sql"
    read = dict(re.findall(r"\\getenv (\w+) (\w+)", INIT_SQL))
    assert set(read.values()) == {"AIRFLOW_DB_PASSWORD", "MLFLOW_DB_PASSWORD"}
    assert set(read.values()) <= set(postgres["environment"])
    for variable in read:
        assert f":'{variable}'" in INIT_SQL  # quoted as a literal, whatever the password holds
    assert "ON_ERROR_STOP on" in INIT_SQL


@pytest.mark.parametrize("system", ["airflow", "mlflow"])
def test_each_system_owns_its_own_database(system):
    assert re.search(rf"CREATE ROLE {system} LOGIN PASSWORD :'\w+';", INIT_SQL)
    assert f"CREATE DATABASE {system} OWNER {system};" in INIT_SQL
    assert f"REVOKE ALL ON DATABASE {system} FROM PUBLIC;" in INIT_SQL


def test_airflow_and_mlflow_connect_with_their_own_role_and_database():
    airflow_env = RENDERED["airflow-scheduler"]["environment"]
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        assert re.fullmatch(r"[\w+]+://airflow:[^@]+@postgres:5432/airflow", airflow_env[key]), key
    mlflow_uri = RENDERED["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    assert re.fullmatch(r"postgresql://mlflow:[^@]+@postgres:5432/mlflow", mlflow_uri)
    # in the environment, not on the command line where `ps` and logs would show the password
    assert not any("postgresql://" in t for t in command_tokens(SERVICES["mlflow"]))


# ---- Airflow: Celery, queues, GPU, auth ------------------------------------------------------------
@pytest.mark.parametrize("name", AIRFLOW)
def test_airflow_services_share_image_code_config_and_settings(name):
    service = SERVICES[name]
    assert service["image"] == "champion-challenger/airflow:latest"
    assert service["build"]["dockerfile"] == "docker/airflow.Dockerfile"
    volumes = mounts(service)
    assert volumes["/opt/ccp/dags"] == "./dags" and volumes["/opt/ccp/plugins"] == "./plugins"
    assert volumes["/opt/ccp/configs"] == "./configs"
    env = service["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "default"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("fab_auth_manager.FabAuthManager")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:${REDIS_PASSWORD")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW_CONN_MLFLOW_DEFAULT"] == env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["AIRFLOW_CONN_TRITON_DEFAULT"] == "http://triton:8000"
    assert env["MLFLOW_TRACKING_USERNAME"].startswith("${MLFLOW_ADMIN_USERNAME")
    assert env["MLFLOW_TRACKING_PASSWORD"].startswith("${MLFLOW_ADMIN_PASSWORD")
    assert service["user"] == "50000:0"


def _dag_constant(name: str) -> str:
    return re.search(rf'^{name} = "([^"]+)"', (REPO / "dags" / "champion_challenger.py").read_text(), re.M).group(1)


def test_workers_consume_the_default_and_the_dag_s_gpu_queue():
    # The image's entrypoint prefixes `airflow`, so `celery worker ...` runs `airflow celery worker ...`.
    cpu, gpu = (command_tokens(SERVICES[w]) for w in WORKERS)
    assert cpu[:2] == gpu[:2] == ["celery", "worker"]
    assert option(cpu, "--queues") == "default"
    assert option(gpu, "--queues") == _dag_constant("GPU_QUEUE")
    assert option(gpu, "--concurrency") == "${GPU_COUNT:-1}"


def test_gpu_pool_has_one_slot_per_reserved_gpu():
    script = command_tokens(SERVICES["airflow-init"])[-1]
    assert f"airflow pools set {_dag_constant('GPU_POOL')} ${{GPU_COUNT:-1}} " in script


@pytest.mark.parametrize(("name", "count"), [("airflow-worker-gpu", "GPU_COUNT"), ("triton", "TRITON_GPU_COUNT")])
def test_gpu_services_reserve_nvidia_devices(name, count):
    (device,) = SERVICES[name]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert device["count"] == f"${{{count}:-1}}"
    rendered = RENDERED[name]["deploy"]["resources"]["reservations"]["devices"][0]["count"]
    assert str(rendered).isdigit() and int(rendered) >= 1


def test_only_the_gpu_services_reserve_devices():
    assert {n for n, s in SERVICES.items() if "deploy" in s} == {"airflow-worker-gpu", "triton"}


@pytest.mark.parametrize("name", WORKERS)
def test_workers_shut_down_warm(name):
    assert SERVICES[name]["environment"]["DUMB_INIT_SETSID"] == "0"
    assert SERVICES[name]["stop_grace_period"]
    assert "celery_executor.app inspect ping" in SERVICES[name]["healthcheck"]["test"][1]


def test_scheduler_serves_the_health_endpoint_its_check_calls():
    assert SERVICES["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    assert "http://localhost:8974/health" in SERVICES["airflow-scheduler"]["healthcheck"]["test"]


def test_airflow_admin_comes_from_env_and_is_created_by_the_image_entrypoint():
    env = SERVICES["airflow-init"]["environment"]
    assert env["_AIRFLOW_DB_MIGRATE"] == env["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert env["_AIRFLOW_WWW_USER_USERNAME"].startswith("${AIRFLOW_ADMIN_USERNAME:?")
    assert env["_AIRFLOW_WWW_USER_PASSWORD"].startswith("${AIRFLOW_ADMIN_PASSWORD:?")
    assert "SIMPLE_AUTH_MANAGER" not in COMPOSE_TEXT


# ---- MLflow: basic auth, S3 artifacts in MinIO -------------------------------------------------------
def test_mlflow_runs_the_basic_auth_app_with_its_config():
    mlflow = SERVICES["mlflow"]
    tokens = command_tokens(mlflow)
    assert tokens[:2] == ["mlflow", "server"] and option(tokens, "--app-name") == "basic-auth"
    env = mlflow["environment"]
    for key in ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        assert env[key].startswith("${") and ":?" in env[key], key
    ini = configparser.ConfigParser()
    ini.read_string((REPO / mounts(mlflow)[env["MLFLOW_AUTH_CONFIG_PATH"]]).read_text())
    section = ini["mlflow"]  # what mlflow.server.auth.config.read_auth_config reads
    assert section["default_permission"] in {"READ", "NO_PERMISSIONS"}
    assert "admin_password" not in section  # only ever from .env
    database = PurePosixPath(section["database_uri"].removeprefix("sqlite:///"))
    assert mounts(mlflow)[str(database.parent)] == "mlflow-auth"  # users survive a restart


def test_mlflow_answers_the_host_name_airflow_uses():
    allowed = option(command_tokens(RENDERED["mlflow"]), "--allowed-hosts").split(",")
    assert "mlflow:5000" in allowed and "*" not in allowed


def test_mlflow_proxies_artifacts_to_the_bucket_minio_init_creates():
    mlflow = SERVICES["mlflow"]
    tokens = command_tokens(mlflow)
    assert "--serve-artifacts" in tokens
    bucket = re.fullmatch(r"s3://([\w.-]+)/?", option(tokens, "--artifacts-destination")).group(1)
    env = mlflow["environment"]
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] == "${MLFLOW_S3_ACCESS_KEY_ID:?set MLFLOW_S3_ACCESS_KEY_ID in .env}"
    assert env["AWS_SECRET_ACCESS_KEY"].startswith("${MLFLOW_S3_SECRET_ACCESS_KEY:?")
    script = command_tokens(SERVICES["minio-init"])[-1]
    assert f"mc mb --ignore-existing ccp/{bucket}" in script
    assert "mc admin policy attach ccp mlflow-artifacts" in script
    # the MLflow user may touch its bucket and nothing else
    policy = json.loads((REPO / mounts(SERVICES["minio-init"])["/policies/mlflow-artifacts.json"]).read_text())
    statements = policy["Statement"]
    assert {r for statement in statements for r in statement["Resource"]} == {
        f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*",
    }
    assert all(s["Effect"] == "Allow" and "s3:*" not in s["Action"] for s in statements)


@pytest.mark.parametrize("name", [n for n in SERVICES if n not in {"mlflow", "minio", "minio-init", "secrets-check"}])
def test_only_mlflow_and_minio_hold_s3_credentials(name):
    env = SERVICES[name].get("environment", {})
    assert not {k for k in env if k.startswith(("AWS_", "MINIO_", "MLFLOW_S3_"))}, name


def test_minio_is_ready_before_its_bucket_is_made():
    assert SERVICES["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert SERVICES["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert SERVICES["mlflow"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"


# ---- Triton: the model repository and captures the pipeline shares -----------------------------
def test_triton_reads_the_repository_the_pipeline_writes():
    ccp_home = PurePosixPath(SERVICES["airflow-worker"]["environment"]["CCP_HOME"])
    repository = ccp_home / "triton" / "models"  # Settings.triton_repository
    triton = SERVICES["triton"]
    tokens = command_tokens(triton)
    model_repository = option(tokens, "--model-repository")
    assert mounts(triton)[model_repository] == "triton-models" and read_only(triton, model_repository)
    for name in AIRFLOW:
        assert mounts(SERVICES[name])[str(repository)] == "triton-models", name
    assert option(tokens, "--model-control-mode") == "explicit"
    assert option(tokens, "--metrics-port") == "8002" and "summary_latencies=true" in option(tokens, "--metrics-config")
    assert triton["shm_size"]


def test_triton_writes_captures_where_the_pipeline_reads_them():
    ccp_home = Path(SERVICES["airflow-worker"]["environment"]["CCP_HOME"])
    config = PipelineConfig.from_yaml(REPO / "configs" / "pipeline.yaml")
    capture_dir = str(PurePosixPath(config.capture_dir(ccp_home)))
    assert mounts(SERVICES["triton"])[capture_dir] == "ccp-captures"
    assert not read_only(SERVICES["triton"], capture_dir)
    for name in WORKERS:
        assert mounts(SERVICES[name])[capture_dir] == "ccp-captures", name


def test_triton_dockerfile_matches_the_backend_s_needs():
    dockerfile = (REPO / "docker" / "triton.Dockerfile").read_text()
    assert re.search(r"^FROM nvcr\.io/nvidia/tritonserver:\$\{TRITON_VERSION\}-py3$", dockerfile, re.M)
    assert "sys.version_info[:2] == (3, 12)" in dockerfile  # Ludwig 0.17 needs Python 3.12
    assert "COPY plugins/champion_challenger /opt/ccp/plugins/champion_challenger" in dockerfile
    env = dict(re.findall(r"(\w+)=(\S+)", re.search(r"^ENV (.+)$", dockerfile, re.M).group(1)))
    assert env["CCP_TRITON_PYTHONPATH"] == "/opt/ccp/plugins" and env["LC_ALL"] == "C.UTF-8"
    for package in ("ludwig", "pandas", "pyarrow"):
        assert re.search(rf"\b{package}\b", dockerfile)
    backend = (REPO / "plugins" / "champion_challenger" / "serving" / "triton_backend")
    for script in ("model.py", "router.py"):
        assert "CCP_TRITON_PYTHONPATH" in (backend / script).read_text(), script


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


# ---- Grafana, Prometheus, Redis, MinIO auth -------------------------------------------------------
def test_grafana_has_an_env_admin_and_no_anonymous_or_sign_up():
    env = SERVICES["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert env["GF_SECURITY_SECRET_KEY"].startswith("${GRAFANA_SECRET_KEY:?")
    assert env["GF_USERS_ALLOW_SIGN_UP"] == env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_prometheus_uses_the_mounted_config_and_bounded_retention():
    tokens = command_tokens(SERVICES["prometheus"])
    config = option(tokens, "--config.file")
    assert mounts(SERVICES["prometheus"])[config] == "./configs/monitoring/prometheus.yml"
    assert option(tokens, "--storage.tsdb.retention.time")


def test_redis_and_minio_require_credentials():
    redis = command_tokens(SERVICES["redis"])
    assert option(redis, "--requirepass") == "${REDIS_PASSWORD:?set REDIS_PASSWORD in .env}"
    assert SERVICES["redis"]["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD")  # for its healthcheck
    minio = SERVICES["minio"]["environment"]
    assert minio["MINIO_ROOT_PASSWORD"].startswith("${MINIO_ROOT_PASSWORD:?")


# ---- variables and secrets ------------------------------------------------------------------------
def test_every_variable_is_documented_in_env_example_and_none_is_stale():
    used = {name for name, _ in USED}
    assert used == set(ENV_EXAMPLE), (sorted(used - set(ENV_EXAMPLE)), sorted(set(ENV_EXAMPLE) - used))


def test_every_env_example_variable_has_a_comment():
    block: list[str] = []
    for line in ENV_EXAMPLE_FILE.read_text().splitlines():
        if not line.strip():
            block = []
        elif line.startswith("#"):
            block.append(line)
        else:
            assert any(len(c.strip("# -")) > 0 for c in block), f"no comment above {line.split('=')[0]}"


@pytest.mark.parametrize("name", sorted(n for n in ENV_EXAMPLE if SECRET_NAME.search(n)))
def test_secrets_are_placeholders_required_and_checked(name):
    assert ENV_EXAMPLE[name].startswith("change-me"), name
    operators = {op for variable, op in USED if variable == name}
    assert operators == {":?"}, f"{name} must be ${{{name}:?...}}: no default, stop when unset"
    assert SERVICES["secrets-check"]["environment"][name] == f"${{{name}:?set {name} in .env}}"


def test_the_stack_does_not_render_without_an_env_file():
    with pytest.raises(MissingVariable, match="set .* in .env"):
        render({})


def test_rendered_stack_carries_the_env_values():
    assert RENDERED["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == ENV_EXAMPLE["GRAFANA_ADMIN_PASSWORD"]
    # $$ reaches the container as a literal $, for the shell inside it
    assert '"celery@${HOSTNAME}"' in RENDERED["airflow-worker"]["healthcheck"]["test"][1]


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
@pytest.mark.parametrize(
    ("env", "code"),
    [
        pytest.param({"GRAFANA_ADMIN_PASSWORD": "3f9c2d", "REDIS_PASSWORD": "a81e0b"}, 0, id="real-values"),
        pytest.param({"GRAFANA_ADMIN_PASSWORD": "change-me-grafana-admin", "REDIS_PASSWORD": "a81e0b"}, 1,
                     id="placeholder-left"),
    ],
)
def test_secrets_check_rejects_placeholders_and_prints_names_only(env, code):
    script = command_tokens(RENDERED["secrets-check"])[-1]
    result = subprocess.run(["sh", "-c", script], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True)
    assert result.returncode == code, result
    if code:
        assert "GRAFANA_ADMIN_PASSWORD" in result.stdout and "REDIS_PASSWORD" not in result.stdout
        assert "change-me-grafana-admin" not in result.stdout


def test_env_file_is_ignored_and_never_tracked():
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=REPO, capture_output=True, text=True, check=True)
    assert tracked.stdout == ""
    assert "env_file" not in COMPOSE_TEXT  # secrets only through interpolation, each where it is needed


# Well-known defaults, credentials written into a URL, and SQL password literals.
_WEAK = re.compile(
    r"minioadmin|password1234|admin:admin|airflow:airflow@|://[^:/\s${}]*:(?!\$\{)[^@\s/]+@|PASSWORD\s+'", re.I
)
_ASSIGNED = re.compile(
    r"""(?ix)(?<![{$\w])(?P<key>\w*(?:password|passwd|secret|token|api_?key)\w*)["']?\s*[:=]\s*
        (?P<value>"[^"]*"|'[^']*'|[^\s"',;]+)"""
)


def _uncommented(path: Path) -> str:
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("#", "--")))


@pytest.mark.parametrize("path", DEPLOYMENT_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_secret_value_is_committed(path):
    text = _uncommented(path)
    assert not _WEAK.search(text), (path, _WEAK.search(text).group())
    text = re.sub(r":'\w+'", "", text)  # psql variables (postgres-init.sql reads passwords with \getenv)
    for match in _ASSIGNED.finditer(text):
        value = match["value"].strip("\"'")
        assert value.startswith(("${", "change-me")), f"{path.name}: {match['key']} = {value}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_secret_settings_are_interpolated_never_written(name):
    for key, value in SERVICES[name].get("environment", {}).items():
        if SECRET_NAME.search(key) or key in {"REDISCLI_AUTH", "AWS_SECRET_ACCESS_KEY"}:
            assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), (name, key)


# ---- docker compose itself, where it exists -------------------------------------------------------
def _docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(
    not _docker_compose_available(),
    reason="the docker client here has no compose plugin; the interpolation and structure tests above cover it",
)
def test_docker_compose_config_is_valid():
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE_FILE), "config", "-q"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
