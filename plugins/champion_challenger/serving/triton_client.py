"""Talk to Triton: load a model's version set, ask which versions are ready, score a DataFrame.

Scores follow the schema's task (:mod:`champion_challenger.task`): positive-class probabilities,
class probabilities ``(n, K)`` or predicted values; the outputs behind them are described in
:mod:`champion_challenger.serving.triton_repository`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

import numpy as np
import pandas as pd
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from champion_challenger.config.ludwig_schema import ModelSchema
from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.serving.output_frames import output_frame
from champion_challenger.serving.routing import config_classes
from champion_challenger.serving.triton_repository import (
    PREDICTION_OUTPUT,
    SCORE_OUTPUT,
    TASK_OUTPUTS,
    VERSION_OUTPUT,
)
from champion_challenger.task import align_probabilities

#: Scoring requests a client keeps in flight: while Triton runs one, the next is built and sent.
REQUESTS_IN_FLIGHT = 3


class TritonModelClient:
    """A thin client for one Triton server.

    Args:
        url: HTTP endpoint as ``host:port``.
        timeout_s: network and inference timeout.
        control_url: gRPC endpoint (``host:port``) for loading and unloading models. Set it
            wherever models load while clients are served: Triton answers an HTTP load only when
            the load is done and meanwhile holds the HTTP worker thread it runs on, so HTTP
            clients whose connections share that thread wait for the whole load (15–17 s for a
            Ludwig version on the CPU build machine; requests timed out in CI). A gRPC load leaves
            every HTTP worker free. Without it, loads go over HTTP.
    """

    def __init__(self, url: str, timeout_s: float = 120.0, control_url: str | None = None) -> None:
        self.url, self.control_url, self.timeout_s = url, control_url, timeout_s
        self._client = httpclient.InferenceServerClient(
            url=url, connection_timeout=timeout_s, network_timeout=timeout_s, concurrency=REQUESTS_IN_FLIGHT
        )
        self._control = grpcclient.InferenceServerClient(url=control_url) if control_url else None

    def check_live(self) -> None:
        """Raise :class:`ServiceUnavailableError` with what to do if Triton cannot be reached."""
        try:
            if self._client.is_server_live():
                return
        except Exception as exc:  # noqa: BLE001 - connection errors come in several types
            raise ServiceUnavailableError(
                f"Triton at {self.url} is unreachable ({exc}); start it with `make up` or set CCP_TRITON_URL"
            ) from None
        raise ServiceUnavailableError(f"Triton at {self.url} is not live; check its log (`make logs`)")

    def load(self, model_name: str) -> None:
        """(Re)load a model from its ``config.pbtxt`` (over gRPC when ``control_url`` is set).

        Triton loads new versions before unloading removed ones; unchanged versions keep serving.

        Raises:
            ServiceUnavailableError: Triton refused the load or could not be reached; the message
                carries Triton's reason.
        """
        self._model_control("load", model_name)

    def unload(self, model_name: str) -> None:
        """Unload every version of a model (used only when no champion exists)."""
        self._model_control("unload", model_name)

    def _model_control(self, action: str, model_name: str) -> None:
        if self._control is not None:
            call, where = getattr(self._control, f"{action}_model"), f"gRPC {self.control_url}"
            kwargs = {"client_timeout": self.timeout_s}
        else:
            call, where, kwargs = getattr(self._client, f"{action}_model"), f"HTTP {self.url}", {}
        try:
            call(model_name, **kwargs)
        except InferenceServerException as exc:
            raise ServiceUnavailableError(f"Triton ({where}) could not {action} {model_name!r}: {exc.message()}") from None

    def is_ready(self, model_name: str, version: int) -> bool:
        """True when Triton reports this version READY."""
        try:
            return bool(self._client.is_model_ready(model_name, str(version)))
        except InferenceServerException:
            return False
        except Exception:  # noqa: BLE001 - unreachable server means "not served"
            return False

    def ready_versions(self, model_name: str) -> list[int]:
        """Versions of ``model_name`` Triton reports READY."""
        try:
            index = self._client.get_model_repository_index()
        except Exception:  # noqa: BLE001
            return []
        return sorted(
            int(m["version"]) for m in index if m.get("name") == model_name and m.get("state") == "READY" and m.get("version")
        )

    def wait_ready(self, model_name: str, versions: list[int], timeout_s: float = 300) -> None:
        """Wait until every version in ``versions`` is READY."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self.is_ready(model_name, v) for v in versions):
                return
            time.sleep(0.5)
        raise ServiceUnavailableError(f"Triton versions {versions} of {model_name!r} not READY after {timeout_s:.0f}s")

    def input_names(self, model_name: str) -> set[str]:
        """Input tensors the served model declares (candidates may use different features)."""
        return {tensor["name"] for tensor in self._client.get_model_metadata(model_name)["inputs"]}

    def model_classes(self, model_name: str) -> tuple[str, ...]:
        """The class order of a multiclass model's probabilities (its ``classes`` parameter); empty for
        the other tasks."""
        return config_classes(self._client.get_model_config(model_name).get("parameters") or {})

    def predict_scores(
        self,
        model_name: str,
        frame: pd.DataFrame,
        schema: ModelSchema,
        version: int | None = None,
        batch_size: int = 1024,
        classes: Sequence[str] = (),
    ) -> np.ndarray:
        """Score rows through Triton and return the task's scores (``schema.task``).

        Args:
            model_name: Triton model (the router or ``<name>_versions``).
            frame: rows carrying every feature column of ``schema``.
            schema: which columns to send and as what type, and the task.
            version: registry version to ask for; None lets Triton choose.
            batch_size: rows per request.
            classes: multiclass: the column order wanted (a class the model lacks gets 0); empty =
                the model's ``classes`` parameter order.

        Returns:
            Binary: positive-class probabilities ``(n,)``; multiclass: class probabilities ``(n, K)``;
            regression: predicted values ``(n,)``.
        """
        task = schema.task
        served = self.model_classes(model_name) if task == "multiclass" else ()
        name = SCORE_OUTPUT[task]
        scores = self._infer(model_name, frame, schema, (name,), version=version, batch_size=batch_size, width=len(served))[name]
        if task == "multiclass" and classes and tuple(classes) != served:
            return align_probabilities(scores, served, classes)
        return scores

    def predict_proba(
        self,
        model_name: str,
        frame: pd.DataFrame,
        schema: ModelSchema,
        version: int | None = None,
        batch_size: int = 1024,
    ) -> np.ndarray:
        """Positive-class probabilities of a binary model (:meth:`predict_scores` of a binary schema).

        Raises:
            ValueError: the schema's task is not binary.
        """
        if schema.task != "binary":
            raise ValueError(f"predict_proba serves binary models; {model_name!r} is {schema.task}: use predict_scores")
        return self.predict_scores(model_name, frame, schema, version, batch_size)

    def score(
        self,
        model_name: str,
        frame: pd.DataFrame,
        schema: ModelSchema,
        entity_keys: pd.Series | None = None,
        batch_size: int = 1024,
    ) -> pd.DataFrame:
        """Score rows through the router (the public model): the champion answers, or the
        challenger for canary entities.

        Args:
            model_name: the router, named like the registered model.
            frame: rows carrying every feature column of ``schema``.
            schema: which columns to send and as what type, and the task.
            entity_keys: one key per row for sticky routing (e.g. the id column); without keys
                the router routes by request id or row content.
            batch_size: rows per request.

        Returns:
            One row per input row: binary ``probability, prediction, version``; multiclass
            ``prediction, version`` and one ``probability_<class>`` per class (the model's
            ``classes`` order); regression ``prediction, version``.
        """
        return self._score_frame(model_name, frame, schema, None, entity_keys, batch_size)

    def score_version(
        self,
        versions_model: str,
        frame: pd.DataFrame,
        schema: ModelSchema,
        version: int,
        batch_size: int = 1024,
    ) -> pd.DataFrame:
        """Score rows with one registry version, bypassing the router.

        Args:
            versions_model: the Triton model holding the registry versions (``<name>_versions``).
            frame: rows carrying every feature column of ``schema``.
            schema: which columns to send and as what type, and the task.
            version: registry version that must answer.
            batch_size: rows per request.

        Returns:
            The same columns as :meth:`score`; ``version`` is ``version`` on every row.
        """
        return self._score_frame(versions_model, frame, schema, version, None, batch_size)

    def _score_frame(
        self,
        model_name: str,
        frame: pd.DataFrame,
        schema: ModelSchema,
        version: int | None,
        entity_keys: pd.Series | None,
        batch_size: int,
    ) -> pd.DataFrame:
        """The task's output frame and ``version``: asked of the router (``version`` None) or of that version."""
        task = schema.task
        classes = self.model_classes(model_name) if task == "multiclass" else ()
        names = tuple(o.name for o in TASK_OUTPUTS[task]) + ((VERSION_OUTPUT,) if version is None else ())
        outputs = self._infer(
            model_name, frame, schema, names, version=version, entity_keys=entity_keys, batch_size=batch_size, width=len(classes)
        )
        scored = output_frame(task, outputs[SCORE_OUTPUT[task]], outputs[PREDICTION_OUTPUT], classes)
        answered = outputs[VERSION_OUTPUT] if version is None else np.full(len(frame), version, dtype=np.int32)
        scored.insert(scored.columns.get_loc(PREDICTION_OUTPUT) + 1, VERSION_OUTPUT, answered)
        return scored

    def _infer(
        self,
        model_name: str,
        frame: pd.DataFrame,
        schema: ModelSchema,
        output_names: tuple[str, ...],
        version: int | None = None,
        entity_keys: pd.Series | None = None,
        batch_size: int = 1024,
        width: int = 1,
    ) -> dict[str, np.ndarray]:
        """Send ``frame`` in requests of ``batch_size`` rows, :data:`REQUESTS_IN_FLIGHT` at a time (the next
        request is built while Triton runs the previous ones); each output concatenated over requests in row
        order (``(n,)``, or ``(n, width)`` for per-class outputs; text decoded to ``str``)."""
        declared = self.input_names(model_name)
        features = [f for f in schema.features if f.name in declared]
        outputs = [httpclient.InferRequestedOutput(name, binary_data=True) for name in output_names]
        parts: dict[str, list[np.ndarray]] = {name: [] for name in output_names}
        in_flight: deque = deque()

        def collect(request) -> None:
            result = request.get_result(timeout=self.timeout_s)
            for name in output_names:
                parts[name].append(_output_array(result.as_numpy(name)))

        for start in range(0, len(frame), batch_size):
            inputs = _inputs(frame.iloc[start : start + batch_size], features)
            if entity_keys is not None:
                inputs.append(_entity_key_input(entity_keys.iloc[start : start + batch_size]))
            if len(in_flight) == REQUESTS_IN_FLIGHT:
                collect(in_flight.popleft())
            in_flight.append(
                self._client.async_infer(
                    model_name, inputs=inputs, outputs=outputs, model_version="" if version is None else str(version)
                )
            )
        while in_flight:
            collect(in_flight.popleft())
        return {name: np.concatenate(chunks) if chunks else _no_rows(name, width) for name, chunks in parts.items()}


def _output_array(values: np.ndarray) -> np.ndarray:
    """One response's output: ``(rows,)`` or ``(rows, K)``; bytes decoded to ``str``."""
    values = values.reshape(len(values), -1)
    if values.dtype == object:
        values = np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v), otypes=[object])(values)
    return values.reshape(-1) if values.shape[1] == 1 else values


def _no_rows(name: str, width: int) -> np.ndarray:
    """An output of zero rows: ``(0, width)`` for the per-class probabilities, else ``(0,)``."""
    return np.empty((0, width), dtype=np.float32) if name == SCORE_OUTPUT["multiclass"] else np.empty(0, dtype=np.float32)


def _entity_key_input(keys: pd.Series) -> httpclient.InferInput:
    values = keys.astype(str).to_numpy(dtype=object).reshape(-1, 1)
    tensor = httpclient.InferInput("entity_key", list(values.shape), "BYTES")
    tensor.set_data_from_numpy(values, binary_data=True)
    return tensor


def _inputs(chunk: pd.DataFrame, features) -> list[httpclient.InferInput]:
    inputs = []
    for feat in features:
        if feat.is_numeric:
            arr = chunk[feat.name].to_numpy(dtype=np.float32).reshape(-1, 1)
        else:
            arr = chunk[feat.name].fillna("").astype(str).to_numpy(dtype=object).reshape(-1, 1)
        tensor = httpclient.InferInput(feat.name, list(arr.shape), np_to_triton_dtype(arr.dtype))
        tensor.set_data_from_numpy(arr, binary_data=True)
        inputs.append(tensor)
    return inputs
