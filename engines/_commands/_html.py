"""The HTML page of a command report: inline styles and an inline SVG chart of the score per trial; no script.

Every text from the workflow is escaped with `html.escape`.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._report import CommandReport

__all__ = ["page", "trial_chart"]

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 980px; color: #1d2330; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .25rem .7rem; border-bottom: 1px solid #dde; }
th { text-align: left; background: #f3f4f8; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.big { font-size: 1.6rem; font-weight: 600; } .up { color: #137333; } .down { color: #b3261e; }
details { margin: .3rem 0; } code, pre { font: 12px ui-monospace, monospace; white-space: pre-wrap; }
"""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _row(*cells: str, numeric: tuple[int, ...] = ()) -> str:
    return (
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(cells))
        + "</tr>"
    )


def _head(*cells: str) -> str:
    return "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in cells) + "</tr>"


def trial_chart(report: CommandReport, width: int = 900, height: int = 240) -> str:
    """An inline SVG: one point per scored trial, and the baseline as a dashed line ("" without scored trials)."""
    scored = [t for t in report.trials if t.score is not None]
    if not scored:
        return ""
    left, top, inner_w, inner_h = 48, 12, width - 64, height - 44
    step = inner_w / max(len(scored) - 1, 1)

    def y(score: float) -> float:
        return top + inner_h * (1 - score)

    points = [(left + i * step, y(t.score or 0.0)) for i, t in enumerate(scored)]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    parts.append(f"<title>score per trial ({len(scored)} scored trials)</title>")
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{left + inner_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e4e6ee"/>'
        )
        parts.append(f'<text x="4" y="{y(tick) + 4:.1f}" font-size="11">{tick:.0%}</text>')
    if report.baseline_score is not None:
        base = y(report.baseline_score)
        line = f'x1="{left}" x2="{left + inner_w}" y1="{base:.1f}" y2="{base:.1f}"'
        parts.append(f'<line {line} stroke="#888" stroke-dasharray="5 4"/>')
    parts.append(
        '<polyline fill="none" stroke="#3559e0" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{yy:.1f}" for x, yy in points)
        + '"/>'
    )
    for (x, yy), trial in zip(points, scored, strict=True):
        colour = "#137333" if trial.index == _best_index(report) else "#3559e0"
        label = escape(f"trial {trial.index} {trial.kind} {trial.label}: {_pct(trial.score)}")
        parts.append(f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="4" fill="{colour}"><title>{label}</title></circle>')
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" font-size="10" text-anchor="middle">{trial.index}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _best_index(report: CommandReport) -> int | None:
    best = [t for t in report.trials if t.score is not None and t.score == report.best_score and t.kind != "baseline"]
    return best[0].index if best else None


def _summary(report: CommandReport) -> str:
    if report.before is None:
        score = f'<span class="big">{_pct(report.after)}</span>'
        return f"<p>Score on the {escape(report.split)} split ({report.examples} examples): {score}</p>"
    change = "up" if report.after > report.before else "down" if report.after < report.before else ""
    return (
        f"<p>Score on the {escape(report.split)} split ({report.examples} examples): "
        f'<span class="big">{_pct(report.before)}</span> before, '
        f'<span class="big {change}">{_pct(report.after)}</span> after</p>'
    )


def _agents(report: CommandReport) -> str:
    compared = report.before is not None
    heads = ("agent", "before", "runs", "after", "runs") if compared else ("agent", "score", "runs")
    rows = [
        _row(
            escape(r.agent), _pct(r.before), str(r.runs_before), _pct(r.after), str(r.runs_after), numeric=(1, 2, 3, 4)
        )
        if compared
        else _row(escape(r.agent), _pct(r.after), str(r.runs_after), numeric=(1, 2))
        for r in report.agents
    ]
    return (
        "<h2>Per agent</h2><p>Credit from lineage: the mean score of the runs in which the agent produced an "
        "artifact or failed.</p><table>" + _head(*heads) + "".join(rows) + "</table>"
    )


def _trials(report: CommandReport) -> str:
    if not report.trials:
        return ""
    rows = [
        _row(
            str(t.index),
            escape(t.kind),
            escape(t.label),
            _pct(t.score),
            str(t.runs),
            str(t.usage.calls),
            f"{t.usage.input_tokens + t.usage.output_tokens:,}",
            f"${t.cost:.4f}",
            numeric=(0, 3, 4, 5, 6, 7),
        )
        for t in report.trials
    ]
    stop = escape(report.stop_reason or "-")
    return (
        f"<h2>Trials</h2><p>Baseline {_pct(report.baseline_score)} (dashed), best {_pct(report.best_score)} "
        f"(green); stopped: {stop}.</p>"
        + trial_chart(report)
        + "<table>"
        + _head("#", "kind", "candidate", "score", "runs", "calls", "tokens", "cost")
        + "".join(rows)
        + "</table>"
    )


def _spending(report: CommandReport) -> str:
    rows = [("evaluating", report.evaluation)]
    if report.optimization is not None:
        rows.insert(0, ("optimizing", report.optimization))
    body = "".join(
        _row(name, str(s.calls), f"{s.input_tokens:,}", f"{s.output_tokens:,}", f"${s.cost:.4f}", numeric=(1, 2, 3, 4))
        for name, s in rows
    )
    return "<h2>Spent</h2><table>" + _head("", "calls", "input tokens", "output tokens", "cost") + body + "</table>"


def _learned(report: CommandReport) -> str:
    if not report.learned:
        return ""
    parts = ["<h2>What was learned</h2>"]
    for row in report.learned:
        state = "changed" if row.changed else "unchanged"
        parts.append(f"<h3>{escape(row.agent)} / group {row.group} ({state})</h3>")
        if row.instructions:
            parts.append(f"<p>Instructions:</p><pre>{escape(row.instructions)}</pre>")
        demos = "".join(f"<li><code>{escape(d)}</code></li>" for d in row.demos)
        parts.append(f"<details><summary>{len(row.demos)} demos</summary><ol>{demos}</ol></details>")
    return "".join(parts)


def page(report: CommandReport) -> str:
    """The whole HTML document."""
    title = escape(f"flock {report.command} {report.target}")
    body = _summary(report) + _agents(report) + _trials(report) + _spending(report) + _learned(report)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>{body}</body></html>\n"
    )
