"""What `flock --help` and `flock COMMAND --help` say beyond the options: a description and examples.

The text of every command lives here, in one table, so the commands read alike; `describe(parser)` puts it
on a built parser and its subcommands, and fails for a command that has none.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import cast

__all__ = ["HELP", "describe"]

HELP: dict[str, tuple[str, str]] = {
    "": (
        """Typed multi-agent workflows on a blackboard.

Most commands take MODULE:FLOCK, a Flock object named by the module that defines it and the attribute
that holds it, for example myapp.pipeline:flock. The module is imported from the current directory.""",
        """examples:
  # run a script; the progress of every Flock it creates goes to stderr
  flock run pipeline.py --topic bees
  # what each agent consumes and publishes
  flock agents myapp.pipeline:flock
  # the HTTP API and the dashboard on http://127.0.0.1:8344
  flock serve myapp.pipeline:flock
  # latency, tokens and errors per agent from a trace file
  flock trace summary traces.db

Run "flock COMMAND --help" for a command's options and more examples.""",
    ),
    "run": (
        """Run a Python script as __main__, like "python SCRIPT ARGS...", and show on stderr the progress
of every Flock the script creates: elapsed time, artifacts by type, activations per agent (running, done,
failed) and the latest failures. The script's own output is left alone.

--progress auto (the default) draws a live table when stderr is a terminal and otherwise prints a plain
summary line every 5 seconds when something changed; both end with a final summary line. --stream also
shows the tokens every running agent streams: a live line per activation when stdout is a terminal, else
plain lines on stdout, "agent#n | text" for each line of model output. Options of "flock run" go before
SCRIPT: everything after SCRIPT is passed to the script.

--max-calls, --max-tokens, --max-input-tokens, --max-output-tokens, --max-cost and --max-wall-time give
every Flock the script creates a budget (as Flock(budget=Budget(...)) would): a model call that would pass
it is not made, and the workflow that tried it is cancelled with a BudgetExceeded error.""",
        """examples:
  # a live table on a terminal, plain summary lines in CI logs and pipes
  flock run pipeline.py
  # plain lines, and the script sees sys.argv[1:] == ['--topic', 'bees']
  flock run --progress plain pipeline.py --topic bees
  # no progress at all; the script's stdout goes to out.txt
  flock run --progress off pipeline.py > out.txt
  # watch every agent's tokens live; piped, they become one "agent#n | text" line per line
  flock run --stream pipeline.py
  # at most 50 model calls and 20 cents, whatever the script does
  flock run --max-calls 50 --max-cost 0.20 pipeline.py""",
    ),
    "types": (
        "Print the artifact types registered with a Flock, one name per line.",
        """examples:
  flock types myapp.pipeline:flock""",
    ),
    "agents": (
        """Print a Flock's agents, one per line: the types each consumes (& joins the inputs of one
activation, | separates alternatives) and the types it publishes with their fan-out.""",
        """examples:
  flock agents myapp.pipeline:flock
  # brainstorm: consumes Topic -> publishes Idea (exactly 3)""",
    ),
    "trace": (
        """Read a trace file written by flock_core.tracing.configure(file=...): the runs it holds, the span
tree of one run, or latency and token statistics per agent, model and tool.""",
        """examples:
  flock trace list traces.db
  flock trace show traces.db 4bf92f35
  flock trace summary traces.db --json""",
    ),
    "trace list": (
        "One line per run (trace), newest first: root span, start, duration, spans, agents, tokens and errors.",
        """examples:
  flock trace list traces.db
  flock trace list traces.db --limit 0 --json""",
    ),
    "trace show": (
        "The span tree of one run, with start offsets, durations, tokens, fan-in and errors.",
        """examples:
  # a trace id, or a unique prefix of one (see "flock trace list")
  flock trace show traces.db 4bf92f35""",
    ),
    "trace summary": (
        "Per agent, model and tool: how often it ran, p50 and p95 latency, tokens and errors.",
        """examples:
  flock trace summary traces.db
  flock trace summary traces.db --trace 4bf92f35 --json""",
    ),
    "graph": (
        """Draw the lineage of what ran (artifacts, and the activations that consumed and produced them)
from a Flock's store or an SQLite store file; or, with --declared, which agents can feed which. Mermaid by
default; DOT and a self-contained HTML page on request.""",
        """examples:
  # Mermaid lineage of everything in the Flock's store
  flock graph myapp.pipeline:flock
  # one workflow, as an HTML page (the format follows the suffix: .html, .dot/.gv, .mmd)
  flock graph myapp.pipeline:flock --correlation 0199d1a2-... -o lineage.html
  # the declared wiring instead of what ran
  flock graph myapp.pipeline:flock --declared --format dot
  # the lineage in an SQLite store file, without importing the Flock
  flock graph --store board.db -o lineage.html""",
    ),
    "serve": (
        """Serve a Flock over HTTP: the JSON API, the event stream, Prometheus metrics and the dashboard.
The server runs the Flock's work; Ctrl-C (SIGINT or SIGTERM) stops it. Needs the serve extra:
pip install "flockboard[serve]".""",
        """examples:
  # http://127.0.0.1:8344, dashboard at /, API under /api/v1
  flock serve myapp.pipeline:flock
  flock serve myapp.pipeline:flock --port 0 --no-dashboard   # prints the URL it bound
  # other interfaces need API keys; each entry is key=name[@tenant][#label,...]
  export FLOCK_API_KEYS="k1=ops k2=alice@acme"
  flock serve myapp.pipeline:flock --host 0.0.0.0 --api-keys-env FLOCK_API_KEYS""",
    ),
    "worker": (
        """Claim and run a Flock's work on its shared store (PostgreSQL) until SIGINT or SIGTERM. The
first signal stops claiming new work and lets running activations finish (for at most --grace seconds);
a second one stops at once. Work cut short is not lost: its lease expires and another worker runs it.""",
        """examples:
  # all agents, the Flock's max_concurrency
  flock worker support_app:flock
  flock worker support_app:flock --agents triage --concurrency 16
  # only tenant acme's rows (row-level security in the database)
  flock worker support_app:flock --tenant acme --agents acme_triage""",
    ),
    "cancel": (
        """Cancel one workflow (correlation id) of a Flock on its store: its queued and running work stops
for good, on every process using that store (other workers stop at their next lease renewal), and work
routed into it later never runs. Idempotent: the first reason is kept.""",
        """examples:
  flock cancel myapp.pipeline:flock 0193c3f2-debate --reason 'the user closed the tab'""",
    ),
    "pause": (
        """Pause one workflow, or without CORRELATION_ID every workflow, on the Flock's store: no process
starts its pending work until "flock resume". Activations already running finish.""",
        """examples:
  flock pause myapp.pipeline:flock 0193c3f2-debate
  flock pause myapp.pipeline:flock            # the whole board""",
    ),
    "resume": (
        """Lift a pause: of one workflow, or without CORRELATION_ID the whole-board pause (single pauses
stay). The waiting work runs in the next run of a process on that store.""",
        """examples:
  flock resume myapp.pipeline:flock 0193c3f2-debate
  flock resume myapp.pipeline:flock""",
    ),
    "approvals": (
        """List the outputs held for approval that the approver --as (with --tenant, --label) may decide:
it must be one of the request's approvers and allowed to see every held output. One line per request:
its id, agent, workflow and what it holds (--json: the held artifacts too).""",
        """examples:
  flock approvals myapp.pipeline:flock --as editor
  flock approvals myapp.pipeline:flock --as alice --tenant acme --json""",
    ),
    "approve": (
        """Approve held outputs as the approver --as: they are published exactly as held and routed to
their consumers, which run in the next run of a process on that store.""",
        """examples:
  flock approve myapp.pipeline:flock 0193c3f2-aaaa --as editor --reason 'checked'""",
    ),
    "reject": (
        """Reject held outputs as the approver --as: they are never published and nothing downstream
runs; an ApprovalRejected record with the reason is published instead.""",
        """examples:
  flock reject myapp.pipeline:flock 0193c3f2-aaaa --as editor --reason 'off topic'""",
    ),
    "optimize": (
        """Optimize a workflow's learned state (demos and instructions, per agent and output group) for a
metric, as engines.optimize does: score the report split (test, else dev, else train) before, run the
optimization with progress (one line per completed trial: its score, runs, calls and cost), score the same
split after, then print a summary and write an HTML report: the score before and after, per agent (the mean
score of the runs it took part in, read from lineage), every trial with a chart, the calls, tokens and cost
spent, and what each group learned.

MODULE:TASK names an engines.LearningTask (or a function returning one): the Flock, its metric and its
train/dev/test examples. Budgets (--max-calls, --max-tokens, --max-cost in US dollars, priced from LiteLLM's
bundled price map) are hard limits across resumes; with --run-dir every trial is checkpointed and running
the same command again resumes. The command is provided by flockboard's engines through the
flock_core.commands entry-point group.""",
        """examples:
  # the support router of examples/support_router, on the offline simulated model
  flock optimize examples.support_router.router:task
  # a budget, a resumable run directory, the optimized workflow saved as a manifest
  flock optimize myapp.learning:task --max-calls 500 --max-cost 2.50 --run-dir runs/opt1 --save router.manifest.json
  # plain progress lines and a JSON summary for CI
  flock optimize myapp.learning:task --progress plain --json > summary.json""",
    ),
    "evaluate": (
        """Score a workflow on one labelled split of a LearningTask (test, else dev, else train), with
progress: the mean metric, the score per agent (the mean score of the runs it took part in, read from
lineage), and the calls, tokens and cost spent; a summary on stdout and an HTML report. With --manifest, the
learned state of a manifest is imported first (its declarations must match the Flock's).""",
        """examples:
  flock evaluate examples.support_router.router:task --split test
  # the workflow as an optimization left it
  flock evaluate myapp.learning:task --manifest router.manifest.json --report eval.html""",
    ),
    "manifest": (
        """A workflow as data: one JSON manifest of its agents' declarations (descriptions, subscriptions,
output groups with fan-out, tools, the JSON schemas of the types), and its learned state (instructions and
demos per output group), with a schema version. Export it for review or to ship it, check that a manifest
fits a Flock, or diff two.""",
        """examples:
  flock manifest export myapp.learning:task -o router.manifest.json
  flock manifest check myapp.pipeline:flock router.manifest.json
  flock manifest diff before.manifest.json after.manifest.json""",
    ),
    "manifest export": (
        "Print the manifest of MODULE:FLOCK (a Flock, or the Flock of a LearningTask), or write it with -o.",
        """examples:
  flock manifest export myapp.pipeline:flock -o pipeline.manifest.json""",
    ),
    "manifest check": (
        """Import FILE into MODULE:FLOCK: exit status 0 when its declarations match the Flock's, else a
ManifestMismatchError naming the agent and field that differ (exit status 2).""",
        """examples:
  flock manifest check myapp.pipeline:flock pipeline.manifest.json""",
    ),
    "manifest diff": (
        """What changed between two manifests, one line per changed value (+ added, - removed, ~ changed);
either side may be MODULE:FLOCK, exported on the fly. Exit status 1 when anything changed, as diff does.""",
        """examples:
  flock manifest diff shipped.manifest.json myapp.pipeline:flock""",
    ),
    "dead-letters": (
        """List and replay a Flock's dead letters: work whose agent's retry policy gave up (or that crashed
too often), kept in the store with its error. Replay after fixing the cause: the attempts start again.""",
        """examples:
  flock dead-letters list support_app:flock
  flock dead-letters replay support_app:flock triage:1f0c...
  flock dead-letters replay support_app:flock --all --agent triage""",
    ),
    "dead-letters list": (
        "One line per dead letter, oldest first: its key, agent, workflow, attempts and last error.",
        """examples:
  flock dead-letters list support_app:flock --agent triage
  flock dead-letters list support_app:flock --correlation 0199d1a2-... --json""",
    ),
    "dead-letters replay": (
        """Queue dead letters again, their attempts reset. On PostgreSQL any worker runs them at once; a
SQLite board served by another process runs them at its next start (POST /api/v1/dead-letters/replay
runs them at once).""",
        """examples:
  flock dead-letters replay support_app:flock triage:1f0c... triage:9a2b...
  flock dead-letters replay support_app:flock --all""",
    ),
}


class _Formatter(argparse.HelpFormatter):
    """Wraps each paragraph of a description to the terminal, but keeps the layout of examples.

    A paragraph with indented lines (the examples) is printed as written.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = text.split("\n\n")
        return "\n\n".join(
            textwrap.indent(p, indent)
            if any(line.startswith(" ") for line in p.splitlines())
            else textwrap.fill(" ".join(p.split()), width, initial_indent=indent, subsequent_indent=indent)
            for p in paragraphs
        )


def describe(parser: argparse.ArgumentParser, command: str = "") -> None:
    """Give `parser` (the command `command`) and its subcommands their description and examples.

    Raises:
        KeyError: a command has no entry in `HELP`.
    """
    description, examples = HELP[command]
    parser.description = description
    parser.epilog = examples
    parser.formatter_class = _Formatter
    for action in parser._actions:
        choices: object = action.choices
        if isinstance(choices, dict):  # a subparsers action: subcommand names -> their parsers
            for name, subparser in cast(dict[str, object], choices).items():
                if isinstance(subparser, argparse.ArgumentParser):
                    describe(subparser, f"{command} {name}".strip())
