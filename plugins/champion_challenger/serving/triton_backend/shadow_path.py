"""The router's shadow path: rows to mirror are queued on the request path and scored by the challenger on a
background thread, after the caller has its answer; each becomes a capture record.

A mixin of the router (``triton_backend/router.py``, the ``TritonPythonModel`` of ``<model>``); it runs inside
Triton's Python-backend stub only (it needs ``triton_python_backend_utils``) and uses the router's ``table``,
``writer``, ``shadow_queue``, ``_infer`` and ``_count``.
"""

import queue

import numpy as np
import triton_python_backend_utils as pb_utils

from champion_challenger.serving.pending_counts import PUBLISH_INTERVAL_S
from champion_challenger.serving.shadow_batches import (
    ShadowJob,
    capture_columns,
    disagreements,
    no_challenger_answer,
    take_rows,
)
from champion_challenger.serving.shadow_queue import collect_jobs, drain_rows
from champion_challenger.serving.triton_repository import PREDICTION_OUTPUT


class ShadowPath:
    """Queue, score and capture mirrored rows (see the module's docstring)."""

    def _champion_answer(self, answer, mask):
        """The champion's score and prediction on the rows ``mask`` picks."""
        return answer[self.score_name][mask], answer[PREDICTION_OUTPUT][mask]

    def _mirror(self, batch, rows, score, prediction, latency_ms, challenger, table, stamp):
        """Queue rows for the background thread: mirrored to ``challenger``, or (None) only logged."""
        if len(rows) == 0 or (challenger is not None and not table.has_challenger):
            return
        job = ShadowJob(
            take_rows(batch.inputs, rows),
            [batch.keys[i] for i in rows],
            [batch.request_ids[i] for i in rows],
            table.champion,
            score,
            prediction,
            latency_ms,
            challenger,
            stamp,
        )
        try:
            self.shadow_queue.put_nowait(job)
        except queue.Full:
            self._count("dropped", len(rows))

    def _shadow_loop(self):
        while True:
            jobs = collect_jobs(
                self.shadow_queue, lambda: self.table.shadow_batch_delay_ms if self.table else 0, wait_seconds=PUBLISH_INTERVAL_S
            )
            if jobs is None:
                return
            try:
                for challenger in {job.challenger_version for job in jobs}:
                    self._shadow([job for job in jobs if job.challenger_version == challenger])
            except Exception as exc:  # noqa: BLE001 - the shadow path must never take the router down
                lost = sum(len(job.keys) for job in jobs)
                self._count("dropped", lost)
                pb_utils.Logger.log_error(
                    f"{self.name}: {lost} mirrored rows lost in the shadow path ({type(exc).__name__}: {exc}); "
                    "the champion keeps answering"
                )
            self._flush_captures()
            self._publish_counts()

    def _publish_counts(self, force=False):
        """Hand the counts gathered since the last call to Triton's metrics (this thread only, batched; see
        :mod:`champion_challenger.serving.pending_counts`)."""
        for key, value in self.pending.take(force).items():
            if key not in self.metrics:
                family, labels = key
                self.metrics[key] = self.families[family].Metric(labels=dict(labels))
            self.metrics[key].increment(value)

    def _flush_captures(self, force=False):
        """Write the buffered capture records when due (or ``force``). A failed write (a full disk) keeps
        them buffered for the next try; records the bounded buffer had to drop are counted."""
        if self.writer is None or not (force or self.writer.due()):
            return
        before = self.writer.dropped
        try:
            self.writer.flush()
        except OSError as exc:
            pb_utils.Logger.log_error(f"{self.name}: capture records not written ({exc}); kept in memory and retried")
        self._count("dropped", self.writer.dropped - before)

    def _shadow(self, jobs):
        """Score queued rows of one challenger in a single call (None: prediction log, no call) and
        capture them. ``challenger_latency_ms`` is that call's latency."""
        challenger = jobs[0].challenger_version
        n = sum(len(job.keys) for job in jobs)
        inputs = {name: np.concatenate([job.inputs[name] for job in jobs]) for name in jobs[0].inputs}
        champion_prediction = np.concatenate([job.champion_prediction for job in jobs])
        if challenger is None:  # prediction log: the champion's answer alone
            (score, prediction), latency_ms = no_challenger_answer(self.task, n), np.nan
        else:
            try:
                answer, latency_ms = self._infer(self.table.versions_model, challenger, inputs)
            except Exception:  # noqa: BLE001 - counted; the callers were answered long ago
                self._count("errors", n, version=challenger, role="shadow")
                return
            score, prediction = answer[self.score_name], answer[PREDICTION_OUTPUT]
            self._count("rows", n, version=challenger, role="shadow")
            differ = disagreements(self.task, champion_prediction, prediction, self.table.disagreement_tolerance)
            self._count("disagreements", differ, version=challenger)
        if self.writer is None:
            return
        dropped = self.writer.dropped
        try:
            self.writer.add(capture_columns(jobs, challenger, score, prediction, latency_ms, self.task, self.classes))
        except OSError as exc:  # the records stay buffered (bounded) for the next flush
            pb_utils.Logger.log_error(f"{self.name}: capture records not written ({exc}); kept in memory and retried")
        self._count("captured", n)
        self._count("dropped", self.writer.dropped - dropped)

    def finalize(self):
        """Unload or shutdown: mirror what is queued, then write every buffered capture record.
        Rows the shadow thread could not finish in time are counted as dropped and logged."""
        try:
            self.shadow_queue.put(None, timeout=30)
        except queue.Full:
            pass
        self.shadow_thread.join(timeout=30)
        if self.shadow_thread.is_alive():
            left = drain_rows(self.shadow_queue)
            self._count("dropped", left)
            pb_utils.Logger.log_error(f"{self.name}: shutting down with {left} mirrored rows not yet scored: dropped")
        self._flush_captures(force=True)
        self._publish_counts(force=True)
