"""Triton Python-backend (BLS) router: the public entry point of a registered model.

Copied into ``<repository>/<model>/1/model.py`` by
:mod:`champion_challenger.serving.triton_repository`. Every request is answered by the champion
(or, for canary entities, by the challenger) of the ``<model>_versions`` model, via Business Logic
Scripting. Rows of shadow entities are mirrored to the challenger on a background thread *after*
the caller has its answer, so mirroring never slows the caller; each mirrored row becomes a
capture record (:mod:`champion_challenger.serving.capture`).

Routing comes from ``routing.json`` beside ``config.pbtxt`` and is re-read when the file changes:
switching the champion is an atomic file replace, not a model reload.

Inputs: the served features plus an optional ``entity_key`` (TYPE_STRING) for sticky routing. Outputs: those
the config declares (the task's outputs of ``<model>_versions``, see :mod:`.triton_repository`) and ``version``
(INT32, who answered), read from its config with the ``task`` and ``classes`` parameters; each call to a version
passes ``classes``, so class probabilities come back in the router's order whatever the versions model says.
A lone request with the champion alone is answered with nothing decoded and no key hashed. An exported champion and
challenger are scored in this process (:func:`~champion_challenger.serving.served_tensors.load_in_process`: no second
Python stub on the request path, both measured alike for the latency guardrail, counted as ``ccp_inprocess_*``
with a ``versions_model`` label); other versions, and every version when Triton serves them natively, are called
over BLS. Counters are gathered on any thread and published by the shadow thread alone, every quarter second
(:mod:`~champion_challenger.serving.pending_counts`).
"""

import locale
import os
import sys

locale.setlocale(locale.LC_ALL, "C.UTF-8")
for _path in reversed(os.environ.get("CCP_TRITON_PYTHONPATH", "").split(":")):
    if _path and _path not in sys.path:
        sys.path.insert(1, _path)

import json  # noqa: E402
import queue  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

from champion_challenger.serving.capture import CaptureWriter  # noqa: E402
from champion_challenger.serving.pending_counts import PendingCounts  # noqa: E402
from champion_challenger.serving.routing import ROUTING_FILE, RoutingTable, config_classes, plan_rows, row_keys  # noqa: E402
from champion_challenger.serving.served_tensors import load_in_process  # noqa: E402
from champion_challenger.serving.shadow_batches import (  # noqa: E402
    Batch,
    merge_batches,
    row_bytes,
    take_rows,
    text,
)
from champion_challenger.serving.triton_backend.shadow_path import ShadowPath  # noqa: E402
from champion_challenger.serving.triton_metrics import IN_PROCESS_COUNTERS, NUMPY_TYPES, ROUTER_COUNTERS  # noqa: E402
from champion_challenger.serving.triton_repository import (  # noqa: E402
    SCORE_OUTPUT,
    VERSION_OUTPUT,
)

ENTITY_KEY = "entity_key"


class TritonPythonModel(ShadowPath):
    """Answer with the champion, canary the challenger, mirror to it in the background (:class:`ShadowPath`)."""

    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.name = args["model_name"]
        self.feature_names = [i["name"] for i in config["input"] if i["name"] != ENTITY_KEY]
        parameters = config.get("parameters") or {}
        self.task = (parameters.get("task") or {}).get("string_value") or "binary"
        self.classes = config_classes(parameters)
        # Outputs a version answers: name -> (dtype, values per row), as declared in this config.
        self.outputs = {
            o["name"]: (NUMPY_TYPES[o["data_type"]], int(np.prod([int(d) for d in o["dims"]])))
            for o in config["output"]
            if o["name"] != VERSION_OUTPUT
        }
        self.score_name = SCORE_OUTPUT[self.task]
        # Multiclass: each version answers in this router's class order, whatever its own config says.
        self.request_extra = {"parameters": {"classes": json.dumps(list(self.classes))}} if self.task == "multiclass" else {}
        self.routing_path = os.path.join(args["model_repository"], ROUTING_FILE)
        self.table, self.mtime = None, None
        self.writer = None
        self.local = {}  # (versions model, version) -> InProcessVersion: champion and challenger scored in this process
        self.families = {
            key: pb_utils.MetricFamily(name, description, pb_utils.MetricFamily.COUNTER)
            for key, (name, description) in {**ROUTER_COUNTERS, **IN_PROCESS_COUNTERS}.items()
        }
        self.metrics = {}  # (family, labels) -> pb_utils Metric, touched by the shadow thread only
        self.pending = PendingCounts()
        # The request path and the shadow thread share this interpreter: hand the GIL over often
        # (default 5 ms) so a busy shadow thread never holds a caller's answer back for long.
        sys.setswitchinterval(0.0005)
        self.shadow_queue = queue.Queue(maxsize=1000)
        self.shadow_thread = threading.Thread(target=self._shadow_loop, name="ccp-shadow", daemon=True)
        self.shadow_thread.start()

    # ---- request path ---------------------------------------------------------------------
    def execute(self, requests):
        try:
            table = self._routing()
        except Exception as exc:  # noqa: BLE001 - no routing table: every request gets the reason
            return [self._error(f"router not ready: {exc}") for _ in requests]
        if len(requests) == 1 and self._champion_alone(table):
            return [self._forward(requests[0], table)]
        parsed = [self._parse(r, features=len(requests) > 1) for r in requests]
        if len(requests) == 1:
            if (answer := self._pass_through(requests[0], parsed[0], table)) is not None:
                return [answer]
            parsed = [self._with_features(requests[0], parsed[0])]  # the general path needs them all
        good = [p for p in parsed if isinstance(p, Batch)]
        answers = self._answer(merge_batches(good, self.feature_names), table) if good else None
        responses, start = [], 0
        for item in parsed:
            if not isinstance(item, Batch):
                responses.append(self._error(f"invalid request: {item}"))
                continue
            rows = slice(start, start + item.sizes[0])
            start += item.sizes[0]
            responses.append(self._response(answers, rows))
        return responses

    def _parse(self, request, features=True):
        """The request's rows (``features=False``: one feature decoded, the rest left to
        :meth:`_with_features`), or the reason it is invalid. Triton has already refused requests
        whose inputs are missing or differ in row count."""
        try:
            first = self.feature_names[0]
            inputs = self._features(request) if features else {first: self._read(request, first)}
            n = len(inputs[first])
            key_tensor = pb_utils.get_input_tensor_by_name(request, ENTITY_KEY)
            entity_keys = None if key_tensor is None else [text(v) for v in key_tensor.as_numpy().reshape(-1)]
            if entity_keys is not None and len(entity_keys) != n:
                raise ValueError(f"{ENTITY_KEY} has {len(entity_keys)} rows, features have {n}")
            request_id = request.request_id()
            if entity_keys is None and not request_id:
                inputs = self._features(request, inputs)  # keys come from the rows' values
            keys = row_keys(entity_keys, request_id, None if entity_keys or request_id else row_bytes(inputs), n)
            return Batch(inputs, keys, [request_id or uuid.uuid4().hex] * n, [n])
        except Exception as exc:  # noqa: BLE001 - reported to that request alone
            return f"{type(exc).__name__}: {exc}"

    def _with_features(self, request, parsed):
        """``parsed`` with every feature decoded (an invalid request's reason unchanged)."""
        if not isinstance(parsed, Batch):
            return parsed
        try:
            return Batch(self._features(request, parsed.inputs), parsed.keys, parsed.request_ids, parsed.sizes)
        except Exception as exc:  # noqa: BLE001 - reported to that request alone
            return f"{type(exc).__name__}: {exc}"

    def _features(self, request, decoded=None):
        """Every feature as an array [rows, 1], reusing those in ``decoded``."""
        decoded = decoded or {}
        return {name: decoded[name] if name in decoded else self._read(request, name) for name in self.feature_names}

    @staticmethod
    def _read(request, name):
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        if tensor is None:
            raise ValueError(f"missing input {name!r}")
        return tensor.as_numpy().reshape(-1, 1)

    @staticmethod
    def _champion_alone(table):
        """Every row goes to the champion and none is mirrored or logged: no row needs its key or features."""
        return table.champion is not None and not table.has_challenger and table.prediction_log_fraction <= 0

    def _forward(self, request, table):
        """The champion's output tensors for the request's, nothing decoded for routing (Triton checked the inputs)."""
        try:
            outputs, _, _ = self._champion_outputs(request, table)
        except Exception as exc:  # noqa: BLE001 - the caller gets the reason
            self._count("errors", len(self._read(request, self.feature_names[0])), version=table.champion, role="champion")
            return self._error(str(exc))
        n = len(next(t for t in outputs if t.name() == self.score_name).as_numpy())  # numeric: a view, no copy
        self._count("rows", n, version=table.champion, role="champion")
        version = pb_utils.Tensor(VERSION_OUTPUT, np.full((n, 1), table.champion, np.int32))
        return pb_utils.InferenceResponse(output_tensors=[*outputs, version])

    def _pass_through(self, request, batch, table):
        """Answer a lone request whose rows all go to the champion (its input tensors forwarded unchanged, or
        scored here). Rows to mirror or log are decoded once, for the champion here and the shadow thread.
        None when the general path is needed (invalid request, canary rows)."""
        if not isinstance(batch, Batch) or table.champion is None:
            return None
        plan = plan_rows(batch.keys, table)
        if (plan.answer_version != table.champion).any():
            return None
        n = len(batch.keys)
        shadowed = plan.mirror.any() or plan.log.any()
        batch = self._with_features(request, batch) if shadowed else batch  # a reason (str) if they do not decode
        try:
            outputs, latency_ms, answer = self._champion_outputs(
                request, table, batch.inputs if shadowed and isinstance(batch, Batch) else None
            )
        except Exception as exc:  # noqa: BLE001 - the caller gets the reason
            self._count("errors", n, version=table.champion, role="champion")
            return self._error(str(exc))
        self._count("rows", n, version=table.champion, role="champion")
        if shadowed and isinstance(batch, Batch):
            answer, stamp, rows = answer or self._arrays(outputs), datetime.now(UTC), np.arange(n)
            for mask, challenger in ((plan.mirror, table.challenger), (plan.log, None)):
                self._mirror(batch, rows[mask], *self._champion_answer(answer, mask), latency_ms, challenger, table, stamp)
        # The champion's output tensors go back as they came (no decode and re-encode), plus who answered.
        version = pb_utils.Tensor(VERSION_OUTPUT, np.full((n, 1), table.champion, np.int32))
        return pb_utils.InferenceResponse(output_tensors=[*outputs, version])

    def _answer(self, batch, table):
        """Every output, ``version`` and an error message (or None) per row."""
        plan = plan_rows(batch.keys, table)
        n = len(batch.keys)
        out = {name: self._empty(name, n) for name in self.outputs}
        out[VERSION_OUTPUT] = plan.answer_version.astype(np.int32)
        out["error"] = np.full(n, None, dtype=object)
        stamp = datetime.now(UTC)
        for version in np.unique(plan.answer_version):
            rows = np.flatnonzero(plan.answer_version == version)
            role = "champion" if version == table.champion else "canary"
            try:
                answer, latency_ms = self._infer(table.versions_model, int(version), take_rows(batch.inputs, rows))
            except Exception as exc:  # noqa: BLE001 - those rows' requests get the reason
                self._count("errors", len(rows), version=version, role=role)
                out["error"][rows] = str(exc)
                continue
            for name, values in answer.items():
                out[name][rows] = values
            self._count("rows", len(rows), version=version, role=role)
            if role == "champion":
                for mask, challenger in ((plan.mirror[rows], table.challenger), (plan.log[rows], None)):
                    self._mirror(batch, rows[mask], *self._champion_answer(answer, mask), latency_ms, challenger, table, stamp)
        return out

    def _empty(self, name, n):
        dtype, width = self.outputs[name]
        shape = (n, width) if width > 1 else (n,)
        return np.full(shape, b"", dtype=object) if dtype is np.object_ else np.zeros(shape, dtype)

    def _infer(self, model, version, inputs):
        """Every declared output (rows first) and the latency (ms) of ``model`` ``version`` on ``inputs``."""
        if self._is_local(model, version):
            arrays, latency_ms = self._in_process(model, version, inputs.__getitem__)
            return self._rows_first(arrays), latency_ms
        response, latency_ms = self._exec(model, version, [pb_utils.Tensor(name, array) for name, array in inputs.items()])
        return self._arrays(response.output_tensors()), latency_ms

    def _champion_outputs(self, request, table, inputs=None):
        """The champion's output tensors for a lone request, the latency (ms), and the outputs as arrays (rows
        first; None over BLS): scored in this process (on ``inputs`` when already decoded), else the request's
        input tensors forwarded as they came (BLS)."""
        if self._is_local(table.versions_model, table.champion):
            read = inputs.__getitem__ if inputs else lambda name: self._read(request, name)
            arrays, latency_ms = self._in_process(table.versions_model, table.champion, read)
            return [pb_utils.Tensor(name, arrays[name]) for name in self.outputs], latency_ms, self._rows_first(arrays)
        tensors = [pb_utils.get_input_tensor_by_name(request, name) for name in self.feature_names]
        response, latency_ms = self._exec(table.versions_model, table.champion, tensors)
        return response.output_tensors(), latency_ms, None

    def _is_local(self, model, version):
        return (model, int(version)) in self.local

    def _in_process(self, model, version, read):
        """A local version's output arrays ``[n, width]`` and latency (ms), counted like Triton counts a
        version's requests (``ccp_inprocess_*``, read by the watch and the canary judgement)."""
        scorer, version = self.local[(model, int(version))], int(version)
        start = time.perf_counter()
        try:
            arrays = scorer.outputs(read, self.classes)
        except Exception as exc:
            self._count("failure", 1, version=version, versions_model=model)
            raise RuntimeError(f"{model} v{version}: {type(exc).__name__}: {exc}") from exc
        latency_ms = (time.perf_counter() - start) * 1000
        self._count("success", 1, version=version, versions_model=model)
        self._count("duration_us", int(latency_ms * 1000), version=version, versions_model=model)
        return arrays, latency_ms

    def _exec(self, model, version, tensors):
        """The BLS response of ``model`` ``version`` on ``tensors`` and its latency (ms); raises on an error response."""
        request = pb_utils.InferenceRequest(
            model_name=model,
            model_version=int(version),
            requested_output_names=list(self.outputs),
            inputs=tensors,
            **self.request_extra,
        )
        start = time.perf_counter()
        response = request.exec()
        latency_ms = (time.perf_counter() - start) * 1000
        if response.has_error():
            raise RuntimeError(f"{model} v{version}: {response.error().message()}")
        return response, latency_ms

    def _arrays(self, tensors):
        """Every declared output among a response's output tensors as an array, rows first."""
        by_name = {t.name(): t for t in tensors}
        return self._rows_first({name: by_name[name].as_numpy() for name in self.outputs})

    def _rows_first(self, arrays):
        """Each declared output of ``arrays`` shaped ``[n, width]``, or ``[n]`` when one value per row."""
        return {
            name: arrays[name].reshape(len(arrays[name]), width) if width > 1 else arrays[name].reshape(-1)
            for name, (_, width) in self.outputs.items()
        }

    def _response(self, answers, rows):
        errors = [e for e in answers["error"][rows] if e]
        if errors:
            return self._error(errors[0])
        n = rows.stop - rows.start  # every output as [rows, width]
        tensors = [pb_utils.Tensor(name, answers[name][rows].reshape(n, -1)) for name in (*self.outputs, VERSION_OUTPUT)]
        return pb_utils.InferenceResponse(output_tensors=tensors)

    @staticmethod
    def _error(message):
        return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message))

    # ---- routing table --------------------------------------------------------------------
    def _routing(self):
        mtime = os.stat(self.routing_path).st_mtime_ns
        if mtime != self.mtime:
            self.table, self.mtime = RoutingTable.read(os.path.dirname(self.routing_path)), mtime
            self.local = self._load_local(self.table)
            self.shadow_queue.maxsize = self.table.shadow_queue_size
            if self.table.capture_dir and (self.writer is None or str(self.writer.capture_dir) != self.table.capture_dir):
                self._flush_captures(force=True)
                self.writer = CaptureWriter(
                    self.table.capture_dir, self.name, self.table.capture_flush_rows, self.table.capture_flush_seconds
                )
        return self.table

    def _load_local(self, table):
        """The champion and the challenger to score in this process (see :func:`load_in_process`): both the same
        way, so their captured latencies compare. A version that does not load here is called over BLS."""
        local = {}
        folder = os.path.join(os.path.dirname(os.path.dirname(self.routing_path)), table.versions_model)
        for version in {v for v in (table.champion, table.challenger) if v is not None}:
            key = (table.versions_model, int(version))
            if key in self.local:
                local[key] = self.local[key]
                continue
            try:
                scorer = load_in_process(folder, version)
            except Exception as exc:  # noqa: BLE001 - the versions model answers instead
                pb_utils.Logger.log_warn(f"{self.name}: v{version} over BLS ({type(exc).__name__}: {exc})")
                continue
            pb_utils.Logger.log_info(f"{self.name}: v{version} scored {'in the router' if scorer else 'over BLS'}")
            if scorer is not None:
                local[key] = scorer
        return local

    # ---- metrics --------------------------------------------------------------------------
    def _count(self, family, value, **labels):
        """Count ``value`` on a counter (any thread); the shadow thread publishes it (:meth:`_publish_counts`)."""
        if value <= 0:
            return
        labels = {"model": self.name, **{k: str(int(v)) if k == "version" else v for k, v in labels.items()}}
        self.pending.add((family, tuple(sorted(labels.items()))), value)
