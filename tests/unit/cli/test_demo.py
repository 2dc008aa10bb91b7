"""The demo's orchestration: each cycle's batches go to the run it triggers."""

from __future__ import annotations

from pathlib import Path

from champion_challenger.cli import demo
from champion_challenger.config.settings import Settings

REPO = Path(__file__).resolve().parents[3]


class RecordingApi:
    """Stands in for Airflow's REST API only; records the order of what the demo asks of it.

    A scheduler run (the six-hourly timer) appears just before cycle 2 and stays active for two polls.
    """

    def __init__(self, landing: Path) -> None:
        self.landing, self.events, self.scheduled_polls, self.landed_while_scheduled = landing, [], 0, []

    def wait_for_dag(self, dag_id):
        self.events.append("wait_for_dag")

    def unpause(self, dag_id):
        self.events.append("unpause")

    def active_runs(self, dag_id):
        triggered = sum(e.startswith("trigger") for e in self.events)
        if triggered == 1 and self.scheduled_polls < 2:
            self.scheduled_polls += 1
            self.landed_while_scheduled.append(len(list(self.landing.glob("*.csv"))))
            return ["scheduled__2026-11-25T12:00:00+00:00"]
        return []

    def trigger(self, dag_id, conf=None):
        self.events.append(f"trigger with {len(list(self.landing.glob('*.csv')))} batches landed")
        return f"manual_{len(self.events)}"

    def wait_run(self, dag_id, run_id, timeout_s=900, on_poll=None):
        return "success"

    def run_state(self, dag_id, run_id):
        return "success"

    def task_states(self, dag_id, run_id):
        return {"promote.promote": "success", "promote.hold": "skipped"}


def test_a_cycle_lands_its_batches_only_after_the_schedulers_own_run_finished(tmp_path, monkeypatch, capsys):
    settings = Settings(
        home=tmp_path,
        pipelines=REPO / "configs" / "pipelines" / "churn_classifier.yaml",
        mlflow_tracking_uri="http://x",
        triton_url="127.0.0.1:1",
        triton_grpc_port=2,
        triton_metrics_port=3,
        airflow_port=4,
        mlflow_port=5,
    )
    landing = demo.PipelineConfig.from_yaml(settings.pipeline_config).landing_dir(tmp_path)
    api = RecordingApi(landing)
    monkeypatch.setattr(demo.local, "airflow_api", lambda s: api)
    monkeypatch.setattr(demo, "DEMO_PLAN", [(0, 2), (2, 1)])
    monkeypatch.setattr(demo.time, "sleep", lambda s: None)
    monkeypatch.setattr(demo, "_cycle_decision", lambda client, experiment, run_id: ("promote", f"{run_id} was better"))

    results = demo.run_demo(settings, rows=50)

    assert api.scheduled_polls == 2  # it waited until the scheduler's run was gone ...
    assert api.landed_while_scheduled == [2, 2]  # ... before landing cycle 2's batch
    assert api.events[-2:] == ["trigger with 2 batches landed", "trigger with 3 batches landed"]
    assert [(r["branch"], r["decision"]) for r in results] == [("promote", "promote")] * 2
    waiting = "waiting for the scheduler's own run(s) to finish first: scheduled__2026-11-25T12:00:00+00:00"
    assert waiting in capsys.readouterr().out


def test_a_cycle_waiting_for_approval_says_where_to_answer():
    from champion_challenger.cli.demo import waiting_for_approval

    text = waiting_for_approval("http://127.0.0.1:8080", "champion_challenger__churn", "manual__1")
    assert "http://127.0.0.1:8080/dags/champion_challenger__churn/runs/manual__1/tasks/promote.approve" in text
    assert "/api/v2/dags/champion_challenger__churn/dagRuns/manual__1/taskInstances/promote.approve/-1/hitlDetails" in text
