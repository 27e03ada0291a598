"""The results table a run prints on a terminal (as Flock does): what the agents published in the run."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import IO

from ..blackboard._artifacts import Artifact
from ..blackboard._store import ArtifactQuery, BlackboardStore

__all__ = ["print_results", "published_since", "report_results", "wants_results"]

_PAYLOAD_CHARS = 160


def wants_results(setting: bool | None, stream: IO[str] | None = None) -> bool:
    """Whether to print: the explicit setting, else only when output goes to a terminal (not piped)."""
    if setting is not None:
        return setting
    out = stream or sys.stdout
    return bool(getattr(out, "isatty", lambda: False)())


async def published_since(store: BlackboardStore, since: datetime) -> list[Artifact]:
    """The artifacts agents published at or after `since` (external publishes are the run's inputs)."""
    page = await store.query(ArtifactQuery(since=since))
    return [a for a in page.items if a.produced_by != "external"]


def _summary(payload: dict[str, object]) -> str:
    text = json.dumps(payload, ensure_ascii=False, default=str)
    return text if len(text) <= _PAYLOAD_CHARS else text[: _PAYLOAD_CHARS - 1] + "…"


def print_results(artifacts: Sequence[Artifact], stream: IO[str] | None = None) -> None:
    """Print a table of `artifacts` (type, producer, workflow, payload); nothing when there are none."""
    if not artifacts:
        return
    from rich.console import Console  # rich loads only when a run prints its results
    from rich.table import Table

    count = f"{len(artifacts)} artifact{'s' if len(artifacts) != 1 else ''}"
    table = Table(title=f"Flock results: {count}", title_justify="left", header_style="bold")
    for column in ("type", "agent", "workflow", "payload"):
        table.add_column(column, overflow="fold")
    for artifact in artifacts:
        table.add_row(artifact.type, artifact.produced_by, artifact.correlation_id[:8], _summary(artifact.payload))
    Console(file=stream or sys.stdout, soft_wrap=False).print(table)


async def report_results(store: BlackboardStore, since: datetime, setting: bool | None) -> None:
    """At the end of a run: print what the agents published since `since`, if `wants_results`."""
    if wants_results(setting):
        print_results(await published_since(store, since))
