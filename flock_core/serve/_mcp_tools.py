"""The tools a Flock offers as an MCP server: publish, query, status, runs and approvals, for one caller.

Every tool acts as the caller's identity, with the same rules as the HTTP API (they share the helpers of
`_artifact_routes`): a payload is validated against its registered type, a caller publishes only what it
could itself see, and every read returns only what the caller may see. Arguments are validated by Pydantic
models whose JSON schemas are the tools' input schemas, so what a client is told and what is checked agree.
This module does not import `mcp`; `_mcp_server` puts these tools on the wire.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..blackboard._artifacts import WorkflowError
from ..blackboard._store import ArtifactQuery
from ..blackboard._visibility import AgentIdentity
from ..exceptions import ApprovalError, PayloadValidationError
from ._agent_routes import invoke_agent
from ._artifact_routes import (
    MAX_PAGE,
    default_visibility,
    may_join,
    may_publish,
    producer_of,
    refuse_framework_type,
    resolve_payload,
)
from ._http import ApiError, validation_details
from ._state import ServeState
from ._views import approval_view, artifact_view, status_view

__all__ = ["MCP_TOOLS", "McpToolDef", "call_tool", "tool_schema"]


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublishArguments(_Arguments):
    """Publish one artifact of a registered type."""

    type: str = Field(description="A registered type name (see the list_types tool).")
    payload: dict[str, Any] = Field(description="The payload, validated against the type's JSON schema.")
    correlation_id: str | None = Field(default=None, max_length=200, description="Join this workflow.")
    tags: list[str] = Field(default_factory=list[str], max_length=100, description="Tags of the artifact.")


class QueryArguments(_Arguments):
    """Find artifacts the caller may see, oldest first."""

    types: list[str] | None = Field(default=None, description="Only these type names.")
    correlation_id: str | None = Field(default=None, description="Only this workflow.")
    produced_by: list[str] | None = Field(default=None, description="Only artifacts produced by these agents.")
    tags: list[str] | None = Field(default=None, description="Only artifacts with all of these tags.")
    offset: int = Field(default=0, ge=0, description="Matches to skip.")
    limit: int = Field(default=20, ge=1, le=MAX_PAGE, description="Page size.")


class StatusArguments(_Arguments):
    """Where one workflow stands."""

    correlation_id: str = Field(min_length=1, max_length=200, description="The workflow's correlation id.")


class RunArguments(_Arguments):
    """Run one agent directly on a payload and return the outputs the caller may see (nothing is stored)."""

    agent: str = Field(description="The agent's name.")
    type: str = Field(description="The registered type of the input.")
    payload: dict[str, Any] = Field(description="The input payload.")


class ListTypesArguments(_Arguments):
    """The registered artifact types with their JSON schemas."""


class ListApprovalsArguments(_Arguments):
    """Outputs held for approval that the caller may decide (it is an approver and may see them)."""

    correlation_id: str | None = Field(default=None, description="Only this workflow.")


class DecideApprovalArguments(_Arguments):
    """Approve (publish) or reject held outputs, as the caller."""

    approval_id: str = Field(min_length=1, max_length=200, description="The request (see list_approvals).")
    outcome: Literal["approved", "rejected"] = Field(description="The decision.")
    reason: str | None = Field(default=None, max_length=2000, description="Why; recorded with the decision.")


_Handler = Callable[[ServeState, AgentIdentity, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class McpToolDef:
    """One tool: its name, its arguments' model (description and input schema) and its handler."""

    name: str
    arguments: type[_Arguments]
    handler: _Handler
    read_only: bool


async def _publish(state: ServeState, identity: AgentIdentity, args: PublishArguments) -> dict[str, Any]:
    refuse_framework_type(state, args.type)
    payload = resolve_payload(state, args.type, args.payload)
    visibility = default_visibility(identity)
    if not may_publish(visibility, identity, state.flock.clock.now()):
        raise ApiError(403, "forbidden_visibility", "a caller may only publish artifacts it could itself see")
    if args.correlation_id is not None and not await may_join(state, identity, args.correlation_id):
        raise ApiError(404, "unknown_correlation", f"no workflow {args.correlation_id!r} that this caller can see")
    try:
        artifact = await state.flock.publish(
            {"type": args.type, "payload": payload},
            visibility=visibility,
            correlation_id=args.correlation_id,
            tags=args.tags,
            produced_by=producer_of(identity),
        )
    except PayloadValidationError as exc:
        raise ApiError(422, "invalid_payload", str(exc)) from None
    state.worker.wake()
    return artifact_view(artifact)


async def _query(state: ServeState, identity: AgentIdentity, args: QueryArguments) -> dict[str, Any]:
    query = ArtifactQuery(
        types=frozenset(args.types) if args.types else None,
        produced_by=frozenset(args.produced_by) if args.produced_by else None,
        correlation_id=args.correlation_id,
        tags=frozenset(args.tags) if args.tags else None,
        offset=args.offset,
        limit=args.limit,
        visible_to=identity,
        now=state.flock.clock.now(),
    )
    page = await state.flock.store.query(query)
    items = [artifact_view(a) for a in page.items]
    return {"items": items, "total": page.total, "offset": page.offset, "next_offset": page.next_offset}


async def _status(state: ServeState, identity: AgentIdentity, args: StatusArguments) -> dict[str, Any]:
    flock = state.flock
    seen = ArtifactQuery(correlation_id=args.correlation_id, visible_to=identity, now=flock.clock.now())
    page = await flock.store.query(seen)
    if not page.total:
        raise ApiError(404, "not_found", f"no workflow {args.correlation_id!r}")
    error_type = flock.registry.name_of(WorkflowError)
    errors = sum(1 for a in page.items if a.type == error_type)
    status = await flock.get_correlation_status(args.correlation_id)
    return status_view(status, artifact_count=page.total, error_count=errors)


async def _run(state: ServeState, identity: AgentIdentity, args: RunArguments) -> dict[str, Any]:
    if args.agent not in state.flock.agents:
        raise ApiError(404, "not_found", f"no agent {args.agent!r}")
    payload = resolve_payload(state, args.type, args.payload)
    outputs = await invoke_agent(state, args.agent, args.type, payload, publish_outputs=False)
    visible = [artifact_view(a) for a in outputs if state.can_see(a, identity)]
    return {"agent": args.agent, "outputs": visible}


async def _types(state: ServeState, identity: AgentIdentity, args: ListTypesArguments) -> dict[str, Any]:
    registry = state.flock.registry
    return {"types": [{"name": n, "schema": registry.resolve(n).model_json_schema()} for n in registry]}


async def _approvals(state: ServeState, identity: AgentIdentity, args: ListApprovalsArguments) -> dict[str, Any]:
    requests = await state.flock.approvals(identity, correlation_id=args.correlation_id)
    return {"approvals": [approval_view(r) for r in requests]}


async def _decide(state: ServeState, identity: AgentIdentity, args: DecideApprovalArguments) -> dict[str, Any]:
    try:
        if args.outcome == "approved":
            published = await state.flock.approve(args.approval_id, by=identity, reason=args.reason)
        else:
            published = [await state.flock.reject(args.approval_id, by=identity, reason=args.reason)]
    except ApprovalError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    state.worker.wake()
    visible = [artifact_view(a) for a in published if state.can_see(a, identity)]
    return {"approval_id": args.approval_id, "outcome": args.outcome, "by": str(identity), "published": visible}


MCP_TOOLS: tuple[McpToolDef, ...] = (
    McpToolDef("publish_artifact", PublishArguments, _publish, read_only=False),
    McpToolDef("query_artifacts", QueryArguments, _query, read_only=True),
    McpToolDef("get_workflow_status", StatusArguments, _status, read_only=True),
    McpToolDef("run_agent", RunArguments, _run, read_only=False),
    McpToolDef("list_types", ListTypesArguments, _types, read_only=True),
    McpToolDef("list_approvals", ListApprovalsArguments, _approvals, read_only=True),
    McpToolDef("decide_approval", DecideApprovalArguments, _decide, read_only=False),
)
"""The tools of a Flock's MCP server, in the order they are listed."""


def tool_schema(state: ServeState, tool: McpToolDef) -> dict[str, Any]:
    """The input schema of `tool`, with the registered type names and agent names as enums."""
    schema = tool.arguments.model_json_schema()
    schema.pop("title", None)
    schema.pop("description", None)
    properties: dict[str, Any] = schema.get("properties", {})
    type_names = sorted(state.flock.registry)
    if "type" in properties and type_names:
        properties["type"]["enum"] = type_names
    if "agent" in properties and state.flock.agents:
        properties["agent"]["enum"] = sorted(state.flock.agents)
    return schema


async def call_tool(
    state: ServeState, identity: AgentIdentity, name: str, arguments: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Run tool `name` as `identity`; `ApiError` (with the HTTP API's codes) when it cannot."""
    tool = next((t for t in MCP_TOOLS if t.name == name), None)
    if tool is None:
        raise ApiError(404, "unknown_tool", f"no tool {name!r}; the tools are {[t.name for t in MCP_TOOLS]}")
    try:
        parsed = tool.arguments.model_validate(dict(arguments or {}))
    except ValidationError as exc:
        raise ApiError(422, "invalid_arguments", f"invalid arguments for {name}", validation_details(exc)) from None
    return await tool.handler(state, identity, parsed)
