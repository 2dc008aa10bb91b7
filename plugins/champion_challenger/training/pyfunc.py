"""The Ludwig model as an MLflow pyfunc model.

``mlflow.pyfunc.load_model("models:/<name>@champion").predict(df)`` returns the same frame as the
Triton client (:func:`champion_challenger.serving.output_frames.output_frame`), per task:
binary ``probability`` (positive class) and ``prediction`` (0/1); multiclass ``prediction`` (the
class) and one ``probability_<class>`` per class (the model's own classes, sorted); regression
``prediction`` (the value).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from mlflow.pyfunc import PythonModel, PythonModelContext

from champion_challenger.serving.output_frames import frame_scores, output_frame
from champion_challenger.serving.prediction_outputs import ludwig_prediction, ludwig_scores
from champion_challenger.task import OUTPUT_TYPE_TASK, TaskKind

LUDWIG_ARTIFACT = "ludwig_model"
#: The serving export (:func:`champion_challenger.serving.onnx_export.export_serving`): ONNX graph and its parity check.
SERVING_ARTIFACT = "serving_export"
#: What loading the pyfunc needs. Given to ``log_model`` explicitly: otherwise MLflow infers them by loading the
#: model in a subprocess that imports torch and Ludwig (15-22 s per logged candidate on 2 cores, against 3.3 s
#: with the list; and its guess left out ludwig and torch).
PYFUNC_PACKAGES: tuple[str, ...] = (
    "mlflow",
    "champion-challenger",
    "ludwig",
    "torch",
    "pandas",
    "numpy",
    "cloudpickle",
    "pyyaml",
)


@cache
def pip_requirements() -> tuple[str, ...]:
    """:data:`PYFUNC_PACKAGES` pinned to the versions installed here (the environment that trained the model)."""
    return tuple(f"{name}=={version(name)}" for name in PYFUNC_PACKAGES)


class LudwigPyfuncModel(PythonModel):
    """Wraps a saved ``LudwigModel`` folder logged as the artifact ``ludwig_model``."""

    def load_context(self, context: PythonModelContext) -> None:
        import logging

        from ludwig.api import LudwigModel

        self._model = LudwigModel.load(context.artifacts[LUDWIG_ARTIFACT], backend="local", logging_level=logging.ERROR)
        output = self._model.config["output_features"][0]
        self._target = output["name"]
        self._task: TaskKind = OUTPUT_TYPE_TASK[output["type"]]
        self._threshold = float(output.get("threshold", 0.5))
        vocabulary = self._model.training_set_metadata[self._target].get("idx2str", [])
        self._classes = tuple(sorted(str(c) for c in vocabulary)) if self._task == "multiclass" else ()

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        scored = self._model.predict(model_input, return_type=pd.DataFrame)[0]
        answer = ludwig_prediction(scored, self._target, self._task, self._threshold, self._classes)
        return output_frame(self._task, answer.scores, answer.predictions, self._classes)


def ludwig_dir_in(pyfunc_model_dir: Path) -> Path:
    """Where the Ludwig model lies inside a downloaded pyfunc model folder (read from ``MLmodel``)."""
    mlmodel = yaml.safe_load((pyfunc_model_dir / "MLmodel").read_text())
    return pyfunc_model_dir / mlmodel["flavors"]["python_function"]["artifacts"][LUDWIG_ARTIFACT]["path"]


def serving_dir_in(pyfunc_model_dir: Path) -> Path | None:
    """Where the serving export lies inside a downloaded pyfunc model folder; None for a model logged without one."""
    mlmodel = yaml.safe_load((pyfunc_model_dir / "MLmodel").read_text())
    artifact = mlmodel["flavors"]["python_function"].get("artifacts", {}).get(SERVING_ARTIFACT)
    return pyfunc_model_dir / artifact["path"] if artifact else None


def positive_probability(scored: pd.DataFrame, target: str) -> np.ndarray:
    """Positive-class probability from ``LudwigModel.predict`` output of a binary target."""
    return ludwig_scores(scored, target, "binary")


def pyfunc_scores(out: pd.DataFrame, task: TaskKind, classes: Sequence[str] = ()) -> np.ndarray:
    """The task's scores from this pyfunc's output frame: probabilities (binary), class probabilities in
    ``classes`` order (multiclass; 0 for a class the model lacks; empty = its own, sorted) or values."""
    return frame_scores(out, task, classes)


__all__ = [
    "LudwigPyfuncModel",
    "ludwig_dir_in",
    "serving_dir_in",
    "pip_requirements",
    "ludwig_scores",
    "positive_probability",
    "pyfunc_scores",
]
