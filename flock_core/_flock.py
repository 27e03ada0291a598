"""The `Flock` facade: declare agents, publish artifacts, run workflows."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Coroutine, Iterable, Mapping
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, overload

from pydantic import BaseModel

from ._budget import Budget
from ._clock import Clock
from ._ids import new_id
from ._new_flocks import announce, capped
from .agents._builder import AgentBuilder
from .agents._context import ContextProvider
from .agents._engine import Engine
from .agents._semantic import Embedder
from .agents._spec import AgentSpec
from .blackboard._approvals import ApprovalRequest
from .blackboard._artifacts import EXTERNAL_PRODUCER, Artifact, WorkflowError
from .blackboard._payloads import to_payload
from .blackboard._registry import TypeRegistry, default_registry
from .blackboard._store import ArtifactQuery, BlackboardStore
from .blackboard._visibility import AgentIdentity, Visibility
from .blackboard._work import ExpiredJoin
from .exceptions import ConfigurationError
from .observe._results import report_results
from .orchestration._blocking import run_blocking
from .orchestration._dead_letters import DeadLetter
from .orchestration._events import EventBus
from .orchestration._resume import ResumeReport
from .orchestration._scheduler import Rejection
from .orchestration._status import CorrelationStatus, RunResult

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider
    from starlette.applications import Starlette

    from ._tracing import FlockTracer
    from .agents._learned import LearnedState
    from .agents._spending import CallGate
    from .mcp import McpServerSpec, McpToolbox, StdioServerParameters, StreamableHttpServerParameters
    from .orchestration._conditions import Condition
    from .orchestration._conversation import Conversation
    from .serve import Auth, ServerHandle

__all__ = ["Flock"]

M = TypeVar("M", bound=BaseModel)


class Flock:
    """A blackboard and the agents that react to it.

    Args:
        model: the default model for LLM engines (for example `"openai/gpt-4.1-mini"` or `"offline"`).
        store: where artifacts live (default: a new in-memory store).
        engine: the engine for agents declared without `.with_engines()` (default: `engines.DSPyEngine`).
        embedder: embeds texts for semantic subscriptions (default: `engines.LiteLLMEmbedder`, found through
            the `flock_core.embedders` entry point, with the model of `$FLOCK_EMBEDDING_MODEL`).
        context: what activations see besides their inputs (default: their own workflow, 50 artifacts).
        max_agent_iterations: the loop guard: activations of one agent in one workflow (since it last
            settled) before that agent is stopped there with a `CircuitBreakerTripped` error (default 100;
            see docs/control.md).
        budget: the most model calls, tokens, cost and wall time this Flock may spend, over all its
            workflows (a `Budget`; `None`: no limit). A workflow's own budget goes to `publish(budget=...)`.
        max_concurrency: activations running at once across all agents.
        max_attempts: how often a work item is started (crash recovery) before it is failed for good.
        lease: on a shared store (distributed mode), how long a claimed work item stays claimed (seconds or
            a `timedelta`); a running process renews its leases every third of it, so a worker that dies
            loses its work to another after at most one lease.
        max_pending: back-pressure: at most this many activations queued, running or retrying plus inputs
            held in gates, joins and batches when `publish` admits a new input (default `None`: no bound).
            See docs/control.md.
        when_full: what `publish` does at `max_pending`: `"wait"` (default) until there is room, running
            the queued work itself when nothing else does; `"raise"`: `QueueFullError`.
        clock: the time source (`flock_core.testing.VirtualClock` in tests).
        tracer_provider: an OpenTelemetry tracer provider (default: the global one; nothing is configured).
        context_provider: Flock's name for `context` (give one of them).
        show_results: print a table of what the agents published at the end of each run (as Flock does);
            `None` (default): only when standard output is a terminal, never when it is piped.
        trace_content: record artifacts' payloads on spans as `input.value` / `output.value` (public
            visibility only; default: the `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` variable,
            else off). See docs/observability.md.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        store: BlackboardStore | None = None,
        engine: Engine | None = None,
        embedder: Embedder | None = None,
        context: ContextProvider | None = None,
        max_agent_iterations: int = 100,
        max_concurrency: int = 64,
        max_attempts: int = 3,
        lease: float | timedelta = 30.0,
        max_pending: int | None = None,
        when_full: Literal["wait", "raise"] = "wait",
        clock: Clock | None = None,
        tracer_provider: TracerProvider | None = None,
        context_provider: ContextProvider | None = None,
        show_results: bool | None = None,
        trace_content: bool | None = None,
        budget: Budget | None = None,
    ) -> None:
        # the run-time machinery and OpenTelemetry's trace API load with the first Flock, not at import
        from ._tracing import FlockTracer
        from .orchestration._options import FlockOptions
        from .orchestration._orchestrator import Orchestrator

        if context is not None and context_provider is not None:
            raise ConfigurationError("give context= or Flock's name for it, context_provider=, not both")
        options = FlockOptions.of(
            model=model, store=store, engine=engine, embedder=embedder, context=context or context_provider,
            clock=clock, max_agent_iterations=max_agent_iterations, max_concurrency=max_concurrency,
            max_attempts=max_attempts, lease=lease,
        )  # fmt: skip
        self.model = model
        self.show_results = show_results
        self.registry = TypeRegistry(default_registry, replace_redefinitions=False)
        self.registry.register(WorkflowError)
        self._mcp: McpToolbox | None = None
        self._core = Orchestrator(
            registry=self.registry,
            store=options.store,
            clock=options.clock,
            model=options.model,
            engine=options.engine,
            embedder=options.embedder,
            context=options.context,
            max_agent_iterations=options.max_agent_iterations,
            max_concurrency=options.max_concurrency,
            max_attempts=options.max_attempts,
            lease=options.lease,
            tracer=FlockTracer(tracer_provider, capture_content=trace_content),
            max_pending=max_pending,
            when_full=when_full,
            budget=capped(budget),
        )
        announce(self)

    @property
    def store(self) -> BlackboardStore:
        """The blackboard store."""
        return self._core.store

    @property
    def clock(self) -> Clock:
        """The time source."""
        return self._core.clock

    @property
    def worker_id(self) -> str:
        """This process's identity for work-item leases and the router lead (`host:pid:random`)."""
        return self._core.worker_id

    @property
    def lease(self) -> timedelta | None:
        """How long a claimed work item stays claimed on a shared store (`None` on a local board)."""
        return self._core.lease

    @property
    def max_concurrency(self) -> int:
        """Activations this process runs at once, across agents (`run_worker(concurrency=...)` changes it)."""
        return self._core.max_concurrency

    @property
    def rejections(self) -> deque[Rejection]:
        """The latest 1,000 artifacts that a subscriber did not accept, with the reason."""
        return self._core.rejections

    @property
    def expired_joins(self) -> list[ExpiredJoin]:
        """Join groups that expired before completing (their artifacts stay on the board)."""
        return self._core.expired_joins

    # -- declaration ---------------------------------------------------------------------------------

    def register_type(self, model: type[BaseModel], *, name: str | None = None) -> str:
        """Register a payload type with this Flock only; returns its blackboard name."""
        return self.registry.register(model, name=name)

    def agent(self, name: str) -> AgentBuilder:
        """Declare a new agent called `name` and return its builder."""
        return self._core.declare(name)

    @property
    def agents(self) -> Mapping[str, AgentSpec]:
        """The frozen declarations of every agent, by name."""
        return self._core.agents

    @property
    def learned(self) -> dict[tuple[str, int], LearnedState]:
        """Learned demos and instructions by `(agent, output group index)`; engines that learn use them."""
        return self._core.learned

    @property
    def events(self) -> EventBus:
        """Run events (published, activation started/finished/failed, streamed tokens) for observers."""
        return self._core.events

    @property
    def tracer(self) -> FlockTracer:
        """The Flock's spans, on its tracer provider (a server opens its request spans with it)."""
        return self._core.tracer

    def add_listener(self, listener: Callable[[Artifact], None]) -> Callable[[], None]:
        """Call `listener` with every artifact this Flock stores; returns a function that removes it."""
        return self._core.add_listener(listener)

    # -- publishing ----------------------------------------------------------------------------------

    async def publish(
        self,
        obj: BaseModel | Mapping[str, Any],
        *,
        visibility: Visibility | None = None,
        correlation_id: str | None = None,
        partition_key: str | None = None,
        tags: Iterable[str] | None = None,
        produced_by: str = EXTERNAL_PRODUCER,
        budget: Budget | None = None,
    ) -> Artifact:
        """Validate `obj`, store it as an artifact, and queue the activations it completes.

        `obj` is a registered Pydantic model instance or `{"type": name, "payload": {...}}`. Without a
        `correlation_id`, the artifact starts a new workflow. Activations run in `run_until_idle()`.
        `produced_by` records who published it (the HTTP API passes `"api:"` and the caller).
        `budget` limits the model calls, tokens, cost and wall time of the artifact's workflow (it
        replaces a budget the workflow had, keeping what it spent; see docs/control.md).
        """
        return await self._core.publish(
            obj,
            budget=budget,
            visibility=visibility,
            correlation_id=correlation_id,
            partition_key=partition_key,
            tags=tags,
            produced_by=produced_by,
        )

    async def publish_many(self, objs: Iterable[BaseModel | Mapping[str, Any]], **options: Any) -> list[Artifact]:
        """Publish several objects with the same options (see `publish`).

        Every object is validated before the first is published: an invalid one stores none of them.
        """
        objs = list(objs)
        self._check_payloads(objs)
        return [await self.publish(obj, **options) for obj in objs]

    def _check_payloads(self, objs: Iterable[BaseModel | Mapping[str, Any]]) -> None:
        """Raise the error `publish` would raise for the first invalid object, before anything is stored."""
        for obj in objs:
            to_payload(self.registry, obj)

    async def get_by_type(self, model: type[M], *, correlation_id: str | None = None) -> list[M]:
        """Payloads of `model`'s registered type as `model` instances (optionally in one workflow)."""
        return await self.store.get_by_type(
            model, correlation_id=correlation_id, type_name=self.registry.name_of(model)
        )

    async def start(self) -> ResumeReport:
        """Resume from the store (pending work, partial gates, joins, batches, timers); idempotent.

        Called automatically by the first `publish`, `invoke` or run; call it yourself to see the
        `ResumeReport` (what changed in the declarations since the store was last used) before running.
        """
        return await self._core.start()

    # -- running -------------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Whether `run_until_idle()` would find nothing to do now (always `False` on a shared store)."""
        return self._core.idle()

    async def run_until_idle(self, timeout: float | None = None) -> None:
        """Run until no activation is queued or running and no delayed artifact or bounded timer is pending.

        Unbounded timers fire while the loop runs but do not keep it alive, unless a `timeout` is given:
        then they keep firing until it passes and the run ends there (Flock's behaviour). Partial batches
        are flushed (unless `flush_on_idle=False`). See docs/patterns.md.

        Raises:
            RunTimeoutError: `timeout` seconds passed with work unfinished; running activations finish
                first and queued work stays pending for the next run.
        """
        started = self.clock.now()
        await self._core.run_until_idle(timeout)
        await report_results(self.store, started, self.show_results)

    async def run_until(self, condition: Condition, timeout: float | None = None, *, cancel_rest: bool = True) -> bool:
        """Run until `condition` holds, then cancel the rest of its workflow (see docs/control.md).

        Timers and join/batch windows keep the loop alive. Returns `False` when the board went idle with
        nothing scheduled and the condition still false (it cannot become true without new input), or
        when `timeout` seconds passed first (as in Flock). When the run stops (met, idle or timed out),
        the workflows the condition names (its `correlation_id`s; if it names none, every workflow with
        unfinished work) are cancelled like `cancel()` does, so nothing of them continues in a later run.
        `cancel_rest=False` keeps them: their queued work then runs in the next run.
        """
        started = self.clock.now()
        met = await self._core.run_until(condition, timeout, cancel_rest)
        await report_results(self.store, started, self.show_results)
        return met

    async def cancel(self, correlation_id: str, *, reason: str = "cancelled") -> int:
        """Cancel a workflow: drop its queued work, stop its running activations, mark it cancelled.

        Durable and board-wide: the store marks the workflow and its unfinished work items cancelled,
        work routed into it later never runs, and an activation finishing afterwards stores nothing. Here
        running activations are cancelled at once (a model call in flight is cancelled); other workers
        stop theirs at their next lease renewal. `get_correlation_status` then reports `cancelled` with
        the reason. Returns how many queued or running work items were cancelled (0 when none was).
        """
        return await self._core.cancel(correlation_id, reason)

    def spending_within(self, correlation_id: str, gate: CallGate | None) -> AbstractContextManager[None]:
        """While open, hold workflow `correlation_id`'s model calls to `gate`'s budgets too (`None`: nothing).

        `.runs(inner)` passes the outer activation's gate: docs/nested-workflows.md, "Budgets".
        """
        return self._core.budgets.within(correlation_id, gate)

    @asynccontextmanager
    async def traced_run(self, name: str = "workflow") -> AsyncGenerator[Span]:
        """Group everything done inside the block in one trace, under a span called `name` (Flock's API).

        `async with flock.traced_run("pizza"): await flock.publish(...); await flock.run_until_idle()`.
        Records nothing unless a tracer provider is configured (see docs/observability.md).
        """
        with self._core.workflow_span(name) as span:
            yield span

    def conversation(self, conversation_id: str) -> Conversation:
        """The conversation `conversation_id`: `turn = await flock.conversation("c-42").send(Message(...))`.

        A conversation is one workflow whose correlation id is `conversation_id`; it lives in the store, so
        it continues after a restart (or a crash) with its history. Agents declared `.with_history()` see
        its earlier turns; the others see only the current turn. See docs/conversations.md.
        """
        from .orchestration._conversation import Conversation  # loads with the first conversation

        return Conversation(self._core, conversation_id)

    async def run_worker(self, *, agents: Iterable[str] | None = None, concurrency: int | None = None) -> None:
        """Work on a shared board until cancelled: route when this process leads, claim and run work.

        For `flock worker` processes on a shared store (PostgreSQL). `agents` limits which agents' work
        this process claims (default: all declared agents); `concurrency` how many activations it runs at
        once (default: the Flock's `max_concurrency`).
        """
        await self._core.run_worker(frozenset(agents) if agents is not None else None, concurrency)

    async def drain(self) -> None:
        """Stop claiming work from a shared board, and return once no activation is queued or running here.

        For a graceful shutdown of `run_worker()`: drain, then cancel the worker (`flock worker` does this on
        SIGINT/SIGTERM). Returns at once when nothing runs.
        """
        await self._core.drain()

    async def pause(self, correlation_id: str | None = None) -> None:
        """Pause one workflow, or (without a correlation id) every workflow on the board, until `resume`.

        Durable and board-wide: no worker starts the paused work; activations already running finish, and
        the work they route waits too. `run_until_idle()` returns when only paused work is left, and
        `get_correlation_status` reports `paused`. A whole-board pause and single pauses are independent:
        `resume()` lifts the first, `resume(correlation_id)` one of the others.
        """
        await self._core.pause(correlation_id, True)

    async def resume(self, correlation_id: str | None = None) -> None:
        """Lift `pause(correlation_id)` (without one: the whole-board pause); the waiting work runs next run."""
        await self._core.pause(correlation_id, False)

    async def approvals(
        self, approver: AgentIdentity | str | None = None, *, correlation_id: str | None = None
    ) -> list[ApprovalRequest]:
        """Outputs held for approval, oldest first; with `approver`, only the requests it may decide.

        An approver may decide a request when it is one of the request's approvers and may see every
        held output. Without `approver` (trusted code), every pending request.
        """
        return await self._core.approvals(approver, correlation_id)

    async def approve(self, approval_id: str, *, by: AgentIdentity | str, reason: str | None = None) -> list[Artifact]:
        """Approve held outputs as `by`: they are published exactly as held and routed to their consumers.

        Returns the published artifacts; `ApprovalError` if there is no pending request with this id that
        `by` may decide. Run the Flock (`run_until_idle()`) to process what they start.
        """
        return list(await self._core.decide(approval_id, "approved", by, reason))

    async def reject(self, approval_id: str, *, by: AgentIdentity | str, reason: str | None = None) -> Artifact:
        """Reject held outputs as `by`: they are never published, and nothing downstream runs.

        An `ApprovalRejected` record (who, why, the activation's inputs as lineage) is published instead
        and returned; `ApprovalError` if there is no pending request with this id that `by` may decide.
        """
        return (await self._core.decide(approval_id, "rejected", by, reason))[0]

    async def dead_letters(
        self, *, agent: str | None = None, correlation_id: str | None = None, visible_to: AgentIdentity | None = None
    ) -> list[DeadLetter]:
        """Work that failed for good, oldest first, with its error (optionally of one agent or workflow).

        An activation becomes a dead letter when its agent's retry policy gives up (see `AgentBuilder.retry`
        and docs/control.md) or when it crashed its process `max_attempts` times. Dead letters are kept in
        the store (durable on SQLite and PostgreSQL) until they are replayed. With `visible_to`, only those
        whose inputs that identity may all see now (what the HTTP API lists for a caller).
        """
        letters = self._core.dead_letters
        return await letters.list(
            agent=agent, correlation_id=correlation_id, visible_to=visible_to, now=self.clock.now()
        )

    async def replay(self, key: str) -> bool:
        """Put one dead letter back in the queue, its attempts reset; it runs in the next run (or on any worker).

        Returns whether `key` was a dead letter. Replay after fixing the cause.
        """
        return await self._core.dead_letters.replay(key)

    async def replay_all(self, *, agent: str | None = None, correlation_id: str | None = None) -> int:
        """Replay every dead letter (optionally of one agent or workflow); returns how many were queued again."""
        letters = await self._core.dead_letters.list(agent=agent, correlation_id=correlation_id)
        return await self._core.dead_letters.replay_all(letters)

    async def requeue(self, key: str) -> bool:
        """Another name for `replay(key)`."""
        return await self.replay(key)

    async def invoke(
        self, agent: str | AgentBuilder, obj: BaseModel | Mapping[str, Any], *, publish_outputs: bool = True
    ) -> list[Artifact]:
        """Run one agent directly on `obj` and return its output artifacts.

        Errors are raised to the caller (`InputTypeError` when the agent does not consume `obj`'s type).
        With `publish_outputs`, the input and the outputs are stored
        (with lineage) and the outputs are routed to subscribers; call `run_until_idle()` to process them.
        """
        return await self._core.invoke(agent if isinstance(agent, str) else agent.name, obj, publish_outputs)

    async def arun(self, *objs: BaseModel | Mapping[str, Any], timeout: float | None = None) -> RunResult:
        """Publish `objs` (one workflow), run until idle, and return every artifact of that workflow.

        Every object is validated before the first is published: an invalid one stores none of them.
        """
        self._check_payloads(objs)
        correlation_id = str(new_id())
        for obj in objs:
            await self.publish(obj, correlation_id=correlation_id)
        await self.run_until_idle(timeout=timeout)
        page = await self.store.query(ArtifactQuery(correlation_id=correlation_id))
        return RunResult(page.items, self.registry)

    def run(self, *objs: BaseModel | Mapping[str, Any], timeout: float | None = None) -> RunResult:
        """Synchronous `arun`, for scripts; inside an event loop (Jupyter, async code) await `arun` instead.

        Raises:
            EventLoopError: called from inside a running event loop.
        """
        return run_blocking("run", "arun", lambda: self.arun(*objs, timeout=timeout))

    # -- status and lifecycle ------------------------------------------------------------------------

    async def get_correlation_status(
        self, correlation_id: str, *, visible_to: AgentIdentity | None = None
    ) -> CorrelationStatus:
        """Where one workflow stands: state, counts, pending work and token usage so far.

        With `visible_to`, the status as that identity may see it: counts include only the artifacts and the
        work it may see, and a workflow it sees nothing of looks like one that does not exist (docs/security.md).
        """
        return await self._core.status(correlation_id, visible_to)

    async def shutdown(self) -> None:
        """End open workflow spans, run every component's `on_terminate` hook, close MCP sessions and the store."""
        await self._core.shutdown()

    # -- integrations --------------------------------------------------------------------------------

    def add_mcp(
        self,
        name: str,
        spec: McpServerSpec | None = None,
        *,
        connection_params: StdioServerParameters | StreamableHttpServerParameters | None = None,
        enable_tools_feature: bool = True,
        tool_whitelist: Iterable[str] | None = None,
    ) -> None:
        """Register an MCP server; agents use it via `with_mcps`.

        Give `McpServerSpec.stdio(...)`/`.http(...)`, or Flock's keyword form
        `add_mcp(name=..., enable_tools_feature=True, connection_params=StdioServerParameters(...))`.
        """
        from .mcp import McpToolbox, server_spec  # the MCP client loads only when a server is added

        resolved = server_spec(
            spec, connection_params, enable_tools_feature=enable_tools_feature, tool_whitelist=tool_whitelist
        )
        if self._mcp is None:
            self._mcp = McpToolbox()
            self._core.use_tools(self._mcp)
        self._mcp.add(name, resolved)

    def app(
        self, *, auth: Auth = None, dashboard: bool = True, max_body_bytes: int = 1_000_000, mcp: bool = False
    ) -> Starlette:
        """The ASGI app serving this Flock's HTTP API (and dashboard; with `mcp`, an MCP server at `/mcp`)."""
        from .serve import create_app  # Starlette loads only when serving

        return create_app(self, auth=auth, dashboard=dashboard, max_body_bytes=max_body_bytes, mcp=mcp)

    @overload
    def serve(
        self,
        *,
        host: str = ...,
        port: int = ...,
        dashboard: bool = ...,
        blocking: Literal[True] = ...,
        auth: Auth = ...,
        max_body_bytes: int = ...,
        mcp: bool = ...,
        max_connections: int = ...,
        allowed_hosts: Collection[str] | None = ...,
        insecure: bool = ...,
    ) -> Awaitable[None]: ...
    @overload
    def serve(
        self,
        *,
        host: str = ...,
        port: int = ...,
        dashboard: bool = ...,
        blocking: Literal[False],
        auth: Auth = ...,
        max_body_bytes: int = ...,
        mcp: bool = ...,
        max_connections: int = ...,
        allowed_hosts: Collection[str] | None = ...,
        insecure: bool = ...,
    ) -> Coroutine[Any, Any, ServerHandle]: ...
    def serve(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8344,
        dashboard: bool = True,
        blocking: bool = True,
        auth: Auth = None,
        max_body_bytes: int = 1_000_000,
        mcp: bool = False,
        max_connections: int = 1000,
        allowed_hosts: Collection[str] | None = None,
        insecure: bool = False,
    ) -> Coroutine[Any, Any, ServerHandle] | Awaitable[None]:
        """Serve the HTTP API, event stream and dashboard (needs `pip install flockboard[serve]`).

        `blocking=True` runs until interrupted and keeps processing work; inside a running event loop,
        `await flock.serve()` does so until the awaiting task is cancelled. `handle = await
        flock.serve(blocking=False)` serves in the background of the running event loop, across your own
        `run_until_idle()` calls, until `await handle.stop()` (or `handle.cancel()`). `mcp=True` also serves
        the Flock as an MCP server at `/mcp`. `max_connections`, `allowed_hosts` and `insecure` are
        `flock_core.serve.serve`'s hardening options. See docs/serving.md and docs/security.md.
        """
        from .serve import serve  # Starlette and uvicorn load only when serving

        options: dict[str, Any] = {
            "dashboard": dashboard,
            "auth": auth,
            "max_body_bytes": max_body_bytes,
            "mcp": mcp,
            "max_connections": max_connections,
            "allowed_hosts": allowed_hosts,
            "insecure": insecure,
        }
        if blocking:
            return serve(self, host=host, port=port, blocking=True, **options)
        return serve(self, host=host, port=port, blocking=False, **options)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()
