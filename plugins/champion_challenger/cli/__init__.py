"""The ``ccp`` command: data generation, stack control, status, promotion, batch scoring and the demo.

Each subcommand is argument plumbing: it calls one package function and returns an :class:`Output`
that :func:`main` prints, as text for people or, with ``--json``, as one JSON document on stdout
(anything else a command prints then goes to stderr, so stdout stays parseable). Errors go to stderr
with exit code 2 (bad input or config: the message says what to fix) or 3 (a service cannot be
reached or failed).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys

from champion_challenger.cli.output import Output
from champion_challenger.cli.parser import build_parser
from champion_challenger.errors import PipelineError, ServiceUnavailableError

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_SERVICE_ERROR", "EXIT_USER_ERROR", "Output", "build_parser", "main"]

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_SERVICE_ERROR = 3
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ccp``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    stdout = sys.stdout
    try:
        # With --json, stray prints (progress lines, libraries) go to stderr: stdout carries only the JSON.
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext(), _selected_model(args.model):
            output = args.func(args)
    except ServiceUnavailableError as exc:  # ServiceStartError too: a local service did not start
        return _fail(exc, EXIT_SERVICE_ERROR)
    except PipelineError as exc:
        return _fail(exc, EXIT_USER_ERROR)
    except (TimeoutError, RuntimeError) as exc:
        return _fail(exc, EXIT_SERVICE_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(json.dumps(output.data, indent=2, default=str) if args.json else output.text, file=stdout, flush=True)
    return EXIT_OK


@contextlib.contextmanager
def _selected_model(model: str | None):
    """``--model NAME``: every setting read during the command selects that pipeline of the fleet (``CCP_MODEL``)."""
    if not model:
        yield
        return
    before = os.environ.get("CCP_MODEL")
    os.environ["CCP_MODEL"] = model
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CCP_MODEL", None)
        else:
            os.environ["CCP_MODEL"] = before


def _fail(exc: BaseException, code: int) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return code
