"""Export registry versions into a Triton model repository and write the models' configs.

Two Triton models per registered model ``<name>``:

* ``<name>_versions`` holds the registry versions (Triton version number = registry version); its
  ``config.pbtxt`` lists exactly the versions to serve (``version_policy: specific``): champion,
  challenger and previous champion.
* ``<name>`` is the public entry point, a BLS router (one version) that answers with the champion,
  so a client that names no version always gets the champion; see ``triton_backend/router.py``.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from pathlib import Path

from champion_challenger.ludwig_schema import NUMERIC_TYPES
from champion_challenger.serving.routing import RoutingTable

MAX_BATCH_SIZE = 8192
#: Longest a request waits for others to batch with; small, so a lone request is not held back.
MAX_QUEUE_DELAY_US = 100
LUDWIG_DIR = "ludwig_model"
SPEC_FILE = "serving_spec.json"
ROUTER_VERSION = "1"
VERSIONS_SUFFIX = "_versions"


def versions_model_name(model_name: str) -> str:
    """Triton model holding the registry versions of ``model_name``."""
    return model_name + VERSIONS_SUFFIX


def serving_spec(ludwig_model_dir: Path) -> dict:
    """Describe a saved Ludwig model's inputs and target for the Triton model.

    Args:
        ludwig_model_dir: a folder written by ``LudwigModel.save``.
    """
    hyper = json.loads((ludwig_model_dir / "model_hyperparameters.json").read_text())
    target = hyper["output_features"][0]
    threshold = float(target.get("threshold", 0.5))
    features = [{"name": f["name"], "numeric": f["type"] in NUMERIC_TYPES} for f in hyper["input_features"]]
    return {"target": target["name"], "threshold": threshold, "features": features}


def export_version(repository: Path, model_name: str, version: int, ludwig_model_dir: Path) -> Path:
    """Write ``<repository>/<model_name>/<version>/`` from a saved Ludwig model.

    Idempotent: an existing version folder is replaced atomically.

    Returns:
        The version folder.
    """
    model_dir = repository / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / f".{version}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(ludwig_model_dir, staging / LUDWIG_DIR)
    (staging / SPEC_FILE).write_text(json.dumps(serving_spec(ludwig_model_dir), indent=2))
    (staging / "model.py").write_text(_backend_source("model.py"))
    final = model_dir / str(version)
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    return final


def exported_versions(repository: Path, model_name: str) -> list[int]:
    """Version folders present for ``model_name``."""
    model_dir = repository / model_name
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def served_inputs(repository: Path, model_name: str, versions: list[int]) -> dict[str, bool]:
    """Union of the versions' input features: name → True for numeric (each version reads the ones it needs).

    Raises:
        ValueError: no version given, a version is not exported, or two versions disagree on a
            feature's type.
    """
    if not versions:
        raise ValueError("at least one version must be served")
    inputs: dict[str, bool] = {}
    for version in sorted(set(versions)):
        spec_path = repository / model_name / str(version) / SPEC_FILE
        if not spec_path.exists():
            raise ValueError(f"version {version} of {model_name} is not exported to {repository}")
        for feat in json.loads(spec_path.read_text())["features"]:
            if inputs.setdefault(feat["name"], feat["numeric"]) != feat["numeric"]:
                raise ValueError(f"feature {feat['name']!r} changes type between served versions")
    return inputs


def write_model_config(repository: Path, model_name: str, versions: list[int]) -> bool:
    """Write ``config.pbtxt`` serving exactly ``versions`` (see :func:`served_inputs` for errors).

    Returns:
        True when the config changed. An unchanged config is not rewritten: Triton reloads every
        version of a model whose config file is newer than its last load.
    """
    config = render_config(model_name, served_inputs(repository, model_name, versions), sorted(set(versions)))
    return _write_if_changed(repository / model_name / "config.pbtxt", config)


def write_router(repository: Path, router_name: str, inputs: dict[str, bool], table: RoutingTable) -> bool:
    """Write the router model (config, BLS code, routing table) for ``router_name``.

    Returns:
        True when the config or code changed, so Triton must (re)load the router; a changed
        routing table alone needs no reload (the router re-reads it).
    """
    router_dir = repository / router_name
    router_dir.mkdir(parents=True, exist_ok=True)
    for stale in router_dir.iterdir():  # version folders of an older layout
        if stale.is_dir() and stale.name.isdigit() and stale.name != ROUTER_VERSION:
            shutil.rmtree(stale)
    (router_dir / ROUTER_VERSION).mkdir(exist_ok=True)
    changed = _write_if_changed(router_dir / ROUTER_VERSION / "model.py", _backend_source("router.py"))
    changed |= _write_if_changed(router_dir / "config.pbtxt", render_router_config(router_name, inputs))
    table.write(router_dir)
    return changed


def _write_if_changed(path: Path, text: str) -> bool:
    """Replace ``path`` atomically with ``text`` unless it already holds it; True when written
    (Triton reloads a model whose files are newer than its last load)."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def _backend_source(name: str) -> str:
    return (resources.files("champion_challenger.serving") / "triton_backend" / name).read_text(encoding="utf-8")


def _input_blocks(inputs: dict[str, bool]) -> str:
    return ",\n".join(
        f'  {{ name: "{name}" data_type: {"TYPE_FP32" if numeric else "TYPE_STRING"} dims: [ 1 ] }}'
        for name, numeric in inputs.items()
    )


def render_config(model_name: str, inputs: dict[str, bool], versions: list[int]) -> str:
    """Render a python-backend ``config.pbtxt``.

    Args:
        model_name: Triton model name.
        inputs: feature name → True for numeric (FP32), False for string.
        versions: versions to serve.
    """
    input_blocks = _input_blocks(inputs)
    version_list = ", ".join(str(v) for v in versions)
    return f"""name: "{model_name}"
backend: "python"
max_batch_size: {MAX_BATCH_SIZE}
version_policy: {{ specific: {{ versions: [ {version_list} ] }} }}
input [
{input_blocks}
]
output [
  {{ name: "probability" data_type: TYPE_FP32 dims: [ 1 ] }},
  {{ name: "prediction" data_type: TYPE_INT32 dims: [ 1 ] }}
]
dynamic_batching {{ max_queue_delay_microseconds: {MAX_QUEUE_DELAY_US} }}
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""


def render_router_config(router_name: str, inputs: dict[str, bool]) -> str:
    """Render the router's ``config.pbtxt``: the served features, an optional ``entity_key``,
    and ``version`` (who answered) beside the prediction outputs."""
    return f"""name: "{router_name}"
backend: "python"
max_batch_size: {MAX_BATCH_SIZE}
version_policy: {{ specific: {{ versions: [ {ROUTER_VERSION} ] }} }}
input [
{_input_blocks(inputs)},
  {{ name: "entity_key" data_type: TYPE_STRING dims: [ 1 ] optional: true }}
]
output [
  {{ name: "probability" data_type: TYPE_FP32 dims: [ 1 ] }},
  {{ name: "prediction" data_type: TYPE_INT32 dims: [ 1 ] }},
  {{ name: "version" data_type: TYPE_INT32 dims: [ 1 ] }}
]
dynamic_batching {{ max_queue_delay_microseconds: {MAX_QUEUE_DELAY_US} }}
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""


def prune_versions(repository: Path, model_name: str, keep: set[int]) -> list[int]:
    """Delete exported version folders not in ``keep``; returns the deleted versions."""
    removed = [v for v in exported_versions(repository, model_name) if v not in keep]
    for version in removed:
        shutil.rmtree(repository / model_name / str(version), ignore_errors=True)
    return removed
