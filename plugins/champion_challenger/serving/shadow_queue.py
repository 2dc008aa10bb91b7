"""The router's shadow queue: jobs coalesced into fewer, larger challenger calls, and what is left at shutdown.

Pure Python (no Triton): the BLS router (:mod:`champion_challenger.serving.triton_backend.router`)
imports it inside the Triton Python backend, and tests use it directly. The queue holds
:class:`~champion_challenger.serving.shadow_batches.ShadowJob` items; a ``None`` asks the shadow thread to stop.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

MAX_SHADOW_ROWS = 4096  # rows of one coalesced challenger call


def collect_jobs(
    jobs: queue.Queue, delay_ms: Callable[[], float], max_rows: int = MAX_SHADOW_ROWS, wait_seconds: float = 1.0
) -> list | None:
    """The next queued jobs: the first one, plus what arrives within ``delay_ms()`` of it.

    Args:
        jobs: the shadow queue.
        delay_ms: how long to wait for more jobs (ms), asked once the first job is there (the routing
            table's ``shadow_batch_delay_ms`` may change while the queue is idle).
        max_rows: stop collecting once the jobs hold this many rows.
        wait_seconds: how long to wait for a first job.

    Returns:
        The jobs (``[]`` when none came within ``wait_seconds``), or None: stop. A stop that arrives
        after the first job ends the collection and is put back for the next call.
    """
    try:
        first = jobs.get(timeout=wait_seconds)
    except queue.Empty:
        return []
    if first is None:
        return None
    collected, rows = [first], len(first.keys)
    deadline = time.monotonic() + delay_ms() / 1000
    while rows < max_rows and (remaining := deadline - time.monotonic()) > 0:
        try:
            job = jobs.get(timeout=remaining)
        except queue.Empty:
            break
        if job is None:  # stop after this batch
            jobs.put(None)
            break
        collected.append(job)
        rows += len(job.keys)
    return collected


def drain_rows(jobs: queue.Queue) -> int:
    """Empty the queue without waiting; returns the rows its jobs held (a stop marker holds none)."""
    left = 0
    while True:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            return left
        left += len(job.keys) if job is not None else 0
