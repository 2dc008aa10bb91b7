"""How long logging a trained candidate as an MLflow pyfunc takes, with MLflow inferring the requirements
(it loads the model in a subprocess that imports torch and Ludwig) and with the list given
(:func:`champion_challenger.training.pyfunc.pip_requirements`, what ``tracking`` does).

Usage: ``python benchmarks/pyfunc_logging.py [--repeats 2]``; a 1-epoch Ludwig model on 300 rows, a local
SQLite tracking store in a temporary folder. Prints seconds per ``log_model`` call for each way.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd


def _trained_model(folder: Path) -> tuple[Path, pd.DataFrame]:
    from ludwig.api import LudwigModel

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.choice(["x", "y"], 300)})
    frame["t"] = frame["a"] > 0
    config = {
        "input_features": [{"name": "a", "type": "number"}, {"name": "b", "type": "category"}],
        "output_features": [{"name": "t", "type": "binary"}],
        "trainer": {"epochs": 1},
    }
    model = LudwigModel(config, logging_level=logging.ERROR)
    model.train(frame, output_directory=str(folder), skip_save_processed_input=True)
    return next(folder.rglob("model")), frame[["a", "b"]].head(5)


def main() -> None:
    from champion_challenger.training.pyfunc import LUDWIG_ARTIFACT, LudwigPyfuncModel, pip_requirements

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, example = _trained_model(Path(tmp) / "train")
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        mlflow.set_experiment(experiment_id=mlflow.create_experiment("pyfunc-logging", artifact_location=f"{tmp}/artifacts"))
        for _ in range(args.repeats):
            for way, extra in (("inferred", {}), ("given", {"pip_requirements": list(pip_requirements())})):
                with mlflow.start_run():
                    start = time.perf_counter()
                    mlflow.pyfunc.log_model(
                        name="model",
                        python_model=LudwigPyfuncModel(),
                        artifacts={LUDWIG_ARTIFACT: str(model_dir)},
                        input_example=example,
                        **extra,
                    )
                    print(f"requirements {way}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
