"""The process that runs one side's workload: `python -m benchmarks._driver SIDE JOB_FILE OUT_FILE`.

It runs under either framework's interpreter, so it imports only the standard library before the clock
starts; the side's module (and with it the framework) is imported afterwards, which lets `first_output`
count the framework's import.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import asyncio  # noqa: E402 - the clock starts before anything else is imported
import importlib  # noqa: E402
import sys  # noqa: E402
from collections.abc import Awaitable, Callable, Mapping  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import cast  # noqa: E402

from ._protocol import Job, Outcome  # noqa: E402

__all__ = ["main"]

_SIDES = {"ours": "benchmarks._ours_side", "flock": "benchmarks._flock_side"}


def main(argv: list[str]) -> int:
    """Run the job in `argv[1]` on side `argv[0]` and write its outcome to `argv[2]`."""
    if len(argv) != 3 or argv[0] not in _SIDES:
        print(f"usage: python -m benchmarks._driver {{{','.join(_SIDES)}}} JOB_FILE OUT_FILE", file=sys.stderr)
        return 2
    side, job_file, out_file = argv
    job = Job.load(Path(job_file))
    module = importlib.import_module(_SIDES[side])
    workloads = cast(Mapping[str, Callable[[Job, float], Awaitable[Outcome]]], module.WORKLOADS)
    outcome = asyncio.run(_run(workloads[job.workload](job, _STARTED)))
    outcome.dump(Path(out_file))
    return 0


async def _run(workload: Awaitable[Outcome]) -> Outcome:
    return await workload


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
