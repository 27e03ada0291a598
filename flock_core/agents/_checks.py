"""Checks of agent declarations: each argument where it is given, and the whole set when a Flock starts.

Every failure is an `AgentDeclarationError` naming the agent, the argument and the fix, raised where the
mistake was made, so nothing is accepted that later hangs or crashes a run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from ..blackboard._registry import TypeRegistry
from ..blackboard._visibility import (
    AfterVisibility,
    LabelledVisibility,
    PrivateVisibility,
    PublicVisibility,
    TenantVisibility,
)
from ..exceptions import AgentDeclarationError, TypeRegistrationError
from ._engine import engine_problem
from ._spec import AgentSpec, FanOut, VisibilityRule

__all__ = [
    "EXTERNAL_PRODUCER",
    "check_declarations",
    "check_int",
    "check_name",
    "check_names",
    "check_type",
    "check_visibility",
    "declared_engine",
    "fan_out_of",
]

EXTERNAL_PRODUCER = "external"
"""The producer of artifacts published from outside any agent (`Flock.publish`, the HTTP API)."""

_VISIBILITIES = (PublicVisibility, PrivateVisibility, LabelledVisibility, TenantVisibility, AfterVisibility)
_VISIBILITY_HINTS = {
    "public": "PublicVisibility()",
    "private": "PrivateVisibility(agents={'reader'})",
    "labelled": "LabelledVisibility(required={'clearance:high'})",
    "tenant": "TenantVisibility(tenant_id='acme')",
}


def _kind(value: Any) -> str:
    """How a wrong value reads in a message: its repr and its type."""
    text = repr(value)
    return f"{text[:60]}... ({type(value).__name__})" if len(text) > 60 else f"{text} ({type(value).__name__})"


def check_name(name: object) -> str:
    """An agent name: a non-empty string without surrounding spaces, commas, slashes or control characters.

    Names appear in URLs (`/api/agents/{name}`), in `flock worker --agents a,b` and in span names.

    >>> check_name("writer")
    'writer'
    """
    shown = name if isinstance(name, str) else repr(name)
    if not isinstance(name, str):
        problem = f"the name must be a string, got {_kind(name)}: write flock.agent('writer')"
    elif not name.strip():
        problem = "the name is empty: give every agent a name, e.g. flock.agent('writer')"
    elif name != name.strip() or any(c in name for c in ",/") or not name.isprintable():
        problem = "the name must not contain commas, slashes or control characters, nor start or end with spaces"
    else:
        return name
    raise AgentDeclarationError(str(shown), problem, argument="name")


def check_type(agent: str, call: str, value: object, registry: TypeRegistry) -> str:
    """The registered name of a type given to `consumes()` / `publishes()`, or an error saying how to fix it."""
    fix: str
    if isinstance(value, BaseModel):
        fix = f"got an instance {type(value).__name__}(...); pass the class itself: {call}({type(value).__name__})"
    elif isinstance(value, str):
        hint = f"{call}({value})" if value in registry else f"a registered Pydantic model class, e.g. {call}(MyModel)"
        fix = f"got the string {value!r}; pass the class: {hint}"
    elif isinstance(value, list | tuple | set | frozenset):
        fix = f"got a {type(value).__name__}; pass the types as separate arguments: {call}(A, B)"  # pyright: ignore[reportUnknownArgumentType]
    elif not (isinstance(value, type) and issubclass(value, BaseModel)):
        fix = f"{_kind(value)} is not a Pydantic model class; declare it as `class X(BaseModel): ...`"
    else:
        try:
            return registry.name_of(value)
        except TypeRegistrationError as exc:
            fix = str(exc)
    raise AgentDeclarationError(agent, f"{call}(): {fix}", argument=call)


def check_int(agent: str, argument: str, value: object, minimum: int) -> int:
    """`value` as an int of at least `minimum` (a bool is not an int here)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        problem = f"{argument} must be at least {minimum}, got {value}"
    else:
        problem = f"{argument} must be an int >= {minimum}, got {_kind(value)}"
    raise AgentDeclarationError(agent, problem, argument=argument)


def fan_out_of(agent: str, value: object) -> FanOut:
    """`publishes(fan_out=)`: exactly N (an int >= 1) or a `(min, max)` pair with 0 <= min <= max, max >= 1."""
    if value is None:
        return FanOut()
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= 1:
            return FanOut(value)
        fix = f"fan_out must be at least 1, got {value}"
    elif isinstance(value, tuple) and len(value) == 2 and all(type(v) is int for v in value):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        low, high = value  # pyright: ignore[reportUnknownVariableType]
        if 0 <= low <= high and high >= 1:
            return FanOut(low, high)  # pyright: ignore[reportUnknownArgumentType]
        fix = f"fan_out range must satisfy 0 <= min <= max and max >= 1, got {value}"
    elif isinstance(value, str) and value.strip().isdigit():
        fix = f"fan_out must be an int, got the string {value!r}: write fan_out={value.strip()}"
    else:
        fix = f"fan_out must be an int (exactly N) or a (min, max) tuple of ints, got {_kind(value)}"
    raise AgentDeclarationError(agent, fix, argument="fan_out")


def check_visibility(agent: str, value: object) -> VisibilityRule | None:
    """`publishes(visibility=)`: a visibility object, a function of the payload returning one, or None."""
    if value is None or isinstance(value, _VISIBILITIES) or (callable(value) and not isinstance(value, type)):
        return value  # pyright: ignore[reportReturnType]
    if isinstance(value, str) and value.lower() in _VISIBILITY_HINTS:
        fix = f"got the string {value!r}; pass a visibility object: visibility={_VISIBILITY_HINTS[value.lower()]}"
    elif isinstance(value, type):
        fix = f"got the class {value.__name__}; pass an instance, e.g. visibility=PublicVisibility()"
    else:
        fix = (
            f"got {_kind(value)}; pass a visibility object (PublicVisibility(), PrivateVisibility(agents=...), "
            "LabelledVisibility(...), TenantVisibility(...), AfterVisibility(...)) or a function payload -> visibility"
        )
    raise AgentDeclarationError(agent, f"publishes(visibility=...): {fix}", argument="visibility")


def check_names(agent: str, argument: str, value: object) -> frozenset[str] | None:
    """A name or an iterable of names (`from_agents=`, `tags=`), as a frozenset of non-empty strings."""
    if value is None:
        return None
    if isinstance(value, str):
        names: list[object] = [value]
    elif isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        names = list(value)  # pyright: ignore[reportUnknownArgumentType]
    else:
        names = [value]
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad or not names:
        got = _kind(bad[0]) if bad else "nothing"
        raise AgentDeclarationError(
            agent, f"{argument}= takes a name or a list of names (non-empty strings), got {got}", argument=argument
        )
    return frozenset(str(n) for n in names)


def declared_engine(owner: str, engine: object) -> Any:
    """`with_engines(engine)`: `engine` when it is a usable engine, else an error saying how to make one."""
    problem = engine_problem(engine)
    if problem is not None:
        raise AgentDeclarationError(owner, f"with_engines(): {problem}", argument="engine")
    return engine


def _is_timer(spec: AgentSpec) -> bool:
    return spec.schedule is not None


def check_declarations(specs: Mapping[str, AgentSpec], mcp_servers: Collection[str]) -> None:
    """Checks across agents, when a Flock starts: each agent can run and names only what exists.

    An agent needs `.consumes(...)` (or `.schedule(...)`) to ever be activated and `.publishes(...)` for its
    engine to be called; `from_agents=` must name declared agents (or `"external"`), and `with_mcps` servers
    added with `Flock.add_mcp`.
    """
    for spec in specs.values():
        if not spec.subscriptions and not _is_timer(spec):
            raise AgentDeclarationError(
                spec.name,
                "it declares no .consumes(...) (nor .schedule(...)), so it would never run: add "
                f".consumes(InputType) to flock.agent({spec.name!r})",
                argument="consumes",
            )
        if not spec.output_groups:
            raise AgentDeclarationError(
                spec.name,
                "it declares no .publishes(...), so its engine would never be called: add "
                f".publishes(OutputType) to flock.agent({spec.name!r})",
                argument="publishes",
            )
        for subscription in spec.subscriptions:
            unknown = sorted((subscription.from_agents or frozenset()) - {*specs, EXTERNAL_PRODUCER})
            if unknown:
                raise AgentDeclarationError(
                    spec.name,
                    f"consumes(from_agents=...) names {unknown[0]!r}, which is not an agent of this Flock; "
                    f"declared agents: {sorted(specs)} (or {EXTERNAL_PRODUCER!r} for artifacts published from outside)",
                    argument="from_agents",
                )
        missing = sorted({name for name, _ in spec.mcp_servers} - set(mcp_servers))
        if missing:
            raise AgentDeclarationError(
                spec.name,
                f"with_mcps() names the MCP server {missing[0]!r}, which was not added: call "
                f"flock.add_mcp({missing[0]!r}, McpServerSpec...) first",
                argument="with_mcps",
            )
