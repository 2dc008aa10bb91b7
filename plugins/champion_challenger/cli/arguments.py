"""Argument types and the shared pieces of every ``ccp`` subcommand's parser (summary, examples, --json)."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable

from champion_challenger.cli.output import Output


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``, with a message saying so."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return convert


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def command(
    sub: argparse._SubParsersAction,
    name: str,
    summary: str,
    description: str,
    examples: str,
    func: Callable[[argparse.Namespace], Output] | None = None,
) -> argparse.ArgumentParser:
    """A subcommand with a one-line ``summary`` (in ``ccp --help``), a ``description`` and examples."""
    parser = sub.add_parser(
        name,
        help=summary,
        description=textwrap.dedent(description).strip(),
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model(parser, default=argparse.SUPPRESS)
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def add_model(parser: argparse.ArgumentParser, default: object = None) -> None:
    """``--model NAME``: the pipeline of the fleet a command acts on (``CCP_MODEL``; needed when there are several)."""
    parser.add_argument(
        "--model",
        default=default,
        metavar="NAME",
        help="the pipeline (model name) to act on when CCP_PIPELINES holds several (default: CCP_MODEL, or the only one)",
    )


def add_json(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument(
        "--json", action="store_true", help=f"print {what} as one JSON document on stdout (nothing else goes to stdout)"
    )


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar (it is shown on stderr only when stderr is a terminal)"
    )


def add_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=240,
        metavar="SECONDS",
        help="seconds to wait for each service to become healthy (default: %(default)s)",
    )


def add_actor_and_reason(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why; recorded in the ledger (`ccp history`)")
    parser.add_argument("--actor", default=None, help="who, recorded in the ledger (default: your user name)")


def add_wait(parser: argparse.ArgumentParser) -> None:
    """``--wait SECONDS``: how long to wait for another champion change of the model (its lease)."""
    parser.add_argument(
        "--wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wait this long for another champion change of the model to finish, then fail naming its holder "
        "(default: changes.wait_seconds of the pipeline config)",
    )
