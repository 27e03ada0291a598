"""`/api/v1/dead-letters`: each caller lists and replays only dead letters whose inputs it may see."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel

from flock_core import ArtifactQuery, EvaluationRequest, Flock
from flock_core.serve import create_app
from flock_core.serve._schemas import DeadLetterList, ReplayResult
from flock_core.testing import FunctionEngine

from .conftest import KEYS, Answer, Question, client_for, key

pytestmark = pytest.mark.anyio


class Outage:
    """An engine that fails with a programming error until `fixed`."""

    def __init__(self) -> None:
        self.fixed = False

    def __call__(self, request: EvaluationRequest) -> list[BaseModel]:
        question = request.payloads[0]
        assert isinstance(question, Question)
        if not self.fixed:
            raise ValueError(f"cannot parse {question.text!r}")
        return [Answer(text=question.text.upper())]


@pytest.fixture
def outage() -> Outage:
    return Outage()


@pytest.fixture
def failing(outage: Outage) -> Flock:
    flock = Flock(engine=FunctionEngine(outage))
    flock.register_type(Question)
    flock.register_type(Answer)
    for tenant in ("acme", "globex"):  # each tenant's questions are answered by its own agent
        flock.agent(f"answerer-{tenant}").tenant(tenant).consumes(Question).publishes(Answer)
    return flock


@pytest.fixture
async def http(failing: Flock) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(failing, auth=KEYS)) as client:
        yield client


async def publish_and_fail(http: httpx.AsyncClient, flock: Flock) -> dict[str, str]:
    """Alice (tenant acme) and Bob (tenant globex) each publish a question that fails; their work keys."""
    owners: dict[str, str] = {}
    for caller, text in (("alice", "acme secret"), ("bob", "globex secret")):
        response = await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": text}},
                                   headers=key(caller))  # fmt: skip
        assert response.status_code == 201
        owners[response.json()["id"]] = caller
    await flock.run_until_idle()
    return {owners[str(d.input_ids[0])]: d.key for d in await flock.dead_letters()}


async def test_a_caller_lists_only_dead_letters_whose_inputs_it_may_see(
    http: httpx.AsyncClient, failing: Flock
) -> None:
    keys = await publish_and_fail(http, failing)

    listed = {}
    for caller in ("alice", "bob"):
        response = await http.get("/api/v1/dead-letters", headers=key(caller))
        assert response.status_code == 200
        listed[caller] = DeadLetterList.model_validate(response.json()).items
    assert [d.key for d in listed["alice"]] == [keys["alice"]]
    assert [d.key for d in listed["bob"]] == [keys["bob"]]
    assert listed["alice"][0].error == "cannot parse 'acme secret'"
    assert (listed["alice"][0].agent, listed["alice"][0].attempts) == ("answerer-acme", 1)
    [error] = [
        a
        for a in (await failing.store.query(ArtifactQuery(types=frozenset({"WorkflowError"})))).items
        if a.payload["agent"] == "answerer-acme"
    ]
    assert listed["alice"][0].failed_at == error.created_at.isoformat()  # when it failed: its WorkflowError
    assert (await http.get("/api/v1/dead-letters")).status_code == 401
    response = await http.get("/api/v1/dead-letters", params={"agent": "nobody"}, headers=key("alice"))
    assert response.json() == {"items": []}


async def test_a_caller_cannot_replay_a_dead_letter_it_may_not_see(
    http: httpx.AsyncClient, failing: Flock, outage: Outage
) -> None:
    keys = await publish_and_fail(http, failing)
    outage.fixed = True

    stolen = await http.post(f"/api/v1/dead-letters/{keys['alice']}/replay", headers=key("bob"))
    assert (stolen.status_code, stolen.json()["error"]["code"]) == (404, "not_found")
    missing = await http.post("/api/v1/dead-letters/answerer-acme:nothing/replay", headers=key("bob"))
    assert missing.status_code == 404

    everything = await http.post("/api/v1/dead-letters/replay", headers=key("bob"))  # only bob's
    assert ReplayResult.model_validate(everything.json()).replayed == 1
    await failing.run_until_idle()
    assert [d.key for d in await failing.dead_letters()] == [keys["alice"]]
    assert await failing.get_by_type(Answer) == [Answer(text="GLOBEX SECRET")]

    own = await http.post(f"/api/v1/dead-letters/{keys['alice']}/replay", headers=key("alice"))
    assert (own.status_code, own.json()) == (200, {"replayed": 1})
    again = await http.post(f"/api/v1/dead-letters/{keys['alice']}/replay", headers=key("alice"))
    assert again.status_code == 404  # queued now, no longer a dead letter
    await failing.run_until_idle()
    assert await failing.dead_letters() == []
