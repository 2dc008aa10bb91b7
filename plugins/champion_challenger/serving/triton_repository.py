"""Export registry versions into a Triton model repository and write the model's config.

One Triton model per registered model; Triton version number = registry version. The model's
``config.pbtxt`` lists exactly the versions to serve (``version_policy: specific``).
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from pathlib import Path

from champion_challenger.config import NUMERIC_TYPES

MAX_BATCH_SIZE = 8192
LUDWIG_DIR = "ludwig_model"
SPEC_FILE = "serving_spec.json"


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
    backend_model = resources.files("champion_challenger.serving") / "triton_backend" / "model.py"
    (staging / "model.py").write_text(backend_model.read_text(encoding="utf-8"))
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


def write_model_config(repository: Path, model_name: str, versions: list[int]) -> Path:
    """Write ``config.pbtxt`` serving exactly ``versions``.

    Inputs are the union of the versions' features (each version reads the ones it needs).

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
    config = render_config(model_name, inputs, sorted(set(versions)))
    path = repository / model_name / "config.pbtxt"
    tmp = path.with_name(".config.pbtxt.tmp")
    tmp.write_text(config)
    os.replace(tmp, path)
    return path


def render_config(model_name: str, inputs: dict[str, bool], versions: list[int]) -> str:
    """Render a python-backend ``config.pbtxt``.

    Args:
        model_name: Triton model name.
        inputs: feature name → True for numeric (FP32), False for string.
        versions: versions to serve.
    """
    input_blocks = ",\n".join(
        f'  {{ name: "{name}" data_type: {"TYPE_FP32" if numeric else "TYPE_STRING"} dims: [ 1 ] }}'
        for name, numeric in inputs.items()
    )
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
dynamic_batching {{ max_queue_delay_microseconds: 1000 }}
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""


def prune_versions(repository: Path, model_name: str, keep: set[int]) -> list[int]:
    """Delete exported version folders not in ``keep``; returns the deleted versions."""
    removed = [v for v in exported_versions(repository, model_name) if v not in keep]
    for version in removed:
        shutil.rmtree(repository / model_name / str(version), ignore_errors=True)
    return removed
