"""The tensor fast path scores exactly like ``LudwigModel.predict`` on real trained Ludwig models:
binary, category (multiclass) and number (regression) outputs."""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from champion_challenger.config.ludwig_schema import load_candidate_configs, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.generate import BatchSpec, generate_batch
from champion_challenger.serving.fast_predictor import TensorPredictor, UnsupportedModelError, check_supported
from champion_challenger.training.ludwig_trainer import train_ludwig
from champion_challenger.training.pyfunc import ludwig_scores, positive_probability
from tests.conftest import write_test_configs
from tests.integration.shadow_traffic import train_task_model, with_task_targets

pytestmark = pytest.mark.integration

TARGET = "churned"
#: Exercises what the shipped candidates do not: minmax/log1p/iq/no normalization, fill_with_mean,
#: outlier replacement, a vocabulary with <UNK> (most_common < distinct values), string and 0/1 binaries.
VARIANTS_CONFIG = {
    "model_type": "ecd",
    "input_features": [
        {
            "name": "tenure_months",
            "type": "number",
            "preprocessing": {"normalization": "minmax", "missing_value_strategy": "fill_with_mean"},
        },
        {
            "name": "monthly_charges",
            "type": "number",
            "preprocessing": {"normalization": "log1p", "missing_value_strategy": "fill_with_mean"},
        },
        {
            "name": "support_calls",
            "type": "number",
            "preprocessing": {"normalization": "iq", "outlier_strategy": "fill_with_mean", "outlier_threshold": 2.0},
        },
        {"name": "late_payments", "type": "number", "preprocessing": {"normalization": None}},
        {"name": "contract_type", "type": "category", "preprocessing": {"most_common": 2}},
        {"name": "fiber", "type": "binary"},
        {"name": "paperless", "type": "binary"},
    ],
    "output_features": [{"name": TARGET, "type": "binary"}],
    "combiner": {"type": "concat", "output_size": 16},
    "trainer": {"epochs": 2, "batch_size": 128},
}


def _with_binary_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["fiber"] = np.where(frame["internet_service"] == "fiber", "yes", "no").astype(object)
    frame["paperless"] = (frame["payment_method"] != "mailed_check").astype(float)
    return frame


def _scoring_rows(n: int = 1000) -> pd.DataFrame:
    """Generated rows with NaN numbers, None and "" categories, an unseen and a padded category value."""
    rows = _with_binary_columns(generate_batch(BatchSpec(9, n, 3, False)))
    for column in ("contract_type", "payment_method", "internet_service"):
        rows[column] = rows[column].astype(object)
    rows.loc[::7, "monthly_charges"] = np.nan
    rows.loc[::11, "tenure_months"] = np.nan
    rows.loc[2::13, "support_calls"] = np.nan
    rows.loc[::5, "contract_type"] = None
    rows.loc[3::13, "payment_method"] = "bitcoin"
    rows.loc[4::17, "internet_service"] = " dsl "
    rows.loc[5::19, "contract_type"] = "lifetime"
    rows.loc[6::9, "fiber"] = None
    rows.loc[7::9, "paperless"] = np.nan
    return rows


@pytest.fixture(scope="module")
def training_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    fit = pd.concat([generate_batch(BatchSpec(i, 600, 3, False)) for i in range(2)], ignore_index=True)
    return _with_binary_columns(fit), _with_binary_columns(generate_batch(BatchSpec(3, 300, 3, False)))


@pytest.fixture(scope="module", params=["churn_mlp", "churn_ft_transformer", "variants"])
def trained(request, training_data, tmp_path_factory) -> tuple[object, Path]:
    """(in-memory LudwigModel, saved model folder) of each candidate config and of the variants config."""
    fit, valid = training_data
    work = tmp_path_factory.mktemp(request.param)
    if request.param == "variants":
        return _train_variants(fit, valid, work)
    config = PipelineConfig.from_yaml(write_test_configs(work / "configs", epochs=2))
    candidates = load_candidate_configs(config)
    result = train_ludwig(candidates[request.param], fit, valid, model_schema(config, candidates), work, seed=1)
    return result.model, result.model_dir


def _train_variants(fit: pd.DataFrame, valid: pd.DataFrame, work: Path) -> tuple[object, Path]:
    from ludwig.api import LudwigModel

    fit = fit.copy()
    fit.loc[::9, "tenure_months"] = np.nan  # fill_with_mean then has a mean of the seen values to use
    fit["contract_type"] = fit["contract_type"].astype(object)
    fit.loc[::10, "contract_type"] = None
    columns = [f["name"] for f in VARIANTS_CONFIG["input_features"]] + [TARGET]
    model = LudwigModel(copy.deepcopy(VARIANTS_CONFIG), logging_level=logging.WARNING)
    model.train(
        training_set=fit[columns],
        validation_set=valid[columns],
        output_directory=str(work / "runs"),
        skip_save_processed_input=True,
        skip_save_progress=True,
        skip_save_log=True,
        random_seed=1,
    )
    model.save(str(work / "model"))
    return model, work / "model"


@pytest.fixture(scope="module")
def fast(trained) -> TensorPredictor:
    return TensorPredictor.load(trained[1])


def _columns(rows: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    return {name: rows[name].to_numpy() for name in names}


def test_matches_ludwig_predict(trained, fast):
    model, _ = trained
    rows = _scoring_rows()[fast.feature_names]
    expected = positive_probability(model.predict(rows, return_type=pd.DataFrame)[0], fast.target)
    got = fast.predict_proba(_columns(rows, fast.feature_names))
    assert got.dtype == np.float32 and got.shape == (1000,)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_triton_style_bytes_input_gives_the_same_answer(fast):
    """Triton delivers [batch, 1] tensors: FP32 numbers and TYPE_STRING as bytes, "" for a missing string."""
    rows = _scoring_rows()
    as_str = fast.predict_proba(_columns(rows, fast.feature_names))
    as_bytes = {}
    for name in fast.feature_names:
        values = rows[name]
        if pd.api.types.is_numeric_dtype(values):
            as_bytes[name] = values.to_numpy(dtype=np.float32).reshape(-1, 1)
        else:
            encoded = [b"" if pd.isna(v) else str(v).encode() for v in values]
            as_bytes[name] = np.array(encoded, dtype=object).reshape(-1, 1)
    np.testing.assert_array_equal(fast.predict_proba(as_bytes), as_str)


def test_single_rows_equal_the_batch(fast):
    rows = _scoring_rows(60)
    batch = fast.predict_proba(_columns(rows, fast.feature_names))
    single = [fast.predict_proba(_columns(rows.iloc[[i]], fast.feature_names)) for i in range(len(rows))]
    np.testing.assert_allclose(np.concatenate(single), batch, atol=1e-6, rtol=0)


def test_missing_feature_raises_key_error_naming_it(fast):
    columns = _columns(_scoring_rows(5), fast.feature_names)
    del columns["contract_type"]
    with pytest.raises(KeyError, match="contract_type"):
        fast.predict_proba(columns)


def test_empty_request_gives_empty_answer(fast):
    assert fast.predict_proba({name: np.empty(0) for name in fast.feature_names}).shape == (0,)


def test_latency_report(fast, request, capsys):
    """Prints single-row p50/p99 and batch throughput with one torch thread (measured, not asserted)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = _scoring_rows(2000)
        one = [_columns(rows.iloc[[i]], fast.feature_names) for i in range(500)]
        batch = _columns(rows, fast.feature_names)
        fast.predict_proba(one[0])
        timings = []
        for columns in one:
            start = time.perf_counter()
            fast.predict_proba(columns)
            timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(5):
            fast.predict_proba(batch)
        rows_per_s = 5 * len(rows) / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    p50, p99 = np.percentile(np.array(timings) * 1000, [50, 99])
    with capsys.disabled():
        print(
            f"\n[{request.node.callspec.id}] 1 torch thread: single row p50 {p50:.3f} ms, "
            f"p99 {p99:.3f} ms; 2,000-row batch {rows_per_s:,.0f} rows/s"
        )


BASE = {
    "model_type": "ecd",
    "input_features": [{"name": "tenure_months", "type": "number"}],
    "output_features": [{"name": TARGET, "type": "binary"}],
}


def _config(**changes) -> dict:
    config = copy.deepcopy(BASE)
    config.update(changes)
    return config


@pytest.mark.parametrize(
    ("config", "metadata", "match"),
    [
        pytest.param(
            _config(input_features=[{"name": "review", "type": "text"}]), {}, r"'review' has type 'text'", id="text-input"
        ),
        pytest.param(
            _config(output_features=[{"name": TARGET, "type": "text"}]),
            {},
            r"one binary/category/number output feature is supported, got \[\('churned', 'text'\)\]",
            id="text-output",
        ),
        pytest.param(_config(output_features=[]), {}, r"one binary/category/number output", id="no-output"),
        pytest.param(
            _config(output_features=[{"name": TARGET, "type": "binary"}, {"name": "tier", "type": "category"}]),
            {},
            r"exactly one",
            id="two-outputs",
        ),
        pytest.param(_config(model_type="llm"), {}, r"model_type 'llm'", id="llm"),
        pytest.param(
            BASE,
            {"tenure_months": {"preprocessing": {"missing_value_strategy": "bfill"}}},
            r"'tenure_months' \(number\) uses missing_value_strategy 'bfill'",
            id="bfill",
        ),
        pytest.param(
            _config(input_features=[{"name": "plan", "type": "category", "preprocessing": {"cache_encoder_embeddings": True}}]),
            {},
            r"'plan' \(category\) uses cache_encoder_embeddings",
            id="cached-embeddings",
        ),
    ],
)
def test_unsupported_models_are_refused_by_name(config, metadata, match):
    with pytest.raises(UnsupportedModelError, match=match):
        check_supported(config, metadata)


def test_supported_config_passes():
    for output in ("binary", "category", "number"):
        check_supported(
            _config(
                input_features=[
                    {"name": "a", "type": "number"},
                    {"name": "b", "type": "category"},
                    {"name": "c", "type": "binary"},
                ],
                output_features=[{"name": TARGET, "type": output}],
            )
        )


# ---- multiclass (category output) and regression (number output) --------------------------------------------------
TASK_INPUTS = [
    {"name": "tenure_months", "type": "number", "preprocessing": {"missing_value_strategy": "fill_with_mean"}},
    {"name": "monthly_charges", "type": "number", "preprocessing": {"normalization": "minmax"}},
    {"name": "support_calls", "type": "number"},
    {"name": "contract_type", "type": "category"},
    {"name": "payment_method", "type": "category"},
    {"name": "internet_service", "type": "category"},
]
#: Output features of the task models: a 4-class category (unequal frequencies, so Ludwig's vocabulary is not
#: sorted), a zscore-normalized number clipped in the normalized space (Ludwig 0.17 reloads only integer
#: bounds) and a log1p-normalized number.
TASK_OUTPUTS = {
    "category": {"name": "tier", "type": "category"},
    "number_zscore_clip": {"name": "value", "type": "number", "preprocessing": {"normalization": "zscore"}, "clip": [0, 2]},
    "number_log1p": {"name": "value", "type": "number", "preprocessing": {"normalization": "log1p"}},
}


@pytest.fixture(scope="module", params=list(TASK_OUTPUTS))
def task_model(request, tmp_path_factory) -> tuple[object, TensorPredictor]:
    """(LudwigModel, fast path) of a saved model with a category or number output (1 epoch)."""
    from ludwig.api import LudwigModel

    fit = pd.concat([generate_batch(BatchSpec(i, 500, 4, False)) for i in range(2)], ignore_index=True)
    work = tmp_path_factory.mktemp(request.param)
    saved = train_task_model(TASK_OUTPUTS[request.param], with_task_targets(fit, 1), work, inputs=TASK_INPUTS)
    return LudwigModel.load(str(saved), logging_level=logging.ERROR), TensorPredictor.load(saved)


def test_category_and_number_outputs_match_ludwig_predict(task_model):
    model, fast = task_model
    rows = _scoring_rows()[fast.feature_names]
    scored = model.predict(rows, return_type=pd.DataFrame)[0]
    answer = fast.predict(_columns(rows, fast.feature_names))
    expected = ludwig_scores(scored, fast.target, fast.task)
    if fast.task == "multiclass":
        vocabulary = [str(c) for c in model.training_set_metadata[fast.target]["idx2str"]]
        assert vocabulary != sorted(vocabulary) and fast.classes == tuple(sorted(vocabulary)) and len(fast.classes) == 4
        assert answer.scores.shape == (1000, 4) and answer.scores.dtype == np.float32
        assert answer.predictions.tolist() == scored[f"{fast.target}_predictions"].astype(str).tolist()
        np.testing.assert_allclose(answer.scores.sum(axis=1), 1.0, atol=1e-5)
    else:
        assert answer.scores.shape == (1000,) and answer.scores.std() > 0
        np.testing.assert_array_equal(answer.predictions, answer.scores)
    np.testing.assert_allclose(answer.scores, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("task_model", ["category"], indirect=True)
def test_multiclass_scores_follow_the_requested_class_order(task_model):
    model, fast = task_model
    rows = _scoring_rows(200)[fast.feature_names]
    wanted = ["premium", "unseen", *sorted(c for c in fast.classes if c != "premium")]
    got = fast.predict_scores(_columns(rows, fast.feature_names), classes=wanted)
    scored = model.predict(rows, return_type=pd.DataFrame)[0]
    assert got.shape == (200, 5) and (got[:, 1] == 0).all()  # a class the model does not know: 0
    for j, cls in enumerate(wanted):
        if cls != "unseen":
            np.testing.assert_allclose(got[:, j], scored[f"{fast.target}_probabilities_{cls}"], atol=1e-6)
    np.testing.assert_allclose(ludwig_scores(scored, fast.target, "multiclass", wanted), got, atol=1e-6)
    with pytest.raises(ValueError, match="use predict_scores"):
        fast.predict_proba(_columns(rows, fast.feature_names))


def test_task_models_answer_single_rows_and_empty_requests_like_batches(task_model):
    _, fast = task_model
    rows = _scoring_rows(40)
    batch = fast.predict_scores(_columns(rows, fast.feature_names))
    single = np.concatenate([fast.predict_scores(_columns(rows.iloc[[i]], fast.feature_names)) for i in range(len(rows))])
    np.testing.assert_allclose(single, batch, atol=1e-6, rtol=1e-6)  # float32 sums differ in the last bit, times the std
    empty = fast.predict({name: np.empty(0) for name in fast.feature_names})
    assert empty.scores.shape == ((0, len(fast.classes)) if fast.task == "multiclass" else (0,)) and len(empty.predictions) == 0
