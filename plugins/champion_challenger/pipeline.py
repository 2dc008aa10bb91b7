"""The steps of one champion–challenger cycle, each a method the DAG calls in a few lines.

Every step is idempotent per cycle id (the Airflow ``run_id``): files live under
``<CCP_HOME>/runs/<cycle_id>/``, MLflow runs and registry versions are found again by tag.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import requests
from mlflow import MlflowClient
from pydantic import ValidationError

from champion_challenger import tracking
from champion_challenger.config import (
    LOWER_IS_BETTER,
    DecisionConfig,
    ModelSchema,
    PipelineConfig,
    ServingConfig,
    load_candidate_configs,
    model_schema,
)
from champion_challenger.data.store import DataStore, claim_new_batches, load_window, safe_name, split_holdout
from champion_challenger.data.validate import validate_batches
from champion_challenger.drift.evidently_report import drift_report
from champion_challenger.errors import ConfigError, DataValidationError, ServiceUnavailableError
from champion_challenger.evaluation import comparison
from champion_challenger.evaluation.gate import (
    GateResult,
    PairedScores,
    combine_evidence,
    evaluate_gate,
    latency_guardrail,
    with_checks,
)
from champion_challenger.evaluation.shadow_evidence import latency_p99, pair_with_labels, shadow_window
from champion_challenger.evaluation.metrics import binary_metrics, metric_value
from champion_challenger.registry import journal, ledger
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving import triton_repository
from champion_challenger.serving.capture import read_captures
from champion_challenger.serving.routing import RoutingTable
from champion_challenger.serving.triton_client import TritonModelClient
from champion_challenger.serving.triton_metrics import VersionTraffic, fetch_traffic
from champion_challenger.settings import Settings, load_settings, triton_endpoint, triton_metrics_url
from champion_challenger.training.ludwig_trainer import split_validation, train_ludwig
from champion_challenger.training.pyfunc import ludwig_dir_in

METRIC_TAG_PREFIX = "ccp.metric."
log = logging.getLogger(__name__)


def check_mlflow(tracking_uri: str, timeout_s: float = 10) -> None:
    """Fail fast, with what to do, when an HTTP tracking server does not answer its health check.

    The MLflow client itself retries with back-off for minutes before giving up.
    """
    if not tracking_uri.startswith(("http://", "https://")):
        return
    try:
        ok = requests.get(f"{tracking_uri.rstrip('/')}/health", timeout=timeout_s).status_code == 200
    except requests.RequestException as exc:
        ok, detail = False, type(exc).__name__
    else:
        detail = "health check did not return 200"
    if not ok:
        raise ServiceUnavailableError(
            f"MLflow at {tracking_uri} is unreachable ({detail}); start it with `make up` or set MLFLOW_TRACKING_URI"
        )


@dataclass
class Pipeline:
    """Config, settings and clients for running cycle steps.

    Args:
        config: the validated pipeline config.
        settings: runtime folder and default endpoints.
        tracking_uri: MLflow tracking server (Airflow's ``mlflow_default`` connection in DAGs).
        triton_url: Triton HTTP endpoint (Airflow's ``triton_default`` connection in DAGs).
    """

    config: PipelineConfig
    settings: Settings
    tracking_uri: str
    triton_url: str

    @classmethod
    def from_env(cls, tracking_uri: str | None = None, triton_url: str | None = None) -> Pipeline:
        """Build from ``CCP_*`` settings; explicit endpoints override them."""
        settings = load_settings()
        return cls(
            config=PipelineConfig.from_yaml(settings.pipeline_config),
            settings=settings,
            tracking_uri=tracking_uri or settings.mlflow_tracking_uri,
            triton_url=triton_url or settings.triton_url,
        )

    # ---- shared objects -------------------------------------------------------------------
    @cached_property
    def ludwig_configs(self) -> dict[str, dict[str, Any]]:
        """Candidate name → validated Ludwig config."""
        return load_candidate_configs(self.config)

    @cached_property
    def schema(self) -> ModelSchema:
        return model_schema(self.config, self.ludwig_configs)

    @cached_property
    def store(self) -> DataStore:
        return DataStore(self.config.landing_dir(self.settings.home))

    @cached_property
    def client(self) -> MlflowClient:
        mlflow.set_tracking_uri(self.tracking_uri)
        return MlflowClient(self.tracking_uri, self.tracking_uri)

    @cached_property
    def triton(self) -> TritonModelClient:
        """Triton client; models load over gRPC so a load never holds back HTTP clients."""
        return TritonModelClient(self.triton_url, control_url=triton_endpoint(self.triton_url, self.settings.triton_grpc_port))

    @property
    def model_name(self) -> str:
        """Registered model in MLflow, and the router (public entry point) in Triton."""
        return self.config.model_name

    @property
    def versions_model(self) -> str:
        """Triton model holding the registry versions (called by the router, or with a version)."""
        return triton_repository.versions_model_name(self.config.model_name)

    def run_url(self, run_id: str) -> str:
        """The MLflow UI page of a run."""
        return comparison.run_url(self._ui, self.client.get_run(run_id).info.experiment_id, run_id)

    def version_url(self, version: int) -> str:
        """The MLflow UI page of a registered model version."""
        return f"{self._ui}/#/models/{self.model_name}/versions/{version}"

    @property
    def _ui(self) -> str:
        return (self.settings.mlflow_ui_url or self.tracking_uri).rstrip("/")

    def workspace(self, cycle_id: str) -> Path:
        """This cycle's working folder (train/holdout splits, reports, the trained model)."""
        path = self.settings.home / "runs" / safe_name(cycle_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def experiment_id(self) -> str:
        return tracking.experiment_id(self.client, self.config.experiment_name)

    # ---- steps ----------------------------------------------------------------------------
    def check(self) -> dict[str, Any]:
        """Validate both configs, reach MLflow and Triton, and recover an unfinished champion change.

        Raises:
            ConfigError: a config is invalid (names file and field).
            ServiceUnavailableError: MLflow or Triton cannot be reached.
        """
        schema = self.schema
        check_mlflow(self.tracking_uri)
        self.triton.check_live()
        return {"model_name": self.model_name, "features": schema.feature_names, "target": schema.target,
                "recovered": self.recover()}

    def ingest(self, cycle_id: str) -> list[str]:
        """Claim new batch files from landing for this cycle; empty list when nothing arrived."""
        return [str(p) for p in claim_new_batches(self.store, cycle_id, self.config.data.file_pattern)]

    def validate(self, cycle_id: str, files: list[str]) -> list[str]:
        """Accept valid batches and quarantine the rest.

        Returns:
            Paths of accepted parquet batches.

        Raises:
            DataValidationError: at least one file was quarantined (the message names each file,
                column and count of bad rows); the good files are still accepted.
        """
        summary = validate_batches(self.store, [Path(f) for f in files], self.schema, self.store.run_dir(cycle_id))
        if summary.quarantined:
            raise DataValidationError(summary.error_message())
        return [o.accepted_path for o in summary.accepted if o.accepted_path]

    def prepare(self, cycle_id: str, window_batches: int | None = None) -> dict[str, str]:
        """Open the cycle's MLflow run and split the training window into train and holdout.

        Args:
            cycle_id: the Airflow run id.
            window_batches: newest accepted batches to use (default ``training.window_batches``).
        """
        work = self.workspace(cycle_id)
        window = load_window(self.store, window_batches or self.config.training.window_batches)
        train, holdout = split_holdout(window, self.config.data.timestamp_column, self.config.evaluation.holdout_fraction)
        if len(train) == 0 or len(holdout) == 0:
            raise DataValidationError(f"window of {len(window)} rows is too small to split into train and holdout")
        train.to_parquet(work / "train.parquet", index=False)
        holdout.to_parquet(work / "holdout.parquet", index=False)
        run_id = tracking.cycle_run(self.client, self.experiment_id, cycle_id)
        ts = self.config.data.timestamp_column
        for key, value in {
            "data.window_start": window[ts].min(), "data.window_end": window[ts].max(),
            "data.holdout_start": holdout[ts].min(), "data.train_rows": len(train), "data.holdout_rows": len(holdout),
        }.items():
            self.client.log_param(run_id, key, str(value))
        return {"cycle_run_id": run_id, "train": str(work / "train.parquet"), "holdout": str(work / "holdout.parquet")}

    def drift(self, cycle_id: str, cycle_run_id: str) -> dict[str, Any]:
        """Evidently drift report: the champion's training reference vs data it has not seen.

        Feature drift on every input, prediction drift on the champion's own outputs (scored by
        Triton) and target drift on the labels. Without a champion there is no reference; the step
        records that and reports no drift.
        """
        champion = registry.alias_version(self.client, self.model_name, registry.CHAMPION)
        if champion is None:
            self.client.set_tag(cycle_run_id, "ccp.drift", "skipped: no champion yet")
            return {"skipped": "no champion yet: nothing to compare against", "triggered": []}
        work = self.workspace(cycle_id)
        reference_dir = Path(tempfile.mkdtemp(dir=work))
        reference = pd.read_parquet(
            self.client.download_artifacts(champion.run_id, tracking.REFERENCE_ARTIFACT, str(reference_dir))
        )
        rules = self.config.drift
        summary = drift_report(
            reference, self._unseen_rows(champion), self.schema, work / "drift", rules.max_rows, rules.drift_share,
            score=self._champion_scorer(int(champion.version)) if rules.prediction_drift else None,
            target=rules.target_drift,
        )
        self.client.log_artifacts(cycle_run_id, str(work / "drift"), "drift")
        self.client.log_metric(cycle_run_id, "drift_share", summary.drift_share)
        triggered = summary.triggered(rules.triggers)
        for key, value in {
            "ccp.drift": "detected: " + ", ".join(triggered) if triggered else "none",
            "ccp.drifted_columns": ",".join(summary.drifted_columns) or "-",
            "ccp.prediction_drift": str(summary.prediction_drift), "ccp.target_drift": str(summary.target_drift),
            "ccp.drift_sampling": summary.sampling_note,
        }.items():
            self.client.set_tag(cycle_run_id, key, value)
        return {**summary.as_dict(), "triggered": triggered}

    def _champion_scorer(self, version: int):
        """Rows → the champion's probabilities through Triton, or None (and a warning) when Triton
        cannot score them: prediction drift is then left out rather than failing the cycle."""
        def score(frame: pd.DataFrame) -> np.ndarray:
            return self.triton.predict_proba(self.versions_model, frame, self.schema, version, self.config.evaluation.batch_size)

        try:
            if not self.triton.is_ready(self.versions_model, version):
                self.sync_serving()
            score(load_window(self.store, 1).head(2))
        except Exception as exc:  # noqa: BLE001 - drift on features and target still runs
            log.warning("prediction drift left out: champion v%s cannot be scored by Triton (%s)", version, exc)
            return None
        return score

    def _unseen_rows(self, champion) -> pd.DataFrame:
        window = load_window(self.store, self.config.training.window_batches)
        ts = self.config.data.timestamp_column
        train_end = champion.tags.get("ccp.train_end")
        if train_end:
            unseen = window[window[ts] > pd.Timestamp(train_end)]
            if len(unseen):
                return unseen
        return window.sort_values(ts).tail(max(1, int(len(window) * self.config.evaluation.holdout_fraction)))

    def candidates(self, selected: list[str] | None = None) -> list[str]:
        """Names of the candidates to train: all configured ones, or the ``selected`` subset.

        Raises:
            ConfigError: a selected name is not a configured candidate.
        """
        names = list(self.ludwig_configs)
        unknown = sorted(set(selected or []) - set(names))
        if unknown:
            raise ConfigError(f"unknown challenger config(s) {unknown}; configured: {names} ({self.config.source_path})")
        return [n for n in names if n in selected] if selected else names

    def plan_training(self, cycle_run_id: str, drift: dict[str, Any], force: bool = False) -> dict[str, Any]:
        """Decide what this cycle does before any training: ``train``, ``evaluate`` the challenger
        already in its shadow window, or ``skip`` (no drift and no scheduled retrain due).

        Returns:
            ``action``, ``reason`` and, for ``evaluate``, the challenger ``version``.
        """
        state = registry.alias_state(self.client, self.model_name)
        rules = self.config.training
        if self.config.decision.online.required and state.challenger is not None and state.champion is not None and not force:
            plan = {"action": "evaluate", "version": state.challenger,
                    "reason": f"challenger v{state.challenger} is in its shadow window (decision.online.required): "
                              "judge it again instead of training a new one"}
        elif reason := self._training_reason(state, drift, force):
            plan = {"action": "train", "reason": reason}
        else:
            newest = self._newest_version_age_hours()
            plan = {"action": "skip", "reason": (
                f"no drift that triggers training ({', '.join(self.config.drift.triggers)}) and the scheduled retrain "
                f"is not due (newest version {newest:.1f} h old, training.retrain_every_hours {rules.retrain_every_hours:g})"
            )}
        self.client.set_tag(cycle_run_id, "ccp.training_plan", plan["action"])
        self.client.set_tag(cycle_run_id, "ccp.training_plan_reason", plan["reason"])
        return plan

    def _training_reason(self, state: registry.AliasState, drift: dict[str, Any], force: bool) -> str | None:
        """Why this cycle trains, or None when nothing calls for it."""
        rules = self.config.training
        if force:
            return "forced by the trigger form (force_train)"
        if rules.trigger == "always":
            return "training.trigger is 'always'"
        if state.champion is None:
            return "no champion yet"
        if drift.get("triggered"):
            return "drift detected: " + ", ".join(drift["triggered"])
        age = self._newest_version_age_hours()
        if age >= rules.retrain_every_hours:
            return f"scheduled retrain due: newest version is {age:.1f} h old (every {rules.retrain_every_hours:g} h)"
        return None

    def _newest_version_age_hours(self) -> float:
        versions = self.client.search_model_versions(f"name = '{self.model_name}'")
        if not versions:
            return float("inf")
        newest_ms = max(v.creation_timestamp for v in versions)
        return (datetime.now(UTC).timestamp() * 1000 - newest_ms) / 3_600_000

    def train_candidate(self, cycle_id: str, cycle_run_id: str, candidate: str) -> dict[str, Any]:
        """Train one candidate and log it as a run nested under the cycle run.

        Idempotent: a retry finds the candidate's finished run for this cycle and trains nothing.

        Returns:
            ``candidate``, ``run_id``, ``model_uri`` and validation ``metrics``.
        """
        done = tracking.find_run(self.client, self.experiment_id, cycle_id, "training", candidate, finished=True)
        if done is None:
            done = self._train_and_log(cycle_id, cycle_run_id, candidate)
        run = self.client.get_run(done)
        prefix = "best_validation_"
        return {
            "candidate": candidate,
            "run_id": done,
            "model_uri": run.data.tags[tracking.MODEL_URI_TAG],
            "metrics": {k[len(prefix):]: v for k, v in run.data.metrics.items() if k.startswith(prefix)},
        }

    def _train_and_log(self, cycle_id: str, cycle_run_id: str, candidate: str) -> str:
        train_df = pd.read_parquet(self.workspace(cycle_id) / "train.parquet")
        ts = self.config.data.timestamp_column
        fit, valid = split_validation(train_df, ts, self.config.training.validation_fraction)
        work = self.workspace(cycle_id) / "training" / candidate
        shutil.rmtree(work, ignore_errors=True)
        ludwig_config = self.ludwig_configs[candidate]
        trained = train_ludwig(ludwig_config, fit, valid, self.schema, work, self.config.training.seed)
        data = tracking.CandidateData(
            fit=fit, validation=valid, source=str(self.store.accepted),
            window_start=str(train_df[ts].min()), window_end=str(train_df[ts].max()),
        )
        run_id, _ = tracking.log_candidate(
            self.tracking_uri, self.experiment_id, cycle_run_id, cycle_id, candidate, trained, ludwig_config, data, self.schema
        )
        return run_id

    def register_challenger(self, cycle_id: str, cycle_run_id: str, results: list[dict[str, Any]]) -> int:
        """Register the best candidate as a new version and alias it ``challenger``.

        Idempotent: a retry returns the version this cycle registered the first time.
        """
        existing = registry.find_version_by_tag(self.client, self.model_name, tracking.CYCLE_TAG, cycle_id)
        if existing is None:
            existing = self._register_best(cycle_id, cycle_run_id, results)
        version = int(existing.version)
        registry.set_challenger(self.client, self.model_name, version)
        return version

    def train_challenger(self, cycle_id: str) -> int:
        """Ingest, validate, prepare, train every candidate and register the best, in this process:
        the DAG's ingest and train groups without Airflow (notebooks, tests, benchmarks).

        Returns:
            The registered version (``@challenger``).

        Raises:
            DataValidationError: a landed batch broke the schema (it was quarantined).
        """
        self.validate(cycle_id, self.ingest(cycle_id))
        prepared = self.prepare(cycle_id)
        results = [self.train_candidate(cycle_id, prepared["cycle_run_id"], c) for c in self.candidates()]
        return self.register_challenger(cycle_id, prepared["cycle_run_id"], results)

    def challenger_for_evaluation(
        self, cycle_id: str, cycle_run_id: str, results: list[dict[str, Any]], dry_run: bool = False
    ) -> dict[str, Any]:
        """The challenger this cycle evaluates: the best candidate, registered as ``@challenger``;
        in a dry run only chosen (no registry change), so it is scored in-process.

        Returns:
            ``version`` (None in a dry run), ``model_uri`` and ``candidate``.
        """
        best = self.best_candidate(results)
        version = None if dry_run else self.register_challenger(cycle_id, cycle_run_id, results)
        return {"version": version, "model_uri": best["model_uri"], "candidate": best["candidate"]}

    def deploy_challenger(self, version: int | None, shadow_fraction: float | None = None) -> list[int]:
        """Load the challenger beside the champion; the router mirrors ``shadow_fraction`` of the
        entities to it (default ``serving.shadow_fraction``). A dry run (None) deploys nothing.

        Returns:
            The versions Triton serves.
        """
        if version is None:
            return self.triton.ready_versions(self.versions_model)
        if shadow_fraction is not None:
            serving = self.config.serving.model_copy(update={"shadow_fraction": shadow_fraction})
            self.config = self.config.model_copy(update={"serving": ServingConfig.model_validate(serving.model_dump())})
        return self.sync_serving()

    def pending_batches(self) -> list[str]:
        """Batch files waiting in the landing folder (what the next cycle would ingest)."""
        pattern = self.config.data.file_pattern
        return sorted(str(p) for p in self.store.landing.glob(pattern) if p.is_file()) if self.store.landing.is_dir() else []

    def best_candidate(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """The candidate with the best selection metric (ties: the first by name)."""
        metric = self.config.training.selection_metric
        sign = -1 if metric in LOWER_IS_BETTER else 1
        if not results:
            raise ValueError("no trained candidate to choose from")
        return max(sorted(results, key=lambda r: r["candidate"]), key=lambda r: sign * r["metrics"][metric])

    def _register_best(self, cycle_id: str, cycle_run_id: str, results: list[dict[str, Any]]):
        best = self.best_candidate(results)
        metric = self.config.training.selection_metric
        for result in results:
            self.client.log_metric(cycle_run_id, f"candidate_{result['candidate']}_{metric}", result["metrics"][metric])
        self.client.set_tag(cycle_run_id, "ccp.best_candidate", best["candidate"])
        train_df = pd.read_parquet(self.workspace(cycle_id) / "train.parquet")
        ts = self.config.data.timestamp_column
        registry.ensure_registered_model(self.client, self.model_name, f"Ludwig binary classifier of {self.schema.target!r}")
        version = mlflow.register_model(
            best["model_uri"], self.model_name,
            tags={tracking.CYCLE_TAG: cycle_id, tracking.CANDIDATE_TAG: best["candidate"],
                  "ccp.train_end": str(train_df[ts].max()), "ccp.training_run_id": best["run_id"]},
        )
        others = ", ".join(f"{r['candidate']} {r['metrics'][metric]:.4f}" for r in results)
        self.client.update_model_version(
            self.model_name, version.version,
            description=(
                f"Candidate {best['candidate']!r} ({self.config.ludwig_config_paths()[best['candidate']].name}), best validation "
                f"{metric} of this cycle ({others}). Trained in cycle {cycle_id} on {len(train_df)} rows from "
                f"{train_df[ts].min()} to {train_df[ts].max()}; training run {best['run_id']}."
            ),
        )
        return version

    def sync_serving(self, versions: list[int] | None = None, state: registry.AliasState | None = None) -> list[int]:
        """Make Triton serve ``versions`` and route by ``state`` (defaults: the registry's aliases;
        champion, challenger and previous served).

        Missing version folders are exported from the registry. Versions load before the router
        switches to them, and versions leave only after it switched away, so every request finds
        its version loaded.

        Returns:
            The versions now served.
        """
        state = state or registry.alias_state(self.client, self.model_name)
        versions = sorted(set(versions if versions is not None else state.served_versions()))
        if not versions:
            return []
        repository = self.settings.triton_repository
        for version in versions:
            if version not in triton_repository.exported_versions(repository, self.versions_model):
                self._export(version)
        loaded = set(self.triton.ready_versions(self.versions_model))
        self._load_versions(sorted(loaded | set(versions)))
        inputs = triton_repository.served_inputs(repository, self.versions_model, versions)
        changed = triton_repository.write_router(repository, self.model_name, inputs, self.routing_table(state, versions))
        if changed or not self.triton.is_ready(self.model_name, int(triton_repository.ROUTER_VERSION)):
            self.triton.load(self.model_name)
            self.triton.wait_ready(self.model_name, [int(triton_repository.ROUTER_VERSION)])
        if loaded - set(versions):
            self._load_versions(versions)
        triton_repository.prune_versions(repository, self.versions_model, set(versions))
        return versions

    def _load_versions(self, versions: list[int]) -> None:
        """Serve exactly ``versions``; a load only when the config changed or one is not ready
        (an unneeded load would reload the champion)."""
        changed = triton_repository.write_model_config(self.settings.triton_repository, self.versions_model, versions)
        if changed or set(versions) - set(self.triton.ready_versions(self.versions_model)):
            self.triton.load(self.versions_model)
        self.triton.wait_ready(self.versions_model, versions)

    def routing_table(self, state: registry.AliasState, served: list[int]) -> RoutingTable:
        """The router's table for ``state``: the challenger is shadowed/canaried only while served."""
        serving = self.config.serving
        challenger = state.challenger if state.challenger in served and state.challenger != state.champion else None
        return RoutingTable(
            versions_model=self.versions_model,
            champion=state.champion,
            challenger=challenger,
            shadow_fraction=serving.shadow_fraction,
            canary_fraction=serving.canary_fraction,
            capture_dir=str(self.config.capture_dir(self.settings.home)),
            capture_flush_rows=serving.capture_flush_rows,
            capture_flush_seconds=serving.capture_flush_seconds,
            shadow_queue_size=serving.shadow_queue_size,
            prediction_log_fraction=serving.prediction_log_fraction,
            shadow_batch_delay_ms=serving.shadow_batch_delay_ms,
        )

    def _export(self, version: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{self.model_name}/{version}", dst_path=tmp, tracking_uri=self.tracking_uri
            ))
            triton_repository.export_version(
                self.settings.triton_repository, self.versions_model, version, ludwig_dir_in(local)
            )

    def shadow_evaluate(
        self, cycle_id: str, challenger_version: int | None, challenger_model_uri: str | None = None
    ) -> dict[str, Any]:
        """Gather both kinds of evidence on the challenger.

        Offline replay: the newest labelled holdout is scored through Triton by the champion and the
        challenger on the same rows (``paired_scores.parquet`` in the cycle's workspace). In a dry run
        nothing is registered or deployed: ``challenger_version`` is None and the challenger is scored
        in-process from ``challenger_model_uri``. Online: the router's capture records of this
        champion/challenger pair joined with labels that arrived later (see :meth:`online_evidence`).

        Returns:
            Both versions, both models' offline metrics, the row count, the paired-scores path and,
            when a champion exists, the ``online`` evidence.
        """
        holdout = pd.read_parquet(self.workspace(cycle_id) / "holdout.parquet")
        champion = registry.alias_version(self.client, self.model_name, registry.CHAMPION)
        versions = {"challenger": challenger_version, "champion": int(champion.version) if champion else None}
        paired = holdout[[self.schema.target, *self._slice_columns()]].copy()
        result: dict[str, Any] = {"versions": versions, "rows": len(holdout), "dry_run": challenger_version is None}
        for role, version in versions.items():
            if version is not None:
                paired[role] = self.triton.predict_proba(
                    self.versions_model, holdout, self.schema, version, self.config.evaluation.batch_size
                )
            elif role == "challenger":
                paired[role] = self._score_in_process(challenger_model_uri, holdout)
            else:
                result[role] = None
                continue
            result[role] = binary_metrics(paired[self.schema.target].to_numpy(), paired[role].to_numpy())
        path = self.workspace(cycle_id) / "paired_scores.parquet"
        paired.to_parquet(path, index=False)
        result["paired_scores"] = str(path)
        if champion is not None and challenger_version is not None and self.config.decision.online.enabled:
            result["online"] = self.online_evidence(cycle_id, int(champion.version), challenger_version)
        return result

    def _score_in_process(self, model_uri: str | None, rows: pd.DataFrame) -> np.ndarray:
        if model_uri is None:
            raise ValueError("a dry run needs the best candidate's model URI to score it in-process")
        model = mlflow.pyfunc.load_model(model_uri)
        return model.predict(rows[self.schema.feature_names])["probability"].to_numpy(dtype=float)

    def online_evidence(self, cycle_id: str, champion: int, challenger: int) -> dict[str, Any]:
        """Capture records of ``champion``/``challenger`` since the challenger was registered,
        joined with labels that arrived later, and whether the shadow window is complete.

        Returns:
            ``window`` (see :class:`ShadowWindow`), ``paired_scores`` (path, same columns as the
            offline replay's), ``latency_p99_ms`` and, when both classes are present, both models' metrics.
        """
        registered = self.client.get_model_version(self.model_name, str(challenger)).creation_timestamp
        since = datetime.fromtimestamp(registered / 1000, UTC)
        captures = read_captures(self.config.capture_dir(self.settings.home), self.model_name, since=since)
        captures = captures[(captures["champion_version"] == champion) & (captures["challenger_version"] == challenger)]
        paired = pair_with_labels(captures, self._labelled_rows(), self.schema, self._slice_columns())
        window = shadow_window(captures, paired, champion, challenger, self.config.decision.online, datetime.now(UTC))
        path = self.workspace(cycle_id) / "online_paired_scores.parquet"
        paired.to_parquet(path, index=False)
        result: dict[str, Any] = {"window": window.as_dict(), "paired_scores": str(path), "latency_p99_ms": latency_p99(captures)}
        if len(paired) and paired[self.schema.target].nunique() == 2:
            y = paired[self.schema.target].to_numpy()
            for role in ("champion", "challenger"):
                result[role] = binary_metrics(y, paired[role].to_numpy())
        return result

    def _labelled_rows(self) -> pd.DataFrame:
        """Every accepted (labelled) row; empty when nothing was accepted yet."""
        files = self.store.accepted_files()
        return load_window(self.store, len(files)) if files else pd.DataFrame(columns=self.schema.required_columns)

    def _slice_columns(self) -> list[str]:
        columns = self.config.decision.slice_columns
        missing = [c for c in columns if c not in self.schema.required_columns]
        if missing:
            raise ConfigError(f"{self.config.source_path}: decision.slice_columns {missing} are not columns of the data")
        return columns

    def decide(self, evaluation: dict[str, Any], rules: DecisionConfig | None = None) -> GateResult:
        """Apply the gate (default: the configured rules) to the evidence of :meth:`shadow_evaluate`.

        The offline replay is always judged. Online shadow evidence is judged too once its window is
        complete (both must promote; either rejecting rejects). While the window is incomplete the
        offline verdict stands, unless ``decision.online.required`` holds the challenger in shadow.
        """
        rules = rules or self.config.decision
        offline = evaluate_gate(self._paired(evaluation["paired_scores"], rules), rules)
        online = evaluation.get("online")
        if online is None or not rules.online.enabled:
            return offline
        window = online["window"]
        if not window["complete"]:
            if rules.online.required and offline.action != "reject":
                return dataclasses.replace(offline, action="hold", reason=(
                    f"{window['reason']} (decision.online.required); offline replay says {offline.action}: {offline.reason}"))
            return dataclasses.replace(offline, reason=f"{offline.reason}; online: {window['reason']}")
        live = evaluate_gate(self._paired(online["paired_scores"], rules), rules)
        live = with_checks(live, [latency_guardrail(online["latency_p99_ms"], rules.online.max_latency_p99_ratio)])
        return combine_evidence({"offline": offline, "online": live})

    def _paired(self, path: str, rules: DecisionConfig) -> PairedScores:
        paired = pd.read_parquet(path)
        return PairedScores(
            y=paired[self.schema.target].to_numpy().astype(int),
            challenger=paired["challenger"].to_numpy(dtype=float),
            champion=paired["champion"].to_numpy(dtype=float) if "champion" in paired else None,
            slices=paired[rules.slice_columns] if rules.slice_columns else None,
        )

    def gate(
        self, evaluation: dict[str, Any], overrides: dict[str, Any] | None = None, force_promote: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """The cycle's decision: :meth:`decide` with the trigger form's overrides, ``force_promote``
        and ``dry_run`` applied (a dry run never promotes; it says what it would have done).

        Raises:
            ConfigError: an override is not a valid decision setting.
        """
        try:
            rules = DecisionConfig.model_validate({**self.config.decision.model_dump(), **(overrides or {})})
        except ValidationError as exc:
            raise ConfigError(f"invalid decision override from the trigger form: {exc}") from None
        decision = self.decide(evaluation, rules).as_dict()
        decision["online_window"] = (evaluation.get("online") or {}).get("window")
        if force_promote and decision["action"] != "promote":
            decision.update(action="promote", reason=f"forced by the trigger form (gate said {decision['action']}: {decision['reason']})")
        if dry_run:
            decision.update(dry_run=True, would=decision["action"], action="hold",
                            reason=f"dry run, nothing changed: would {decision['action']}; {decision['reason']}")
        return decision

    def promote(
        self, version: int, actor: str, reason: str, evidence_run_id: str | None = None, action: str = "promote"
    ) -> dict[str, Any]:
        """Make ``version`` the champion as one transaction (see :meth:`transition`)."""
        before = registry.alias_state(self.client, self.model_name)
        return self.transition(registry.promotion_target(before, version), action, actor, reason, evidence_run_id)

    def rollback(self, actor: str, reason: str, action: str = "rollback") -> dict[str, Any]:
        """Make ``@previous`` the champion again as one transaction.

        Raises:
            NoChampionError: there is no ``@previous`` version.
        """
        before = registry.alias_state(self.client, self.model_name)
        return self.transition(registry.rollback_target(before), action, actor, reason)

    def transition(
        self, target: registry.AliasState, action: str, actor: str, reason: str, evidence_run_id: str | None = None
    ) -> dict[str, Any]:
        """Change the champion like a transaction; any failure restores the earlier state.

        0. the intent is written to the journal (a tag on the registered model), after recovering
           any change an earlier process left unfinished;
        1. the new champion is loaded in Triton (beside the current one) and smoke requests pass;
        2. the aliases move and the stages are mirrored;
        3. the router switches to the new champion; the previous champion stays loaded for an
           instant rollback, versions no longer needed are unloaded after the switch;
        4. the event is appended to the ledger, and the journal is cleared.

        An exception restores the earlier state at once; a killed process leaves the journal,
        and :meth:`recover` (run by the next cycle, the watch, or ``ccp recover``) finishes the job.

        Returns:
            The ledger entry.
        """
        self.recover()
        before = registry.alias_state(self.client, self.model_name)
        served_before = self.triton.ready_versions(self.versions_model)
        pending = journal.begin(self.client, self.model_name, journal.PendingTransition(
            action, before, target, served_before, actor, reason,
        ))
        entry = ledger.LedgerEntry(action, self.model_name, before.champion, target.champion, actor, reason, evidence_run_id)
        try:
            self.sync_serving(sorted(set(served_before) | {target.champion}), before)
            self.smoke_test(target.champion)
            pending = journal.mark(self.client, self.model_name, pending, "loaded")
            registry.move_aliases(self.client, self.model_name, target)
            pending = journal.mark(self.client, self.model_name, pending, "aliases_moved")
            self.sync_serving(target.steady_versions(), target)
            pending = journal.mark(self.client, self.model_name, pending, "router_switched")
            entry = self._commit(pending, entry)
        except Exception:
            log.exception("%s of %s to v%s failed; restoring the earlier state", action, self.model_name, target.champion)
            self._undo(pending)
            raise
        return entry.as_dict()

    def _commit(self, pending: journal.PendingTransition, entry: ledger.LedgerEntry) -> ledger.LedgerEntry:
        """Append the ledger entry (once) and clear the journal."""
        entry = dataclasses.replace(entry, baseline=self._traffic(pending.target.champion).as_dict())
        latest = ledger.history(self.client, self.config.experiment_name, limit=1)
        already = latest and latest[0].action == entry.action and latest[0].to_version == entry.to_version \
            and latest[0].at >= pending.started_at
        if not already:
            ledger.append(self.client, self.config.experiment_name, entry)
        journal.mark(self.client, self.model_name, pending, journal.COMMITTED)
        journal.clear(self.client, self.model_name)
        return entry

    def _undo(self, pending: journal.PendingTransition) -> None:
        """Put aliases and serving back as they were before ``pending`` began, then clear the journal."""
        if registry.alias_state(self.client, self.model_name) != pending.before:
            registry.move_aliases(self.client, self.model_name, pending.before)
        self.sync_serving(pending.served_before or pending.before.steady_versions(), pending.before)
        journal.clear(self.client, self.model_name)

    def recover(self) -> dict[str, Any] | None:
        """Finish or undo a champion change that a killed process left in the journal.

        A change that reached the router switch (aliases and serving both at the target) is
        finished: serving is re-synced, the ledger entry written once, the journal cleared. An
        earlier one is undone: aliases and serving go back to the state before it.

        Returns:
            What was recovered (None when nothing was pending).
        """
        pending = journal.read(self.client, self.model_name)
        if pending is None:
            return None
        forward = journal.STEPS.index(pending.step) >= journal.STEPS.index("router_switched")
        log.warning(
            "%s of %s to v%s (started %s by %s) stopped after step %r; %s",
            pending.action, self.model_name, pending.target.champion, pending.started_at, pending.actor, pending.step,
            "finishing it" if forward else f"restoring v{pending.before.champion}",
        )
        if forward:
            self.sync_serving(pending.target.steady_versions(), pending.target)
            self._commit(pending, ledger.LedgerEntry(
                pending.action, self.model_name, pending.before.champion, pending.target.champion,
                pending.actor, f"{pending.reason} (completed by recovery)",
            ))
        else:
            self._undo(pending)
        champion = pending.target.champion if forward else pending.before.champion
        return {"recovered": pending.action, "stopped_after": pending.step, "outcome": "finished" if forward else "undone",
                "champion": champion}

    def smoke_test(self, version: int, rows: int = 32) -> None:
        """Score a few reference rows through Triton with ``version``; every answer must be a probability.

        Raises:
            ServiceUnavailableError: a request failed or an answer is not in [0, 1].
        """
        model_version = self.client.get_model_version(self.model_name, str(version))
        with tempfile.TemporaryDirectory() as tmp:
            sample = pd.read_parquet(
                self.client.download_artifacts(model_version.run_id, tracking.REFERENCE_ARTIFACT, tmp)
            ).head(rows)
        try:
            proba = self.triton.predict_proba(self.versions_model, sample, self.schema, version, batch_size=rows)
        except Exception as exc:  # noqa: BLE001 - any failure here aborts the promotion
            raise ServiceUnavailableError(f"smoke requests to {self.model_name} v{version} failed: {exc}") from None
        if len(proba) != len(sample) or not np.all((proba >= 0) & (proba <= 1)):
            raise ServiceUnavailableError(f"smoke requests to {self.model_name} v{version} returned invalid probabilities")

    def watch(self, actor: str = "watch") -> dict[str, Any]:
        """Roll back a recently promoted champion whose live behaviour crosses the limits.

        Judged within ``watch.window_hours`` of its promotion (per the ledger), when a ``@previous``
        exists: Triton's per-version error rate and mean latency (counters minus their values at the
        switch, kept in the ledger entry, so only traffic since the promotion counts), and, once
        labels arrived for its logged live predictions, ``watch.label_metric`` against the value the
        champion showed offline. Any limit crossed rolls back to ``@previous`` as one transaction.

        Returns:
            What was observed and whether a rollback happened.
        """
        limits = self.config.watch
        recovered = self.recover()
        if recovered:
            return {"action": "recovered", "reason": f"finished an interrupted change first: {recovered}"}
        state = registry.alias_state(self.client, self.model_name)
        events = ledger.history(self.client, self.config.experiment_name, limit=1)
        last = events[0] if events else None
        if state.champion is None or state.previous is None or last is None or last.to_version != state.champion:
            return {"action": "none", "reason": "no promoted champion with a previous version to watch"}
        age_h = (datetime.now(UTC) - datetime.fromisoformat(last.at)).total_seconds() / 3600
        if age_h > limits.window_hours:
            return {"action": "none", "reason": f"champion v{state.champion} promoted {age_h:.1f} h ago, past the watch window"}
        observed, problems = self._serving_health(state.champion, last.baseline)
        label_observed, label_problems = self._label_health(state.champion, datetime.fromisoformat(last.at))
        observed, problems = {**observed, **label_observed}, problems + label_problems
        if not observed:
            return {"action": "none", "reason": (
                f"v{state.champion}: not enough to judge yet (need {limits.min_requests} requests or "
                f"{limits.min_labelled_rows} labelled live predictions)")}
        if not problems:
            return {"action": "none", "reason": f"v{state.champion} healthy", **observed}
        reason = f"v{state.champion} since its promotion: " + "; ".join(problems)
        self.rollback(actor, reason, action="auto_rollback")
        return {"action": "auto_rollback", "reason": reason, **observed}

    def _serving_health(self, version: int, baseline: dict[str, float] | None) -> tuple[dict[str, float], list[str]]:
        """Error rate and mean latency of ``version`` since ``baseline`` (nothing below min_requests)."""
        limits = self.config.watch
        traffic = self._traffic(version).since(baseline)
        if traffic.requests < limits.min_requests:
            return {}, []
        problems = []
        if traffic.error_rate > limits.max_error_rate:
            problems.append(f"error rate {traffic.error_rate:.1%} > {limits.max_error_rate:.1%} over {int(traffic.requests)} requests")
        if traffic.mean_latency_ms > limits.max_mean_latency_ms:
            problems.append(f"mean latency {traffic.mean_latency_ms:.1f} ms > {limits.max_mean_latency_ms:.0f} ms")
        return {"requests": traffic.requests, "error_rate": traffic.error_rate, "mean_latency_ms": traffic.mean_latency_ms}, problems

    def _label_health(self, version: int, since: datetime) -> tuple[dict[str, float], list[str]]:
        """``watch.label_metric`` of ``version``'s live predictions (capture store) joined with labels
        that arrived since, against its offline value (version tag); nothing below min_labelled_rows."""
        limits = self.config.watch
        metric = limits.label_metric
        captures = read_captures(self.config.capture_dir(self.settings.home), self.model_name, since=since)
        captures = captures[captures["champion_version"] == version]
        paired = pair_with_labels(captures, self._labelled_rows(), self.schema, [])
        y = paired[self.schema.target].to_numpy(dtype=int)
        if len(paired) < limits.min_labelled_rows or len(np.unique(y)) < 2:
            return {}, []
        live = metric_value(metric, y, paired["champion"].to_numpy(dtype=float))
        tag = self.client.get_model_version(self.model_name, str(version)).tags.get(METRIC_TAG_PREFIX + metric)
        observed = {f"live_{metric}": live, "labelled_predictions": float(len(paired))}
        if tag is None:
            return observed, []
        offline = float(tag)
        drop = (live - offline) if metric in LOWER_IS_BETTER else (offline - live)
        observed[f"offline_{metric}"] = offline
        if drop > limits.max_label_metric_drop:
            return observed, [f"live {metric} {live:.4f} on {len(paired)} labelled predictions is {drop:.4f} worse than "
                              f"offline {offline:.4f} (tolerance {limits.max_label_metric_drop:.4f})"]
        return observed, []

    def _traffic(self, version: int) -> VersionTraffic:
        """Triton's cumulative counters of one version (zeros when it has served nothing)."""
        metrics_url = triton_metrics_url(self.triton_url, self.settings.triton_metrics_port)
        return fetch_traffic(metrics_url, self.versions_model).get(version, VersionTraffic())

    def hold(self, version: int | None, decision: dict[str, Any] | None = None) -> list[int]:
        """Keep the champion. The challenger stays in shadow while its online window is incomplete
        and ``decision.online.required``; otherwise it leaves Triton, and a rejected one also loses
        ``@challenger``. A dry run (``version`` None) changes nothing.

        Returns:
            The versions Triton serves afterwards.
        """
        if version is None or (decision or {}).get("dry_run"):
            return self.triton.ready_versions(self.versions_model)
        state = registry.alias_state(self.client, self.model_name)
        if state.champion is None:
            log.warning(
                "no champion for %r and challenger v%s did not pass the gate; nothing is served until a "
                "model clears the quality floor", self.model_name, version,
            )
            self.triton.unload(self.model_name)
            self.triton.unload(self.versions_model)
            return []
        window = (decision or {}).get("online_window") or {}
        if self.config.decision.online.required and (decision or {}).get("action") == "hold" and not window.get("complete"):
            return self.sync_serving(state.served_versions(), state)
        if (decision or {}).get("action") == "reject" and state.challenger == version:
            state = dataclasses.replace(state, challenger=None)
            registry.move_aliases(self.client, self.model_name, state)
        return self.sync_serving(state.steady_versions(), state)

    def fail_cycle(self, cycle_id: str, reason: str) -> str | None:
        """Mark the cycle's MLflow run FAILED with the reason; returns its id (None if never opened)."""
        run_id = tracking.find_run(self.client, self.experiment_id, cycle_id, "cycle")
        if run_id:
            self.client.set_tag(run_id, "ccp.failure", reason[:5000])
            self.client.set_terminated(run_id, "FAILED")
        return run_id

    def record_skip(self, cycle_run_id: str, plan: dict[str, Any]) -> None:
        """Close a cycle that trained nothing: the plan's reason goes into the cycle run."""
        self.client.set_tag(cycle_run_id, "ccp.decision.action", "skip")
        self.client.set_tag(cycle_run_id, "ccp.decision.reason", plan["reason"])
        self.client.set_terminated(cycle_run_id, "FINISHED")

    def record(self, cycle_run_id: str, evaluation: dict[str, Any], decision: dict[str, Any]) -> None:
        """Write the evidence and the decision into the cycle run, and summarise them on the version.

        The cycle run gets both models' offline (``champion_*``, ``challenger_*``) and online
        (``online_*``) metrics, the decision tags and ``decision.json``. The challenger's registry
        version (none in a dry run) gets its metrics, the decision and the evidence run id as tags.
        """
        now = datetime.now(UTC).isoformat(timespec="seconds")
        online = evaluation.get("online") or {}
        for prefix, source in (("", evaluation), ("online_", online)):
            for role in ("champion", "challenger"):
                for name, value in (source.get(role) or {}).items():
                    self.client.log_metric(cycle_run_id, f"{prefix}{role}_{name}", value)
        if online:
            window = online["window"]
            self.client.log_metric(cycle_run_id, "online_labelled_rows", window["labelled_rows"])
            self.client.log_metric(cycle_run_id, "online_window_hours", window["duration_hours"])
            self.client.set_tag(cycle_run_id, "ccp.online_window", window["reason"])
        versions = evaluation["versions"]
        self.client.log_param(cycle_run_id, "challenger_version", versions["challenger"])
        self.client.log_param(cycle_run_id, "champion_version", versions["champion"])
        for key, value in {"action": decision["action"], "reason": decision["reason"], "at": now}.items():
            self.client.set_tag(cycle_run_id, f"ccp.decision.{key}", value)
        tracking.log_dict_artifact(self.client, cycle_run_id, {"evaluation": evaluation, "decision": decision, "at": now}, "decision.json")
        paired = Path(evaluation["paired_scores"])
        summary = comparison.write_comparison(
            pd.read_parquet(paired), self.schema.target, self.config.decision.slice_columns, paired.parent / "comparison",
            versions["champion"], versions["challenger"], decision,
        )
        comparison.log_comparison(self.client, cycle_run_id, summary)
        if versions["challenger"] is not None:
            self._tag_version(str(versions["challenger"]), evaluation["challenger"], decision, cycle_run_id)
            self.client.update_model_version(self.model_name, str(versions["challenger"]), description=(
                comparison.version_description(decision, evaluation, self.run_url(cycle_run_id))))
        self.client.set_terminated(cycle_run_id, "FINISHED")

    def _tag_version(self, version: str, metrics: dict[str, float], decision: dict[str, Any], cycle_run_id: str) -> None:
        for name, value in metrics.items():
            self.client.set_model_version_tag(self.model_name, version, METRIC_TAG_PREFIX + name, f"{value:.6g}")
        for key, value in {"ccp.decision": decision["action"], "ccp.decision_reason": decision["reason"],
                           "ccp.evidence_run_id": cycle_run_id}.items():
            self.client.set_model_version_tag(self.model_name, version, key, value)
