"""Named errors a user can cause. Each message says what was wrong and what to do."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of the errors this package raises on purpose."""


class ConfigError(PipelineError):
    """A pipeline or Ludwig config is missing, unreadable or invalid."""


class DataValidationError(PipelineError):
    """One or more batch files broke the schema; they were moved to quarantine."""


class NoChampionError(PipelineError):
    """The registry has no ``@champion`` where one is required."""


class ServiceUnavailableError(PipelineError):
    """MLflow or Triton cannot be reached."""


class ServiceStartError(ServiceUnavailableError):
    """A local service (MLflow, Triton, Airflow) did not start: its port is taken, the process
    exited, or it was not healthy in time. The message names the service and its log file."""


class PendingTransitionError(PipelineError):
    """Another champion change of the same model is pending in the journal; recover it first
    (``ccp recover``) or let the running change finish."""


class ScoringInputError(PipelineError):
    """Rows given for batch scoring cannot be scored: the file is missing, unreadable, empty or of an
    unsupported format, lacks feature columns, or asks for a version Triton does not serve."""


class ChampionLeaseError(PipelineError):
    """Another process is changing the champion of the same model (it holds the model's lease), or
    this change lost its lease; the message names the holder."""
