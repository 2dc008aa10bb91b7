"""Ludwig's schema check is remembered per config content: later tasks skip importing Ludwig and torch,
a changed config is checked again, and a config that fails is never remembered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from champion_challenger.config.ludwig_schema import load_ludwig_config
from champion_challenger.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "configs" / "ludwig" / "churn_mlp.yaml"


def _load_in_fresh_interpreter(path: Path, cache: Path) -> list[str]:
    """Load ``path`` with ``cache`` in a new Python; returns the heavy modules that got imported."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from champion_challenger.config.ludwig_schema import load_ludwig_config\n"
        f"load_ludwig_config(Path({str(path)!r}), Path({str(cache)!r}))\n"
        "print(json.dumps(sorted(m for m in ('torch', 'ludwig') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_config_checked_once_is_not_checked_again_until_it_changes(tmp_path):
    config, cache = tmp_path / "mlp.yaml", tmp_path / "cache"
    config.write_text(SHIPPED.read_text())
    assert _load_in_fresh_interpreter(config, cache) == ["ludwig", "torch"]  # the first check imports Ludwig
    assert len(list(cache.iterdir())) == 1
    assert _load_in_fresh_interpreter(config, cache) == []  # remembered: neither Ludwig nor torch
    changed = yaml.safe_load(config.read_text())
    changed["trainer"]["epochs"] = 2
    config.write_text(yaml.safe_dump(changed))
    assert _load_in_fresh_interpreter(config, cache) == ["ludwig", "torch"]  # new content: checked again
    assert len(list(cache.iterdir())) == 2


def test_a_config_that_fails_the_check_is_never_remembered(tmp_path):
    broken = yaml.safe_load(SHIPPED.read_text())
    broken["trainer"]["epochs"] = "many"
    config, cache = tmp_path / "broken.yaml", tmp_path / "cache"
    config.write_text(yaml.safe_dump(broken))
    for _ in range(2):
        with pytest.raises(ConfigError, match="broken.yaml: invalid Ludwig config"):
            load_ludwig_config(config, cache)
    assert not cache.exists() or not list(cache.iterdir())


def test_the_remembered_check_returns_the_same_config(tmp_path):
    cache = tmp_path / "cache"
    assert load_ludwig_config(SHIPPED, cache) == load_ludwig_config(SHIPPED, cache) == yaml.safe_load(SHIPPED.read_text())
    assert json.loads(json.dumps(load_ludwig_config(SHIPPED)))  # without a cache: checked every time


@pytest.mark.parametrize(
    ("model_type", "message"), [("gbm", "Ludwig 0.17.10.*removed its LightGBM models"), ("llm", "not a tabular")]
)
def test_a_model_type_other_than_ecd_is_refused_with_what_to_use(tmp_path, model_type, message):
    """GBM candidates cannot be trained (Ludwig 0.17 has no gbm model type), so none reaches the serving export."""
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["model_type"] = model_type
    config = tmp_path / "gbm.yaml"
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        load_ludwig_config(config, tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
