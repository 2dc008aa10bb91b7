"""Where the aliases move on a promotion, without MLflow."""

from __future__ import annotations

import pytest

from champion_challenger.payloads import AliasState
from champion_challenger.registry.model_registry import promotion_target


@pytest.mark.parametrize(
    ("before", "version", "after"),
    [
        pytest.param(AliasState(None, 1, None), 1, AliasState(1, None, None), id="first"),
        pytest.param(AliasState(1, 2, None), 2, AliasState(2, None, 1), id="second"),
        pytest.param(AliasState(2, 3, 1), 3, AliasState(3, None, 2), id="third"),
        pytest.param(AliasState(3, 4, 2), 1, AliasState(1, 4, 3), id="manual-older"),
    ],
)
def test_promotion_target(before, version, after):
    assert promotion_target(before, version) == after
