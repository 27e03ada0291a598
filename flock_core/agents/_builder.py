"""The fluent agent builder. Every call returns the builder and refreshes a frozen `AgentSpec`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any, Self, TypeVar, cast

from pydantic import BaseModel

from ..blackboard._artifacts import ApprovalRejected
from ..blackboard._registry import TypeRegistry
from ..blackboard._visibility import AgentIdentity
from ..exceptions import AgentDeclarationError, UserError
from ._approval import ApprovalPolicy, OnTimeout, approval_policy
from ._checks import check_int, check_name, check_names, check_type, check_visibility, declared_engine, fan_out_of
from ._components import AgentComponent
from ._context import ContextProvider
from ._engine import Engine
from ._flock_style import EngineComponent, UtilityComponent, as_agent_component, as_engine
from ._handle import AgentHandle
from ._history import ConversationHistory, Summarizer
from ._nested import NestedWorkflow, WorkflowEngine
from ._patterns import BatchSpec, JoinSpec, ScheduleSpec
from ._retry import Backoff, RetryPolicy, is_transient
from ._semantic import Semantic
from ._spec import ActivationCondition, AgentSpec, BestOf, OutputGroup, Predicate, Subscription, VisibilityRule

__all__ = ["AgentBuilder"]

ValidateRule = Callable[[Any], bool] | tuple[Callable[[Any], bool], str]


T = TypeVar("T")


def _as_tuple(value: T | Sequence[T] | None) -> tuple[T, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(value)  # pyright: ignore[reportUnknownArgumentType]
    return (value,)  # pyright: ignore[reportReturnType]


def _rules(validate: ValidateRule | Sequence[ValidateRule] | None) -> tuple[ValidateRule, ...]:
    """Normalise `validate=`: one rule, one `(fn, message)` pair, or a sequence of either."""
    if validate is None:
        return ()
    if callable(validate) or (isinstance(validate, tuple) and len(validate) == 2 and isinstance(validate[1], str)):
        return (cast(ValidateRule, validate),)
    return tuple(cast(Sequence[ValidateRule], validate))


def _split_rule(rule: ValidateRule) -> tuple[Predicate, str]:
    if isinstance(rule, tuple):
        fn, message = cast(tuple[Predicate, str], rule)
        return fn, message
    return rule, str(getattr(rule, "__name__", "validate rule"))


class AgentBuilder:
    """Declares one agent. Obtained from `Flock.agent(name)`; read the result with `.spec`.

    Several `.consumes()` calls are alternatives (OR); several types in one call form an AND gate, and a
    repeated type a count gate. Each `.publishes()` call is one output group, produced by one engine call.
    """

    def __init__(self, name: str, registry: TypeRegistry, on_change: Callable[[AgentSpec], None]) -> None:
        self._registry = registry
        self._on_change = on_change
        self._spec = AgentSpec(name=check_name(name))
        on_change(self._spec)

    @property
    def name(self) -> str:
        """The agent's name."""
        return self._spec.name

    @property
    def spec(self) -> AgentSpec:
        """The frozen declaration as it stands now."""
        return self._spec

    @property
    def agent(self) -> AgentHandle:
        """The agent being declared, as Flock's `builder.agent` (`.agent.context_provider = ...`)."""
        return AgentHandle(self)

    def _update(self, **changes: Any) -> Self:
        self._spec = dataclasses.replace(self._spec, **changes)
        self._on_change(self._spec)
        return self

    def _fail(self, problem: str, argument: str | None = None) -> AgentDeclarationError:
        return AgentDeclarationError(self._spec.name, problem, argument=argument)

    def _type_names(self, types: Sequence[type[BaseModel]], call: str) -> tuple[str, ...]:
        if not types:
            raise self._fail(f"{call}() needs at least one type", call)
        return tuple(check_type(self._spec.name, call, model, self._registry) for model in types)

    def _callables(self, value: Any, what: str) -> tuple[Any, ...]:
        items = _as_tuple(value)
        for item in items:
            if not callable(item):
                raise self._fail(f"{what} must be callable, got {item!r}", what.rstrip("=") or None)
        return items

    def _instance(self, value: Any, cls: type, argument: str, example: str) -> None:
        if value is not None and not isinstance(value, cls):
            got = f"{value!r} ({type(value).__name__})"
            raise self._fail(f"{argument}= takes a {cls.__name__}, got {got}: write {argument}={example}", argument)

    def description(self, text: str) -> Self:
        """What the agent does; LLM engines use it as the instructions."""
        if not isinstance(text, str):
            raise self._fail(f"description() takes a string, got {type(text).__name__}", "description")
        return self._update(description=text)

    def consumes(
        self,
        *types: type[BaseModel],
        where: Predicate | Sequence[Predicate] | None = None,
        from_agents: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        join: JoinSpec | None = None,
        batch: BatchSpec | None = None,
        priority: int = 0,
        semantic: str | Semantic | Sequence[Semantic] | None = None,
        threshold: float | None = None,
        activation: ActivationCondition | None = None,
    ) -> Self:
        """Subscribe to artifacts of `types` (all of them, per correlation id), filtered by the keywords.

        Args:
            types: input types; several form an AND gate, a repeated type a count gate.
            where: predicates on each input payload; all must hold.
            from_agents: accept only artifacts produced by these agents.
            tags: accept only artifacts carrying all of these tags.
            join: correlate the types by a key within a window instead of by correlation id.
            batch: hand the engine several completed groups at once.
            priority: ready activations with a higher priority start first.
            semantic: accept only inputs whose text means something close to this query (embedded by the
                Flock's embedder), or `Semantic` conditions, e.g. on one field; all must hold.
            threshold: the least cosine similarity for a `semantic=` query string (default 0.5).
            activation: a condition (`When.correlation(T)...`) that must hold before a complete activation
                runs; until then it waits, and it runs once an artifact in its workflow makes it true.
        """
        names = self._type_names(types, "consumes")
        self._instance(join, JoinSpec, "join", "JoinSpec(by=lambda p: p.key, within=timedelta(minutes=5))")
        self._instance(batch, BatchSpec, "batch", "BatchSpec(size=10)")
        if join is not None and len(types) < 2:
            raise self._fail(
                "join= needs at least two types to correlate, e.g. consumes(Order, Payment, join=...)", "join"
            )
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise self._fail(f"priority= takes an int, got {priority!r} ({type(priority).__name__})", "priority")
        conditions = self._semantic(types, semantic, threshold)
        if activation is not None and not callable(getattr(activation, "check", None)):
            raise self._fail(
                f"activation= must be a condition such as When.correlation(T).exists(): {activation!r}", "activation"
            )
        subscription = Subscription(
            types=names,
            models=tuple(types),
            where=self._callables(where, "where="),
            from_agents=check_names(self._spec.name, "from_agents", from_agents),
            tags=check_names(self._spec.name, "tags", tags),
            priority=priority,
            join=join,
            batch=batch,
            semantic=conditions,
            activation=activation,
        )
        return self._update(subscriptions=(*self._spec.subscriptions, subscription))

    def _semantic(
        self,
        types: Sequence[type[BaseModel]],
        semantic: str | Semantic | Sequence[Semantic] | None,
        threshold: float | None,
    ) -> tuple[Semantic, ...]:
        """Check `semantic=`/`threshold=` against the consumed types and normalise them to conditions."""
        if isinstance(semantic, str):
            conditions: tuple[Semantic, ...] = (Semantic(semantic, 0.5 if threshold is None else threshold),)
        else:
            if threshold is not None:
                raise self._fail(
                    "threshold= goes with a semantic= query string; a Semantic(...) carries its own", "threshold"
                )
            conditions = _as_tuple(semantic)
        for condition in conditions:
            if not isinstance(condition, Semantic):  # pyright: ignore[reportUnnecessaryIsInstance] - users' input
                raise self._fail(f"semantic= takes a query string or Semantic(...), got {condition!r}", "semantic")
            if not condition.query.strip():
                raise self._fail("semantic= query must not be empty", "semantic")
            value: object = condition.threshold
            if isinstance(value, bool) or not isinstance(value, int | float) or not -1.0 <= value <= 1.0:
                raise self._fail(
                    f"semantic threshold must be a cosine similarity in [-1, 1], got {condition.threshold!r}",
                    "threshold",
                )
            missing = [
                m.__name__ for m in types if condition.field is not None and condition.field not in m.model_fields
            ]
            if missing:
                raise self._fail(
                    f"semantic field {condition.field!r} is not a field of {', '.join(missing)}", "semantic"
                )
        return conditions

    def publishes(
        self,
        *types: type[BaseModel],
        fan_out: int | tuple[int, int] | None = None,
        visibility: VisibilityRule | None = None,
        where: Predicate | Sequence[Predicate] | None = None,
        validate: ValidateRule | Sequence[ValidateRule] | None = None,
        description: str | None = None,
        declassify: str | None = None,
        approval: ApprovalPolicy | None = None,
    ) -> Self:
        """Declare one output group: `types` produced together by one engine call.

        Outputs are visible only to identities that could see everything the activation read (its inputs
        and context); `visibility` narrows that further. Only a named `declassify` lets `visibility` be
        wider: the name is recorded on every such output (`DeclassifiedVisibility`) and on the span.

        Args:
            types: output types; the engine must return `fan_out` artifacts of each.
            fan_out: exactly N of each type, or a `(min, max)` range. Default: exactly 1.
            visibility: a visibility, or a function of the payload returning one.
            where: outputs failing any predicate are not published.
            validate: rules `fn(payload) -> bool` or `(fn, message)`; a failure is a contract violation.
            description: appended to the output description for LLM engines.
            declassify: the name of a declassification: outputs get `visibility` even where it is wider
                than what they were derived from (requires `visibility`).
            approval: hold this group's outputs until an approver decides (see `requires_approval`).
        """
        if declassify is not None and (visibility is None or not declassify.strip()):
            raise self._fail("declassify= needs a non-empty name and the visibility= the outputs are released to")
        rules: list[tuple[Predicate, str]] = []
        for rule in _rules(validate):
            fn, message = _split_rule(rule)
            rules.append((self._callables(fn, "validate=")[0], message))
        names = self._type_names(types, "publishes")
        if description is not None and not isinstance(description, str):
            raise self._fail(
                f"publishes(description=...) takes a string, got {type(description).__name__}", "description"
            )
        group = OutputGroup(
            types=names,
            models=tuple(types),
            fan_out=fan_out_of(self._spec.name, fan_out),
            visibility=check_visibility(self._spec.name, visibility),
            where=self._callables(where, "where="),
            validate=tuple(rules),
            description=description,
            declassify=declassify,
            approval=self._approval(approval),
        )
        return self._update(output_groups=(*self._spec.output_groups, group))

    def _approval(self, approval: object) -> ApprovalPolicy | None:
        if approval is not None and not isinstance(approval, ApprovalPolicy):
            raise self._fail(f"publishes(approval=...) takes an ApprovalPolicy, got {approval!r}", "approval")
        if approval is not None:
            self._registry.register(ApprovalRejected)  # what a rejection publishes, only where one can happen
        return approval

    def requires_approval(
        self,
        approvers: Iterable[str | AgentIdentity] | str | AgentIdentity,
        *,
        timeout: timedelta | float | None = None,
        on_timeout: OnTimeout = "reject",
    ) -> Self:
        """Hold the agent's outputs until one of `approvers` approves them (then they are published and
        routed) or rejects them (an `ApprovalRejected` record is published instead; nothing downstream runs).

        Args:
            approvers: who may decide: names or identities (`"alice"`, `AgentIdentity("bob", tenant="acme")`).
                An approver must also be allowed to see every held output.
            timeout: how long the outputs wait (a timedelta or seconds; `None`: until decided).
            on_timeout: what the timeout decides: `"reject"` (default) or `"approve"`.
        """
        policy = approval_policy(self._spec.name, approvers, timeout, on_timeout)
        self._registry.register(ApprovalRejected)  # what a rejection publishes
        return self._update(approval=policy)

    def with_engines(self, *engines: Engine | EngineComponent) -> Self:
        """Use `engine` instead of the Flock's default engine (one engine per agent; a Flock-style
        `EngineComponent` is adapted)."""
        if len(engines) != 1:
            raise self._fail(f"with_engines() takes exactly one engine, got {len(engines)}", "engine")
        return self._update(engine=declared_engine(self._spec.name, as_engine(engines[0])))

    def runs(self, workflow: NestedWorkflow, *, timeout: float | None = None) -> Self:
        """Make a whole `Flock` this agent's engine: a nested workflow (see docs/nested-workflows.md).

        Each activation publishes its inputs into `workflow` as a new workflow, runs it until idle under its
        own agents and contracts, and returns its artifacts of this agent's declared output types, which
        this agent's contract then checks (wrong type or count: a `WorkflowError`, as for any engine).
        `timeout` bounds one inner run in seconds.
        """
        missing = [
            name
            for name in ("publish", "run_until_idle", "cancel", "store", "get_correlation_status")
            if not hasattr(workflow, name)
        ]
        if missing:
            raise self._fail(f"runs() takes a Flock (the inner workflow), got {workflow!r}", "runs")
        if getattr(workflow, "registry", None) is self._registry:
            raise self._fail("an agent cannot run its own Flock: give runs() another Flock", "runs")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
            raise self._fail(f"runs(timeout=...) takes seconds > 0 or None, got {timeout!r}", "timeout")
        return self._update(engine=WorkflowEngine(workflow, timeout=timeout))

    def with_components(self, *components: AgentComponent) -> Self:
        """Add activation hooks; they run in ascending `priority` order."""
        for component in components:
            if not isinstance(component, AgentComponent):
                raise self._fail(f"{component!r} is not an AgentComponent", "components")
        merged = sorted((*self._spec.components, *components), key=lambda c: c.priority)
        return self._update(components=tuple(merged))

    def with_utilities(self, *components: UtilityComponent | AgentComponent) -> Self:
        """Add Flock-style utility components (Flock's hook signatures), or `AgentComponent`s."""
        return self.with_components(*(as_agent_component(c) for c in components))

    def with_tools(self, *tools: Callable[..., Any] | Sequence[Callable[..., Any]]) -> Self:
        """Give the agent's engine callable tools (a list or several arguments)."""
        flat: list[Callable[..., Any]] = []
        for tool in tools:
            flat.extend(self._callables(tool, "tools"))
        return self._update(tools=(*self._spec.tools, *flat))

    def with_mcps(self, servers: Sequence[str] | Mapping[str, Sequence[str] | None]) -> Self:
        """Give the agent the tools of MCP servers added with `Flock.add_mcp`, optionally whitelisted.

        `["files"]` gives every tool of server `files`; `{"files": ["read"]}` only its `read` tool. Tools
        are named `{server}__{tool}`.
        """
        if isinstance(servers, str):
            raise self._fail(
                f"with_mcps() takes a list of server names or a mapping, not a string: write with_mcps([{servers!r}])",
                "with_mcps",
            )
        if isinstance(servers, Mapping):
            chosen = tuple((name, None if tools is None else frozenset(tools)) for name, tools in servers.items())
        else:
            chosen = tuple((name, None) for name in servers)
        return self._update(mcp_servers=(*self._spec.mcp_servers, *chosen))

    def labels(self, *labels: str) -> Self:
        """Labels of the agent's identity, checked by `LabelledVisibility`."""
        return self._update(labels=self._spec.labels | (check_names(self._spec.name, "labels", labels) or frozenset()))

    def tenant(self, tenant_id: str) -> Self:
        """The tenant of the agent's identity, checked by `TenantVisibility`."""
        if not isinstance(tenant_id, str) or not tenant_id:
            raise self._fail(f"tenant() takes a non-empty string, got {tenant_id!r}", "tenant")
        return self._update(tenant=tenant_id)

    def max_concurrency(self, n: int) -> Self:
        """How many activations of this agent may run at once (default: as many as the Flock allows)."""
        return self._update(max_concurrency=check_int(self._spec.name, "max_concurrency", n, 1))

    def prevent_self_trigger(self, enabled: bool = True) -> Self:
        """Whether the agent ignores artifacts it produced itself (on by default)."""
        return self._update(prevent_self_trigger=enabled)

    def best_of(self, n: int, score: Callable[[list[Any]], float]) -> Self:
        """Run `n` candidates per output group concurrently; publish the valid one with the best `score`."""
        check_int(self._spec.name, "best_of", n, 1)
        if not callable(score):
            raise self._fail(f"best_of(score=...) must be a function of the candidates, got {score!r}", "best_of")
        return self._update(best_of=BestOf(n, score))

    def schedule(
        self,
        *,
        every: timedelta | None = None,
        at: time | datetime | None = None,
        cron: str | None = None,
        after: timedelta | None = None,
        max_repeats: int | None = None,
    ) -> Self:
        """Make this a timer agent: it is activated at each tick (with no input artifacts).

        Exactly one of `every`, `at` (daily `time` or one-off `datetime`, UTC) or `cron` (5 fields, UTC).
        The engine learns which tick fired from `EvaluationRequest.tick`.
        """
        try:
            spec = ScheduleSpec(every=every, at=at, cron=cron, after=after, max_repeats=max_repeats)
            if cron is not None:
                from ._cron import CronExpression  # the cron parser loads only for cron schedules

                CronExpression.parse(cron)
        except UserError as exc:
            raise self._fail(str(exc), "schedule") from exc
        return self._update(schedule=spec)

    def with_context(self, provider: ContextProvider) -> Self:
        """What this agent sees besides its inputs (default: the Flock's provider). Visibility still applies."""
        if not isinstance(provider, ContextProvider):
            raise self._fail(
                f"{provider!r} is not a ContextProvider (it needs an async provide(request) method)", "context"
            )
        return self._update(context=provider)

    def with_history(
        self, *, max_turns: int = 20, max_chars: int = 20_000, summarize: Summarizer | None = None
    ) -> Self:
        """See the earlier turns of the conversation (`Flock.conversation`) as context: `ConversationHistory`.

        Bounded to the latest `max_turns` turns and `max_chars` characters of payload; older turns are
        left out behind one `ConversationSummary` item (`summarize` makes its text). Replaces the agent's
        context provider. Turns the agent, or the caller of the current turn, may not see are never in it.
        """
        check_int(self._spec.name, "max_turns", max_turns, 1)
        check_int(self._spec.name, "max_chars", max_chars, 1)
        if summarize is not None and not callable(summarize):
            raise self._fail(f"summarize= must be a function of the left-out turns, got {summarize!r}", "summarize")
        return self._update(context=ConversationHistory(max_turns, max_chars, summarize))

    def max_repairs(self, n: int) -> Self:
        """How many repair attempts an engine gets after a contract violation (default 1)."""
        return self._update(max_repairs=check_int(self._spec.name, "max_repairs", n, 0))

    def retry(
        self,
        attempts: int = 3,
        *,
        backoff: Backoff | float | None = None,
        retry_on: Callable[[BaseException], bool] | None = None,
    ) -> Self:
        """How failed activations of this agent are tried again before they become dead letters.

        Args:
            attempts: tries in all (1: never retry). Default 3, as when `.retry()` is never called.
            backoff: a `Backoff`, or the first wait in seconds (doubling, with jitter, at most 60 s).
                Default `Backoff()`: 1 s, then 2 s, 4 s, ... The wait is scheduled, never slept.
            retry_on: which errors to retry, `fn(exception) -> bool` (default: `is_transient`: rate
                limits, 5xx and timeouts of the model call; never contract violations).
        """
        check_int(self._spec.name, "retry(attempts=...)", attempts, 1)
        if isinstance(backoff, int | float) and not isinstance(backoff, bool):
            if backoff < 0:
                raise self._fail(f"retry(backoff=...) must be >= 0 seconds, got {backoff}", "backoff")
            backoff = Backoff(initial=float(backoff))
        elif backoff is not None and not isinstance(backoff, Backoff):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise self._fail(f"retry(backoff=...) takes a Backoff or seconds, got {backoff!r}", "backoff")
        if retry_on is not None and not callable(retry_on):
            raise self._fail(f"retry(retry_on=...) must be a function of the exception, got {retry_on!r}", "retry_on")
        policy = RetryPolicy(attempts, backoff or Backoff(), retry_on or is_transient)
        return self._update(retry=policy)
