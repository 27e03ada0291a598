"""`python -m benchmarks` (`make bench`): run every workload on both frameworks and print the table.

Options: `--smoke` (toy sizes, every code path), `--runs N`, `--no-flock` (our side only), `--only NAME`
(repeatable; one of the workload names below),
`--out DIR` (default `benchmarks/results`), `--size NAME=N` (repeatable; override one of `Sizes`, e.g.
`backpressure_inputs=20000`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._flock_env import FlockEnv, ensure_flock
from ._report import Row, markdown_table, row_record, targets_summary
from ._runner import Interpreter
from ._suite import FULL, SMOKE, WORKLOADS, Bench, Sizes

__all__ = ["main", "output_folder"]

RESULTS = Path(__file__).resolve().parent / "results"
_FLOCK_ENV = {
    "FLOCK_AUTO_TRACE": "false",  # Flock's tracing off unless a row says otherwise (its default is on)
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network fetch of LiteLLM's price list (ours sets it too)
}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Run the benchmarks and print the table.")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that every workload runs")
    parser.add_argument("--runs", type=int, help="measured runs per figure (default 3; 1 with --smoke)")
    parser.add_argument("--no-flock", action="store_true", help="skip Flock's side")
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS), help="run only these workloads")
    parser.add_argument(
        "--out",
        type=Path,
        help="where latest.json and latest.md go (default: benchmarks/results for the whole suite, "
        "benchmarks/results/partial for a run with --smoke, --only, --no-flock, --runs or --size)",
    )
    parser.add_argument(
        "--size",
        action="append",
        default=[],
        type=_size,
        metavar="NAME=N",
        help="override one size (e.g. backpressure_inputs=20000; see benchmarks._bench.Sizes)",
    )
    return parser


def _size(text: str) -> tuple[str, int]:
    name, _, value = text.partition("=")
    if name not in Sizes.__dataclass_fields__ or not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=N with NAME a field of Sizes, got {text!r}")
    return name, int(value)


def _flock(skip: bool) -> tuple[Interpreter | None, FlockEnv | None, str]:
    if skip:
        return None, None, "--no-flock"
    env = ensure_flock(_log)
    if isinstance(env, str):
        _log(f"Flock's side is skipped: {env}")
        return None, None, env
    return Interpreter("flock", env.python, _FLOCK_ENV), env, ""


def _document(rows: list[Row], sizes: Sizes, flock: FlockEnv | None, missing: str, wall: float) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_s": round(wall, 1),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "flock": asdict(flock) | {"python": str(flock.python)} if flock else {"skipped": missing},
        "sizes": asdict(sizes),
        "rows": [row_record(row) for row in rows],
    }


def _markdown(rows: list[Row], document: dict[str, Any]) -> str:
    flock = document["flock"]
    flock_line = (
        f"Flock: flock-core {flock['version']} on Python {flock['python_version']} ({flock['note']})"
        if "version" in flock
        else f"Flock: skipped ({flock['skipped']})"
    )
    machine = document["machine"]
    return "\n".join(
        [
            f"# Benchmark results ({document['date']})",
            "",
            f"Ours: flockboard on Python {machine['python']}. {flock_line}. Machine: {machine['cpus']} CPUs, "
            f"{machine['platform']}. Wall time {document['wall_s']} s.",
            "",
            f"Figures are the median [min–max] of {_runs(document['sizes']['runs'])} (prompt sizes: the mean "
            "[min–max] over the calls of one workflow); ratios are ours / theirs of the centres. This is a "
            "shared 2-core machine: differences under about 10% are noise. See docs/benchmarks.md.",
            "",
            markdown_table(rows),
            "",
            "## Targets",
            "",
            *targets_summary(rows),
            "",
            "## Notes",
            "",
            *[f"- {row.workload}, {row.metric}: {row.note}." for row in rows if row.note],
            "",
        ]
    )


def _runs(count: int) -> str:
    return "1 run" if count == 1 else f"{count} runs"


def output_folder(args: argparse.Namespace) -> Path:
    """Where a run's results go: `--out`, else `RESULTS` for the whole suite as `make bench` runs it.

    A partial or resized run goes to `RESULTS / "partial"` (git-ignored), so profiling one row never
    replaces the committed results of a full run.
    """
    if args.out is not None:
        return Path(args.out)
    partial = args.smoke or args.only or args.no_flock or args.runs is not None or args.size
    return RESULTS / "partial" if partial else RESULTS


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; write `latest.json` and `latest.md` under `--out` and print the table."""
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    sizes = SMOKE if args.smoke else FULL
    if args.runs is not None:
        sizes = replace(sizes, runs=args.runs, import_runs=max(args.runs, sizes.import_runs))
    if args.size:
        sizes = replace(sizes, **dict(args.size))
    flock, flock_env, missing = _flock(args.no_flock)
    bench = Bench(sizes, Interpreter("ours", Path(sys.executable)), flock, missing, _log)
    rows: list[Row] = []
    for name, workload in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        _log(f"{name} ...")
        rows.extend(workload(bench))
    wall = time.perf_counter() - started
    document = _document(rows, sizes, flock_env, missing, wall)
    markdown = _markdown(rows, document)
    out = output_folder(args)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "latest.md").write_text(markdown)
    print(markdown)
    print(f"Wall time: {wall:.1f} s; results in {out}/latest.json and latest.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
