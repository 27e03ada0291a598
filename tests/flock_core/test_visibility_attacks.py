"""Visibility under attack: two tenants, private and labelled secrets, every read path probed by every caller.

Secrets are planted on the board; agents whose engine copies everything it reads (inputs and context) into
its output, or into the error it raises, derive new artifacts from them. Then each caller (anonymous, a
tenantless caller, each tenant's callers, a caller sharing a name with another tenant's caller) reads
through every path: the artifact list, single artifacts, correlation listings and status, lineage (Mermaid
and the HTML graph), agent runs, the event stream (over a real connection), every MCP tool (the official
client over streamable HTTP), and the context each agent received. A secret may appear only to callers
entitled to it. Traces, recorded with content capture on, are read by whoever runs the trace store, an
identity the board does not know: no secret may appear there at all.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel
from starlette.requests import Request

from flock_core import (
    AgentIdentity,
    ArtifactQuery,
    EvaluationRequest,
    Flock,
    LabelledVisibility,
    PrivateVisibility,
    PublicVisibility,
    RecentContext,
    TenantVisibility,
)
from flock_core.serve import ApiKeys, start_server
from flock_core.serve._auth import ANONYMOUS, presented_key
from flock_core.testing import FunctionEngine
from flock_core.tracing import lineage_graph

pytestmark = pytest.mark.anyio


class Note(BaseModel):
    text: str


class Digest(BaseModel):
    text: str


ALICE = AgentIdentity("alice", tenant="acme")
CAROL = AgentIdentity("carol", labels=frozenset({"clearance:high"}), tenant="acme")
BOB = AgentIdentity("bob", tenant="globex")
ALICE_AT_GLOBEX = AgentIdentity("alice", labels=frozenset({"clearance:high"}), tenant="globex")
MALLORY = AgentIdentity("mallory", labels=frozenset({"clearance:high"}))
CALLERS = {"alice": ALICE, "carol": CAROL, "bob": BOB, "alice-globex": ALICE_AT_GLOBEX, "mallory": MALLORY}
KEYS = ApiKeys({f"{name}-key": identity for name, identity in CALLERS.items()})

SECRETS = {
    "S-ACME": TenantVisibility(tenant_id="acme"),
    "S-ALICE": PrivateVisibility(agents=frozenset({"alice", "acme_reader"}), tenant="acme"),
    "S-HIGH": LabelledVisibility(required_labels=frozenset({"clearance:high"}), tenant="acme"),
    "S-GLOBEX": TenantVisibility(tenant_id="globex"),
    "S-AGENT": PrivateVisibility(agents=frozenset({"summarizer"})),
    "S-EXPLODE": TenantVisibility(tenant_id="acme"),  # the agent fails on it, quoting it in the error
}
ENTITLED = {
    "anonymous": set[str](),
    "mallory": set[str](),
    "alice": {"S-ACME", "S-ALICE", "S-EXPLODE"},
    "carol": {"S-ACME", "S-HIGH", "S-EXPLODE"},
    "bob": {"S-GLOBEX"},
    "alice-globex": {"S-GLOBEX"},
}


def copy_everything(request: EvaluationRequest) -> list[BaseModel]:
    """The worst engine for secrecy: its output (or its error) quotes every input and context artifact it read."""
    inputs = [json.dumps(p.model_dump()) for p in request.payloads]
    seen = inputs + [json.dumps(a.payload) for a in request.context]
    if any("explode" in text for text in inputs):
        raise RuntimeError(f"cannot digest {seen}")
    return [Digest(text=f"{request.agent.name} read: {' | '.join(seen)}")]


def make_flock(provider: TracerProvider, contexts: dict[str, list[str]]) -> Flock:
    def engine(request: EvaluationRequest) -> list[BaseModel]:
        contexts.setdefault(str(request.agent.identity), []).extend(json.dumps(a.payload) for a in request.context)
        return copy_everything(request)

    flock = Flock(engine=FunctionEngine(engine), tracer_provider=provider, trace_content=True)
    flock.register_type(Note)
    flock.register_type(Digest)
    flock.agent("summarizer").consumes(Note).publishes(Digest)
    flock.agent("acme_reader").tenant("acme").labels("clearance:high").consumes(Note).publishes(
        Digest,
        visibility=PublicVisibility(),  # asks for public: may only narrow what it read
    )
    flock.agent("globex_reader").tenant("globex").consumes(Note).publishes(Digest).with_context(RecentContext(100))
    return flock


def authenticate(request: Request) -> AgentIdentity | None:
    """API keys, and the anonymous identity for a caller that presents none."""
    return ANONYMOUS if presented_key(request) is None else KEYS(request)


def headers_of(caller: str) -> dict[str, str]:
    return {} if caller == "anonymous" else {"Authorization": f"Bearer {caller}-key"}


async def plant(flock: Flock) -> list[str]:
    """The secrets in two workflows per tenant, public notes beside them; returns the correlation ids."""
    for secret, visibility in SECRETS.items():
        text = f"explode {secret}" if secret == "S-EXPLODE" else f"the secret is {secret}"
        tenant = "globex" if "GLOBEX" in secret else "acme"
        await flock.publish(Note(text=text), visibility=visibility, correlation_id=f"{tenant}-wf")
    for cid in ("acme-wf", "globex-wf"):  # a public note that agents of every tenant pick up, secrets in context
        await flock.publish(Note(text="hello"), correlation_id=cid)
    # a public note that fails globex_reader, whose error quotes its (globex) context: every caller may see
    # the input, so every caller is told of the failure, but only globex callers may read its message
    await flock.publish(Note(text="explode in public"), correlation_id="globex-wf")
    return ["acme-wf", "globex-wf"]


async def read_everything(http: httpx.AsyncClient, caller: str, flock: Flock, cids: list[str]) -> str:
    """Everything `caller` can get from the HTTP API, as one text."""
    headers = headers_of(caller)
    texts: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = (await http.get("/api/v1/artifacts", params={"limit": 500, "offset": offset}, headers=headers)).json()
        texts.append(json.dumps(page))
        offset = page["next_offset"]
    every = (await flock.store.query(ArtifactQuery())).items
    for artifact in every:  # ids leak through lineage: a caller may know them all
        texts.append((await http.get(f"/api/v1/artifacts/{artifact.id}", headers=headers)).text)
    for cid in cids:
        texts.append((await http.get("/api/v1/artifacts", params={"correlation_id": cid}, headers=headers)).text)
        texts.append((await http.get(f"/api/v1/correlations/{cid}", headers=headers)).text)
    body = {"type": "Note", "payload": {"text": "what do you know?"}}
    for agent in ("summarizer", "acme_reader", "globex_reader"):
        texts.append((await http.post(f"/api/v1/agents/{agent}/run", json=body, headers=headers)).text)
    return "\n".join(texts)


async def read_over_mcp(url: str, caller: str, cids: list[str]) -> str:
    """Everything `caller` can get from every MCP tool, as one text."""
    texts: list[str] = []
    async with (
        create_mcp_http_client(headers=headers_of(caller)) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()

        async def call(tool: str, **arguments: Any) -> Any:
            result = await session.call_tool(tool, arguments)
            texts.append(json.dumps(result.structured_content))
            texts.extend(getattr(block, "text", "") for block in result.content)
            return result.structured_content

        offset: int | None = 0
        while offset is not None:
            offset = (await call("query_artifacts", offset=offset, limit=500))["next_offset"]
        for cid in cids:
            await call("query_artifacts", correlation_id=cid)
            await call("get_workflow_status", correlation_id=cid)
            await call("publish_artifact", type="Note", payload={"text": "tell me"}, correlation_id=cid)
        for agent in ("summarizer", "acme_reader", "globex_reader"):
            await call("run_agent", agent=agent, type="Note", payload={"text": "what do you know?"})
        await call("list_types")
    return "\n".join(texts)


@contextlib.asynccontextmanager
async def streams(url: str) -> AsyncGenerator[dict[str, list[str]]]:
    """Every caller's event stream over a real connection, collected until the server ends them."""
    received: dict[str, list[str]] = {caller: [] for caller in ENTITLED}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http, anyio.create_task_group() as group:
        for caller in ENTITLED:
            connected = anyio.Event()

            async def listen(caller: str = caller, connected: anyio.Event = connected) -> None:
                async with http.stream("GET", "/api/v1/events", headers=headers_of(caller)) as response:
                    async for line in response.aiter_lines():
                        connected.set()
                        received[caller].append(line)

            group.start_soon(listen)
            await connected.wait()
        yield received


async def test_no_secret_reaches_a_caller_or_agent_that_may_not_see_it() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    contexts: dict[str, list[str]] = {}
    flock = make_flock(provider, contexts)
    handle = await start_server(flock, port=0, auth=authenticate, mcp=True)
    try:
        async with streams(handle.url) as streamed:
            cids = await plant(flock)
            await flock.run_until_idle()
            async with httpx.AsyncClient(base_url=handle.url) as http:
                read = {caller: await read_everything(http, caller, flock, cids) for caller in ENTITLED}
            over_mcp = {caller: await read_over_mcp(handle.url, caller, cids) for caller in ENTITLED}
            await handle.stop()  # ends the streams
        lineage = dict.fromkeys(ENTITLED, "")
        for caller, cid in itertools.product(ENTITLED, cids):
            graph = await lineage_graph(flock.store, cid, visible_to=CALLERS.get(caller, ANONYMOUS))
            lineage[caller] += graph.to_mermaid() + graph.to_html()
    finally:
        await handle.stop()
    board = json.dumps([a.model_dump(mode="json") for a in (await flock.store.query(ArtifactQuery())).items])
    assert all(secret in board for secret in SECRETS), "the agents derived artifacts from every secret"
    assert "WorkflowError" in board
    for caller, entitled in ENTITLED.items():
        for path, text in {
            "http": read[caller],
            "mcp": over_mcp[caller],
            "stream": "\n".join(streamed[caller]),
            "lineage": lineage[caller],
        }.items():
            leaked = {s for s in SECRETS if s in text} - entitled
            assert not leaked, f"{caller} read {leaked} through {path}"
        if entitled:  # the probe itself works: entitled secrets do arrive
            assert entitled <= {s for s in SECRETS if s in read[caller]}, caller
            assert entitled <= {s for s in SECRETS if s in over_mcp[caller]}, caller
            assert any("artifact_published" in line for line in streamed[caller]), caller
        # every caller saw the public input fail globex_reader; its message quotes globex context
        failed = [line for line in streamed[caller] if "activation_failed" in line and "globex_reader" in line]
        assert failed, caller
        assert ("S-GLOBEX" in "".join(failed)) == ("S-GLOBEX" in entitled), caller
    agent_entitled = {"summarizer": {"S-AGENT"}, "acme_reader@acme": {"S-ACME", "S-ALICE", "S-HIGH", "S-EXPLODE"}}
    agent_entitled["globex_reader@globex"] = {"S-GLOBEX"}
    for agent, seen in contexts.items():
        leaked = {s for s in SECRETS if s in "".join(seen)} - agent_entitled[agent]
        assert not leaked, f"agent {agent} got {leaked} as context"
    spans = exporter.get_finished_spans()
    traced = "".join(
        s.name + str(s.status.description) + json.dumps(dict(s.attributes or {})) + str(s.events) for s in spans
    )
    assert "hello" in traced  # content capture is on: public payloads are recorded
    assert "withheld" in traced  # and failures are: without the messages that quote what was read
    assert [s for s in SECRETS if s in traced] == []


async def test_correlation_injection_yields_nothing() -> None:
    flock = make_flock(TracerProvider(), {})
    handle = await start_server(flock, port=0, auth=authenticate)
    try:
        await flock.publish(Note(text="the secret is S-ACME"), visibility=SECRETS["S-ACME"], correlation_id="acme-wf")
        await flock.run_until_idle()
        async with httpx.AsyncClient(base_url=handle.url) as http:
            bait = {"type": "Note", "payload": {"text": "summarise everything"}}
            for caller in ("anonymous", "mallory", "bob", "alice-globex"):
                joined = await http.post(
                    "/api/v1/artifacts", json={**bait, "correlation_id": "acme-wf"}, headers=headers_of(caller)
                )
                absent = await http.post(
                    "/api/v1/artifacts", json={**bait, "correlation_id": "no-such-wf"}, headers=headers_of(caller)
                )
                assert joined.status_code == absent.status_code == 404  # existence is not revealed
                assert joined.json()["error"]["code"] == absent.json()["error"]["code"] == "unknown_correlation"
            member = await http.post(
                "/api/v1/artifacts", json={**bait, "correlation_id": "acme-wf"}, headers=headers_of("alice")
            )
            assert member.status_code == 201
            assert member.json()["produced_by"] == "api:alice@acme"
    finally:
        await handle.stop()
    # Suppose the injection got through anyway (trusted code published a public note into the workflow):
    await flock.publish(Note(text="summarise everything"), correlation_id="acme-wf")
    await flock.run_until_idle()
    for identity in (ANONYMOUS, MALLORY, BOB, ALICE_AT_GLOBEX):
        visible = (await flock.store.query(ArtifactQuery(visible_to=identity))).items
        assert [a for a in visible if "S-ACME" in json.dumps(a.payload)] == [], identity
    derived = [a for a in (await flock.store.query(ArtifactQuery(produced_by=frozenset({"acme_reader"})))).items]
    assert derived
    assert all(a.visibility == TenantVisibility(tenant_id="acme") for a in derived)
