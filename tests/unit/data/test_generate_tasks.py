"""Synthetic data of every task, and the example pipelines that train on it."""

from __future__ import annotations

import pandas as pd
import pytest

from champion_challenger.config.ludwig_schema import load_candidate_configs, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.generate import GENERATORS, BatchSpec, batch_filename, write_batches
from champion_challenger.data.store import DataStore, claim_new_batches, load_window
from champion_challenger.data.validate import validate_batches
from tests.conftest import REPO

EXAMPLES = {"multiclass": REPO / "configs/examples/multiclass", "regression": REPO / "configs/examples/regression"}
TASKS = [pytest.param(task, id=task) for task in ("binary", "multiclass", "regression")]


@pytest.mark.parametrize("task", TASKS)
def test_batches_are_deterministic_per_seed_and_index(task):
    generate = GENERATORS[task]
    a, b = generate(BatchSpec(3, 200, 1, False)), generate(BatchSpec(3, 200, 1, False))
    pd.testing.assert_frame_equal(a, b)
    assert not generate(BatchSpec(4, 200, 1, False)).equals(a)
    assert not generate(BatchSpec(3, 200, 2, False)).equals(a)


@pytest.mark.parametrize("task", TASKS)
def test_write_batches_names_and_writes_each_task_alike(tmp_path, task):
    together = write_batches(tmp_path / "a", 3, drift_at=1, seed=5, rows=40, task=task)
    single = [write_batches(tmp_path / "b", 1, start=i, drift_at=1, seed=5, rows=40, task=task)[0] for i in range(3)]
    assert [p.name for p in together] == [batch_filename(i) for i in range(3)]
    assert [p.read_bytes() for p in together] == [p.read_bytes() for p in single]
    assert not list((tmp_path / "a").glob(".*"))  # no temporary file left behind


def test_tickets_have_every_queue_and_drift_moves_them():
    base = GENERATORS["multiclass"](BatchSpec(0, 4000, 1, False))
    drifted = GENERATORS["multiclass"](BatchSpec(0, 4000, 1, True))
    assert set(base.queue) == {"account", "billing", "sales", "technical"}
    tv = lambda f: f[f["product"] == "tv"].queue.eq("technical").mean()  # noqa: E731
    assert tv(drifted) > tv(base) + 0.2
    assert drifted.channel.eq("chat").mean() > base.channel.eq("chat").mean() + 0.15


def test_demand_is_positive_and_drift_raises_prices_and_price_sensitivity():
    base = GENERATORS["regression"](BatchSpec(0, 4000, 1, False))
    drifted = GENERATORS["regression"](BatchSpec(0, 4000, 1, True))
    assert (base.units_sold >= 0).all() and base.units_sold.nunique() > 1000
    assert drifted.price.mean() > base.price.mean() * 1.1
    assert drifted.units_sold.mean() < base.units_sold.mean()


@pytest.mark.parametrize("task", [pytest.param(t, id=t) for t in EXAMPLES])
def test_examples_load_with_their_task_and_two_candidates(task):
    config = PipelineConfig.from_yaml(EXAMPLES[task] / "pipeline.yaml")
    assert config.task == task and len(config.ludwig_config_paths()) == 2
    binary = PipelineConfig.from_yaml(REPO / "configs/pipelines/churn_classifier.yaml")
    assert config.data.landing_dir != binary.data.landing_dir and config.serving.capture_dir != binary.serving.capture_dir
    assert config.model_name != binary.model_name and config.experiment_name != binary.experiment_name


@pytest.mark.parametrize("task", [pytest.param(t, id=t) for t in EXAMPLES])
def test_generated_batches_pass_validation_of_the_example(tmp_path, task):
    config = PipelineConfig.from_yaml(EXAMPLES[task] / "pipeline.yaml")
    schema = model_schema(config, load_candidate_configs(config))
    store = DataStore(tmp_path / "data" / "landing")
    write_batches(store.landing, 2, drift_at=1, seed=3, rows=300, task=task)
    files = claim_new_batches(store, "r", config.data.file_pattern)
    summary = validate_batches(
        store, files, schema, store.run_dir("r"), classes=config.data.classes, unseen_classes=config.data.unseen_classes
    )
    assert len(summary.accepted) == 2 and not summary.quarantined and summary.warning_count == 0
    window = load_window(store, 2)
    assert set(schema.required_columns) == set(window.columns) and len(window) == 600
    if task == "multiclass":
        assert set(window.queue) <= set(config.data.classes)
