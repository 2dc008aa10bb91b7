"""The router's shadow queue: coalescing queued jobs into one challenger call, draining at shutdown."""

from __future__ import annotations

import queue
from types import SimpleNamespace

from champion_challenger.serving.shadow_queue import collect_jobs, drain_rows


def _job(rows: int) -> SimpleNamespace:
    return SimpleNamespace(keys=[f"k{i}" for i in range(rows)])


def _queue(*items) -> queue.Queue:
    jobs: queue.Queue = queue.Queue()
    for item in items:
        jobs.put(item)
    return jobs


def test_an_idle_queue_gives_no_jobs_and_a_stop_gives_none():
    assert collect_jobs(_queue(), lambda: 0, wait_seconds=0.01) == []
    assert collect_jobs(_queue(None), lambda: 0, wait_seconds=0.01) is None


def test_jobs_queued_within_the_delay_are_collected_up_to_the_row_limit():
    jobs = _queue(_job(3), _job(3), _job(3), _job(3))
    first = collect_jobs(jobs, lambda: 1000, max_rows=6, wait_seconds=0.01)
    assert [len(j.keys) for j in first] == [3, 3]  # the limit reached: the rest waits for the next call
    assert len(collect_jobs(jobs, lambda: 1000, max_rows=6, wait_seconds=0.01)) == 2


def test_a_stop_after_the_first_job_ends_the_batch_and_stays_queued():
    jobs = _queue(_job(2), None, _job(1))
    assert [len(j.keys) for j in collect_jobs(jobs, lambda: 1000, wait_seconds=0.01)] == [2]
    assert len(collect_jobs(jobs, lambda: 0, wait_seconds=0.01)) == 1  # the job queued behind the stop
    assert collect_jobs(jobs, lambda: 0, wait_seconds=0.01) is None  # the stop, put back


def test_draining_counts_the_rows_left_and_empties_the_queue():
    jobs = _queue(_job(2), None, _job(5))
    assert drain_rows(jobs) == 7
    assert jobs.empty() and drain_rows(jobs) == 0
