"""The router's counter batching: increments from several threads, handed over at most every interval."""

from __future__ import annotations

import threading

from champion_challenger.serving.pending_counts import PendingCounts


def test_increments_of_one_key_add_up_and_are_taken_once():
    counts = PendingCounts(interval_s=0)
    counts.add(("rows", (("version", "1"),)), 3)
    counts.add(("rows", (("version", "1"),)), 4)
    counts.add(("rows", (("version", "2"),)), 1)
    assert counts.take() == {("rows", (("version", "1"),)): 7, ("rows", (("version", "2"),)): 1}
    assert counts.take() == {}


def test_nothing_is_taken_before_the_interval_unless_forced():
    counts = PendingCounts(interval_s=3600)
    counts.add("k", 1)
    assert counts.take() == {}
    assert counts.take(force=True) == {"k": 1}


def test_no_increment_is_lost_across_threads():
    counts = PendingCounts(interval_s=0)
    taken: list[dict] = []

    def add(n: int) -> None:
        for _ in range(n):
            counts.add("k", 1)

    threads = [threading.Thread(target=add, args=(5000,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        taken.append(counts.take())
    taken.append(counts.take(force=True))
    assert sum(t.get("k", 0) for t in taken) == 20000
