"""The main demo: a product-idea workflow with fan-out, a multi-type output group and a count gate.

On a terminal it shows the agents working live (from the Flock's events, with rich), then the results as a
table; piped, it prints plain lines. Runs offline by default: the built-in offline model
answers every call with deterministic, schema-valid, SYNTHETIC values (no API key, no network). Set FLOCK_MODEL
(for example `openai/gpt-4.1-mini`, with OPENAI_API_KEY) to run the same code on a real model. Set
FLOCK_TRACE_FILE=trace.db to record a trace file for `flock trace` / `flock graph`, or
FLOCK_TRACE_OTLP=http://localhost:4318 to send spans over OTLP (to Jaeger, Phoenix, ...; `make traces` does it
with Phoenix); the trace id is printed at the end.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import anyio
from pydantic import BaseModel, Field

from flock_core import (
    ActivationFailed,
    ActivationFinished,
    ActivationStarted,
    Artifact,
    Flock,
    FlockEvent,
    RunResult,
    flock_type,
)

if TYPE_CHECKING:
    from rich.console import RenderableType


@flock_type(name="demo.Brief")
class Brief(BaseModel):
    """What the customer asked for."""

    product_area: str
    audience: str


@flock_type(name="demo.Pitch")
class Pitch(BaseModel):
    """A product idea."""

    title: str = Field(max_length=80)
    pitch: str
    novelty: int = Field(ge=1, le=10)


@flock_type(name="demo.Risk")
class Risk(BaseModel):
    """A risk of one pitch."""

    description: str
    severity: int = Field(ge=1, le=5)


@flock_type(name="demo.Critique")
class Critique(BaseModel):
    """A review of one pitch."""

    verdict: str
    score: int = Field(ge=1, le=10)


@flock_type(name="demo.Shortlist")
class Shortlist(BaseModel):
    """The decision over all pitches."""

    winner: str
    reasons: list[str] = Field(min_length=1, max_length=5)


def build_flock(model: str) -> Flock:
    """Declare the workflow: types are the wiring."""
    flock = Flock(model=model)
    flock.agent("ideator").description("Invent distinct product ideas for the brief.").consumes(Brief).publishes(
        Pitch, fan_out=3
    )
    flock.agent("critic").description("Review the pitch and name its main risk.").consumes(Pitch).publishes(
        Critique, Risk
    )
    flock.agent("judge").description("Pick the best pitch from all critiques.").consumes(
        Critique, Critique, Critique
    ).publishes(Shortlist)
    return flock


def configure_tracing() -> object | None:
    """Turn tracing on from FLOCK_TRACE_FILE / FLOCK_TRACE_OTLP / FLOCK_TRACE_CONSOLE (nothing unless asked)."""
    if not any(os.environ.get(name) for name in ("FLOCK_TRACE_FILE", "FLOCK_TRACE_OTLP", "FLOCK_TRACE_CONSOLE")):
        return None
    from flock_core import tracing  # the OpenTelemetry SDK loads only when tracing is asked for

    return tracing.configure_from_env(service_name="flockboard-demo")


def live_view(flock: Flock) -> tuple[Callable[[], RenderableType], Callable[[], None]]:
    """A table of what each agent is doing, counted from the Flock's events; and a way to stop counting."""
    from rich.table import Table

    counts: dict[str, Counter[str]] = {}

    def count(event: FlockEvent) -> None:
        if isinstance(event, ActivationStarted):
            counts.setdefault(event.agent, Counter())["running"] += 1
        elif isinstance(event, ActivationFinished | ActivationFailed):
            agent = counts.setdefault(event.agent, Counter())
            agent["running"] -= 1
            agent["done" if isinstance(event, ActivationFinished) else "failed"] += 1

    def render() -> RenderableType:
        table = Table(title="Agents at work")
        for column in ("agent", "running", "done", "failed"):
            table.add_column(column, justify="left" if column == "agent" else "right")
        for agent, c in list(counts.items()):  # the display redraws from its own thread
            table.add_row(agent, str(c["running"]), str(c["done"]), str(c["failed"]))
        return table

    return render, flock.events.subscribe(count)


def print_table(artifacts: Sequence[Artifact], caption: str) -> None:
    """The results as a table, for a terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Blackboard after the run", caption=caption, show_lines=True)
    for column in ("producer", "type", "payload"):
        table.add_column(column, overflow="fold")
    for artifact in artifacts:
        payload = "\n".join(f"{key}: {value}" for key, value in artifact.payload.items())
        table.add_row(artifact.produced_by, artifact.type, payload)
    Console().print(table)


async def run(flock: Flock, brief: Brief, *, live: bool) -> RunResult:
    """Run the workflow; on a terminal, with the agents' progress redrawn in place while it runs."""
    if not live:
        return await flock.arun(brief)
    from rich.live import Live

    render, stop = live_view(flock)
    try:
        with Live(get_renderable=render, refresh_per_second=8, transient=False):
            return await flock.arun(brief)
    finally:
        stop()


async def main() -> None:
    model = os.environ.get("FLOCK_MODEL", "offline")
    provider = configure_tracing()
    flock = build_flock(model)
    terminal = sys.stdout.isatty()
    result = await run(flock, Brief(product_area="kitchen gadgets", audience="students"), live=terminal)
    if model == "offline":
        print("NOTE: output below is SYNTHETIC, produced by the built-in offline model (no LLM was called).\n")
    status = await flock.get_correlation_status(result.artifacts[0].correlation_id)
    totals = (
        f"{len(result.artifacts)} artifacts, state={status.state}, errors={status.error_count}, "
        f"model calls={status.usage.calls}, tokens in/out={status.usage.input_tokens}/{status.usage.output_tokens}"
    )
    if terminal:
        print_table(result.artifacts, totals)
    else:
        for artifact in result.artifacts:
            print(f"{artifact.produced_by:>9} -> {artifact.type:<16} {artifact.payload}")
        print(f"\n{totals}")
    if provider is not None:
        traceparent = result.artifacts[0].trace_context.get("traceparent", "")
        print(f"trace: {traceparent.split('-')[1] if traceparent else 'not recorded'}")
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()


if __name__ == "__main__":
    anyio.run(main)
