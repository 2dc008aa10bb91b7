"""``ccp init``: a pipeline for a user's own data file, in one command.

From one CSV or Parquet file and the name of its target column, write ``<out>/pipeline.yaml`` and
``<out>/ludwig/<name>_mlp.yaml`` (see :mod:`champion_challenger.data.profile` for what is inferred and
how), check that the file would pass the pipeline's validation, and copy it into the landing folder so
the first cycle has data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from champion_challenger.config.ludwig_schema import DERIVED_ID_COLUMN, ModelSchema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.checks import KnownValues, find_problems
from champion_challenger.data.profile import DataProfile, OnboardingError, profile_data
from champion_challenger.data.store import SUPPORTED_SUFFIXES, read_raw_batch
from champion_challenger.task import GUARDRAIL_ONLY_METRICS, TASK_DEFAULTS, TASK_METRICS, TaskKind

#: Ludwig output feature type of each task.
OUTPUT_TYPE: dict[TaskKind, str] = {"binary": "binary", "multiclass": "category", "regression": "number"}
HOLDOUT_FRACTION = 0.25
#: A slice column has at most this many values.
MAX_SLICE_LEVELS = 10


@dataclass(frozen=True)
class InitRequest:
    """What ``ccp init`` was asked for.

    Attributes:
        data: the CSV or Parquet file.
        target: its label column.
        name: the model name (default: the file stem, sanitised).
        out: the config folder (default: ``configs/<name>``).
        id_column / timestamp_column / task: override what is inferred.
        land: copy the file into the landing folder.
        force: overwrite existing configs (and a landed file of the same name).
    """

    data: Path
    target: str
    name: str | None = None
    out: Path | None = None
    id_column: str | None = None
    timestamp_column: str | None = None
    task: TaskKind | None = None
    land: bool = True
    force: bool = False


@dataclass(frozen=True)
class InitResult:
    """What ``ccp init`` wrote."""

    name: str
    profile: DataProfile
    pipeline_config: Path
    ludwig_config: Path
    landed: Path | None

    def as_dict(self) -> dict[str, Any]:
        p = self.profile
        return {
            "model_name": self.name,
            "task": p.task,
            "task_reason": p.task_reason,
            "target": p.target,
            "timestamp_column": p.timestamp_column,
            "id_column": p.id_column,
            "classes": list(p.classes),
            "features": {f.name: f.type for f in p.features},
            "dropped": p.dropped,
            "pipeline_config": str(self.pipeline_config),
            "ludwig_config": str(self.ludwig_config),
            "landed": str(self.landed) if self.landed else None,
        }


def init_pipeline(request: InitRequest, home: Path) -> InitResult:
    """Write a pipeline and a Ludwig config for a data file, and land the file.

    Args:
        request: the file, its target and the options.
        home: the runtime folder (``CCP_HOME``) the landing folder is resolved against.

    Returns:
        The paths written and the profile they were written from.

    Raises:
        OnboardingError: the file cannot be read or profiled, it would be quarantined (naming each
            problem), or a config (or the landed file) exists and ``force`` is not set.
    """
    frame = _read(request.data)
    profile = profile_data(
        frame, request.target, id_column=request.id_column, timestamp_column=request.timestamp_column, task=request.task
    )
    _refuse_quarantine(request.data, frame, profile)
    name = sanitise_name(request.name or request.data.stem)
    out = request.out or Path("configs") / name
    pipeline_path, ludwig_path = out / "pipeline.yaml", out / "ludwig" / f"{name}_mlp.yaml"
    _refuse_overwrite([pipeline_path, ludwig_path], request.force)
    _write(ludwig_path, ludwig_yaml(profile, request.data))
    _write(pipeline_path, pipeline_yaml(profile, name, request.data))
    config = PipelineConfig.from_yaml(pipeline_path)
    landed = _land(request.data, config.landing_dir(home), request.force) if request.land else None
    return InitResult(name, profile, pipeline_path.resolve(), ludwig_path.resolve(), landed)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise OnboardingError(f"{path}: no such file")
    if path.suffix not in SUPPORTED_SUFFIXES:
        raise OnboardingError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        return read_raw_batch(path)
    except (ValueError, OSError) as exc:
        raise OnboardingError(f"{path}: cannot read it: {exc}") from None


def _refuse_quarantine(path: Path, frame: pd.DataFrame, profile: DataProfile) -> None:
    """Raise when the pipeline's validation would quarantine the file, naming each problem."""
    problems = find_problems(frame, schema_of(profile), KnownValues(classes=profile.classes))
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise OnboardingError(f"{path}: the pipeline would quarantine this file:\n{listed}\nFix it and run ccp init again.")


def schema_of(profile: DataProfile) -> ModelSchema:
    """The batch schema the written configs give (what validation will check)."""
    return ModelSchema(
        features=profile.features,
        target=profile.target,
        timestamp_column=profile.timestamp_column,
        id_column=profile.id_column or DERIVED_ID_COLUMN,
        task=profile.task,
        id_derived=profile.id_column is None,
    )


def sanitise_name(text: str) -> str:
    """A model name MLflow and Triton accept: letters, digits, ``_`` and ``-``, starting with a letter."""
    name = re.sub(r"[^A-Za-z0-9_\-]+", "_", text).strip("_-") or "model"
    return name if name[0].isalpha() else f"m_{name}"


def _refuse_overwrite(paths: list[Path], force: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise OnboardingError(f"{', '.join(existing)} already exist(s); pass --force to overwrite, or --out DIR")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _land(data: Path, landing: Path, force: bool) -> Path:
    """Copy the file into the landing folder under a temporary name, then rename (a claim never sees half a file)."""
    dest = landing / data.name
    if dest.exists() and not force:
        raise OnboardingError(f"{dest} already exists; pass --force to replace it, or --no-land")
    landing.mkdir(parents=True, exist_ok=True)
    tmp = landing / f".{data.name}.tmp"
    shutil.copyfile(data, tmp)
    os.replace(tmp, dest)
    return dest


def ludwig_config(profile: DataProfile) -> dict[str, Any]:
    """A concat-combiner MLP over the profile's features, trained for a few epochs."""
    inputs = [
        {"name": f.name, "type": f.type, **({"preprocessing": {"normalization": "zscore"}} if f.type == "number" else {})}
        for f in profile.features
    ]
    output: dict[str, Any] = {"name": profile.target, "type": OUTPUT_TYPE[profile.task]}
    if profile.task == "regression":
        output["preprocessing"] = {"normalization": "zscore"}
    return {
        "model_type": "ecd",
        "input_features": inputs,
        "output_features": [output],
        "combiner": {"type": "concat", "num_fc_layers": 2, "output_size": 64, "dropout": 0.1},
        "trainer": {"epochs": 10, "batch_size": 256 if profile.rows >= 4000 else 64, "learning_rate": 0.003, "early_stop": 3},
    }


def ludwig_yaml(profile: DataProfile, data: Path) -> str:
    """The Ludwig config as YAML, with a header naming the source and the dropped columns."""
    lines = [
        f"# Ludwig ECD model written by `ccp init` from {data.name}: concat combiner over a small MLP,",
        f"# {OUTPUT_TYPE[profile.task]} output ({profile.task}). Add candidates beside this file (one challenger each).",
        *_dropped_comment(profile),
    ]
    return "\n".join(lines) + "\n" + yaml.safe_dump(ludwig_config(profile), sort_keys=False)


def _dropped_comment(profile: DataProfile) -> list[str]:
    if not profile.dropped:
        return ["# Every column besides the target, id and timestamp is an input feature."]
    return ["# Columns left out (add them as input features if they should be):"] + [
        f"#   {column}: {why}" for column, why in profile.dropped.items()
    ]


def decision_sizes(rows: int) -> tuple[int, int]:
    """``(min_samples, min_slice_samples)`` a holdout of this file (a quarter of ``rows``) can meet."""
    holdout = max(1, rows - int(round(rows * (1 - HOLDOUT_FRACTION))))
    return min(500, max(1, holdout // 2)), min(100, max(1, holdout // 10))


def slice_column(profile: DataProfile) -> str | None:
    """Classifiers: the first category feature (a slice is judged on its own); None for regression, whose
    slice tolerance would be in label units."""
    if profile.task == "regression":
        return None
    return next((f.name for f in profile.features if f.type == "category"), None)


def pipeline_yaml(profile: DataProfile, name: str, data: Path) -> str:
    """The pipeline config, commented for the person who reviews it."""
    lines = [
        f"# Pipeline configuration written by `ccp init` from {data.name} ({profile.rows} rows) on {datetime.now(UTC):%Y-%m-%d}.",
        f"# Task: {profile.task} (Ludwig output type {OUTPUT_TYPE[profile.task]}), because the target is {profile.task_reason}.",
        "# The task is read from the Ludwig output feature at load; change it there (and in every candidate).",
        "# Relative data paths are resolved against the runtime folder (CCP_HOME, default ./.ccp);",
        "# relative config paths against this file's folder.",
        f"model_name: {name}",
        f"experiment_name: {name}",
        "",
        *_data_section(profile, name, data),
        "",
        "training:",
        '  ludwig_configs: ["ludwig/*.yaml"]   # every candidate is trained each cycle',
        "  window_batches: 8                   # the challenger trains on the newest N accepted batches",
        "  seed: 42",
        "  trigger: drift_or_schedule",
        "",
        "evaluation:",
        f"  holdout_fraction: {HOLDOUT_FRACTION}              # newest rows of the window, never trained on",
        "",
        *_decision_section(profile),
        "",
        "serving:",
        f"  capture_dir: captures/{name}",
    ]
    return "\n".join(lines) + "\n"


def _data_section(profile: DataProfile, name: str, data: Path) -> list[str]:
    lines = [
        "data:",
        f"  landing_dir: data/{name}/landing",
        f'  file_pattern: "*{data.suffix}"',
        f"  target: {json.dumps(profile.target)}",
        f"  timestamp_column: {json.dumps(profile.timestamp_column)}",
    ]
    if profile.id_column:
        lines.append(f"  id_column: {json.dumps(profile.id_column)}")
    else:
        lines.append("  # id_column: none found; each row's key is derived from its values (online evidence cannot join labels)")
    if profile.task == "multiclass":
        lines += [
            f"  classes: {json.dumps(list(profile.classes))}",
            "  unseen_classes: quarantine          # a label outside classes quarantines its batch; 'accept': counted, flagged",
        ]
    return lines


def _decision_section(profile: DataProfile) -> list[str]:
    task = profile.task
    defaults = TASK_DEFAULTS[task]
    min_samples, min_slice_samples = decision_sizes(profile.rows)
    column = slice_column(profile)
    valid = " | ".join(TASK_METRICS[task]) + "".join(f" (+ {m} as a guardrail)" for m in GUARDRAIL_ONLY_METRICS[task])
    return [
        f"# Metrics: a {task} pipeline judges {defaults['primary_metric']} by default, with guardrails "
        f"{json.dumps(dict(defaults['guardrails']))}",
        "# (how far the challenger may get worse on each). To change them, set decision.primary_metric (the training",
        "# selection and the watch follow it unless set) and decision.guardrails; valid for this task:",
        f"#   {valid}",
        *(
            ["# min_improvement, guardrails and tolerances of rmse/mae are in the target's units."]
            if task == "regression"
            else []
        ),
        "decision:",
        _line("primary_metric", defaults["primary_metric"]),
        _line("min_improvement", 0.0, "the challenger must beat the champion by at least this much"),
        _line("min_samples", min_samples, f"paired holdout rows needed; sized to this file ({profile.rows} rows)"),
        _line("guardrails", dict(defaults["guardrails"])),
        _line("slice_columns", [column] if column else [], "the primary metric is also judged in each value"),
        _line("min_slice_samples", min_slice_samples, "slices with fewer holdout rows are not judged"),
    ]


def next_steps(result: InitResult, airflow_port: int = 8080) -> str:
    """What ``ccp init`` did, in words, and what to do next."""
    from champion_challenger.config.fleet import dag_id

    p = result.profile
    kinds = ", ".join(f"{sum(f.type == k for f in p.features)} {k}" for k in ("number", "binary", "category"))
    lines = [
        f"wrote {result.pipeline_config}",
        f"      {result.ludwig_config}",
        f"task: {p.task} ({p.task_reason})" + (f"; classes {list(p.classes)}" if p.classes else ""),
        f"timestamp column: {p.timestamp_column}; id column: {p.id_column or 'none (a row key is derived from each row)'}",
        f"features: {len(p.features)} ({kinds})",
        *(f"dropped {column}: {why}" for column, why in p.dropped.items()),
        f"landed {result.landed} (the first cycle trains on it)" if result.landed else "not landed (--no-land)",
        "next steps:",
        f"  1. review {result.pipeline_config.name} and {result.ludwig_config.name} (metrics, features, epochs)",
        f"  2. CCP_PIPELINES={result.pipeline_config} make up   (`make down` first if the stack runs another pipeline)",
        f"  3. ccp trigger   (or Trigger the {dag_id(result.name)} DAG in the Airflow UI, http://127.0.0.1:{airflow_port})",
    ]
    return "\n".join(lines)


def _line(key: str, value: Any, comment: str = "") -> str:
    """One ``  key: value`` line of a section (JSON is YAML), its comment aligned."""
    text = f"  {key}: {json.dumps(value)}"
    return f"{text:<37} # {comment}" if comment else text
