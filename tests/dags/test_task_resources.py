"""The task-resources listener: registered by the plugin, one JSON line per finished task, never failing a task."""

from __future__ import annotations

import json
from types import SimpleNamespace

from champion_challenger.airflow import task_resources


def test_the_plugin_registers_the_listener():
    from ccp_airflow_plugin import ChampionChallengerPlugin

    assert task_resources in ChampionChallengerPlugin.listeners


def test_a_finished_task_appends_its_seconds_and_peak_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("CCP_HOME", str(tmp_path))
    ti = SimpleNamespace(dag_id="d", run_id="r1", task_id="ingest.validate", map_index=-1, try_number=1)
    task_resources.on_task_instance_running(None, ti)
    task_resources.on_task_instance_success(None, ti)
    task_resources.on_task_instance_failed(None, SimpleNamespace(**{**vars(ti), "map_index": 2}), RuntimeError("x"))
    rows = [json.loads(line) for line in task_resources.resources_path(tmp_path).read_text().splitlines()]
    assert [(r["task_id"], r["map_index"], r["state"]) for r in rows] == [
        ("ingest.validate", -1, "success"),
        ("ingest.validate", 2, "failed"),
    ]
    first = rows[0]
    assert (
        first["task_id"] == "ingest.validate"
        and first["peak_rss_mb"] > 0
        and first["process_seconds"] >= first["execute_seconds"] >= 0
    )
    assert first["cpu_seconds"] > 0 and rows[1]["execute_seconds"] is None  # no RUNNING callback for that one


def test_a_listener_error_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    (tmp_path / "metrics").write_text("a file where the folder should be")
    monkeypatch.setenv("CCP_HOME", str(tmp_path))
    task_resources.on_task_instance_success(None, SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1))
    assert "could not record" in caplog.text
