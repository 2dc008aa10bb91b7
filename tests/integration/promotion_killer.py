"""Test helper (not a test): run a promotion in this process and SIGKILL it right after a step.

Usage: ``python promotion_killer.py '<json>'`` with ``settings`` (Settings fields), ``version`` and
``kill_after`` (a step of :data:`champion_challenger.registry.journal.STEPS`). The kill comes right
after the step is written to the journal, as a crash of the machine running the promotion would.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.config.settings import Settings
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.transitions import promote
from champion_challenger.registry import journal


def main(raw: str) -> int:
    args = json.loads(raw)
    settings = Settings(
        **{
            **args["settings"],
            "home": Path(args["settings"]["home"]),
            "pipelines": Path(args["settings"]["pipelines"]),
        }
    )
    ctx = CycleContext(
        PipelineConfig.from_yaml(settings.pipeline_config), settings, settings.mlflow_tracking_uri, settings.triton_url
    )
    kill_after = args["kill_after"]
    begin, mark = journal.begin, journal.mark

    def killing(step: str, recorded):
        if step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return recorded

    journal.begin = lambda *a, **k: killing("begun", begin(*a, **k))
    journal.mark = lambda client, model, pending, step: killing(step, mark(client, model, pending, step))
    promote(ctx, args["version"], "killer", f"process kill after {kill_after}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
