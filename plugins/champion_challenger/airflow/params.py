"""The cycle DAG's trigger form: the typed ``Param`` knobs a person sets when triggering a run.

Each description names the pipeline's own file and candidate configs, so the Airflow trigger form
explains itself (:mod:`dags.challenge_cycle` passes :func:`cycle_params` as the DAG's ``params``).
"""

from __future__ import annotations

from airflow.sdk import Param

from champion_challenger.config.fleet import Pipeline

#: Every metric a gate can judge, across tasks (the gate refuses one that does not fit the pipeline's task).
PRIMARY_METRICS = ["accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier", "ece",
                   "macro_f1", "rmse", "mae", "r2", "smape"]  # fmt: skip


def cycle_params(pipeline: Pipeline) -> dict[str, Param]:
    """The trigger form of ``pipeline``'s cycle DAG.

    Args:
        pipeline: one pipeline of the fleet (its config may be missing when the YAML is invalid).

    Returns:
        Param name → typed ``Param`` with a title and a description.
    """
    return {**_data_params(pipeline), **_serving_params(), **_decision_params()}


def _data_params(pipeline: Pipeline) -> dict[str, Param]:
    """The data window and what to train; the descriptions name this pipeline's file and candidates."""
    config = pipeline.config
    candidates = ", ".join(config.ludwig_config_paths()) if config else "-"
    patterns = ", ".join(config.training.ludwig_configs) if config else "-"
    return {
        "window_batches": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Data window (batches)",
            description=f"Newest accepted batches to train and evaluate on; empty = training.window_batches of {pipeline.path}.",
        ),
        "challenger_configs": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Challenger configs",
            description=f"Candidate Ludwig configs to train, by name (file name without .yaml); empty = all. This pipeline's "
            f"candidates are the files matching training.ludwig_configs ({patterns}) next to {pipeline.path}: {candidates}.",
        ),
        "force_train": Param(
            False,
            type="boolean",
            title="Force train",
            description="Train challengers even when no drift was found and the scheduled retrain is not due.",
        ),
    }


def _serving_params() -> dict[str, Param]:
    """How much live traffic the challenger sees."""
    return {
        "shadow_fraction": Param(
            None,
            type=["null", "number"],
            minimum=0,
            maximum=1,
            title="Shadow fraction",
            description="Share of live entities the router mirrors to this cycle's challenger; empty = serving.shadow_fraction.",
        ),
    }


def _decision_params() -> dict[str, Param]:
    """Overrides of the gate for this run."""
    return {
        "primary_metric": Param(
            None,
            type=["null", "string"],
            title="Primary metric",
            enum=[None, *PRIMARY_METRICS],
            description="Override the decision metric of the pipeline config for this run; it must fit the task "
            "(binary: accuracy, roc_auc, f1, precision, recall, log_loss, brier, ece; multiclass: accuracy, macro_f1, "
            "log_loss, brier; regression: rmse, mae, r2, smape).",
        ),
        "min_improvement": Param(
            None,
            type=["null", "number"],
            minimum=0,
            title="Minimum improvement",
            description="Override how much the challenger must beat the champion by on the primary metric.",
        ),
        "force_promote": Param(
            False,
            type="boolean",
            title="Force promote",
            description="Promote the challenger whatever the gate says (the reason records that it was forced).",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Train and compute the decision, log it to MLflow, but register, deploy and promote nothing "
            "(wins over force_promote).",
        ),
    }
