"""The production stack's files, parsed, and a small implementation of Compose's variable interpolation.

What `docker compose config` would check is checked by rendering the file with these helpers (no Docker engine here).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

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
