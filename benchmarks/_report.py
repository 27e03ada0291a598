"""Figures, rows and targets, and the Markdown table and JSON document they become.

A `Figure` is the samples of one measurement (one per run, or one per model call) with its centre
(median, or mean for per-call prompt sizes) and its spread (min-max). A `Row` sets our figure beside
Flock's and beside a floor (the best any framework could do, where one exists), and may carry a `Target`.
Ratios are always ours / theirs, computed from the centres.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Figure", "Row", "Status", "Target", "markdown_table", "row_record", "targets_summary"]

Status = Literal["met", "not met", "n/a"]
Basis = Literal["flock", "floor", "absolute"]


@dataclass(frozen=True, slots=True)
class Figure:
    """The samples of one measurement and how to summarise them.

    >>> Figure((3.0, 1.0, 2.0)).text()
    '2.00 [1.00–3.00]'
    """

    samples: tuple[float, ...]
    center_kind: Literal["median", "mean"] = "median"

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("a Figure needs at least one sample")

    @classmethod
    def of(cls, samples: Iterable[float], center_kind: Literal["median", "mean"] = "median") -> Figure:
        """A figure from any iterable of samples."""
        return cls(tuple(samples), center_kind)

    @property
    def center(self) -> float:
        """The median (or mean) of the samples."""
        values = self.samples
        return statistics.median(values) if self.center_kind == "median" else statistics.fmean(values)

    @property
    def low(self) -> float:
        """The smallest sample."""
        return min(self.samples)

    @property
    def high(self) -> float:
        """The largest sample."""
        return max(self.samples)

    def text(self) -> str:
        """`centre [min–max]`, or the bare centre for a single sample."""
        if len(self.samples) == 1:
            return number(self.center)
        return f"{number(self.center)} [{number(self.low)}–{number(self.high)}]"


def number(value: float) -> str:
    """A number with three significant digits, thousands separated.

    >>> number(1234.5), number(12.345), number(0.012345)
    ('1,234', '12.3', '0.0123')
    """
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:#.3g}" if abs(value) < 1 else f"{value:.2f}"


@dataclass(frozen=True, slots=True)
class Target:
    """A goal for one row: `ours / Flock`, `ours / floor` or our own figure compared with `bound`.

    >>> Target("flock", ">=", 20).text
    '≥ 20x Flock'
    """

    basis: Basis
    op: Literal["<=", ">=", "<"]
    bound: float
    unit: str = ""

    @property
    def text(self) -> str:
        """How the target reads in the table."""
        sign = {"<=": "≤", ">=": "≥", "<": "<"}[self.op]
        if self.basis == "absolute":
            return f"{sign} {self.bound:,g} {self.unit}".rstrip()
        return f"{sign} {self.bound:g}x {'Flock' if self.basis == 'flock' else 'floor'}"

    def holds(self, value: float) -> bool:
        """Whether `value` (a ratio or our figure, per `basis`) meets the target."""
        if self.op == "<=":
            return value <= self.bound
        if self.op == "<":
            return value < self.bound
        return value >= self.bound


Cell = Figure | str


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table. A cell is a `Figure`, or a string saying why there is none."""

    workload: str
    metric: str
    ours: Cell
    flock: Cell = "—"
    floor: Cell = "—"
    floor_label: str = ""
    target: Target | None = None
    note: str = ""

    def ratio(self, other: Cell) -> float | None:
        """ours / `other`, from the centres, when both are figures."""
        if isinstance(self.ours, Figure) and isinstance(other, Figure) and other.center:
            return self.ours.center / other.center
        return None

    @property
    def status(self) -> Status:
        """Where we stand against the target: `n/a` when there is none or a figure is missing."""
        if self.target is None or not isinstance(self.ours, Figure):
            return "n/a"
        value: float | None
        if self.target.basis == "absolute":
            value = self.ours.center
        else:
            value = self.ratio(self.flock if self.target.basis == "flock" else self.floor)
        if value is None:
            return "n/a"
        return "met" if self.target.holds(value) else "not met"


def _cell(cell: Cell) -> str:
    return cell.text() if isinstance(cell, Figure) else cell


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{number(value)}x"


def markdown_table(rows: Sequence[Row]) -> str:
    """The results as a Markdown table."""
    header = ["Workload", "Metric", "Ours", "Flock", "Ours / Flock", "Floor", "Ours / floor", "Target", "Status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        floor = _cell(row.floor) + (f" ({row.floor_label})" if row.floor_label and row.floor != "—" else "")
        cells = [
            row.workload,
            row.metric,
            _cell(row.ours),
            _cell(row.flock),
            _ratio(row.ratio(row.flock)),
            floor,
            _ratio(row.ratio(row.floor)),
            row.target.text if row.target else "—",
            "—" if row.target is None else f"**{row.status}**",
        ]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def targets_summary(rows: Sequence[Row]) -> list[str]:
    """One line per row that has a target: the metric, the target, the figure it was judged on, the status."""
    lines: list[str] = []
    for row in rows:
        if row.target is None:
            continue
        if row.target.basis == "absolute":
            judged = _cell(row.ours)
        else:
            judged = _ratio(row.ratio(row.flock if row.target.basis == "flock" else row.floor))
        lines.append(f"- {row.status.upper()}: {row.workload}, {row.metric}: {judged} (target {row.target.text})")
    return lines


def _figure_record(cell: Cell) -> dict[str, Any] | str:
    if isinstance(cell, str):
        return cell
    return {
        "center": cell.center,
        "center_kind": cell.center_kind,
        "min": cell.low,
        "max": cell.high,
        "samples": list(cell.samples),
    }


def row_record(row: Row) -> dict[str, Any]:
    """A row as JSON-ready data, samples included."""
    return {
        "workload": row.workload,
        "metric": row.metric,
        "ours": _figure_record(row.ours),
        "flock": _figure_record(row.flock),
        "ours_over_flock": row.ratio(row.flock),
        "floor": _figure_record(row.floor),
        "floor_label": row.floor_label,
        "ours_over_floor": row.ratio(row.floor),
        "target": row.target.text if row.target else None,
        "status": row.status if row.target else None,
        "note": row.note,
    }
