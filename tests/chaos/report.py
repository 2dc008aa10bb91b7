"""Test helper (not a test): the chaos report shared by every chaos test of a session.

Each fault adds one row; the file named by ``CCP_CHAOS_REPORT`` (``make chaos`` and ``make test-topology``, which
runs the Celery worker's fault: ``benchmarks/results/chaos.json``) is rewritten after every row and keeps the
newest row of every fault, whichever run wrote it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ROWS: list[dict] = []


def add(row: dict) -> dict:
    """Append ``row`` to the report, print the table and rewrite the report file."""
    ROWS.append(row)
    lines = ["fault | ok | failed | failed outside downtime | registry == Triton | records lost"]
    lines += [
        f"{r['fault']} | {r['requests_ok']} | {r['requests_failed']} | {r['failed_outside_triton_downtime']} | "
        f"{r['registry_equals_triton']} | {r['capture_records_lost']}"
        for r in ROWS
    ]
    print("\n" + "\n".join(lines) + "\n" + json.dumps(row, default=str))
    target = os.environ.get("CCP_CHAOS_REPORT")
    if target:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        earlier = json.loads(path.read_text())["faults"] if path.is_file() else []
        faults = [r for r in earlier if r["fault"] != row["fault"]] + [row]
        path.write_text(json.dumps({"faults": faults}, indent=2, default=str))
    return row
