"""Comparing agent declarations across restarts on a durable store."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..agents._spec import AgentSpec

__all__ = ["ResumeReport", "SkippedWork", "compare_fingerprints", "fingerprint"]


def _callable_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def fingerprint(spec: AgentSpec) -> str:
    """A stable digest of what an agent consumes, publishes and when it runs (not its engine or prompt).

    >>> from flock_core import AgentSpec
    >>> fingerprint(AgentSpec(name="a")) == fingerprint(AgentSpec(name="a"))
    True
    """
    parts: list[str] = [spec.name]
    for s in spec.subscriptions:
        join = None if s.join is None else (_callable_name(s.join.by), str(s.join.within))
        batch = None if s.batch is None else (s.batch.size, str(s.batch.timeout), s.batch.scope)
        where = [_callable_name(w) for w in s.where]
        parts.append(repr(("in", s.types, sorted(s.from_agents or ()), sorted(s.tags or ()), where, join, batch)))
    for g in spec.output_groups:
        parts.append(repr(("out", g.types, g.fan_out.low, g.fan_out.high)))
    if spec.schedule is not None:
        parts.append(repr(("schedule", spec.schedule)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SkippedWork:
    """Stored work a resume counted but could not run now, and why (it is never dropped silently)."""

    key: str
    agent: str
    reason: str


@dataclass(frozen=True, slots=True)
class ResumeReport:
    """What changed in the declarations since the store was last used.

    The rule: work for agents that still exist runs with the current declaration (changed or not); work
    for agents that no longer exist stays pending, is listed in `orphaned_work`, and runs if the agent is
    declared again. Partial gates, joins and batches are rebuilt from the board for the current declarations.
    Every unfinished work item is either resumed (`resumed_work`), orphaned, or listed in `skipped_work`
    with the reason (a live lease, on a store that cannot hold the board).
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    resumed_work: int = 0
    orphaned_work: int = 0
    skipped_work: tuple[SkippedWork, ...] = ()

    @property
    def unchanged(self) -> bool:
        """Whether the declarations match the stored ones."""
        return not (self.added or self.removed or self.changed)


def compare_fingerprints(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[tuple[str, ...], ...]:
    """`(added, removed, changed)` agent names, each sorted."""
    added = tuple(sorted(set(new) - set(old)))
    removed = tuple(sorted(set(old) - set(new)))
    changed = tuple(sorted(n for n in set(old) & set(new) if old[n] != new[n]))
    return added, removed, changed
