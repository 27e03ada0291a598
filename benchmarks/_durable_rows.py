"""Workload 6: publish+schedule and end-to-end rates on each store, and worker scaling on PostgreSQL."""

from __future__ import annotations

import os
from dataclasses import replace

from ._bench import DEFAULT_PG_DSN, Bench, series
from ._lm_server import LMServer
from ._protocol import Job, Outcome, StoreKind
from ._report import Cell, Figure, Row, Target

__all__ = ["durable", "worker_scaling"]


_DURABLE_NOTES: dict[StoreKind, str] = {
    "memory": (
        "one publisher awaiting each publish in the calling task on both sides: neither runs its agent meanwhile "
        "(from a task of its own, Flock would run its activations while it publishes, and its rate would include "
        "them); ours routes each artifact and stores its work item with it"
    ),
    "sqlite": (
        "ours commits each artifact with the work items it queues in one transaction (exactly-once, resume after a "
        "crash); Flock's SQLite store keeps the artifacts only, and Flock runs its agent while each publish waits "
        "for its store, so its publish rate includes its activations: the end-to-end row compares like with like"
    ),
}


def durable(bench: Bench) -> list[Row]:
    """6. Publish+schedule and end-to-end throughput of one agent on the memory, SQLite and PostgreSQL stores."""
    sizes = bench.sizes
    dsn = os.environ.get("FLOCK_PG_DSN", DEFAULT_PG_DSN)
    stores: tuple[StoreKind, ...] = ("memory", "sqlite", "postgres")
    outcomes: dict[StoreKind, tuple[Outcome | str, Outcome | str]] = {}
    for store in stores:
        job = Job("durable", size=sizes.durable_inputs, runs=sizes.runs, store=store, dsn=dsn)
        outcomes[store] = (bench.run(bench.ours, job), bench.run(bench.flock, job))
    clients = sizes.durable_clients
    concurrent = bench.run(bench.ours, Job("durable", size=sizes.durable_inputs, runs=sizes.runs, store="postgres",
                                           dsn=dsn, clients=clients))  # fmt: skip
    postgres = outcomes["postgres"][0]
    floor_job = Job("durable_floor", size=sizes.durable_inputs, runs=sizes.runs, dsn=dsn)
    commits = postgres if isinstance(postgres, str) else bench.run(bench.ours, floor_job)
    statement = (
        postgres
        if isinstance(postgres, str)
        else bench.run(bench.ours, replace(floor_job, workload="durable_statement"))
    )
    name = f"6. Durable stores: {sizes.durable_inputs} inputs, 1 agent"
    rows: list[Row] = []
    for metric, label in (("publish_per_s", "publish+schedule/s"), ("end_to_end_per_s", "end-to-end inputs/s")):
        memory_figure = series(outcomes["memory"][0], metric)
        for store in stores:
            ours, flock = outcomes[store]
            floor, floor_label = (memory_figure, "ours, memory store") if store != "memory" else ("—", "")
            if store == "postgres" and metric == "publish_per_s":
                floor, floor_label = series(commits, metric), "one INSERT committed per publish, no framework"
            rows.append(
                Row(
                    name,
                    f"{label}, {store}",
                    series(ours, metric),
                    series(flock, metric),
                    floor,
                    floor_label,
                    _durable_target(store, metric),
                    note=_DURABLE_NOTES.get(store, "") if metric == "publish_per_s" else "",
                )
            )
    rows.insert(3, Row(name, f"publish+schedule/s, postgres, {clients} concurrent publishers",
                       series(concurrent, "publish_per_s"), "Flock ships no PostgreSQL store",
                       series(outcomes["postgres"][0], "publish_per_s"), "ours, postgres, 1 publisher",
                       _POSTGRES_TARGET, note=_CONCURRENT_NOTE))  # fmt: skip
    rows.insert(4, Row(name, "publish+schedule/s, postgres, 1 publisher, against the store's statement alone",
                       series(postgres, "publish_per_s"), "Flock ships no PostgreSQL store",
                       series(statement, "publish_per_s"), "the store's publish statement, no framework",
                       note=_STATEMENT_NOTE))  # fmt: skip
    return rows


_POSTGRES_TARGET = Target("absolute", ">=", 2_889, "publishes/s")
"""3x PostgreSQL's publish+schedule rate before batching (963/s, one publisher, the same workload)."""


def _durable_target(store: StoreKind, metric: str) -> Target | None:
    """Ahead of Flock everywhere; the memory store's publish+schedule at least twice Flock's; see `_POSTGRES_TARGET`."""
    if store == "postgres":
        return _POSTGRES_TARGET if metric == "publish_per_s" else None
    return Target("flock", ">=", 2 if store == "memory" and metric == "publish_per_s" else 1)


_STATEMENT_NOTE = (
    "the statement a lone publish sends (the sequence lock, the insert, the change notice) with the same artifact "
    "JSON, one after another on one connection to a board's schema: from the INSERT floor to it is what the schema "
    "costs (its indexes, generated tenant and visibility columns, row-level security), from it to ours is the "
    "framework's share"
)

_CONCURRENT_NOTE = (
    "publishing tasks of one process, each awaiting its publish; publishes that arrive while one is being written "
    "are committed together in one transaction (one WAL flush), each returning once its own is committed"
)


def _ratios(high: Outcome | str, low: Outcome | str) -> Cell:
    """Run-by-run ratios of two scaling outcomes' throughputs, or why there are none."""
    if isinstance(high, str):
        return high
    if isinstance(low, str):
        return low
    pairs = zip(high.series["activations_per_s"], low.series["activations_per_s"], strict=True)
    return Figure.of(h / lo for h, lo in pairs)


def worker_scaling(bench: Bench) -> list[Row]:
    """6. Throughput of 1, 2 and 4 `flock worker` processes on PostgreSQL, latency-bound (fake model)."""
    sizes = bench.sizes
    dsn = os.environ.get("FLOCK_PG_DSN", DEFAULT_PG_DSN)
    concurrency, latency = sizes.scaling_concurrency, sizes.scaling_latency
    outcomes: dict[int, Outcome | str] = {}
    with LMServer(latency, python=str(bench.ours.python)) as server:
        for workers in sizes.scaling_workers:
            job = Job("scaling", size=sizes.scaling_inputs, runs=sizes.runs, warmup=1, base_url=server.base_url,
                      concurrency=concurrency, dsn=dsn, workers=workers)  # fmt: skip
            outcomes[workers] = bench.run(bench.ours, job)
    name = (
        f"6. Worker scaling: PostgreSQL, {sizes.scaling_inputs} inputs x 2 model calls, "
        f"{latency * 1000:.0f} ms model latency, concurrency {concurrency} per worker"
    )
    none = "Flock has no distributed workers"
    rows = [
        Row(name, f"activations/s, {workers} worker(s)", series(outcome, "activations_per_s"), none,
            Figure.of([workers * concurrency / latency]), "workers x concurrency / latency")
        for workers, outcome in outcomes.items()
    ]  # fmt: skip
    first, *more = sizes.scaling_workers
    for workers in more:
        rows.append(
            Row(name, f"scaling: {workers} workers / {first}", _ratios(outcomes[workers], outcomes[first]), none,
                Figure.of([workers / first]), "linear", note=_SCALING_NOTE if workers == more[-1] else "")
        )  # fmt: skip
    return rows


_SCALING_NOTE = (
    "each worker is a `flock worker` process; the model server, PostgreSQL and the workers share the machine's CPUs, "
    "so scaling flattens once their CPU, not the model latency, is the bottleneck"
)
