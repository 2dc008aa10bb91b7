"""Counter increments gathered from any thread of the router and handed to Triton's metrics by one thread, in batches.

Pure Python (no Triton): the router (:mod:`champion_challenger.serving.triton_backend.router`) adds to it on the
request path and on the shadow thread; the shadow thread alone publishes what gathered to its
``pb_utils.MetricFamily`` counters, at most every ``interval_s`` (a fraction of a scrape interval). One custom-metric
call per counter and interval instead of several per request: Triton 2.51's Python backend aborted (signal 6
``boost::interprocess::lock_exception``, or signal 11) when another model reloaded while the router sent custom-metric
updates on every request from its request path; with the updates batched on one thread, the same load ran clean.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable

#: How often the router hands its counts to Triton's metrics, at most (s).
PUBLISH_INTERVAL_S = 0.25
#: The longest a count waits before Triton's metrics endpoint shows it (s): the interval plus the shadow thread's
#: idle wait between two looks (also ``PUBLISH_INTERVAL_S``). A reader that needs every count of a load waits this long.
PUBLISH_LAG_S = 2 * PUBLISH_INTERVAL_S


class PendingCounts:
    """Increments per counter key since the last :meth:`take`.

    Args:
        interval_s: :meth:`take` hands the increments over at most this often, unless forced.
    """

    def __init__(self, interval_s: float = PUBLISH_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._pending: dict[Hashable, float] = {}
        self._taken_at = time.monotonic()

    def add(self, key: Hashable, value: float) -> None:
        """Count ``value`` more for ``key`` (any thread)."""
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + value

    def take(self, force: bool = False) -> dict[Hashable, float]:
        """The increments gathered since the last take, when ``interval_s`` has passed (or ``force``); else ``{}``."""
        now = time.monotonic()
        with self._lock:
            if not self._pending or not (force or now - self._taken_at >= self.interval_s):
                return {}
            pending, self._pending, self._taken_at = self._pending, {}, now
        return pending
