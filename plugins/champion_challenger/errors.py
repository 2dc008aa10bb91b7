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


class ScoringInputError(PipelineError):
    """Rows given for batch scoring cannot be scored: the file is missing, unreadable, empty or of an
    unsupported format, lacks feature columns, or asks for a version Triton does not serve."""
