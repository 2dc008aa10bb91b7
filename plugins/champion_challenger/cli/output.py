"""What a ``ccp`` subcommand returns for :func:`champion_challenger.cli.main` to print."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Output:
    """What a command reports: ``data`` for ``--json``, ``text`` for people."""

    data: Any
    text: str
