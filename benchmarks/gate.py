"""Gate simulation benchmark (`make bench-gate`): how often each promotion rule is wrong over a pipeline's life.

Pure Python, seeded. Every pipeline runs 50 tests (one new challenger per cycle) of one scenario:

* identical: the challenger is exactly as good as the champion (every promotion is a false one);
* small / medium / large: the challenger is better by a small, medium or large margin;
* worse: the challenger is worse (every promotion is a false one).

Rows are binary labels drawn from true probabilities q; each model sees q through Gaussian logit noise
(champion 1.0, challenger by scenario), so the paired per-row Brier gain is realistic (correlated
errors, skewed). Each test has an offline replay of ``--holdout`` fresh rows and, for rules with online
evidence, a stream of labelled mirrored rows at ``--rows-per-hour`` for up to 14 days.

Rules compared:

* ``naive``: promote when the challenger's holdout Brier is better;
* ``fixed_offline`` (today's default, ``online.required: false``): the paired 95 % CI of the holdout gain
  above 0, judged afresh every cycle (the 14-day online window never completes between six-hourly cycles);
* ``fixed_online_required`` (today, ``online.required: true``): wait the full 14-day window, then both the
  holdout and the online 95 % CIs above 0;
* ``budget_offline`` (new default): the holdout CI at the test's share of the lifetime error budget;
* ``budget_sequential`` (new, ``online.required: true``): the always-valid online test at the test's share,
  looked at every cycle (every six hours), stopping early for success, harm or futility; the holdout replay
  at the same share can stop a promotion (worse with confidence), as ``policy.evidence.online_decides`` does.

The CIs of mean gains use the normal form of the gate's paired interval (the percentile bootstrap of a
mean converges to it; the full bootstrap of 1,000 resamples per test would make this an hour-long run).
Results go to ``benchmarks/results/gate.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist

import numpy as np

from champion_challenger.policy.error_budget import BudgetState
from champion_challenger.policy.sequential import confidence_sequence

RESULTS = Path(__file__).resolve().parent / "results" / "gate.json"
SCENARIOS = {"identical": 1.0, "small": 0.95, "medium": 0.85, "large": 0.6, "worse": 1.15}
BETTER = {"small", "medium", "large"}
RULES = ("naive", "fixed_offline", "fixed_online_required", "budget_offline", "budget_sequential")
WINDOW_HOURS = 336
CYCLE_HOURS = 6


@dataclass(frozen=True)
class Settings:
    pipelines: int
    offline_pipelines: int
    tests: int
    holdout: int
    rows_per_hour: int
    alpha: float
    futility_gain: float
    planned_rows: int

    @property
    def window_rows(self) -> int:
        return WINDOW_HOURS * self.rows_per_hour


def brier_gains(rng: np.random.Generator, shape: tuple[int, int], challenger_noise: float) -> np.ndarray:
    """Paired per-row Brier gains (champion − challenger loss) of ``shape`` rows."""
    q = rng.beta(2, 5, shape).astype(np.float32)
    y = (rng.uniform(size=shape) < q).astype(np.float32)
    logit = np.log(q / (1 - q))

    def model(noise: float) -> np.ndarray:
        return 1 / (1 + np.exp(-(logit + rng.normal(0, noise, shape).astype(np.float32))))

    return (model(1.0) - y) ** 2 - (model(challenger_noise) - y) ** 2


def normal_bounds(gains: np.ndarray, level: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided-``level`` bounds of each row's mean gain (the normal form of the paired interval)."""
    z = np.vectorize(lambda a: NormalDist().inv_cdf(1 - a))(np.asarray(level, dtype=float))
    mean = gains.mean(axis=1)
    spread = z * gains.std(axis=1, ddof=1) / math.sqrt(gains.shape[1])
    return mean - spread, mean + spread


def sequential_stop(gains: np.ndarray, levels: np.ndarray, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Per pipeline: the always-valid test's outcome (+1 promote, -1 reject, 0 hold) and rows seen at the stop.

    The test is looked at every cycle (every ``CYCLE_HOURS`` of traffic) from ``min rows`` (one cycle) on.
    """
    look_every = CYCLE_HOURS * settings.rows_per_hour
    looks = np.arange(look_every - 1, gains.shape[1], look_every)
    low, high = confidence_sequence(gains, levels, planned_rows=settings.planned_rows)
    low, high = low[:, looks], high[:, looks]
    stops = (low > 0) | (high < 0) | (high < settings.futility_gain)
    stopped = stops.any(axis=1)
    first = np.argmax(stops, axis=1)
    at = np.arange(len(gains))
    outcome = np.where(stopped, np.where(low[at, first] > 0, 1, np.where(high[at, first] < 0, -1, 0)), 0)
    stopped_at = np.where(stopped, looks[first] + 1, gains.shape[1])
    return outcome, stopped_at


def run_rule(rule: str, pool: np.ndarray, settings: Settings, seed: int) -> dict:
    """Simulate ``settings.pipelines`` pipelines of ``settings.tests`` tests under one rule; rows are
    drawn with replacement from ``pool``, the scenario's per-row gains."""
    rng = np.random.default_rng(seed)
    online_rule = rule in ("fixed_online_required", "budget_sequential")
    pipelines = settings.pipelines if online_rule else settings.offline_pipelines
    settings = dataclasses.replace(settings, pipelines=pipelines)

    def draw(rows: int) -> np.ndarray:
        return pool[rng.integers(0, len(pool), (pipelines, rows))]

    states = [BudgetState(settings.alpha) for _ in range(settings.pipelines)]
    promoted = np.zeros((settings.pipelines, settings.tests), dtype=bool)
    decided_rows: list[np.ndarray] = []
    for test in range(settings.tests):
        levels = np.array([s.next_level() for s in states]) if rule.startswith("budget") else np.full(settings.pipelines, 0.025)
        offline = draw(settings.holdout)
        low, high = normal_bounds(offline, levels)
        if rule == "naive":
            wins = offline.mean(axis=1) > 0
        elif rule in ("fixed_offline", "budget_offline"):
            wins = low > 0
        else:
            online = draw(settings.window_rows)
            if rule == "fixed_online_required":
                online_low, _ = normal_bounds(online, levels)
                wins, rows = (low > 0) & (online_low > 0), np.full(settings.pipelines, settings.window_rows)
            else:
                outcome, rows = sequential_stop(online, levels, settings)
                wins = (high >= 0) & (outcome == 1)  # the online test decides; an offline reject would stop it
            decided_rows.append(rows)
        promoted[:, test] = wins
        states = [s.after_test(float(lv), bool(w)) for s, lv, w in zip(states, levels, wins, strict=True)]
    return summarize(promoted, decided_rows, settings)


def summarize(promoted: np.ndarray, decided_rows: list[np.ndarray], settings: Settings) -> dict:
    result = {
        "ever_promoted": float(promoted.any(axis=1).mean()),
        "promotions_per_test": float(promoted.mean()),
        "first_test_promoted": float(promoted[:, 0].mean()),
    }
    if decided_rows:
        rows = np.concatenate(decided_rows)
        result.update(median_rows_to_decision=float(np.median(rows)),
                      median_hours_to_decision=float(np.median(rows)) / settings.rows_per_hour)  # fmt: skip
    return result


def gain_pool(challenger_noise: float, rows: int = 2_000_000) -> np.ndarray:
    """A large sample of one scenario's per-row gains (tests draw their rows from it)."""
    return brier_gains(np.random.default_rng(123), (1, rows), challenger_noise)[0]


def targets(results: dict) -> dict:
    identical, medium, large = results["identical"], results["medium"], results["large"]
    return {
        "lifetime_false_promotion_le_5pct": {
            rule: identical[rule]["ever_promoted"] <= 0.05 for rule in ("budget_offline", "budget_sequential")
        },
        "medium_power_ge_fixed_horizon": medium["budget_sequential"]["promotions_per_test"]
        >= medium["fixed_online_required"]["promotions_per_test"],
        "large_median_hours_le_third_of_window": large["budget_sequential"]["median_hours_to_decision"] <= WINDOW_HOURS / 3,
    }


LABELS = {
    "naive": "naive: promote when the holdout metric is higher",
    "fixed_offline": "fixed horizon, today's default (95 % CI every cycle)",
    "fixed_online_required": "fixed horizon, online.required (14-day window, both 95 % CIs)",
    "budget_offline": "error budget, offline replay (new default)",
    "budget_sequential": "error budget + always-valid online test (online.required)",
}


def markdown_table(report: dict) -> str:
    """The benchmark as a Markdown table (README, BENCHMARKS.md)."""
    results = report["results"]
    lines = [
        "| rule | lifetime false promotion, identical | lifetime false promotion, worse | promoted per test: small "
        "| medium | large | median hours to a decision: medium | large |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        row = [f"{results[s][rule]['ever_promoted']:.1%}" for s in ("identical", "worse")]
        row += [f"{results[s][rule]['promotions_per_test']:.1%}" for s in ("small", "medium", "large")]
        row += [f"{results[s][rule]['median_hours_to_decision']:.0f}" if "median_hours_to_decision" in results[s][rule]
                else f"≤ {CYCLE_HOURS} (next cycle)" for s in ("medium", "large")]  # fmt: skip
        lines.append(f"| {LABELS[rule]} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipelines", type=int, default=300, help="seeded pipelines per scenario for rules with online evidence")
    parser.add_argument(
        "--offline-pipelines", type=int, default=2000, help="seeded pipelines per scenario for offline-only rules"
    )
    parser.add_argument("--tests", type=int, default=50, help="challengers tested over a pipeline's life")
    parser.add_argument("--holdout", type=int, default=2000, help="offline replay rows per test")
    parser.add_argument("--rows-per-hour", type=int, default=100, help="labelled mirrored rows per hour of shadow traffic")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    settings = Settings(args.pipelines, args.offline_pipelines, args.tests, args.holdout, args.rows_per_hour, 0.05, 0.001, 10_000)
    started = time.perf_counter()
    results: dict = {}
    for s_index, (scenario, noise) in enumerate(SCENARIOS.items()):
        pool = gain_pool(noise)
        results[scenario] = {"true_mean_brier_gain": float(pool.mean()), "per_row_sd": float(pool.std())}
        for r_index, rule in enumerate(RULES):
            results[scenario][rule] = run_rule(rule, pool, settings, seed=1000 * s_index + r_index)
            print(f"{scenario:>9} {rule:<22} {results[scenario][rule]}", flush=True)
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "seconds": round(time.perf_counter() - started, 1),
        "settings": {
            **settings.__dict__,
            "window_hours": WINDOW_HOURS,
            "window_rows": settings.window_rows,
            "cycle_hours": CYCLE_HOURS,
        },  # fmt: skip
        "results": results,
        "targets": targets(results),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["targets"], indent=2))
    print(markdown_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
