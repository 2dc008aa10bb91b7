"""Score a CSV or Parquet file through Triton in batches (``ccp predict``).

Rows go to the router (the public model, named like the registered model), so the champion
answers, as it does for online clients, with the file's id column as the entity key so a canary
stays sticky per entity; or, with an explicit version, to ``<model>_versions`` at that version.
The predictions are written next to the input in the same format (the input is never overwritten):
the id column, then per task (:meth:`TritonModelClient.score`) binary ``probability, prediction,
version``; multiclass ``prediction`` (the class), ``version`` and one ``probability_<class>`` per
class; regression ``prediction`` (the value), ``version``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm
from tritonclient.utils import InferenceServerException

from champion_challenger.config.ludwig_schema import ModelSchema, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.errors import ConfigError, ScoringInputError, ServiceUnavailableError
from champion_challenger.serving import triton_repository
from champion_challenger.serving.triton_client import TritonModelClient

DEFAULT_BATCH_SIZE = 1024
CSV, PARQUET = "csv", "parquet"
#: File suffix → format; anything else is refused.
FORMATS = {".csv": CSV, ".parquet": PARQUET, ".pq": PARQUET}


@dataclass(frozen=True)
class ScoringSummary:
    """What one file scoring did.

    Attributes:
        input: the scored file.
        output: the written predictions file.
        model: the Triton model that answered (the router, or ``<model>_versions``).
        version: the registry version asked for; None when the router chose (the champion).
        rows: rows scored.
        seconds: wall time from reading the input to the written output.
        answered_by: registry version → rows it answered (champion and, for canary entities, challenger).
    """

    input: str
    output: str
    model: str
    version: int | None
    rows: int
    seconds: float
    answered_by: dict[int, int]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict:
        """JSON-ready form (``ccp predict --json``)."""
        return {
            **asdict(self),
            "answered_by": {str(k): v for k, v in self.answered_by.items()},
            "rows_per_second": round(self.rows_per_second, 1),
        }


def scoring_schema(config: PipelineConfig) -> ModelSchema:
    """The pipeline's schema (features, id column) for scoring, without Ludwig's config validation.

    ``CycleContext.schema`` validates every candidate with Ludwig's own schema, which imports Ludwig
    (about 10 s); scoring only needs the features' names and types, which :func:`model_schema`
    still checks. The pipeline validated these configs when it trained the served models.

    Raises:
        ConfigError: a candidate YAML is missing or unreadable, or its features are invalid.
    """
    ludwig_configs = {}
    for name, path in config.ludwig_config_paths().items():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the Ludwig config: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
        ludwig_configs[name] = raw
    return model_schema(config, ludwig_configs)


def file_format(path: Path) -> str:
    """``csv`` or ``parquet`` from the file's suffix.

    Raises:
        ScoringInputError: any other suffix.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ScoringInputError(
            f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; use one of {', '.join(FORMATS)}"
        )
    return fmt


def check_input_path(path: Path) -> str:
    """The input's format, after checking it is an existing file of a supported type.

    Raises:
        ScoringInputError: no such file, not a file, or an unsupported suffix.
    """
    if not path.exists():
        raise ScoringInputError(f"{path}: no such file")
    if not path.is_file():
        raise ScoringInputError(f"{path}: not a file")
    return file_format(path)


def default_output_path(path: Path) -> Path:
    """``<stem>.predictions.<suffix>`` beside ``path``."""
    return path.with_name(f"{path.stem}.predictions{path.suffix}")


def resolve_output(path: Path, out: Path | None, overwrite: bool = False) -> Path:
    """Where the predictions of ``path`` go.

    Args:
        path: the input file.
        out: a file, an existing folder (the default name inside it), or None (beside the input).
        overwrite: replace an existing output file.

    Raises:
        ScoringInputError: the output would be the input, has an unsupported suffix, or exists
            and ``overwrite`` is not set.
    """
    if out is None:
        out = default_output_path(path)
    elif out.is_dir():
        out = out / default_output_path(path).name
    file_format(out)
    if out.resolve() == path.resolve():
        raise ScoringInputError(f"{out}: the output would overwrite the input; choose another --out")
    if out.exists() and not overwrite:
        raise ScoringInputError(f"{out} already exists; pass --overwrite to replace it or choose another --out")
    return out


def read_rows(path: Path, schema: ModelSchema) -> pd.DataFrame:
    """Read a CSV or Parquet file of rows to score and check it carries the features.

    Categorical features and the id column are read as text, so ``007`` stays ``007``.

    Raises:
        ScoringInputError: the file is missing, unreadable, empty, of an unsupported type, lacks
            feature columns, or has a non-numeric value in a numeric feature (each named).
    """
    fmt = check_input_path(path)
    try:
        if fmt == CSV:
            text_columns = [f.name for f in schema.features if not f.is_numeric] + [schema.id_column]
            frame = pd.read_csv(path, dtype={c: str for c in text_columns})
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise ScoringInputError(f"{path}: the file is empty") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ScoringInputError(f"{path}: cannot read it as {fmt}: {exc}") from None
    missing = [name for name in schema.feature_names if name not in frame.columns]
    if missing:
        raise ScoringInputError(
            f"{path}: missing feature column(s) {', '.join(missing)}; the model needs {', '.join(schema.feature_names)}"
        )
    if frame.empty:
        raise ScoringInputError(f"{path}: the file has a header but no rows")
    _check_numeric(path, frame, schema)
    return frame


def _check_numeric(path: Path, frame: pd.DataFrame, schema: ModelSchema) -> None:
    """Refuse text in numeric features (missing values are allowed: the model fills them)."""
    for feat in schema.features:
        column = frame[feat.name]
        if not feat.is_numeric or pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        bad = pd.to_numeric(column, errors="coerce").isna() & column.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ScoringInputError(
                f"{path}: numeric feature {feat.name!r} has non-numeric value {column.iloc[row]!r} in data row {row + 1}"
            )


def write_predictions(predictions: pd.DataFrame, out: Path) -> Path:
    """Write predictions as CSV or Parquet (by ``out``'s suffix) under a temporary name, then rename,
    so a reader never sees half a file."""
    fmt = file_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if fmt == CSV:
        predictions.to_csv(tmp, index=False)
    else:
        predictions.to_parquet(tmp, index=False)
    os.replace(tmp, out)
    return out


def score_rows(
    client: TritonModelClient,
    schema: ModelSchema,
    model: str,
    frame: pd.DataFrame,
    batch_size: int = DEFAULT_BATCH_SIZE,
    version: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Score ``frame`` batch by batch through the router, or through ``<model>_versions`` at ``version``.

    Args:
        client: Triton client.
        schema: the pipeline's schema (features, id column).
        model: the public model (router) name, i.e. the registered model name.
        frame: rows carrying every feature column.
        batch_size: rows per request.
        version: registry version to score with; None lets the router answer with the champion.
        on_batch: called with the number of rows after each batch (a progress bar).

    Returns:
        The task's columns and ``version`` (see :meth:`TritonModelClient.score`), one row per input
        row, in input order.

    Raises:
        ServiceUnavailableError: Triton is unreachable, does not serve the model, or failed a request.
        ScoringInputError: ``version`` is not a version Triton serves.
    """
    target = _check_served(client, model, version)
    keys = frame[schema.id_column] if version is None and schema.id_column in frame.columns else None
    parts = []
    for start in range(0, len(frame), batch_size):
        chunk = frame.iloc[start : start + batch_size]
        try:
            if version is None:
                part = client.score(
                    target, chunk, schema, None if keys is None else keys.iloc[start : start + batch_size], len(chunk)
                )
            else:
                part = client.score_version(target, chunk, schema, version, len(chunk))
        except InferenceServerException as exc:
            raise ServiceUnavailableError(
                f"Triton failed scoring rows {start + 1}..{start + len(chunk)} with {target!r}: {exc.message()}; "
                "check `ccp status` and the Triton log"
            ) from None
        except OSError as exc:
            raise ServiceUnavailableError(
                f"lost the connection to Triton at {client.url} ({exc}); is it still running?"
            ) from None
        parts.append(part)
        if on_batch is not None:
            on_batch(len(chunk))
    return pd.concat(parts, ignore_index=True)


def _check_served(client: TritonModelClient, model: str, version: int | None) -> str:
    """The Triton model to call, after checking Triton is live and serves it."""
    client.check_live()
    if version is None:
        if not client.is_ready(model, int(triton_repository.ROUTER_VERSION)):
            raise ServiceUnavailableError(
                f"Triton at {client.url} does not serve {model!r}; deploy the champion with `ccp serve` "
                "(or run a pipeline cycle) and check `ccp status`"
            )
        return model
    versions_model = triton_repository.versions_model_name(model)
    if not client.is_ready(versions_model, version):
        served = client.ready_versions(versions_model)
        raise ScoringInputError(
            f"version {version} of {model!r} is not served by Triton (served: {served or 'none'}); Triton serves the "
            "champion, challenger and previous champion (`ccp status`), or drop --version to use the champion"
        )
    return versions_model


def _progress_bar(total: int, description: str, shown: bool) -> tqdm:
    """A row counter on stderr (a no-op when not ``shown``)."""
    return tqdm(
        total=total, unit="row", unit_scale=True, desc=description, file=sys.stderr, disable=not shown, dynamic_ncols=True
    )


def score_file(
    client: TritonModelClient,
    schema: ModelSchema,
    model: str,
    path: Path,
    out: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    version: int | None = None,
    progress: bool = False,
    overwrite: bool = False,
) -> ScoringSummary:
    """Score every row of a CSV or Parquet file through Triton and write the predictions.

    The input is read and checked before Triton is contacted, so a bad file fails fast.

    Args:
        client: Triton client.
        schema: the pipeline's schema (features, id column).
        model: the public model (router) name, i.e. the registered model name.
        path: the input file (``.csv``, ``.parquet`` or ``.pq``).
        out: output file or folder; None writes ``<stem>.predictions.<suffix>`` beside the input.
        batch_size: rows per Triton request.
        version: registry version to score with; None lets the router answer with the champion.
        progress: show a progress bar on stderr.
        overwrite: replace an existing output file (never the input).

    Returns:
        Rows, paths, timing and which versions answered.

    Raises:
        ScoringInputError: the input or output path is unusable, or ``version`` is not served.
        ServiceUnavailableError: Triton is unreachable, does not serve the model, or failed a request.
    """
    if batch_size < 1:
        raise ScoringInputError(f"batch size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    check_input_path(path)
    out = resolve_output(path, out, overwrite)
    frame = read_rows(path, schema)
    with _progress_bar(len(frame), f"scoring {path.name}", progress) as bar:
        scored = score_rows(client, schema, model, frame, batch_size, version, bar.update)
    predictions = scored.copy()
    if schema.id_column in frame.columns:
        predictions.insert(0, schema.id_column, frame[schema.id_column].to_numpy())
    write_predictions(predictions, out)
    answered = predictions["version"].value_counts().sort_index()
    return ScoringSummary(
        input=str(path),
        output=str(out),
        model=model if version is None else triton_repository.versions_model_name(model),
        version=version,
        rows=len(predictions),
        seconds=time.perf_counter() - started,
        answered_by={int(v): int(n) for v, n in answered.items()},
    )
