"""A two-agent support workflow on a scripted model whose answers depend on what its prompt teaches it.

`triage` reads a `Ticket` and publishes a `Label`; `responder` reads the `Label` and publishes an
`Answer`. The right label is the ticket's topic in capitals (`"BILLING"`), the right answer starts with
it in brackets (`"[BILLING] ..."`). The scripted model (behind the local `FakeOpenAIServer`) gets the
format right only when its prompt shows it how: a demo (a worked example) or instructions that mention
the house format. Without either, it answers correctly only tickets marked `[easy]`. So optimization
has something to bootstrap from, and something to improve, for both agents.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from engines import DSPyEngine, WorkflowExample, WorkflowRun
from flock_core import Flock
from flock_core.testing import ChatRequest, FakeOpenAIServer

HOUSE_FORMAT = "Use the house format."
TOPICS = ("billing", "delivery", "account")


class Ticket(BaseModel):
    """A customer's message."""

    text: str


class Label(BaseModel):
    """The topic of a ticket."""

    name: str


class Answer(BaseModel):
    """The reply to the customer."""

    text: str


def _field(content: str, name: str) -> dict[str, str]:
    """The JSON object in the `[[ ## name ## ]]` section of a ChatAdapter prompt."""
    header = f"[[ ## {name} ## ]]\n"
    start = content.find(header)
    if start < 0:
        return {}
    value, _ = json.JSONDecoder().raw_decode(content, start + len(header))
    return value


def _topic(text: str) -> str:
    return next((t for t in TOPICS if t in text.lower()), "account")


def scripted_model(request: ChatRequest) -> str:
    """The scripted model: right with a demo or house-format instructions in the prompt, else only on `[easy]`."""
    messages = request.messages
    system, final = str(messages[0]["content"]), str(messages[-1]["content"])
    if "[[ ## instruction_proposal ## ]]" in system:
        proposal = json.dumps({"instructions": HOUSE_FORMAT})
        return f"[[ ## instruction_proposal ## ]]\n{proposal}\n\n[[ ## completed ## ]]"
    taught = len(messages) > 2 or HOUSE_FORMAT in system
    if "[[ ## label ## ]]" in system and "[[ ## answer ## ]]" not in system:
        ticket = _field(final, "ticket").get("text", "")
        right = taught or "[easy]" in ticket
        name = _topic(ticket).upper() if right else _topic(ticket)
        return f"[[ ## label ## ]]\n{json.dumps({'name': name})}\n\n[[ ## completed ## ]]"
    name = _field(final, "label").get("name", "")
    right = taught or "[easy]" in final  # the ticket reaches the responder as context
    text = f"[{name}] We are on it." if right else f"{name.lower()}: we are on it."
    return f"[[ ## answer ## ]]\n{json.dumps({'text': text})}\n\n[[ ## completed ## ]]"


def agent_of(request: ChatRequest) -> str:
    """Which agent (or the instruction proposer) sent a request to the scripted model."""
    system = str(request.messages[0]["content"])
    if "[[ ## instruction_proposal ## ]]" in system:
        return "proposer"
    return "responder" if "[[ ## answer ## ]]" in system else "triage"


def right_answer(example: WorkflowExample[str], run: WorkflowRun) -> bool:
    """The metric: the label is the topic in capitals and the answer starts with it in brackets."""
    label, answer = run.final(Label), run.final(Answer)
    if label is None or answer is None:
        return False
    return label.name == example.expected and answer.text.startswith(f"[{example.expected}]")


@dataclass
class Support:
    """The workflow, its scripted model server, and labelled examples."""

    server: FakeOpenAIServer
    build: Callable[[], Flock]
    trainset: list[WorkflowExample[str]]
    devset: list[WorkflowExample[str]]

    def proposer(self) -> DSPyEngine:
        """An engine on the scripted model, for instruction proposals and teleprompters."""
        return DSPyEngine("openai/scripted", api_base=self.server.base_url, api_key="sk-test", num_retries=0)


def example(text: str) -> WorkflowExample[str]:
    return WorkflowExample(Ticket(text=text), _topic(text).upper())


TRAIN = [
    "[easy] billing: I was charged twice this month",
    "where is my delivery? it is late",
    "[easy] my delivery never arrived",
    "I cannot log into my account",
    "the billing amount looks wrong",
    "[easy] please close my account",
]
DEV = [
    "refund the billing error please",
    "delivery driver left the box outside",
    "account password reset does not work",
    "[easy] billing question about my invoice",
]


@pytest.fixture
def support() -> Iterator[Support]:
    with FakeOpenAIServer(scripted_model) as server:

        def build() -> Flock:
            engine = DSPyEngine("openai/scripted", api_base=server.base_url, api_key="sk-test", num_retries=0)
            flock = Flock(engine=engine)
            for model in (Ticket, Label, Answer):
                flock.register_type(model)
            flock.agent("triage").description("Label the ticket with its topic.").consumes(Ticket).publishes(Label)
            flock.agent("responder").description("Reply to the customer.").consumes(Label).publishes(Answer)
            return flock

        yield Support(server, build, [example(t) for t in TRAIN], [example(t) for t in DEV])
