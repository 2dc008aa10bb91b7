"""Test helper (not a test): run a ``ccp`` command that pauses right after a journaled step.

Usage: ``python paused_cli.py '<json>'`` with ``argv`` (the ``ccp`` arguments), ``pause_after`` (a step of
:data:`champion_challenger.registry.journal.STEPS`), ``paused_file`` (created once paused) and
``resume_file`` (the command goes on once it exists). The environment points ``ccp`` at the stack.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from champion_challenger import cli
from champion_challenger.registry import journal


def main(raw: str) -> int:
    args = json.loads(raw)
    paused, resume, mark = Path(args["paused_file"]), Path(args["resume_file"]), journal.mark

    def pausing(client, model, pending, step):
        recorded = mark(client, model, pending, step)
        if step == args["pause_after"]:
            paused.touch()
            deadline = time.monotonic() + 600
            while not resume.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
        return recorded

    journal.mark = pausing
    return cli.main(args["argv"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
