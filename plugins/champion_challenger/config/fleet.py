"""The fleet: every pipeline of one stack, one model each.

``CCP_PIPELINES`` names a folder, where every ``*.yaml`` / ``*.yml`` directly inside is one pipeline, or a
single pipeline YAML. Each pipeline gets its own DAG (``champion_challenger__<model_name>``), registered
model, Triton router and versions model, MLflow experiment, data store, capture folder, cycle workspaces
and champion-change pool; the ``gpu`` queue and pool are shared. Two pipelines that would share a model,
an experiment, a data store or a capture folder are refused, naming both files: one pipeline's cycle
must never touch another's champion or data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.errors import ConfigError

DAG_PREFIX = "champion_challenger__"
CHAMPION_POOL_PREFIX = "champion_changes__"
PIPELINE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Pipeline:
    """One pipeline of the fleet.

    Attributes:
        name: its model name, or the file's stem when the file is invalid (its DAG then fails at once,
            with ``error`` as the message).
        path: the pipeline YAML.
        config: the validated config (None when ``error`` is set).
        error: why the pipeline cannot run (invalid YAML, or it clashes with another pipeline).
    """

    name: str
    path: Path
    config: PipelineConfig | None = None
    error: str | None = None

    @property
    def dag_id(self) -> str:
        return dag_id(self.name)


def dag_id(model: str) -> str:
    """The cycle DAG of a model: ``champion_challenger__<model>``."""
    return f"{DAG_PREFIX}{model}"


def champion_pool(model: str) -> str:
    """The one-slot Airflow pool of a model's champion changes (recover, deploy, promote, hold, watch)."""
    return f"{CHAMPION_POOL_PREFIX}{model}"


def pipeline_files(source: Path) -> list[Path]:
    """The pipeline YAMLs of ``source`` (a folder's ``*.yaml`` / ``*.yml`` in name order, or the file itself)."""
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.is_file() and p.suffix in PIPELINE_SUFFIXES)
    return [source]


def discover(source: Path, home: Path) -> list[Pipeline]:
    """Load every pipeline of ``source``; an invalid or clashing one carries its ``error`` instead of a config.

    Args:
        source: the folder of pipeline YAMLs, or one YAML.
        home: the runtime folder that relative data and capture paths are resolved against.
    """
    pipelines: list[Pipeline] = []
    for path in pipeline_files(source):
        try:
            config = PipelineConfig.from_yaml(path)
        except ConfigError as exc:
            pipelines.append(Pipeline(_free_name(path.stem, pipelines), path, error=str(exc)))
            continue
        clash = _clash(config, [p for p in pipelines if p.config is not None], home)
        name = config.model_name if clash is None else _free_name(path.stem, pipelines)
        pipelines.append(Pipeline(name, path, None if clash else config, clash))
    return pipelines


def pipeline_path(source: Path, home: Path, model: str | None = None) -> Path:
    """The YAML of pipeline ``model``, or of the only pipeline when ``model`` is None.

    Raises:
        ConfigError: the folder holds no pipeline, several and none was chosen, none of that name, or
            the chosen one clashes with another (the message says what to do).
    """
    if source.is_file() or not source.exists():
        files = [source]  # a missing file fails where it is read, naming it
    else:
        files = pipeline_files(source)
        if not files:
            raise ConfigError(f"{source}: no pipeline YAML in this folder; `ccp init --data FILE --target COLUMN` writes one")
    if model is None and len(files) == 1:
        return files[0]
    pipelines = discover(source, home)
    if model is None:
        raise ConfigError(
            f"{source} holds {len(pipelines)} pipelines ({', '.join(p.name for p in pipelines)}); "
            "choose one with --model NAME (or CCP_MODEL=NAME)"
        )
    for pipeline in pipelines:
        if pipeline.name == model:
            if pipeline.error:
                raise ConfigError(pipeline.error)
            return pipeline.path
    raise ConfigError(f"no pipeline for model {model!r} in {source}; its models: {', '.join(p.name for p in pipelines) or '-'}")


def _clash(config: PipelineConfig, others: list[Pipeline], home: Path) -> str | None:
    """Why ``config`` cannot run beside ``others`` (they share a model, experiment, data store or captures)."""
    mine = _owned(config, home)
    for other in others:
        assert other.config is not None, "only pipelines with a config can clash"
        theirs = _owned(other.config, home)
        for what, value in mine.items():
            if theirs[what] == value:
                return (
                    f"{config.source_path}: {what} {value} is already used by {other.path} (model {other.name}); "
                    "every pipeline needs its own model_name, experiment_name, data.landing_dir parent folder and "
                    "serving.capture_dir"
                )
    return None


def _owned(config: PipelineConfig, home: Path) -> dict[str, str]:
    return {
        "model_name": config.model_name,
        "experiment_name": config.experiment_name,
        "data store (the landing folder's parent)": str(config.landing_dir(home).parent),
        "capture folder": str(config.capture_dir(home)),
    }


def _free_name(stem: str, taken: list[Pipeline]) -> str:
    names = {p.name for p in taken}
    return stem if stem not in names else f"{stem}__invalid"
