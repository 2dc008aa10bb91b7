"""The cycle's story in words: the one-sentence headline, ``decision.md`` (headline, metrics table,
every check of the gate with ✓ or ✗, the evidence files) and the description of the challenger's
registered model version, which links to that evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from champion_challenger.evaluation.comparison.table import delta_ci, finite, offline_checks, verdict
from champion_challenger.policy.direction import better, lower_is_better
from champion_challenger.task import TASK_METRICS, TaskKind

if TYPE_CHECKING:
    from champion_challenger.evaluation.comparison.table import ComparisonSummary

#: MLflow's SQL store keeps at most 5,000 characters of a model version's description.
MAX_DESCRIPTION_CHARS = 5000
#: ``decision.md`` names at most this many classes when it says what the scores are.
MAX_NAMED_CLASSES = 20


def _challenger(version: int | None) -> str:
    return f"challenger v{version}" if version is not None else "challenger (dry run, unregistered)"


def headline(decision: dict | None, champion_version: int | None, challenger_version: int | None) -> str:
    """One sentence: what happened to the challenger and why, e.g. "v7 promoted over v5 because ..."."""
    new = f"v{challenger_version}" if challenger_version is not None else "the dry-run candidate"
    old = f"v{champion_version}" if champion_version is not None else None
    if decision is None:
        return f"{new} evaluated against {old}; no decision was recorded" if old else f"{new} evaluated; no decision was recorded"
    stays = f"{old} stays champion" if old else "there is still no champion"
    outcome = {
        "promote": f"{new} promoted over {old}" if old else f"{new} promoted as the first champion",
        "hold": f"{new} held: {stays}",
        "reject": f"{new} rejected: {stays}",
    }.get(decision["action"], f"{new}: {decision['action']}")
    return f"{outcome} because {decision['reason'].rstrip('.')}"


def decision_markdown(summary: ComparisonSummary, decision: dict | None, threshold: float) -> str:
    """``decision.md``: the headline, the comparison table and every check with its reason."""
    champion = f"champion v{summary.champion_version}" if summary.champion_version is not None else "champion (none)"
    scored = (
        "Both models scored the same" if summary.champion_version is not None else "There is no champion; the challenger scored"
    )
    lines = [
        f"# Cycle decision: {_challenger(summary.challenger_version)} vs {champion}",
        "",
        f"**{headline(decision, summary.champion_version, summary.challenger_version)}.**",
        "",
        f"{scored} {summary.n_rows} holdout rows; {scores_sentence(summary.task, summary.classes, threshold)} "
        f"Delta and CI are challenger − champion; lower is better for "
        f"{', '.join(m for m in sorted(TASK_METRICS[summary.task]) if lower_is_better(m))}.",
        "",
        "## Metrics",
        "",
        f"| metric | {champion} | {_challenger(summary.challenger_version)} | delta | better | CI of delta |",
        "|---|---|---|---|---|---|",
        *(_markdown_row(row) for row in summary.rows),
        "",
        "## How sure is this decision?",
        "",
        *how_sure_markdown(decision, summary.n_rows),
        "",
        "## Checks",
        "",
        *markdown_checks(decision),
        "",
        "## Evidence",
        "",
        *(f"- `{path.name}`" for path in summary.files if path != summary.decision_md),
    ]
    return "\n".join(lines) + "\n"


def scores_sentence(task: TaskKind, classes: Sequence[str], threshold: float) -> str:
    """What the models' scores are and how a prediction is read from them, in one sentence."""
    if task == "multiclass":
        shown = ", ".join(str(c) for c in classes[:MAX_NAMED_CLASSES])
        more = f", … ({len(classes) - MAX_NAMED_CLASSES} more)" if len(classes) > MAX_NAMED_CLASSES else ""
        return (
            f"scores are class probabilities over {len(classes)} classes ({shown}{more}); a row is predicted as "
            f"its most probable class."
        )
    if task == "regression":
        return "scores are the predicted values; rmse and mae are in the label's units, smape is relative (0..2)."
    return f"predictions are positive at probability >= {threshold:g}."


def _fmt(value: float | None, signed: bool = False) -> str:
    return "–" if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")


def _markdown_row(row: dict[str, Any]) -> str:
    ci = f"{_fmt(row['ci_low'], True)} .. {_fmt(row['ci_high'], True)}" if row["ci_low"] is not None else "–"
    return (
        f"| {row['metric']} | {_fmt(row['champion'])} | {_fmt(row['challenger'])} | "
        f"{_fmt(row['delta'], True)} | {row['better'] or '–'} | {ci} |"
    )


def how_sure_markdown(decision: dict | None, holdout_rows: int) -> list[str]:
    """In plain words: what was tested, what was found, how sure we are, what it spent of the error budget."""
    if not decision:
        return ["No decision was recorded."]
    primary = next((c for c in decision.get("checks", []) if c["name"].removeprefix("offline/").startswith("primary:")), None)
    lines = [
        f"- **What was tested**: is the challenger better than the champion on {decision['metric']} "
        f"over {holdout_rows} fresh holdout rows neither model trained on"
        + (
            ", and on live traffic mirrored to it (paired per-entity loss, labels joined later)?"
            if decision.get("sequential")
            else "?"
        )
    ]
    if primary and primary.get("ci_low") is not None:
        lines.append(f"- **What was found offline**: {primary['reason']}.")
    sequential = decision.get("sequential")
    if sequential:
        lines.append(f"- **What was found online** (always-valid test, looked at every cycle): {sequential['reason']}.")
    lines.extend(_budget_lines(decision.get("budget")))
    return lines


def _budget_lines(budget: dict | None) -> list[str]:
    if not budget:
        return [
            "- **How sure**: judged at the fixed `confidence_level` (the lifetime error budget is off, or there "
            "was no champion to test against)."
        ]
    return [
        f"- **How sure**: a promotion here is wrong (the challenger not truly better) with probability at most "
        f"{budget['level']:.3%}; offline and online evidence are both judged at that level.",
        f"- **What was spent**: this is test {budget['test']} of the pipeline's lifetime error budget of "
        f"{budget['alpha']:.0%} (the chance of ever promoting a challenger that is not better); after it, "
        f"{budget['remaining']:.3%} remains for all later tests, plus this test's level if it promoted.",
    ]


def markdown_checks(decision: dict | None) -> list[str]:
    """The checks section of ``decision.md``: how many passed, then one line per check in the gate's
    order, ``✓ PASS`` or ``✗ FAIL``, its name and its reason."""
    checks = (decision or {}).get("checks", [])
    if not checks:
        return ["No checks were recorded." if decision is None else "The decision recorded no checks."]
    passed = sum(bool(c["passed"]) for c in checks)
    lines = [f"{passed} of {len(checks)} checks passed.", ""]
    return lines + [f"- {'✓' if c['passed'] else '✗'} {verdict(c)} `{c['name']}`: {c['reason']}" for c in checks]


def version_description(decision: dict, evaluation: dict, cycle_run_url: str) -> str:
    """Markdown for the challenger's registered model version: the decision and a link to its evidence.

    Args:
        decision: the gate's ``GateResult.as_dict()``.
        evaluation: the evidence as ``versions``, ``rows`` and both models' metrics (see ``cycle.recording``).
        cycle_run_url: the MLflow UI address of the cycle run holding the comparison (``run_url``).

    Returns:
        At most :data:`MAX_DESCRIPTION_CHARS` characters, the evidence link always kept.
    """
    versions = evaluation["versions"]
    checks = decision.get("checks", [])
    failed = [c for c in checks if not c["passed"]]
    lines = [
        f"**Decision: {decision['action']}**: {headline(decision, versions.get('champion'), versions['challenger'])}.",
        "",
        _primary_line(decision),
        "",
        f"Evaluated on {evaluation.get('rows', '?')} paired holdout rows; "
        f"{len(checks) - len(failed)} of {len(checks)} checks passed.",
    ]
    if failed:
        lines += ["", "Failed checks:", *(f"- `{c['name']}`: {c['reason']}" for c in failed)]
    link = f"\n\n[Evidence: comparison table, curves and decision]({cycle_run_url})"
    body = "\n".join(lines)
    if len(body) + len(link) > MAX_DESCRIPTION_CHARS:
        body = body[: MAX_DESCRIPTION_CHARS - len(link) - 20] + "\n\n… (truncated)"
    return body + link


def _primary_line(decision: dict) -> str:
    metric, champion, challenger = decision["metric"], decision.get("champion_value"), decision["challenger_value"]
    if champion is None:
        return f"Primary metric **{metric}**: challenger {_fmt(finite(challenger))}; there was no champion to compare with."
    low, high = delta_ci(metric, [c for name, c in offline_checks(decision) if name == f"primary:{metric}"])
    ci = f" (CI {_fmt(low, True)} .. {_fmt(high, True)})" if low is not None else ""
    delta = finite(challenger - champion) if finite(challenger) is not None else None
    return (
        f"Primary metric **{metric}**: challenger {_fmt(finite(challenger))} vs champion {_fmt(finite(champion))}, "
        f"delta {_fmt(delta, True)}{ci}, better: {better(metric, challenger, champion) or '–'}."
    )
