"""Export registry versions into a Triton model repository and write the models' configs.

Two Triton models per registered model ``<name>``:

* ``<name>_versions`` holds the registry versions (Triton version number = registry version); its
  ``config.pbtxt`` lists exactly the versions to serve (``version_policy: specific``): champion,
  challenger and previous champion.
* ``<name>`` is the public entry point, a BLS router (one version) that answers with the champion,
  so a client that names no version always gets the champion; see ``triton_backend/router.py``.

The outputs follow the task of the served model (:data:`TASK_OUTPUTS`):

=============  ==========================================  =========================================
task           versions model outputs                      the score
=============  ==========================================  =========================================
binary         ``probability`` FP32 [1], ``prediction``     ``probability`` (positive class)
               INT32 [1] (0/1)
multiclass     ``probabilities`` FP32 [K], ``prediction``   ``probabilities``, in the order of the
               STRING [1] (the predicted class)             config's ``classes`` parameter
regression     ``prediction`` FP32 [1]                      ``prediction`` (the predicted value)
=============  ==========================================  =========================================

Both configs carry the parameters ``task`` and ``classes`` (a JSON list: the sorted union of the served
versions' classes, from each version's ``serving_spec.json``; ``[]`` unless multiclass). The router has
the same outputs plus ``version`` (INT32, who answered). Clients and the MLflow pyfunc turn these
outputs into one frame per task (:func:`.output_frames.output_frame`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from champion_challenger.config.ludwig_schema import NUMERIC_TYPES
from champion_challenger.serving.routing import RoutingTable
from champion_challenger.task import OUTPUT_TYPE_TASK, TaskKind

MAX_BATCH_SIZE = 8192
#: Longest a request waits for others to batch with: none, so a lone request is never held back; requests that
#: queue while the instance is busy are still batched together (Triton's dynamic batcher, measured by bench-serving).
MAX_QUEUE_DELAY_US = 100
LUDWIG_DIR = "ludwig_model"
SPEC_FILE = "serving_spec.json"
ROUTER_VERSION = "1"
VERSIONS_SUFFIX = "_versions"
#: Output of the router telling which registry version answered a row.
VERSION_OUTPUT = "version"


@dataclass(frozen=True)
class OutputSpec:
    """One output tensor of a served model.

    Attributes:
        name: tensor name.
        data_type: Triton data type (``TYPE_FP32``, ``TYPE_INT32``, ``TYPE_STRING``).
        per_class: one value per class (dims ``[K]``) instead of one per row (dims ``[1]``).
    """

    name: str
    data_type: str
    per_class: bool = False


#: Outputs of the versions model per task (the router adds ``version``); the first is the task's score.
TASK_OUTPUTS: Mapping[TaskKind, tuple[OutputSpec, ...]] = {
    "binary": (OutputSpec("probability", "TYPE_FP32"), OutputSpec("prediction", "TYPE_INT32")),
    "multiclass": (OutputSpec("probabilities", "TYPE_FP32", per_class=True), OutputSpec("prediction", "TYPE_STRING")),
    "regression": (OutputSpec("prediction", "TYPE_FP32"),),
}
#: The output holding the task's scores (see :mod:`champion_challenger.task`).
SCORE_OUTPUT: Mapping[TaskKind, str] = {task: outputs[0].name for task, outputs in TASK_OUTPUTS.items()}
PREDICTION_OUTPUT = "prediction"


@dataclass(frozen=True)
class ServedSignature:
    """What a set of served versions takes and answers.

    Attributes:
        inputs: feature name → True for numeric (FP32), False for string; the union of the versions'.
        task: the versions' task.
        classes: sorted union of the versions' classes (multiclass; empty otherwise).
    """

    inputs: dict[str, bool]
    task: TaskKind = "binary"
    classes: tuple[str, ...] = ()


def versions_model_name(model_name: str) -> str:
    """Triton model holding the registry versions of ``model_name``."""
    return model_name + VERSIONS_SUFFIX


def serving_spec(ludwig_model_dir: Path) -> dict:
    """Describe a saved Ludwig model's inputs, target, task and classes for the Triton model.

    Args:
        ludwig_model_dir: a folder written by ``LudwigModel.save``.

    Returns:
        ``target``, ``threshold`` (binary decision threshold), ``task``, ``classes`` (the model's own
        classes, sorted; ``[]`` unless multiclass) and ``features`` (name, numeric).

    Raises:
        ValueError: the output feature's type is not a task the pipeline serves.
    """
    hyper = json.loads((ludwig_model_dir / "model_hyperparameters.json").read_text())
    target = hyper["output_features"][0]
    task = OUTPUT_TYPE_TASK.get(target["type"])
    if task is None:
        raise ValueError(
            f"{ludwig_model_dir}: output feature {target['name']!r} has type {target['type']!r}; "
            f"servable: {sorted(OUTPUT_TYPE_TASK)}"
        )
    classes: list[str] = []
    if task == "multiclass":
        metadata = json.loads((ludwig_model_dir / "training_set_metadata.json").read_text())
        classes = sorted(str(c) for c in metadata[target["name"]]["idx2str"])
    features = [{"name": f["name"], "numeric": f["type"] in NUMERIC_TYPES} for f in hyper["input_features"]]
    return {
        "target": target["name"],
        "threshold": float(target.get("threshold", 0.5)),
        "task": task,
        "classes": classes,
        "features": features,
    }


def export_version(
    repository: Path, model_name: str, version: int, ludwig_model_dir: Path, serving_export: Path | None = None
) -> Path:
    """Write ``<repository>/<model_name>/<version>/`` (returned) from a saved Ludwig model and its serving export.

    Served from ``model.onnx`` when ``serving_export`` (written by :func:`.onnx_export.export_serving`) holds a
    graph that passed its parity check; else from a copy of ``ludwig_model_dir``, with the export's reason in
    the spec (``fallback_reason``). Idempotent: an existing version folder is replaced atomically.
    """
    from champion_challenger.serving.onnx_scoring import ONNX_FILE, ServingExport

    model_dir = repository / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / f".{version}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    spec = serving_spec(ludwig_model_dir)
    export = ServingExport.read(serving_export) if serving_export is not None else None
    if export is not None and export.format == "onnx" and (serving_export / ONNX_FILE).exists():  # type: ignore[operator]
        shutil.copy2(serving_export / ONNX_FILE, staging / ONNX_FILE)  # type: ignore[operator]
        spec.update(format="onnx", parity_max_abs_diff=export.max_abs_diff)
    else:
        shutil.copytree(ludwig_model_dir, staging / LUDWIG_DIR)
        reason = export.reason if export else "the version was logged without a serving export"
        spec.update(format="ludwig", fallback_reason=reason)
    (staging / SPEC_FILE).write_text(json.dumps(spec, indent=2))
    (staging / "model.py").write_text(_backend_source("model.py"))
    final = model_dir / str(version)
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    return final


def version_format(repository: Path, model_name: str, version: int) -> tuple[str, str | None]:
    """How an exported version is served: ``("onnx", None)`` or ``("ludwig", reason)``."""
    spec = json.loads((repository / model_name / str(version) / SPEC_FILE).read_text())
    return spec.get("format", "ludwig"), spec.get("fallback_reason")


def exported_versions(repository: Path, model_name: str) -> list[int]:
    """Version folders present for ``model_name``."""
    model_dir = repository / model_name
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def served_signature(repository: Path, model_name: str, versions: Sequence[int]) -> ServedSignature:
    """Union of the versions' input features (each version reads the ones it needs), their task and
    the sorted union of their classes, from each version's ``serving_spec.json``.

    Raises:
        ValueError: no version given, a version is not exported, two versions disagree on a
            feature's type, or the versions serve different tasks.
    """
    if not versions:
        raise ValueError("at least one version must be served")
    inputs: dict[str, bool] = {}
    tasks: dict[int, str] = {}
    classes: set[str] = set()
    for version in sorted(set(versions)):
        spec_path = repository / model_name / str(version) / SPEC_FILE
        if not spec_path.exists():
            raise ValueError(f"version {version} of {model_name} is not exported to {repository}")
        spec = json.loads(spec_path.read_text())
        for feat in spec["features"]:
            if inputs.setdefault(feat["name"], feat["numeric"]) != feat["numeric"]:
                raise ValueError(f"feature {feat['name']!r} changes type between served versions")
        tasks[version] = spec.get("task", "binary")  # exported before tasks were recorded: binary
        classes.update(str(c) for c in spec.get("classes", []))
    if len(set(tasks.values())) > 1:
        raise ValueError(f"served versions of {model_name} serve different tasks: {tasks}")
    return ServedSignature(inputs, next(iter(tasks.values())), tuple(sorted(classes)))  # type: ignore[arg-type]


def served_inputs(repository: Path, model_name: str, versions: list[int]) -> dict[str, bool]:
    """Union of the versions' input features: name → True for numeric (see :func:`served_signature`)."""
    return served_signature(repository, model_name, versions).inputs


def write_model_config(
    repository: Path, model_name: str, versions: list[int], onnx_backend: str = "python", kind: str = "KIND_CPU"
) -> bool:
    """Write ``config.pbtxt`` serving exactly ``versions`` (see :func:`served_signature` for errors).

    Args:
        onnx_backend: ``onnxruntime`` serves the versions with Triton's native ONNX Runtime backend when every one
            of them is exported (``format: onnx``) and they share their classes; otherwise, and for ``python``,
            the Python backend hosts them (``model.py``).
        kind: the instances' ``KIND_CPU`` / ``KIND_GPU``.

    Returns:
        True when the config changed. An unchanged config is not rewritten: Triton reloads every
        version of a model whose config file is newer than its last load.
    """
    served = served_signature(repository, model_name, versions)
    native = onnx_backend == "onnxruntime" and native_onnx_servable(repository, model_name, versions)
    config = render_config(model_name, served, sorted(set(versions)), native_onnx=native, kind=kind)
    return _write_if_changed(repository / model_name / "config.pbtxt", config)


def native_onnx_servable(repository: Path, model_name: str, versions: Sequence[int]) -> bool:
    """Every version exported to ONNX and all with the same classes (the native backend cannot reorder them)."""
    specs = [json.loads((repository / model_name / str(v) / SPEC_FILE).read_text()) for v in versions]
    return all(s.get("format") == "onnx" for s in specs) and len({tuple(s.get("classes", [])) for s in specs}) <= 1


def write_router(repository: Path, router_name: str, served: ServedSignature | Mapping[str, bool], table: RoutingTable) -> bool:
    """Write the router model (config, BLS code, routing table) for ``router_name``.

    Args:
        repository: the Triton model repository.
        router_name: the public model name.
        served: :func:`served_signature` of the served versions. A plain mapping of inputs (name →
            numeric) takes the task and classes from every version exported for
            ``table.versions_model`` (a superset of those served: a class no served version knows
            is answered with probability 0).
        table: the routing table to write.

    Returns:
        True when the config or code changed, so Triton must (re)load the router; a changed
        routing table alone needs no reload (the router re-reads it).
    """
    if not isinstance(served, ServedSignature):
        exported = served_signature(repository, table.versions_model, exported_versions(repository, table.versions_model))
        served = ServedSignature(dict(served), exported.task, exported.classes)
    router_dir = repository / router_name
    router_dir.mkdir(parents=True, exist_ok=True)
    for stale in router_dir.iterdir():  # version folders of an older layout
        if stale.is_dir() and stale.name.isdigit() and stale.name != ROUTER_VERSION:
            shutil.rmtree(stale)
    (router_dir / ROUTER_VERSION).mkdir(exist_ok=True)
    changed = _write_if_changed(router_dir / ROUTER_VERSION / "model.py", _backend_source("router.py"))
    changed |= _write_if_changed(router_dir / "config.pbtxt", render_router_config(router_name, served))
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


def _input_blocks(inputs: Mapping[str, bool]) -> str:
    return ",\n".join(
        f'  {{ name: "{name}" data_type: {"TYPE_FP32" if numeric else "TYPE_STRING"} dims: [ 1 ] }}'
        for name, numeric in inputs.items()
    )


def _output_blocks(served: ServedSignature, extra: tuple[OutputSpec, ...] = ()) -> str:
    width = len(served.classes)
    if served.task == "multiclass" and width == 0:
        raise ValueError("a multiclass model needs at least one class to serve")
    return ",\n".join(
        f'  {{ name: "{o.name}" data_type: {o.data_type} dims: [ {width if o.per_class else 1} ] }}'
        for o in (*TASK_OUTPUTS[served.task], *extra)
    )


def _parameter_blocks(served: ServedSignature) -> str:
    """``task`` and ``classes`` (JSON, ASCII-only) as string parameters, escaped for the text format."""
    values = {"task": served.task, "classes": json.dumps(list(served.classes))}
    escaped = {key: value.replace("\\", "\\\\").replace('"', '\\"') for key, value in values.items()}
    return ",\n".join(f'  {{ key: "{key}" value: {{ string_value: "{value}" }} }}' for key, value in escaped.items())


def render_config(
    model_name: str, served: ServedSignature, versions: list[int], native_onnx: bool = False, kind: str = "KIND_CPU"
) -> str:
    """Render the versions model's ``config.pbtxt``: the Python backend (``model.py`` per version), or with
    ``native_onnx`` Triton's ``onnxruntime`` backend on each version's ``model.onnx``.

    Args:
        model_name: Triton model name.
        served: inputs, task and classes of the served versions (:func:`served_signature`).
        versions: versions to serve.
        native_onnx: serve ``model.onnx`` natively (every version exported, see :func:`native_onnx_servable`).
        kind: ``KIND_CPU`` or ``KIND_GPU``.

    Raises:
        ValueError: a multiclass signature without classes.
    """
    version_list = ", ".join(str(v) for v in versions)
    runtime = 'platform: "onnxruntime_onnx"\ndefault_model_filename: "model.onnx"' if native_onnx else 'backend: "python"'
    return f"""name: "{model_name}"
{runtime}
max_batch_size: {MAX_BATCH_SIZE}
version_policy: {{ specific: {{ versions: [ {version_list} ] }} }}
input [
{_input_blocks(served.inputs)}
]
output [
{_output_blocks(served)}
]
parameters [
{_parameter_blocks(served)}
]
dynamic_batching {{ max_queue_delay_microseconds: {MAX_QUEUE_DELAY_US} }}
instance_group [ {{ kind: {kind} count: 1 }} ]
"""


def render_router_config(router_name: str, served: ServedSignature) -> str:
    """Render the router's ``config.pbtxt``: the served features, an optional ``entity_key``, the
    task's outputs and ``version`` (who answered), and the same ``task``/``classes`` parameters."""
    return f"""name: "{router_name}"
backend: "python"
max_batch_size: {MAX_BATCH_SIZE}
version_policy: {{ specific: {{ versions: [ {ROUTER_VERSION} ] }} }}
input [
{_input_blocks(served.inputs)},
  {{ name: "entity_key" data_type: TYPE_STRING dims: [ 1 ] optional: true }}
]
output [
{_output_blocks(served, (OutputSpec(VERSION_OUTPUT, "TYPE_INT32"),))}
]
parameters [
{_parameter_blocks(served)}
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
