"""The router's routing table: who answers, who is mirrored, where captures go.

The pipeline writes ``routing.json`` next to the router's ``config.pbtxt``; the router (a Triton
Python-backend model) re-reads it when the file changes, so switching the champion is one atomic
file replace, with no model reload. Every choice is a pure function of the entity key, so the same
entity always lands in the same bucket (sticky canary, reproducible shadow sample).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROUTING_FILE = "routing.json"
SHADOW_SALT = "shadow"
CANARY_SALT = "canary"
LOG_SALT = "log"


@dataclass(frozen=True)
class RoutingTable:
    """What the router does with each row.

    Attributes:
        versions_model: Triton model holding the registry versions.
        champion: version answering by default (None: the router refuses requests).
        challenger: version mirrored to or canaried (None: no shadow, no canary).
        shadow_fraction: share of entities mirrored to the challenger.
        canary_fraction: share of entities answered by the challenger.
        capture_dir: folder of the capture store (absolute path as the server sees it).
        capture_flush_rows: records buffered before a file is written.
        capture_flush_seconds: longest a record waits in the buffer.
        shadow_queue_size: mirrored requests waiting; more are dropped (and counted).
        prediction_log_fraction: share of entities whose champion answers are captured even when
            they are not mirrored (challenger fields empty), for label-based monitoring.
        shadow_batch_delay_ms: how long the shadow thread waits for more mirrored rows to send the
            challenger in one call (fewer, larger calls: less CPU taken from the callers).
        disagreement_tolerance: regression: a mirrored row counts as a disagreement when the two
            predicted values differ by more than this (classifiers: when the labels differ).
    """

    versions_model: str
    champion: int | None
    challenger: int | None = None
    shadow_fraction: float = 0.0
    canary_fraction: float = 0.0
    capture_dir: str = ""
    capture_flush_rows: int = 1000
    capture_flush_seconds: float = 10.0
    shadow_queue_size: int = 1000
    prediction_log_fraction: float = 0.0
    shadow_batch_delay_ms: float = 10.0
    disagreement_tolerance: float = 0.0

    @property
    def has_challenger(self) -> bool:
        return self.challenger is not None and self.challenger != self.champion

    def write(self, router_dir: Path) -> Path:
        """Replace ``router_dir/routing.json`` atomically."""
        router_dir.mkdir(parents=True, exist_ok=True)
        path = router_dir / ROUTING_FILE
        tmp = router_dir / f".{ROUTING_FILE}.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, router_dir: str | Path) -> RoutingTable:
        """Load ``routing.json`` from a router folder."""
        return cls(**json.loads((Path(router_dir) / ROUTING_FILE).read_text()))


def bucket(keys: list[str], salt: str) -> np.ndarray:
    """Map each key to a stable number in [0, 1) (BLAKE2b, independent of the process's hash seed)."""
    out = np.empty(len(keys), dtype=np.float64)
    for i, key in enumerate(keys):
        digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2**64
    return out


@dataclass(frozen=True)
class RowPlan:
    """Per-row decisions for one batch: the version that answers and whether to mirror."""

    answer_version: np.ndarray  # int64, one per row
    mirror: np.ndarray  # bool, rows answered by the champion that are also sent to the challenger
    log: np.ndarray  # bool, champion-answered rows captured without a challenger answer (not mirrored)


def plan_rows(keys: list[str], table: RoutingTable) -> RowPlan:
    """Decide, row by row, who answers and which rows are mirrored.

    Rows of canary entities are answered by the challenger; the other rows by the champion, and
    those of shadow entities are mirrored to the challenger. Champion-answered rows of logged
    entities that are not mirrored are captured with the champion's answer alone.

    Raises:
        ValueError: the table has no champion.
    """
    if table.champion is None:
        raise ValueError("no champion is being served")
    n = len(keys)
    answer = np.full(n, table.champion, dtype=np.int64)
    mirror = np.zeros(n, dtype=bool)
    if table.has_challenger and n:
        canary = bucket(keys, CANARY_SALT) < table.canary_fraction if table.canary_fraction > 0 else np.zeros(n, bool)
        answer[canary] = table.challenger
        if table.shadow_fraction > 0:
            mirror = ~canary & (bucket(keys, SHADOW_SALT) < table.shadow_fraction)
    log = np.zeros(n, dtype=bool)
    if table.prediction_log_fraction > 0 and n:
        log = (answer == table.champion) & ~mirror & (bucket(keys, LOG_SALT) < table.prediction_log_fraction)
    return RowPlan(answer, mirror, log)


def row_keys(entity_keys: list[str] | None, request_id: str, rows: list[bytes] | None, n: int) -> list[str]:
    """Entity key per row: the given entity keys, else the request id (with the row index in a
    batch), else a digest of the row's values (identical rows land in the same bucket)."""
    if entity_keys is not None:
        return entity_keys
    if request_id:
        return [request_id] if n == 1 else [f"{request_id}:{i}" for i in range(n)]
    return [hashlib.blake2b(row, digest_size=8).hexdigest() for row in (rows or [b""] * n)]


def config_classes(parameters: Mapping[str, object]) -> tuple[str, ...]:
    """The ``classes`` parameter of a Triton model config (as Triton reports it: ``{key: {"string_value": ...}}``).

    Lives here, in a module that imports only NumPy, because the Triton models read it when they load.
    """
    value = parameters.get("classes")
    text = value.get("string_value", "") if isinstance(value, Mapping) else ""
    return tuple(str(c) for c in json.loads(text)) if text else ()
