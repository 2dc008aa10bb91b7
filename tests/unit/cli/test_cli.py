"""The ``ccp`` command: complete help, --json everywhere, and clear errors with the right exit code.

Bad input to ``ccp predict`` is refused before Triton is contacted, so these tests need no server;
Triton's address points at a closed port so a test that got further would fail fast, not hang.
"""

from __future__ import annotations

import argparse
import json
import re

import pandas as pd
import pytest

from champion_challenger.cli import EXIT_SERVICE_ERROR, EXIT_USER_ERROR, build_parser, main
from champion_challenger.data.generate import BatchSpec, generate_batch
from champion_challenger.stack.processes import free_port
from tests.conftest import REPO


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (sub)command parser with its path, e.g. ``("stack", "up")``."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def _has_subcommands(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


ALL = [pytest.param(path, id=" ".join(("ccp", *path))) for path, _ in _commands(build_parser())]
LEAVES = [pytest.param(path, id=" ".join(("ccp", *path))) for path, p in _commands(build_parser()) if not _has_subcommands(p)]


def _parser(path: tuple[str, ...]) -> argparse.ArgumentParser:
    return dict(_commands(build_parser()))[path]


def test_the_walk_finds_every_command():
    names = {" ".join(path) for path, _ in _commands(build_parser())}
    assert {
        "predict",
        "init",
        "generate-data",
        "status",
        "serve",
        "promote",
        "rollback",
        "history",
        "demo",
        "stack",
        "stack up",
        "stack down",
        "stack wipe",
    } <= names


@pytest.mark.parametrize("path", ALL)
def test_every_command_has_a_description_and_examples(path):
    parser = _parser(path)
    assert parser.description and len(parser.description) > 40
    assert parser.formatter_class is argparse.RawDescriptionHelpFormatter
    assert parser.epilog and "ccp " in parser.epilog
    if path:
        assert parser.epilog.startswith("examples:")
        assert f"ccp {' '.join(path)}" in parser.epilog


@pytest.mark.parametrize("path", ALL)
def test_every_argument_and_subcommand_has_help(path):
    for action in _parser(path)._actions:
        assert action.help and action.help != argparse.SUPPRESS, f"{action.option_strings or action.dest} has no help"
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"subcommand {choice.dest} has no help"


@pytest.mark.parametrize("path", LEAVES)
def test_every_command_that_prints_results_takes_json(path):
    options = {opt for action in _parser(path)._actions for opt in action.option_strings}
    assert "--json" in options


@pytest.mark.parametrize("path", ALL)
def test_help_prints_usage_and_exits_0(path, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ccp") and ("examples:" in out or "typical session:" in out)


def test_top_level_help_documents_exit_codes_and_environment(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out and "CCP_TRITON_URL" in out and "--json" in out


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Settings pointing at a closed Triton port and a scratch runtime folder."""
    monkeypatch.setenv("CCP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CCP_PIPELINES", str(REPO / "configs" / "pipelines" / "churn_classifier.yaml"))
    monkeypatch.setenv("CCP_TRITON_URL", f"127.0.0.1:{free_port()}")
    return tmp_path


def _rows(n: int = 20) -> pd.DataFrame:
    return generate_batch(BatchSpec(0, n, 3, False))


def _write(tmp_path, name: str, frame: pd.DataFrame | None = None, text: str | None = None):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    elif name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


BAD_INPUTS = [
    pytest.param(lambda d: d / "absent.csv", [], r"absent\.csv: no such file", id="missing-file"),
    pytest.param(
        lambda d: _write(d, "rows.txt", text="a,b\n1,2\n"),
        [],
        r"rows\.txt: unsupported file type '\.txt'",
        id="unsupported-extension",
    ),
    pytest.param(
        lambda d: _write(d, "rows.json", text="{}"),
        [],
        r"unsupported file type '\.json'; use one of \.csv, \.parquet",
        id="json-extension",
    ),
    pytest.param(lambda d: d, [], r": not a file", id="a-folder"),
    pytest.param(
        lambda d: _write(d, "rows.csv", _rows().drop(columns=["support_calls", "contract_type"])),
        [],
        r"missing feature column\(s\) support_calls, contract_type",
        id="missing-columns-csv",
    ),
    pytest.param(
        lambda d: _write(d, "rows.parquet", _rows().drop(columns=["tenure_months"])),
        [],
        r"rows\.parquet: missing feature column\(s\) tenure_months",
        id="missing-column-parquet",
    ),
    pytest.param(lambda d: _write(d, "rows.csv", text=""), [], r"rows\.csv: the file is empty", id="empty-file"),
    pytest.param(lambda d: _write(d, "rows.csv", _rows().head(0)), [], r"header but no rows", id="header-only"),
    pytest.param(
        lambda d: _write(d, "rows.csv", _rows().assign(tenure_months=["x"] + [1] * 19)),
        [],
        r"numeric feature 'tenure_months' has non-numeric value 'x' in data row 1",
        id="text-in-numeric",
    ),
    pytest.param(
        lambda d: _write(d, "rows.parquet", text="not parquet"),
        [],
        r"rows\.parquet: cannot read it as parquet",
        id="corrupt-parquet",
    ),
    pytest.param(lambda d: _write(d, "rows.csv", _rows()), ["--out", "{input}"], r"would overwrite the input", id="out-is-input"),
    pytest.param(
        lambda d: _write(d, "rows.csv", _rows()),
        ["--out", "{dir}/scores.xlsx"],
        r"scores\.xlsx: unsupported file type",
        id="unsupported-out",
    ),
]


@pytest.mark.parametrize(("make_input", "extra", "message"), BAD_INPUTS)
def test_predict_refuses_bad_input_with_exit_2_naming_the_problem(offline, capsys, make_input, extra, message):
    path = make_input(offline)
    extra = [a.format(input=path, dir=offline) for a in extra]
    assert main(["predict", str(path), "--json", *extra]) == EXIT_USER_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and re.search(message, captured.err), captured.err


def test_predict_does_not_overwrite_an_existing_output(offline, capsys):
    path = _write(offline, "rows.csv", _rows())
    existing = offline / "rows.predictions.csv"
    existing.write_text("keep me")
    assert main(["predict", str(path)]) == EXIT_USER_ERROR
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert existing.read_text() == "keep me"


def test_predict_with_triton_unreachable_exits_3_saying_what_to_do(offline, capsys):
    path = _write(offline, "rows.csv", _rows())
    assert main(["predict", str(path), "--json"]) == EXIT_SERVICE_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unreachable" in captured.err and "make up" in captured.err and "CCP_TRITON_URL" in captured.err
    assert not (offline / "rows.predictions.csv").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(["predict", "x.csv", "--batch-size", "0"], "must be at least 1, got 0", id="batch-size-0"),
        pytest.param(["predict", "x.csv", "--version", "two"], "expected a whole number, got 'two'", id="version-not-a-number"),
        pytest.param(["generate-data", "--batches", "-1"], "must be at least 1, got -1", id="no-batches"),
        pytest.param(["generate-data", "--batches", "1", "--task", "ranking"], "invalid choice: 'ranking'", id="unknown-task"),
        pytest.param(["init", "--data", "x.csv"], "the following arguments are required: --target", id="init-no-target"),
        pytest.param(["init", "--target", "y"], "the following arguments are required: --data", id="init-no-data"),
        pytest.param(["predict"], "the following arguments are required: FILE", id="no-file"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert re.search(message, err), err


def test_generate_data_json_is_the_only_thing_on_stdout(offline, capsys):
    out = offline / "landing"
    assert main(["generate-data", "--batches", "6", "--rows", "10", "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert [p.split("/")[-1] for p in data["files"]] == sorted(p.name for p in out.glob("*.csv"))
    assert len(data["files"]) == 6 and data["rows_per_batch"] == 10
    assert "generating" not in captured.err  # no progress bar when stderr is not a terminal


def test_generate_data_text(offline, capsys):
    assert main(["generate-data", "--batches", "2", "--rows", "10", "--out", str(offline / "l")]) == 0
    assert capsys.readouterr().out.startswith(f"wrote 2 batch file(s) to {offline / 'l'}")


def test_stack_down_json_reports_each_service(offline, capsys):
    assert main(["stack", "down", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"services": [{"name": n, "was_running": False} for n in ("airflow", "triton", "mlflow")]}


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["status", "--json"], id="status"),
        pytest.param(["history"], id="history"),
        pytest.param(["serve"], id="serve"),
        pytest.param(["promote", "--version", "2", "--reason", "test"], id="promote"),
        pytest.param(["rollback", "--reason", "test", "--json"], id="rollback"),
    ],
)
def test_mlflow_unreachable_exits_3_saying_what_to_do(offline, monkeypatch, capsys, argv):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    assert main(argv) == EXIT_SERVICE_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "MLflow at http://127.0.0.1:" in captured.err and "is unreachable" in captured.err and "make up" in captured.err
