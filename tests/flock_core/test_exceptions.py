"""Tests of `flock_core.exceptions`: the documented tree matches the classes, and errors carry context."""

from __future__ import annotations

import re

import pytest

from flock_core import exceptions
from flock_core.exceptions import (
    AgentDeclarationError,
    BoardInUseError,
    BudgetExceeded,
    CircuitBreakerTripped,
    ConfigurationError,
    ContractViolation,
    DuplicateAgentError,
    EngineError,
    EventLoopError,
    FlockError,
    InputTypeError,
    PayloadValidationError,
    RuntimeFlockError,
    RunTimeoutError,
    StoreError,
    TypeRegistrationError,
    UnknownAgentError,
    UserError,
)


def documented_tree() -> dict[str, str | None]:
    """Parse the docstring's tree drawing into `{class name: parent name}`, by indentation."""
    doc = exceptions.__doc__ or ""
    (block,) = re.findall(r"```\n(.*?)```", doc, flags=re.DOTALL)
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = re.match(r"^([│├└─\s]*)(\w+)", line)
        assert match is not None, line
        depth, name = len(match.group(1)) // 4, match.group(2)
        del stack[depth:]
        assert len(stack) == depth, f"{name} is indented too deep"
        parents[name] = stack[-1][1] if stack else None
        stack.append((depth, name))
    return parents


def actual_parent(cls: type[BaseException]) -> str | None:
    (parent,) = [base for base in cls.__bases__ if issubclass(base, FlockError)] or [None]
    return parent.__name__ if parent else None


def test_the_tree_drawing_parses() -> None:
    assert documented_tree() == {
        "FlockError": None,
        "UserError": "FlockError",
        "TypeRegistrationError": "UserError",
        "AgentDeclarationError": "UserError",
        "DuplicateAgentError": "AgentDeclarationError",
        "UnknownAgentError": "UserError",
        "ApprovalError": "UserError",
        "InputTypeError": "UserError",
        "PayloadValidationError": "UserError",
        "ConfigurationError": "UserError",
        "ManifestMismatchError": "UserError",
        "EventLoopError": "UserError",
        "RuntimeFlockError": "FlockError",
        "ContractViolation": "RuntimeFlockError",
        "EngineError": "RuntimeFlockError",
        "EmbeddingError": "RuntimeFlockError",
        "StoreError": "RuntimeFlockError",
        "BoardInUseError": "StoreError",
        "CircuitBreakerTripped": "RuntimeFlockError",
        "BudgetExceeded": "RuntimeFlockError",
        "ConversationClosedError": "RuntimeFlockError",
        "QueueFullError": "RuntimeFlockError",
        "McpError": "RuntimeFlockError",
        "RunTimeoutError": "RuntimeFlockError",
    }


def test_every_exported_exception_is_in_the_tree_and_nothing_else() -> None:
    assert sorted(documented_tree()) == sorted(exceptions.__all__)


def test_the_tree_matches_the_class_hierarchy() -> None:
    classes: dict[str, type[BaseException]] = {name: getattr(exceptions, name) for name in exceptions.__all__}
    assert {name: actual_parent(cls) for name, cls in classes.items()} == documented_tree()


@pytest.mark.parametrize(
    "cls",
    [
        TypeRegistrationError,
        AgentDeclarationError,
        DuplicateAgentError,
        UnknownAgentError,
        PayloadValidationError,
        ConfigurationError,
        EventLoopError,
    ],
)
def test_user_errors(cls: type[FlockError]) -> None:
    assert issubclass(cls, UserError)
    assert not issubclass(cls, RuntimeFlockError)


@pytest.mark.parametrize("cls", [ContractViolation, EngineError, StoreError, CircuitBreakerTripped, RunTimeoutError])
def test_runtime_errors(cls: type[FlockError]) -> None:
    assert issubclass(cls, RuntimeFlockError)
    assert not issubclass(cls, UserError)


def test_standard_bases_for_familiar_handling() -> None:
    assert issubclass(PayloadValidationError, ValueError)
    assert issubclass(RunTimeoutError, TimeoutError)
    assert issubclass(EventLoopError, RuntimeError)  # what anyio.run raised here before


def test_contract_violation_carries_and_names_its_context() -> None:
    error = ContractViolation(
        "critic",
        output_type="Review",
        expected="a valid Review",
        got="an invalid payload",
        errors=["score: Input should be less than or equal to 10", "text: Field required"],
    )
    assert (error.agent, error.output_type, error.expected, error.got, error.errors) == (
        "critic",
        "Review",
        "a valid Review",
        "an invalid payload",
        ("score: Input should be less than or equal to 10", "text: Field required"),
    )
    assert str(error) == (
        "agent 'critic' output 'Review': expected a valid Review, got an invalid payload\n"
        "  - score: Input should be less than or equal to 10\n"
        "  - text: Field required"
    )


def test_contract_violation_without_an_output_type_or_errors() -> None:
    error = ContractViolation("critic", expected="x", got="y")
    assert (str(error), error.output_type, error.errors) == ("agent 'critic': expected x, got y", None, ())


def test_context_of_the_other_errors() -> None:
    assert vars(AgentDeclarationError("a", "bad")) == {"agent": "a", "problem": "bad", "argument": None}
    assert vars(AgentDeclarationError("a", "bad", argument="fan_out"))["argument"] == "fan_out"
    assert vars(ConfigurationError("bad", setting="lease")) == {"setting": "lease"}
    assert vars(EventLoopError("run", "arun")) == {"method": "run", "async_method": "arun"}
    assert "await flock.arun(" in str(EventLoopError("run", "arun"))
    assert str(AgentDeclarationError("a", "bad")) == "agent 'a': bad"
    assert vars(UnknownAgentError("x", ["b", "a"])) == {"agent": "x"}
    assert str(UnknownAgentError("x", ["b", "a"])) == "unknown agent 'x'; declared agents: ['a', 'b']"
    wrong = InputTypeError("a", "Memo", ["Task", "Bug"])
    assert vars(wrong) == {"agent": "a", "type_name": "Memo", "accepted": ("Bug", "Task")}
    assert str(wrong) == "agent 'a' does not consume 'Memo'; it consumes ['Bug', 'Task']"
    assert vars(EngineError("a", "boom")) == {"agent": "a", "usage": None}
    assert str(EngineError("a", "boom")) == "agent 'a': boom"
    assert vars(CircuitBreakerTripped("loop", 5)) == {"agent": "loop", "limit": 5}
    assert "agent 'loop' reached max_agent_iterations=5" in str(CircuitBreakerTripped("loop", 5))
    spent = BudgetExceeded("writer", "wf-1", scope="flock", limit="max_cost", allowed=0.5, spent=0.52)
    assert vars(spent) == {
        "agent": "writer",
        "correlation_id": "wf-1",
        "scope": "flock",
        "limit": "max_cost",
        "allowed": 0.5,
        "spent": 0.52,
    }
    assert str(spent) == (
        "agent 'writer': the Flock's budget is spent (max_cost=0.5 reached, spent 0.52); "
        "no further model call was made and workflow 'wf-1' was stopped"
    )
    in_flight = BudgetExceeded("critic", "wf-2", scope="flock", limit="max_calls", allowed=3, spent=1)
    assert "(max_calls=3 reached, spent 1 and 2 in flight)" in str(in_flight)
    assert vars(TypeRegistrationError("m", type_name="T")) == {"type_name": "T"}
    assert vars(PayloadValidationError("T", ["a: bad"])) == {"type_name": "T", "errors": ("a: bad",)}
    in_use = BoardInUseError("the SQLite board 'b.db'", "lease owner h/1/ab")
    assert vars(in_use) == {"board": "the SQLite board 'b.db'", "holder": "lease owner h/1/ab"}
    assert str(in_use).startswith("the SQLite board 'b.db' is in use by another Flock (lease owner h/1/ab)")
