"""The transition journal's record, without MLflow."""

from __future__ import annotations

from champion_challenger.payloads import AliasState
from champion_challenger.registry.journal import STEPS, PendingTransition


def test_pending_transition_round_trips_through_json():
    pending = PendingTransition(
        "promote",
        AliasState(1, 2, None),
        AliasState(2, None, 1),
        [1, 2],
        "alice",
        "why",
        step="aliases_moved",
        started_at="2026-03-15T00:00:00+00:00",
    )
    assert PendingTransition.from_json(pending.to_json()) == pending
    assert not pending.committed and STEPS[-1] == "ledgered"
