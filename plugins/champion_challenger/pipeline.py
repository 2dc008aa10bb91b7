"""The steps of one champion–challenger cycle, each a method the DAG calls in a few lines.

Every step is idempotent per cycle id (the Airflow ``run_id``): files live under
``<CCP_HOME>/runs/<cycle_id>/``, MLflow runs and registry versions are found again by tag.
"""

from __future__ import annotations

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

from champion_challenger import tracking
from champion_challenger.config import (
    LOWER_IS_BETTER,
    DecisionConfig,
    ModelSchema,
    PipelineConfig,
    load_candidate_configs,
    model_schema,
)
from champion_challenger.data.store import DataStore, claim_new_batches, load_window, safe_name, split_holdout
from champion_challenger.data.validate import validate_batches
from champion_challenger.drift.evidently_report import drift_report
from champion_challenger.errors import ConfigError, DataValidationError, ServiceUnavailableError
from champion_challenger.evaluation.gate import GateResult, PairedScores, evaluate_gate
from champion_challenger.evaluation.metrics import binary_metrics
from champion_challenger.registry import ledger
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving import triton_repository
from champion_challenger.serving.triton_client import TritonModelClient
from champion_challenger.serving.triton_metrics import fetch_traffic
from champion_challenger.settings import Settings, load_settings, triton_metrics_url
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
        return TritonModelClient(self.triton_url)

    @property
    def model_name(self) -> str:
        return self.config.model_name

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
        """Validate both configs and reach MLflow and Triton before any work.

        Raises:
            ConfigError: a config is invalid (names file and field).
            ServiceUnavailableError: MLflow or Triton cannot be reached.
        """
        schema = self.schema
        check_mlflow(self.tracking_uri)
        self.triton.check_live()
        return {"model_name": self.model_name, "features": schema.feature_names, "target": schema.target}

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

    def prepare(self, cycle_id: str) -> dict[str, str]:
        """Open the cycle's MLflow run and split the training window into train and holdout."""
        work = self.workspace(cycle_id)
        window = load_window(self.store, self.config.training.window_batches)
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
        """Evidently drift report: champion's training reference vs data it has not seen.

        Without a champion there is no reference; the step records that and reports no drift.
        """
        champion = registry.alias_version(self.client, self.model_name, registry.CHAMPION)
        if champion is None:
            self.client.set_tag(cycle_run_id, "ccp.drift", "skipped: no champion yet")
            return {"skipped": "no champion yet: nothing to compare against"}
        work = self.workspace(cycle_id)
        reference_dir = Path(tempfile.mkdtemp(dir=work))
        reference = pd.read_parquet(
            self.client.download_artifacts(champion.run_id, tracking.REFERENCE_ARTIFACT, str(reference_dir))
        )
        current = self._unseen_rows(champion)
        summary = drift_report(
            reference, current, self.schema, work / "drift", self.config.drift.max_rows, self.config.drift.drift_share
        )
        self.client.log_artifacts(cycle_run_id, str(work / "drift"), "drift")
        self.client.log_metric(cycle_run_id, "drift_share", summary.drift_share)
        self.client.set_tag(cycle_run_id, "ccp.drift", "detected" if summary.dataset_drift else "none")
        self.client.set_tag(cycle_run_id, "ccp.drifted_columns", ",".join(summary.drifted_columns) or "-")
        return summary.as_dict()

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

    def sync_serving(self, versions: list[int] | None = None) -> list[int]:
        """Make Triton serve ``versions`` (default: champion, challenger and previous).

        Missing version folders are exported from the registry; the new config is loaded before
        removed versions are unloaded, so the champion serves throughout.

        Returns:
            The versions now served.
        """
        versions = versions if versions is not None else registry.alias_state(self.client, self.model_name).served_versions()
        if not versions:
            return []
        repository = self.settings.triton_repository
        for version in versions:
            if version not in triton_repository.exported_versions(repository, self.model_name):
                self._export(version)
        triton_repository.write_model_config(repository, self.model_name, versions)
        self.triton.load(self.model_name)
        self.triton.wait_ready(self.model_name, versions)
        triton_repository.prune_versions(repository, self.model_name, set(versions))
        return versions

    def _export(self, version: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{self.model_name}/{version}", dst_path=tmp, tracking_uri=self.tracking_uri
            ))
            triton_repository.export_version(
                self.settings.triton_repository, self.model_name, version, ludwig_dir_in(local)
            )

    def shadow_evaluate(self, cycle_id: str, challenger_version: int) -> dict[str, Any]:
        """Score the holdout through Triton with both the champion and the challenger.

        Both are scored on the same rows; the per-row scores are kept in the cycle's workspace
        (``paired_scores.parquet``) for the paired gate. The champion is None when there is none yet.

        Returns:
            Both versions, both models' metrics, the row count and the path of the paired scores.
        """
        holdout = pd.read_parquet(self.workspace(cycle_id) / "holdout.parquet")
        champion = registry.alias_version(self.client, self.model_name, registry.CHAMPION)
        versions = {"challenger": challenger_version, "champion": int(champion.version) if champion else None}
        paired = holdout[[self.schema.target, *self._slice_columns()]].copy()
        result: dict[str, Any] = {"versions": versions, "rows": len(holdout)}
        for role, version in versions.items():
            if version is None:
                result[role] = None
                continue
            paired[role] = self.triton.predict_proba(
                self.model_name, holdout, self.schema, version, self.config.evaluation.batch_size
            )
            result[role] = binary_metrics(paired[self.schema.target].to_numpy(), paired[role].to_numpy())
        path = self.workspace(cycle_id) / "paired_scores.parquet"
        paired.to_parquet(path, index=False)
        result["paired_scores"] = str(path)
        return result

    def _slice_columns(self) -> list[str]:
        columns = self.config.decision.slice_columns
        missing = [c for c in columns if c not in self.schema.required_columns]
        if missing:
            raise ConfigError(f"{self.config.source_path}: decision.slice_columns {missing} are not columns of the data")
        return columns

    def decide(self, evaluation: dict[str, Any], rules: DecisionConfig | None = None) -> GateResult:
        """Apply the gate (default: the configured rules) to the paired shadow scores."""
        rules = rules or self.config.decision
        paired = pd.read_parquet(evaluation["paired_scores"])
        scores = PairedScores(
            y=paired[self.schema.target].to_numpy(),
            challenger=paired["challenger"].to_numpy(),
            champion=paired["champion"].to_numpy() if "champion" in paired else None,
            slices=paired[rules.slice_columns] if rules.slice_columns else None,
        )
        return evaluate_gate(scores, rules)

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

        1. the new champion is loaded in Triton (beside the current one) and smoke requests pass;
        2. the aliases move and the stages are mirrored;
        3. Triton's version set switches (new versions load before old ones unload);
        4. the event is appended to the ledger.

        Returns:
            The ledger entry.
        """
        before = registry.alias_state(self.client, self.model_name)
        served_before = self.triton.ready_versions(self.model_name)
        entry = ledger.LedgerEntry(action, self.model_name, before.champion, target.champion, actor, reason, evidence_run_id)
        moved = False
        try:
            self.sync_serving(sorted(set(served_before) | {target.champion}))
            self.smoke_test(target.champion)
            registry.move_aliases(self.client, self.model_name, target)
            moved = True
            self.sync_serving(target.steady_versions())
            ledger.append(self.client, self.config.experiment_name, entry)
        except Exception:
            log.exception("%s of %s to v%s failed; restoring the earlier state", action, self.model_name, target.champion)
            if moved:
                registry.move_aliases(self.client, self.model_name, before)
            self.sync_serving(served_before or before.steady_versions())
            raise
        return entry.as_dict()

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
            proba = self.triton.predict_proba(self.model_name, sample, self.schema, version, batch_size=rows)
        except Exception as exc:  # noqa: BLE001 - any failure here aborts the promotion
            raise ServiceUnavailableError(f"smoke requests to {self.model_name} v{version} failed: {exc}") from None
        if len(proba) != len(sample) or not np.all((proba >= 0) & (proba <= 1)):
            raise ServiceUnavailableError(f"smoke requests to {self.model_name} v{version} returned invalid probabilities")

    def watch(self, actor: str = "watch") -> dict[str, Any]:
        """Roll back a recently promoted champion whose live error rate or latency crosses the limits.

        Reads Triton's per-version counters for the champion. Only a champion promoted within
        ``watch.window_hours`` (per the ledger) and with a ``@previous`` is judged.

        Returns:
            What was observed and whether a rollback happened.
        """
        limits = self.config.watch
        state = registry.alias_state(self.client, self.model_name)
        events = ledger.history(self.client, self.config.experiment_name, limit=1)
        last = events[0] if events else None
        if state.champion is None or state.previous is None or last is None or last.to_version != state.champion:
            return {"action": "none", "reason": "no promoted champion with a previous version to watch"}
        age_h = (datetime.now(UTC) - datetime.fromisoformat(last.at)).total_seconds() / 3600
        if age_h > limits.window_hours:
            return {"action": "none", "reason": f"champion v{state.champion} promoted {age_h:.1f} h ago, past the watch window"}
        metrics_url = triton_metrics_url(self.triton_url, self.settings.triton_metrics_port)
        traffic = fetch_traffic(metrics_url, self.model_name).get(state.champion)
        if traffic is None or traffic.requests < limits.min_requests:
            seen = 0 if traffic is None else int(traffic.requests)
            return {"action": "none", "reason": f"v{state.champion} has {seen} requests, need {limits.min_requests} to judge"}
        observed = {"requests": traffic.requests, "error_rate": traffic.error_rate, "mean_latency_ms": traffic.mean_latency_ms}
        problems = []
        if traffic.error_rate > limits.max_error_rate:
            problems.append(f"error rate {traffic.error_rate:.1%} > {limits.max_error_rate:.1%}")
        if traffic.mean_latency_ms > limits.max_mean_latency_ms:
            problems.append(f"mean latency {traffic.mean_latency_ms:.1f} ms > {limits.max_mean_latency_ms:.0f} ms")
        if not problems:
            return {"action": "none", "reason": f"v{state.champion} healthy", **observed}
        reason = f"v{state.champion} over {int(traffic.requests)} requests: " + "; ".join(problems)
        self.rollback(actor, reason, action="auto_rollback")
        return {"action": "auto_rollback", "reason": reason, **observed}

    def hold(self, version: int) -> list[int]:
        """Keep the champion; stop serving the losing challenger. Returns the served versions."""
        state = registry.alias_state(self.client, self.model_name)
        if state.champion is None:
            log.warning(
                "no champion for %r and challenger v%s did not pass the gate; nothing is served until a "
                "model clears the quality floor", self.model_name, version,
            )
            self.triton.unload(self.model_name)
            return []
        return self.sync_serving(state.steady_versions())

    def record(self, cycle_run_id: str, evaluation: dict[str, Any], decision: dict[str, Any]) -> None:
        """Write both models' metrics and the decision into the cycle run and the version tags."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for role in ("champion", "challenger"):
            for name, value in (evaluation.get(role) or {}).items():
                self.client.log_metric(cycle_run_id, f"{role}_{name}", value)
        versions = evaluation["versions"]
        self.client.log_param(cycle_run_id, "challenger_version", versions["challenger"])
        self.client.log_param(cycle_run_id, "champion_version", versions["champion"])
        for key, value in {"action": decision["action"], "reason": decision["reason"], "at": now}.items():
            self.client.set_tag(cycle_run_id, f"ccp.decision.{key}", value)
        tracking.log_dict_artifact(self.client, cycle_run_id, {"evaluation": evaluation, "decision": decision, "at": now}, "decision.json")
        challenger = str(versions["challenger"])
        for name, value in evaluation["challenger"].items():
            self.client.set_model_version_tag(self.model_name, challenger, METRIC_TAG_PREFIX + name, f"{value:.6g}")
        self.client.set_model_version_tag(self.model_name, challenger, "ccp.decision", decision["action"])
        self.client.set_model_version_tag(self.model_name, challenger, "ccp.decision_reason", decision["reason"])
        self.client.set_model_version_tag(self.model_name, challenger, "ccp.evidence_run_id", cycle_run_id)
        self.client.set_terminated(cycle_run_id, "FINISHED")
