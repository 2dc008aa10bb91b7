"""The serving export: real trained Ludwig models go to ONNX and answer like ``LudwigModel.predict`` (binary with
every input preprocessing option the fast path covers, multiclass, regression); a model the graph cannot answer
for keeps the Ludwig path with its reason; the graph runs without torch or Ludwig and fits the Triton config."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from champion_challenger.data.generate import BatchSpec, generate_batch
from champion_challenger.serving import triton_repository
from champion_challenger.serving.onnx_export import export_serving
from champion_challenger.serving.onnx_scoring import EXPORT_FILE, ONNX_FILE, PARITY_TOLERANCE, OnnxScorer, ServingExport
from tests.integration import test_fast_predictor as fast_cases
from tests.integration.shadow_traffic import train_task_model, with_task_targets

pytestmark = pytest.mark.integration

OUTPUTS = {"multiclass": {"name": "tier", "type": "category"}, "regression": {"name": "value", "type": "number"}}


def _numeric_binaries(rows: pd.DataFrame) -> pd.DataFrame:
    """Binary features as Triton carries them (FP32): ``fiber`` 1.0 / 0.0, missing stays NaN."""
    rows = rows.copy()
    rows["fiber"] = rows["fiber"].map({"yes": 1.0, "no": 0.0})
    return rows


def _scoring_rows() -> pd.DataFrame:
    """NaN numbers, None and "" categories, unseen and padded category values (see test_fast_predictor)."""
    return with_task_targets(fast_cases._scoring_rows(1000), 2)


@pytest.fixture(scope="module")
def fit() -> pd.DataFrame:
    rows = pd.concat([generate_batch(BatchSpec(i, 600, 3, False)) for i in range(2)], ignore_index=True)
    return with_task_targets(fast_cases._with_binary_columns(rows), 1)


@pytest.fixture(scope="module")
def binary_model(fit, tmp_path_factory):
    """The fast-path variants config: minmax, log1p, iq with outliers, no normalization, <UNK>, two binaries."""
    valid = fast_cases._with_binary_columns(generate_batch(BatchSpec(3, 300, 3, False)))
    model, _ = fast_cases._train_variants(_numeric_binaries(fit), _numeric_binaries(valid), tmp_path_factory.mktemp("binary"))
    return model


@pytest.fixture(scope="module", params=list(OUTPUTS))
def task_model(request, fit, tmp_path_factory):
    from ludwig.api import LudwigModel

    folder = train_task_model(OUTPUTS[request.param], fit, tmp_path_factory.mktemp(request.param))
    return request.param, LudwigModel.load(str(folder), backend="local", logging_level=logging.ERROR)


def _assert_exported(result: ServingExport, dest: Path) -> None:
    assert result.format == "onnx", result.reason
    assert result.max_abs_diff is not None and result.max_abs_diff <= PARITY_TOLERANCE
    assert result.parity_rows == 1000
    assert (dest / ONNX_FILE).exists()
    assert json.loads((dest / EXPORT_FILE).read_text())["format"] == "onnx"


def test_binary_export_matches_ludwig_on_every_preprocessing_option(binary_model, tmp_path):
    _assert_exported(export_serving(binary_model, tmp_path, _numeric_binaries(_scoring_rows())), tmp_path)


def test_multiclass_and_regression_exports_match_ludwig(task_model, tmp_path):
    task, model = task_model
    _assert_exported(export_serving(model, tmp_path, _scoring_rows()), tmp_path)
    if task == "multiclass":  # class names come out of the graph, in the model's sorted class order
        rows = _scoring_rows()
        names = [f["name"] for f in model.config["input_features"]]
        answer = OnnxScorer(tmp_path / ONNX_FILE, []).task_outputs(task, {n: rows[n].to_numpy() for n in names})
        assert answer.scores.shape == (1000, 4) and set(answer.predictions) <= {"basic", "plus", "pro", "premium"}


def test_a_graph_that_answers_differently_keeps_the_ludwig_path_with_the_reason(binary_model, tmp_path):
    """Rows whose binary feature is text ("yes"/"no") are answered by Ludwig's string rules; the graph takes
    FP32 as Triton does, so the parity check fails and the version keeps the Ludwig path."""
    result = export_serving(binary_model, tmp_path, _scoring_rows())
    assert result.format == "ludwig" and "parity check failed" in result.reason
    assert not (tmp_path / ONNX_FILE).exists()

    repo = tmp_path / "repo"
    model_dir = tmp_path / "model"
    binary_model.save(str(model_dir))
    folder = triton_repository.export_version(repo, "m_versions", 1, model_dir, tmp_path)
    assert triton_repository.version_format(repo, "m_versions", 1) == ("ludwig", result.reason)
    assert (folder / triton_repository.LUDWIG_DIR).is_dir() and not (folder / ONNX_FILE).exists()


def test_no_rows_to_check_on_keeps_the_ludwig_path(binary_model, tmp_path):
    result = export_serving(binary_model, tmp_path, _scoring_rows().head(0))
    assert result.format == "ludwig" and "no rows" in result.reason


def test_the_graph_runs_without_torch_or_ludwig_and_fits_the_triton_config(binary_model, tmp_path):
    """What Triton's Python backend loads for an exported version imports neither torch nor Ludwig, and the
    graph's inputs and outputs are the versions model's config (names, types, [n, 1]) so Triton's native
    onnxruntime backend can serve the same file."""
    rows = _numeric_binaries(_scoring_rows())
    export_serving(binary_model, tmp_path, rows)
    features = [{"name": f["name"], "numeric": f["type"] in ("number", "binary")} for f in binary_model.config["input_features"]]
    script = (
        "import json, sys\n"
        "import numpy as np\n"
        "from champion_challenger.serving.onnx_scoring import OnnxScorer\n"
        f"scorer = OnnxScorer({str(tmp_path / ONNX_FILE)!r}, {features!r})\n"
        "out = scorer.run({n: np.array([np.nan if numeric else 'x'], dtype=object) for n, numeric in "
        f"((f['name'], f['numeric']) for f in {features!r})}})\n"
        "inputs = {i.name: i.type for i in scorer.session.get_inputs()}\n"
        "outputs = {o.name: o.type for o in scorer.session.get_outputs()}\n"
        "print(json.dumps({'heavy': sorted(m for m in ('torch', 'ludwig', 'pandas') if m in sys.modules), "
        "'inputs': inputs, 'outputs': outputs, 'shape': list(out['probability'].shape)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["heavy"] == []
    assert seen["outputs"] == {"probability": "tensor(float)", "prediction": "tensor(int32)"}
    served = triton_repository.ServedSignature({f["name"]: f["numeric"] for f in features}, "binary", ())
    config = triton_repository.render_config("m_versions", served, [1])
    for name, kind in seen["inputs"].items():
        assert f'name: "{name}" data_type: {"TYPE_FP32" if kind == "tensor(float)" else "TYPE_STRING"}' in config
    assert seen["shape"] == [1, 1]


def test_single_rows_equal_the_batch(binary_model, tmp_path):
    rows = _numeric_binaries(_scoring_rows()).head(40)
    export_serving(binary_model, tmp_path, rows)
    scorer = OnnxScorer(tmp_path / ONNX_FILE, [])
    names = [f["name"] for f in binary_model.config["input_features"]]
    batch = scorer.task_outputs("binary", {n: rows[n].to_numpy() for n in names}).scores
    single = [scorer.task_outputs("binary", {n: rows[n].to_numpy()[i : i + 1] for n in names}).scores for i in range(len(rows))]
    np.testing.assert_allclose(np.concatenate(single), batch, atol=1e-6, rtol=0)
