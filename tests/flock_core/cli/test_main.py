"""The `flock` command line: run, types, agents, and the `trace` and `graph` commands."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from dirty_equals import IsStr
from inline_snapshot import snapshot

from flock_core import ArtifactQuery
from flock_core.cli._help import HELP
from flock_core.cli._main import _parser, main
from flock_core.tracing import configure, shutdown

PIPELINE = """
from pydantic import BaseModel

from flock_core import EvaluationRequest, EvaluationResult, Flock, Usage
from flock_core.testing import FunctionEngine


class Topic(BaseModel):
    name: str


class Idea(BaseModel):
    text: str


class Summary(BaseModel):
    text: str


def engine(request: EvaluationRequest) -> EvaluationResult:
    if request.agent.name == "brainstorm":
        return EvaluationResult([Idea(text=f"idea {i}") for i in range(3)], Usage(10, 5, 1))
    if request.agent.name == "summarise":
        return EvaluationResult([Summary(text="ideas")], Usage(7, 3, 1))
    raise RuntimeError("model down")


def build(store=None, tracer_provider=None) -> Flock:
    flock = Flock(engine=FunctionEngine(engine), store=store, tracer_provider=tracer_provider)
    for model in (Topic, Idea, Summary):
        flock.register_type(model)
    flock.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=3)
    flock.agent("summarise").consumes(Idea, Idea, Idea).publishes(Summary)
    flock.agent("archive").consumes(Summary).publishes(Topic)  # fails: the engine has no reply for it
    return flock


flock = build()            # declarations only
ran = build()              # the same pipeline, after one run
ran.run(Topic(name="bees"))
empty = build()
not_a_flock = 42
"""


@dataclass(frozen=True)
class Project:
    """A folder with an importable pipeline module, as a user's project would have."""

    folder: Path
    module: str

    def target(self, attribute: str) -> str:
        return f"{self.module}:{attribute}"

    def load(self) -> Any:
        return importlib.import_module(self.module)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    module = f"cli_pipeline_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(PIPELINE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # also restores what `load_flock` adds to sys.path
    yield Project(tmp_path, module)
    sys.modules.pop(module, None)


def flock_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    out, _ = capsys.readouterr()
    return out


def cli_error(*argv: str) -> str:
    """The one line a mistake prints on stderr (exit status 2, no traceback)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        assert main(list(argv)) == 2
    [line] = stderr.getvalue().splitlines()
    return line


# -- run, types, agents ------------------------------------------------------------------------------


def test_types_and_agents(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert sorted(flock_cli(capsys, "types", project.target("flock")).split()) == [
        "Idea",
        "Summary",
        "Topic",
        "WorkflowError",
    ]
    assert flock_cli(capsys, "agents", project.target("flock")).splitlines() == [
        "brainstorm: consumes Topic -> publishes Idea (exactly 3)",
        "summarise: consumes Idea & Idea & Idea -> publishes Summary (exactly 1)",
        "archive: consumes Summary -> publishes Topic (exactly 1)",
    ]
    not_a_flock = project.target("not_a_flock")
    assert cli_error("types", not_a_flock) == f"flock: {not_a_flock} is not a Flock (got int)"
    assert cli_error("agents", "no_colon") == "flock: expected module:attribute, got 'no_colon'"


def test_run_executes_a_script_with_its_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('hello', sys.argv[1:])\n")
    assert main(["run", str(script), "--name", "x"]) == 0
    assert capsys.readouterr() == ("hello ['--name', 'x']\n", "")  # no Flock created: no progress either


RUN_SCRIPT = (
    PIPELINE.split("flock = build()", maxsplit=1)[0]
    + """
import sys

for name in sys.argv[1:]:
    result = build().run(Topic(name=name))
    print(name, len(result.get(Idea)), "ideas")
"""
)

ROOT = Path(__file__).resolve().parents[3]


def run_cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`flock ARGV...` in a child process, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", "import sys; from flock_core.cli._main import main; sys.exit(main())", *argv]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True)


def progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("flock run:")]


def test_run_prints_plain_progress_to_stderr_and_leaves_stdout_to_the_script(tmp_path: Path) -> None:
    (tmp_path / "pipeline.py").write_text(RUN_SCRIPT, encoding="utf-8")
    completed = run_cli(tmp_path, "run", "--progress", "plain", "pipeline.py", "bees", "ants")
    assert completed.stdout == "bees 3 ideas\nants 3 ideas\n"
    lines = progress_lines(completed.stderr)
    assert lines[:-1] == ["flock run: archive failed: RuntimeError: model down"] * 2
    assert re.fullmatch(
        r"flock run: finished after \d+\.\d s · 12 artifacts \(Topic 2, Idea 6, Summary 2, WorkflowError 2\) · "
        r"6 activations: 0 running, 4 done, 2 failed \(brainstorm: 2 done; summarise: 2 done; archive: 2 failed\)",
        lines[-1],
    )
    assert completed.stderr.rstrip().endswith(lines[-1])  # the summary is the last thing printed


def test_run_progress_off_adds_nothing(tmp_path: Path) -> None:
    (tmp_path / "pipeline.py").write_text(RUN_SCRIPT, encoding="utf-8")
    off = run_cli(tmp_path, "run", "--progress", "off", "pipeline.py", "bees")
    plain_python = subprocess.run(
        [sys.executable, "pipeline.py", "bees"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True
    )
    assert (off.stdout, off.stderr) == (plain_python.stdout, plain_python.stderr)
    assert progress_lines(off.stderr) == []
    assert "agent 'archive' failed" in off.stderr  # the script's own logging still reaches stderr


# -- trace -------------------------------------------------------------------------------------------


@pytest.fixture
def trace_file(project: Project) -> Path:
    """Two traced runs of the pipeline (the archive agent fails in each)."""
    module = project.load()
    path = project.folder / "traces.db"
    provider = configure(file=path, set_global=False)
    flock = module.build(tracer_provider=provider)
    flock.run(module.Topic(name="bees"))
    flock.run(module.Topic(name="ants"))
    shutdown(provider)
    return path


def cells(line: str) -> list[str]:
    """The cells of a table line (columns are separated by at least two spaces)."""
    return re.split(r"\s{2,}", line.strip())


TRACE_ID = IsStr(regex=r"[0-9a-f]{32}")
MS = IsStr(regex=r"\d[\d,]*\.\d")


def test_trace_list(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = flock_cli(capsys, "trace", "list", str(trace_file)).splitlines()
    assert [cells(line) for line in lines] == [
        ["TRACE ID", "ROOT", "STARTED (UTC)", "DURATION (ms)", "SPANS", "AGENTS", "TOKENS", "ERRORS"],
        *[
            [
                TRACE_ID,
                "invoke_workflow Topic",
                IsStr(regex=r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"),
                MS,
                "5",
                "brainstorm, summarise, archive",
                "25",
                "1",
            ]
        ]
        * 2,
    ]
    assert len({len(line) for line in lines}) == 1  # aligned: every line ends with the right-aligned ERRORS


def test_trace_list_json(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = json.loads(flock_cli(capsys, "trace", "list", str(trace_file), "--json", "--limit", "1"))
    assert len(runs) == 1
    assert runs[0]["agents"] == ["brainstorm", "summarise", "archive"]
    assert (runs[0]["input_tokens"], runs[0]["output_tokens"], runs[0]["errors"]) == (17, 8, 1)


def test_trace_show_by_prefix(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    [run] = json.loads(flock_cli(capsys, "trace", "list", str(trace_file), "--json", "--limit", "1"))
    lines = flock_cli(capsys, "trace", "show", str(trace_file), run["trace_id"][:8]).splitlines()
    assert lines[0].split(" · ") == [
        f"trace {run['trace_id']}",
        "invoke_workflow Topic",
        IsStr(regex=r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC"),
        IsStr(regex=r"\d[\d,]*\.\d ms"),
        "5 spans",
        "25 tokens",
        "1 error",
    ]
    assert lines[1] == ""
    assert cells(lines[2]) == ["SPAN", "START (ms)", "DURATION (ms)", "TOKENS in/out", "NOTES"]
    name_width = lines[2].index("START (ms)")
    tree = [(line[:name_width].rstrip(), cells(line[name_width:])) for line in lines[3:]]
    assert tree == [
        (
            "invoke_workflow Topic",
            [MS, MS, "ERROR RuntimeError: 1 failed activation; first: agent archive: RuntimeError: model down"],
        ),
        ("├─ publish Topic", [MS, MS]),
        ("├─ invoke_agent brainstorm", [MS, MS, "10/5"]),
        ("├─ invoke_agent summarise", [MS, MS, "7/3", "fan-in 3"]),
        ("└─ invoke_agent archive", [MS, MS, "ERROR RuntimeError: model down"]),
    ]
    spans = json.loads(flock_cli(capsys, "trace", "show", str(trace_file), run["trace_id"], "--json"))
    assert spans["trace_id"] == run["trace_id"]
    assert [s["name"] for s in spans["spans"]] == [name.lstrip(" ├└─") for name, _ in tree]


def test_trace_summary(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = flock_cli(capsys, "trace", "summary", str(trace_file)).splitlines()
    rows = [cells(line) for line in lines]
    assert rows[0] == ["AGENT", "ACTIVATIONS", "P50 (ms)", "P95 (ms)", "INPUT TOKENS", "OUTPUT TOKENS", "ERRORS"]
    assert [row[:2] + row[4:] for row in rows[1:]] == [
        ["brainstorm", "2", "20", "10", "0"],
        ["summarise", "2", "14", "6", "0"],
        ["archive", "2", "0", "0", "2"],
    ]
    assert all(re.fullmatch(r"[\d,]+\.\d", value) for row in rows[1:] for value in row[2:4])
    stats = json.loads(flock_cli(capsys, "trace", "summary", str(trace_file), "--json"))
    assert [(s["operation"], s["name"], s["count"]) for s in stats] == [
        ("invoke_agent", "brainstorm", 2),
        ("invoke_agent", "summarise", 2),
        ("invoke_agent", "archive", 2),
    ]
    [run, _] = json.loads(flock_cli(capsys, "trace", "list", str(trace_file), "--json"))
    one = json.loads(flock_cli(capsys, "trace", "summary", str(trace_file), "--trace", run["trace_id"], "--json"))
    assert [s["count"] for s in one] == [1, 1, 1]


def test_trace_errors_are_one_line_messages(trace_file: Path, tmp_path: Path) -> None:
    assert (
        cli_error("trace", "list", str(tmp_path / "nope.db")) == f"flock trace: no trace file at {tmp_path / 'nope.db'}"
    )
    assert (
        cli_error("trace", "show", str(trace_file), "f" * 32) == f"flock trace: no trace {'f' * 32!r} in {trace_file}"
    )
    assert cli_error("trace", "show", str(trace_file), "not-hex") == (
        "flock trace: 'not-hex' is not a trace id (1 to 32 hex digits)"
    )
    (tmp_path / "notes.txt").write_text("hello " * 50)
    assert cli_error("trace", "summary", str(tmp_path / "notes.txt")) == (
        f"flock trace: {tmp_path / 'notes.txt'} is not a flock trace file (file is not a database)"
    )


# -- graph -------------------------------------------------------------------------------------------


def test_graph_of_what_ran_as_mermaid_and_dot(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert flock_cli(capsys, "graph", project.target("ran")) == snapshot("""\
flowchart LR
    a1["Topic"]
    x1(["brainstorm"])
    a2["Idea"]
    a3["Idea"]
    a4["Idea"]
    x2(["summarise"])
    a5["Summary"]
    x3(["archive"])
    a6["WorkflowError"]
    a1 --> x1
    x1 --> a2
    x1 --> a3
    x1 --> a4
    a2 --> x2
    a3 --> x2
    a4 --> x2
    x2 --> a5
    a5 --> x3
    x3 --> a6
    classDef activation fill:#dbe7ff,stroke:#3b5bdb
    class x1,x2 activation
    classDef error fill:#ffe3e3,stroke:#c92a2a
    class x3,a6 error
""")
    assert flock_cli(capsys, "graph", project.target("ran"), "--format", "dot") == snapshot("""\
digraph lineage {
    rankdir=LR;
    node [fontname="Helvetica", fontsize=11, shape=box];
    edge [fontname="Helvetica", fontsize=9, color="#495057"];
    a1 [label="Topic"];
    x1 [label="brainstorm", style="rounded,filled", fillcolor="#dbe7ff"];
    a2 [label="Idea"];
    a3 [label="Idea"];
    a4 [label="Idea"];
    x2 [label="summarise", style="rounded,filled", fillcolor="#dbe7ff"];
    a5 [label="Summary"];
    x3 [label="archive", style="rounded,filled", fillcolor="#ffe3e3", color="#c92a2a"];
    a6 [label="WorkflowError", fillcolor="#ffe3e3", color="#c92a2a", style=filled];
    a1 -> x1;
    x1 -> a2;
    x1 -> a3;
    x1 -> a4;
    a2 -> x2;
    a3 -> x2;
    a4 -> x2;
    x2 -> a5;
    a5 -> x3;
    x3 -> a6;
}
""")


def test_declared_graph(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert flock_cli(capsys, "graph", project.target("flock"), "--declared") == snapshot("""\
flowchart LR
    g1("brainstorm")
    g2("summarise")
    g3("archive")
    g1 -->|"Idea ×3"| g2
    g2 -->|"Summary"| g3
    g3 -->|"Topic"| g1
    classDef agent fill:#dbe7ff,stroke:#3b5bdb
    class g1,g2,g3 agent
""")


def test_graph_to_a_file_picks_the_format_from_the_suffix(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", project.target("ran"), "-o", "lineage.html"]) == 0
    assert main(["graph", project.target("flock"), "--declared", "-o", "agents.dot"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("", "wrote html graph to lineage.html\nwrote dot graph to agents.dot\n")
    html = (project.folder / "lineage.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert 'data-id="x3"' in html
    assert (project.folder / "agents.dot").read_text().startswith("digraph agents {")


def test_graph_of_one_correlation(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    ran = project.load().ran
    page = anyio.run(ran.store.query, ArtifactQuery())
    whole = flock_cli(capsys, "graph", project.target("ran"))
    assert flock_cli(capsys, "graph", project.target("ran"), "--correlation", page.items[0].correlation_id) == whole
    assert cli_error("graph", project.target("ran"), "--correlation", "other") == (
        f"flock graph: no artifacts for correlation other in the store of {project.target('ran')} "
        "(--declared draws the agents instead)"
    )


def test_graph_argument_errors(project: Project) -> None:
    assert cli_error("graph") == "flock graph: give module:flock or --store FILE"
    assert cli_error("graph", "--declared") == "flock graph: --declared needs module:flock"
    assert cli_error("graph", project.target("empty")) == (
        f"flock graph: no artifacts in the store of {project.target('empty')} (--declared draws the agents instead)"
    )
    assert cli_error("graph", "--store", "missing.db") == "flock graph: no store file at missing.db"


def test_graph_from_a_sqlite_store_file(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    sqlite_store = pytest.importorskip(
        "flock_core.blackboard.sqlite._store", reason="the SQLite store is not available"
    )
    module = project.load()
    store = sqlite_store.SQLiteBlackboardStore(project.folder / "board.db")
    try:
        module.build(store=store).run(module.Topic(name="bees"))
    finally:
        anyio.run(store.close)  # an unclosed connection is a ResourceWarning (an error here) on Python 3.13
    from_file = flock_cli(capsys, "graph", "--store", "board.db")
    assert from_file == flock_cli(capsys, "graph", project.target("ran"))


# -- help --------------------------------------------------------------------------------------------


def commands(parser: argparse.ArgumentParser, path: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command and subcommand of `parser` by its path ("" for `flock` itself, "trace list", ...)."""
    found = {path: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= commands(sub, f"{path} {name}".strip())
    return found


def test_every_command_has_a_description_examples_and_helpful_options() -> None:
    every = commands(_parser()) | commands(_parser(["manifest"]))  # a provided command's actions load when run
    assert set(every) == set(HELP)
    assert {"", "run", "types", "agents", "trace", "trace list", "trace show", "trace summary"} < set(every)
    assert {"graph", "serve", "worker"} < set(every)
    for path, parser in every.items():
        assert parser.description, path
        assert (parser.epilog or "").startswith("examples:"), path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):  # the one-line help of each subcommand
                assert all(choice.help for choice in action._get_subactions()), path
            else:
                assert action.help, f"flock {path}: {action.dest} has no help text"


@pytest.mark.parametrize("command", sorted(HELP), ids=lambda c: c or "flock")
def test_help_exits_0_and_shows_the_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command.split(), "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: flock {command}".rstrip() + " ")
    examples = [line for line in HELP[command][1].splitlines() if line.startswith("  ")]
    assert examples
    for line in examples:
        assert line in out.splitlines(), f"{line!r} missing from flock {command} --help"
    assert all(len(line) <= 120 for line in out.splitlines())


def test_run_help_documents_the_progress_modes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "usage: flock run [-h] [--progress {auto,live,plain,off}] [--stream] [--max-calls N] [--max-tokens N]"
        " [--max-input-tokens N] [--max-output-tokens N] [--max-cost X] [--max-wall-time X] SCRIPT ..."
    ) in out
    assert "auto: live when stderr is a terminal, else plain (default: auto)" in out
    assert "everything after SCRIPT is passed to the script" in out


STREAM_SCRIPT = """
from pydantic import BaseModel
from flock_core import Flock

class Topic(BaseModel):
    name: str

class Draft(BaseModel):
    text: str

class Review(BaseModel):
    verdict: str

flock = Flock(model="offline")
flock.agent("writer").description("Write a draft.").consumes(Topic).publishes(Draft)
flock.agent("critic").description("Review the topic.").consumes(Topic).publishes(Review)
result = flock.run(Topic(name="bees"))
print("published:", result.get(Draft)[0].text)
print("published:", result.get(Review)[0].verdict)
"""


@pytest.mark.slow  # a child process that imports DSPy for the offline model
def test_run_stream_prints_plain_token_lines_on_stdout_when_piped(tmp_path: Path) -> None:
    (tmp_path / "stream.py").write_text(STREAM_SCRIPT, encoding="utf-8")
    streamed = run_cli(tmp_path, "run", "--stream", "--progress", "plain", "stream.py")
    lines = streamed.stdout.splitlines()
    published = [line for line in lines if line.startswith("published: ")]
    draft, verdict = (line.removeprefix("published: ") for line in published)
    by_agent: dict[str, list[str]] = {}
    for line in lines:
        if line not in published:
            label, text = line.split(" | ", 1)  # every other line is one line of one activation's tokens
            by_agent.setdefault(label, []).append(text)
    assert sorted(by_agent) == ["critic#1", "writer#1"]
    writer, critic = "\n".join(by_agent["writer#1"]), "\n".join(by_agent["critic#1"])
    assert writer.startswith("[[ ## draft ## ]]")
    assert writer.endswith("[[ ## completed ## ]]")
    assert draft in writer  # what was published is what was streamed
    assert verdict in critic
    assert progress_lines(streamed.stderr)[-1].startswith("flock run: finished after")
