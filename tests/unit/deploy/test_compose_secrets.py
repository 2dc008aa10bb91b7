"""Static checks of the stack's variables and secrets: .env.example, placeholders, nothing committed;
and `docker compose config` itself where the docker client has the compose plugin.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.unit.deploy.compose import (
    COMPOSE_FILE,
    COMPOSE_TEXT,
    DEPLOYMENT_FILES,
    ENV_EXAMPLE,
    ENV_EXAMPLE_FILE,
    RENDERED,
    SECRET_NAME,
    SERVICES,
    USED,
    MissingVariable,
    command_tokens,
    render,
)


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
        pytest.param({"GRAFANA_ADMIN_PASSWORD": "change-me-grafana-admin", "REDIS_PASSWORD": "a81e0b"}, 1, id="placeholder-left"),
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
_WEAK = re.compile(r"minioadmin|password1234|admin:admin|airflow:airflow@|://[^:/\s${}]*:(?!\$\{)[^@\s/]+@|PASSWORD\s+'", re.I)
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
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
