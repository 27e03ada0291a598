"""Route by meaning: support tickets go to the team whose description they are closest to.

Semantic subscriptions compare embeddings of each ticket with each team's query. Here the embeddings come
from `flock_core.testing.FakeOpenAIServer` (deterministic bag-of-words vectors on loopback) through the
real LiteLLM path; pass `LiteLLMEmbedder("openai/text-embedding-3-small")` or your own `Embedder` instead.
"""

from __future__ import annotations

import anyio
from pydantic import BaseModel

from engines import LiteLLMEmbedder
from flock_core import EvaluationRequest, Flock
from flock_core.testing import FakeOpenAIServer, FunctionEngine


class Ticket(BaseModel):
    text: str


class Assignment(BaseModel):
    team: str
    ticket: str


def assign(request: EvaluationRequest) -> list[BaseModel]:
    ticket = request.payloads[0]
    assert isinstance(ticket, Ticket)
    return [Assignment(team=request.agent.name, ticket=ticket.text)]


TEAMS = {
    "billing": "refund charge money invoice",
    "access": "login password account locked",
    "shipping": "delivery package shipping late",
}

TICKETS = [
    "I was charged twice, I want a refund of my money",
    "my account is locked after a wrong password",
    "the package delivery is two weeks late",
    "what a lovely day",
]


async def main() -> None:
    with FakeOpenAIServer() as server:
        embedder = LiteLLMEmbedder("openai/fake-embedding", api_base=server.base_url, api_key="not-needed")
        flock = Flock(engine=FunctionEngine(assign), embedder=embedder)
        flock.register_type(Ticket)
        flock.register_type(Assignment)
        for team, meaning in TEAMS.items():
            flock.agent(team).consumes(Ticket, semantic=meaning, threshold=0.3).publishes(Assignment)
        for text in TICKETS:
            await flock.publish(Ticket(text=text))
        await flock.run_until_idle()

    assigned = {a.ticket: a.team for a in await flock.store.get_by_type(Assignment)}
    for text in TICKETS:
        print(f"{assigned.get(text, 'unassigned'):>10} <- {text}")
    print(f"embedding requests: {len(server.embedding_requests)} (one per ticket, queries cached)")


if __name__ == "__main__":
    anyio.run(main)
