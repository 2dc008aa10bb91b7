"""Talk to Triton: load a model's version set, ask which versions are ready, score a DataFrame."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from champion_challenger.config import ModelSchema
from champion_challenger.errors import ServiceUnavailableError


class TritonModelClient:
    """A thin client for one Triton server.

    Args:
        url: HTTP endpoint as ``host:port``.
        timeout_s: network and inference timeout.
    """

    def __init__(self, url: str, timeout_s: float = 120.0) -> None:
        self.url = url
        self._client = httpclient.InferenceServerClient(
            url=url, connection_timeout=timeout_s, network_timeout=timeout_s
        )

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
        """(Re)load a model from its ``config.pbtxt``.

        Triton loads new versions before unloading removed ones; unchanged versions keep serving.

        Raises:
            ServiceUnavailableError: Triton refused the load; the message carries Triton's reason.
        """
        try:
            self._client.load_model(model_name)
        except InferenceServerException as exc:
            raise ServiceUnavailableError(f"Triton could not load {model_name!r}: {exc.message()}") from None

    def unload(self, model_name: str) -> None:
        """Unload every version of a model (used only when no champion exists)."""
        try:
            self._client.unload_model(model_name)
        except InferenceServerException as exc:
            raise ServiceUnavailableError(f"Triton could not unload {model_name!r}: {exc.message()}") from None

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

    def predict_proba(
        self,
        model_name: str,
        frame: pd.DataFrame,
        schema: ModelSchema,
        version: int | None = None,
        batch_size: int = 1024,
    ) -> np.ndarray:
        """Score rows through Triton and return the positive-class probabilities.

        Args:
            model_name: Triton model.
            frame: rows carrying every feature column of ``schema``.
            schema: which columns to send and as what type.
            version: registry version to ask for; None lets Triton choose.
            batch_size: rows per request.
        """
        declared = self.input_names(model_name)
        features = [f for f in schema.features if f.name in declared]
        parts = []
        for start in range(0, len(frame), batch_size):
            chunk = frame.iloc[start : start + batch_size]
            result = self._client.infer(
                model_name,
                inputs=_inputs(chunk, features),
                model_version="" if version is None else str(version),
                outputs=[httpclient.InferRequestedOutput("probability", binary_data=True)],
            )
            parts.append(result.as_numpy("probability").reshape(-1))
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.float32)


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
