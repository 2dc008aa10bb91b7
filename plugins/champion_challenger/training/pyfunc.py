"""The Ludwig model as an MLflow pyfunc model.

``mlflow.pyfunc.load_model("models:/<name>@champion").predict(df)`` returns a DataFrame with the
positive-class ``probability`` and the 0/1 ``prediction``, the same as Triton's outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from mlflow.pyfunc import PythonModel, PythonModelContext

LUDWIG_ARTIFACT = "ludwig_model"


class LudwigPyfuncModel(PythonModel):
    """Wraps a saved ``LudwigModel`` folder logged as the artifact ``ludwig_model``."""

    def load_context(self, context: PythonModelContext) -> None:
        import logging

        from ludwig.api import LudwigModel

        self._model = LudwigModel.load(context.artifacts[LUDWIG_ARTIFACT], backend="local", logging_level=logging.ERROR)
        self._target = self._model.config["output_features"][0]["name"]

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        scored = self._model.predict(model_input, return_type=pd.DataFrame)[0]
        probability = positive_probability(scored, self._target)
        threshold = float(self._model.config["output_features"][0].get("threshold", 0.5))
        return pd.DataFrame({"probability": probability, "prediction": (probability >= threshold).astype(int)})


def ludwig_dir_in(pyfunc_model_dir: Path) -> Path:
    """Where the Ludwig model lies inside a downloaded pyfunc model folder (read from ``MLmodel``)."""
    mlmodel = yaml.safe_load((pyfunc_model_dir / "MLmodel").read_text())
    return pyfunc_model_dir / mlmodel["flavors"]["python_function"]["artifacts"][LUDWIG_ARTIFACT]["path"]


def positive_probability(scored: pd.DataFrame, target: str) -> np.ndarray:
    """Positive-class probability from ``LudwigModel.predict`` output of a binary target."""
    return np.stack(scored[f"{target}_probabilities"].to_numpy())[:, 1].astype(float)
