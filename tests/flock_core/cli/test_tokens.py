"""`flock run --stream`: the streamed text of running activations, as live lines or plain lines on stdout."""

from __future__ import annotations

import io
import re

import pytest
from pydantic import BaseModel
from rich.console import Console

from flock_core import (
    ActivationFailed,
    ActivationFinished,
    ActivationStarted,
    Artifact,
    ArtifactPublished,
    EvaluationRequest,
    Flock,
    FlockEvent,
    PublicVisibility,
    TokenStreamed,
)
from flock_core.cli._progress import ProgressView, RunCounts, render
from flock_core.cli._tokens import Transcript, Transcripts
from flock_core.testing import FunctionEngine

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Topic(BaseModel):
    name: str


class Poem(BaseModel):
    text: str


def poet(request: EvaluationRequest) -> list[BaseModel]:
    """Streams its poem in chunks that do not follow its lines, when someone listens."""
    [topic] = request.payloads
    assert isinstance(topic, Topic)
    text = f"Ode to {topic.name}\nby {request.agent.name}"
    if request.on_token is not None:
        for start in range(0, len(text), 5):
            request.on_token(text[start : start + 5])
    return [Poem(text=text)]


def poets() -> Flock:
    flock = Flock(engine=FunctionEngine(poet))
    flock.register_type(Topic, name="tokens_tests.Topic")
    flock.register_type(Poem, name="tokens_tests.Poem")
    flock.agent("keats").consumes(Topic).publishes(Poem)
    flock.agent("byron").consumes(Topic).publishes(Poem)
    return flock


def test_plain_lines_per_activation_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    flock = poets()
    with ProgressView("plain", stream=io.StringIO(), tokens=True) as view:
        view.watch(flock)
        assert flock.events.streaming
        flock.run(Topic(name="bees"), Topic(name="ants"))
    out = capsys.readouterr().out.splitlines()
    assert sorted(out) == sorted(
        f"{agent}#{n} | {line}"
        for agent in ("keats", "byron")
        for n, name in ((1, "bees"), (2, "ants"))
        for line in (f"Ode to {name}", f"by {agent}")
    ) or sorted(out) == sorted(  # the two topics may start in either order
        f"{agent}#{n} | {line}"
        for agent in ("keats", "byron")
        for n, name in ((2, "bees"), (1, "ants"))
        for line in (f"Ode to {name}", f"by {agent}")
    )
    assert not flock.events.streaming  # closing the view unsubscribed


def test_without_tokens_nothing_streams(capsys: pytest.CaptureFixture[str]) -> None:
    flock = poets()
    with ProgressView("plain", stream=io.StringIO()) as view:
        view.watch(flock)
        assert flock.events.listening
        assert not flock.events.streaming
        flock.run(Topic(name="bees"))
    assert capsys.readouterr().out == ""


async def invoke_with_a_subscriber(flock: Flock, *, tokens: bool) -> tuple[list[Artifact], list[FlockEvent]]:
    seen: list[FlockEvent] = []
    flock.events.subscribe(seen.append, tokens=tokens)
    outputs = await flock.invoke("keats", Topic(name="moths"))
    return outputs, seen


@pytest.mark.anyio
async def test_invoke_streams_to_token_subscribers_with_the_activations_events() -> None:
    [poem], seen = await invoke_with_a_subscriber(poets(), tokens=True)
    events = [e for e in seen if not isinstance(e, ArtifactPublished)]
    started, *tokens, finished = events
    assert isinstance(started, ActivationStarted)
    assert isinstance(finished, ActivationFinished)
    assert started.work_key == finished.work_key
    assert started.work_key.startswith("invoke:")
    assert finished.output_ids == (str(poem.id),)
    assert all(isinstance(t, TokenStreamed) for t in tokens)
    streamed = [t for t in tokens if isinstance(t, TokenStreamed)]
    assert "".join(t.text for t in streamed) == "Ode to moths\nby keats"
    assert {(t.agent, t.work_key) for t in streamed} == {("keats", started.work_key)}
    assert all(t.read == PublicVisibility() for t in streamed)  # who may see what it read: its (public) input


@pytest.mark.anyio
async def test_invoke_does_not_stream_without_a_token_subscriber() -> None:
    _, seen = await invoke_with_a_subscriber(poets(), tokens=False)
    assert not [e for e in seen if isinstance(e, TokenStreamed)]
    assert [e.kind for e in seen if not isinstance(e, ArtifactPublished)] == [
        "activation_started",
        "activation_finished",
    ]


@pytest.mark.anyio
async def test_a_failed_invoke_tells_the_subscribers_and_raises() -> None:
    def broken(request: EvaluationRequest) -> list[BaseModel]:
        raise RuntimeError("the muse left")

    flock = Flock(engine=FunctionEngine(broken))
    flock.register_type(Topic, name="tokens_tests.Topic")
    flock.register_type(Poem, name="tokens_tests.Poem")
    flock.agent("keats").consumes(Topic).publishes(Poem)
    seen: list[FlockEvent] = []
    flock.events.subscribe(seen.append, tokens=True)
    with pytest.raises(RuntimeError, match="the muse left"):
        await flock.invoke("keats", Topic(name="moths"))
    started, failed = seen
    assert isinstance(started, ActivationStarted)
    assert isinstance(failed, ActivationFailed)
    assert (failed.agent, failed.work_key, failed.error_type) == ("keats", started.work_key, "RuntimeError")


def test_a_repair_attempt_starts_afresh_and_a_failure_flushes_the_partial_line() -> None:
    transcripts = Transcripts(lines=True)
    transcripts(ActivationStarted("critic", "k", "c", ()))
    transcripts(TokenStreamed("critic", "k", "first try\nhalf a li", "c", 0))
    transcripts(TokenStreamed("critic", "k", "second", "c", 1))
    assert transcripts.running() == [Transcript("critic#1", 1, "second")]
    transcripts(TokenStreamed("critic", "k", " try", "c", 1))
    transcripts(ActivationFailed("critic", "k", "c", "ContractViolation", "bad"))
    assert transcripts.take_lines() == [
        "critic#1 | first try",
        "critic#1 | half a li",
        "critic#1 | (repair attempt 1)",
        "critic#1 | second try",
    ]
    assert transcripts.running() == []


def test_a_slow_reader_loses_the_oldest_lines_and_is_told() -> None:
    transcripts = Transcripts(lines=True, max_lines=3)
    for number in range(5):
        transcripts(TokenStreamed("critic", "k", f"line {number}\n"))
    assert transcripts.take_lines() == [
        "… 2 lines dropped (output too slow)",
        "critic#1 | line 2",
        "critic#1 | line 3",
        "critic#1 | line 4",
    ]
    transcripts(TokenStreamed("critic", "k", "x" * 3000))
    assert transcripts.take_lines() == []  # a partial line waits for its end
    assert transcripts.take_lines(flush=True) == ["critic#1 | " + "x" * 3000]
    transcripts(TokenStreamed("critic", "k", "y" * 5000))  # a model that never ends a line still shows up
    assert transcripts.take_lines() == ["critic#1 | " + "y" * 5000]


def test_the_live_display_shows_the_end_of_each_running_transcript() -> None:
    running = [Transcript("keats#1", 0, "Ode to bees\n" + "buzz " * 40 + "THE END"), Transcript("byron#1", 2, "Hi")]
    console = Console(file=io.StringIO(), force_terminal=True, width=60)
    console.print(render(RunCounts().snapshot(), "flock run", running, width=60))
    assert isinstance(console.file, io.StringIO)
    lines = ANSI.sub("", console.file.getvalue()).splitlines()
    assert lines[-2].startswith("keats#1  …")
    assert lines[-2].endswith("buzz THE END")
    assert len(lines[-2]) <= 60
    assert lines[-1] == "byron#1 (repair 2)  Hi"


def test_on_a_terminal_each_finished_transcript_is_printed_once_above_the_live_display(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("flock_core.cli._progress._is_terminal", lambda stream: True)
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    flock = poets()
    with ProgressView("live", console=console, tokens=True) as view:
        view.watch(flock)
        flock.run(Topic(name="bees"))
    assert isinstance(console.file, io.StringIO)
    text = ANSI.sub("", console.file.getvalue())
    for agent in ("keats", "byron"):
        assert text.count(f"─ {agent}#1 ─") == 1
        assert f"│ by {agent}" in text
    assert text.count("│ Ode to bees") == 2
    assert capsys.readouterr().out == ""  # nothing on stdout: the live display shows it all
