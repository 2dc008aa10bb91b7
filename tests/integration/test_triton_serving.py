"""Export a trained Ludwig model into a REAL Triton server and compare with Ludwig's predictions."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config import PipelineConfig
from champion_challenger.data.generate import BatchSpec, generate_batch
from champion_challenger.ludwig_schema import load_candidate_configs, model_schema
from champion_challenger.serving import triton_repository
from champion_challenger.serving.triton_client import TritonModelClient
from champion_challenger.training.ludwig_trainer import train_ludwig
from champion_challenger.training.pyfunc import positive_probability

pytestmark = pytest.mark.integration
MODEL = "serving_test"


@pytest.fixture(scope="module")
def trained(stack_settings, tmp_path_factory):
    config = PipelineConfig.from_yaml(stack_settings.pipeline_config)
    candidates = load_candidate_configs(config)
    schema = model_schema(config, candidates)
    fit = pd.concat([generate_batch(BatchSpec(i, 1000, 3, False)) for i in range(3)], ignore_index=True)
    valid = generate_batch(BatchSpec(3, 500, 3, False))
    model = train_ludwig(candidates["churn_mlp"], fit, valid, schema, tmp_path_factory.mktemp("train"), seed=1)
    return model, schema


def test_versions_serve_as_configured_and_match_ludwig(stack_settings, triton_server, trained):
    model, schema = trained
    repo = stack_settings.triton_repository
    for version in (1, 2):
        triton_repository.export_version(repo, MODEL, version, model.model_dir)
    triton_repository.write_model_config(repo, MODEL, [1])
    client = TritonModelClient(triton_server)
    client.load(MODEL)
    client.wait_ready(MODEL, [1])
    assert client.ready_versions(MODEL) == [1]

    triton_repository.write_model_config(repo, MODEL, [1, 2])
    client.load(MODEL)
    client.wait_ready(MODEL, [1, 2])
    assert client.ready_versions(MODEL) == [1, 2]

    rows = generate_batch(BatchSpec(9, 500, 3, False))
    served = client.predict_proba(MODEL, rows, schema, version=2, batch_size=128)
    from ludwig.api import LudwigModel

    expected = positive_probability(
        LudwigModel.load(str(model.model_dir), logging_level=logging.ERROR).predict(rows[schema.feature_names])[0],
        schema.target,
    )
    assert served.shape == (500,)
    np.testing.assert_allclose(served, expected, atol=1e-6)

    triton_repository.write_model_config(repo, MODEL, [2])
    client.load(MODEL)
    assert client.ready_versions(MODEL) == [2]
    assert not client.is_ready(MODEL, 1)


def test_unreachable_triton_says_what_to_do():
    from champion_challenger.errors import ServiceUnavailableError
    from champion_challenger.stack.processes import free_port

    with pytest.raises(ServiceUnavailableError, match=r"unreachable .* `make up` or set CCP_TRITON_URL"):
        TritonModelClient(f"127.0.0.1:{free_port()}").check_live()
