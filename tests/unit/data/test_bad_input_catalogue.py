"""The bad-input catalogue (README "Bad input"): each case gets a clear error or a documented
acceptance, and nothing is lost — the received file stays under raw/ or quarantine/."""

from __future__ import annotations

import json
import os
import threading
import time

import pandas as pd
import pytest

from champion_challenger.data.store import DataStore, claim_new_batches, load_window, safe_name
from tests.unit.data.test_validate_tasks import _frame, _land, _schema, _validate


@pytest.fixture
def store(tmp_path):
    return DataStore(tmp_path / "data" / "landing")


def _reason(path: str) -> dict:
    return json.loads(open(path + ".reason.json").read())


def test_a_semicolon_delimited_file_is_quarantined_naming_the_delimiter(store):
    store.landing.mkdir(parents=True)
    _frame().to_csv(store.landing / "batch.csv", index=False, sep=";")
    (outcome,) = _validate(store, _schema()).quarantined
    assert "the file looks ';'-delimited; batch files must be comma-separated UTF-8 CSV" in outcome.message()
    assert os.path.exists(outcome.quarantine_path)


def test_a_file_that_is_not_utf8_is_quarantined_saying_so(store):
    store.landing.mkdir(parents=True)
    (store.landing / "batch.csv").write_bytes(_frame(colour=["rød", "blå", "grøn", "rød"]).to_csv(index=False).encode("latin-1"))
    (outcome,) = _validate(store, _schema()).quarantined
    assert "not UTF-8 text (invalid" in outcome.message() and "save the file as UTF-8 CSV" in outcome.message()


@pytest.mark.parametrize(
    ("content", "problem"), [(b"", "empty file: no header and no rows"), (b"id,ts,x,colour,y\n", "empty batch: no rows")]
)
def test_an_empty_file_or_a_header_alone_is_quarantined(store, content, problem):
    store.landing.mkdir(parents=True)
    (store.landing / "batch.csv").write_bytes(content)
    (outcome,) = _validate(store, _schema()).quarantined
    assert problem in outcome.message() and open(outcome.quarantine_path, "rb").read() == content


def test_timestamps_in_the_future_quarantine_the_batch(store):
    future = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3)).isoformat()
    _land(store, _frame(ts=["2026-03-01", "2026-03-01", future, future]))
    (outcome,) = _validate(store, _schema()).quarantined
    assert "column 'ts': timestamps in the future (after " in outcome.message() and "(2 bad rows)" in outcome.message()


def test_rows_out_of_time_order_are_accepted_with_a_warning_and_windows_sort_them(store):
    _land(store, _frame(ts=["2026-03-01T03:00Z", "2026-03-01T01:00Z", "2026-03-01T02:00Z", "2026-03-01T00:00Z"]))
    summary = _validate(store, _schema())
    assert len(summary.accepted) == 1
    assert any("column 'ts': rows not in time order (windows sort by time) (3 rows)" in line for line in summary.warning_lines())
    assert len(load_window(store, 1)) == 4


def test_a_batch_with_one_class_only_is_accepted_with_a_warning(store):
    _land(store, _frame(y=["1", "1", "1", "1"]))
    summary = _validate(store, _schema())
    assert len(summary.accepted) == 1
    expected = "column 'y': every label is '1': one class only in this batch (4 rows)"
    assert any(expected in line for line in summary.warning_lines())


def test_the_same_file_name_quarantined_twice_keeps_both(store):
    for run in ("run-1", "run-2"):
        _land(store, _frame(x=["1", "lots", "2", "3"]))
        _validate(store, _schema(), run=run)
    names = sorted(p.name for p in store.quarantine.iterdir())
    assert names == ["batch.1.csv", "batch.1.csv.reason.json", "batch.csv", "batch.csv.reason.json"]
    assert all((store.run_dir(run) / "batch.csv").exists() is False for run in ("run-1", "run-2"))  # moved, not copied


def test_the_same_file_name_accepted_twice_with_the_same_first_time_keeps_both(store):
    for run, x in (("run-1", "1"), ("run-2", "9")):
        _land(store, _frame(x=[x, "2", "3", "4"]))
        _validate(store, _schema(), run=run)
    assert len(store.accepted_files()) == 2
    assert sorted(load_window(store, 2).x.tolist()) == [1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 9.0]
    assert all((store.run_dir(run) / "batch.csv").exists() for run in ("run-1", "run-2"))  # raw kept as received


def test_a_file_still_being_written_is_left_for_the_next_cycle(store):
    store.landing.mkdir(parents=True)
    growing, done = store.landing / "growing.csv", store.landing / "done.csv"
    _frame().to_csv(done, index=False)
    os.utime(done, (time.time() - 60, time.time() - 60))
    growing.write_text("id,ts,x,colour,y\n")
    stop = threading.Event()

    def writer() -> None:
        with growing.open("a") as f:
            while not stop.is_set():
                f.write("r9,2026-03-01T00:00:00Z,1,red,0\n")
                f.flush()
                time.sleep(0.05)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        claimed = claim_new_batches(store, "run-1", "*.csv", stable_seconds=1.0)
    finally:
        stop.set()
        thread.join()
    assert [p.name for p in claimed] == ["done.csv"] and growing.exists()
    os.utime(growing, (time.time() - 60, time.time() - 60))
    assert [p.name for p in claim_new_batches(store, "run-2", "*.csv", stable_seconds=1.0)] == ["growing.csv"]


def test_a_symbolic_link_in_landing_is_not_claimed(store, tmp_path, caplog):
    outside = tmp_path / "secret.csv"
    _frame().to_csv(outside, index=False)
    store.landing.mkdir(parents=True)
    (store.landing / "batch.csv").symlink_to(outside)
    assert claim_new_batches(store, "run-1", "*.csv") == []
    assert "is a symbolic link: not claimed" in caplog.text and outside.exists()


@pytest.mark.parametrize("key", ["..", "../../etc", "/etc/passwd", ".hidden", "a/../../b"])
def test_run_keys_never_name_a_folder_outside_raw(store, key):
    folder = store.run_dir(key)
    assert folder.parent == store.raw and not safe_name(key).startswith(".") and "/" not in safe_name(key)


@pytest.mark.parametrize("pattern", ["**/*.csv", "../*.csv", "sub/*.csv"])
def test_landing_patterns_never_claim_files_outside_the_landing_folder(store, pattern):
    _land(store, _frame())
    (store.landing / "sub").mkdir()
    _frame().to_csv(store.landing / "sub" / "nested.csv", index=False)
    _frame().to_csv(store.root / "beside.csv", index=False)
    claimed = claim_new_batches(store, "run-1", pattern)
    assert [p.name for p in claimed] == (["batch.csv"] if pattern == "**/*.csv" else [])
    assert (store.landing / "sub" / "nested.csv").exists() and (store.root / "beside.csv").exists()
