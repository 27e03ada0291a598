"""A customer-support router that learns: triage a ticket, route it to one of four desks, then optimize.

A `triage` agent labels each `Ticket` with a `Triage` category (ETA, missing item, driver, other); the
four desks subscribe to `Triage` with a `where=` filter on the category and all publish a `Reply`. The
script scores the workflow on a labelled dev set, optimizes it on a training set
(`bootstrap_random_search`: demos from the runs the metric passes, several demo subsets tried, the best
kept), scores it again, saves what it learned and loads it into a new Flock.

Offline (no FLOCK_MODEL), the model is a SIMULATED few-shot classifier, not an LLM: a deterministic
stand-in served by a local fake OpenAI-compatible server, which reads the real prompts DSPy builds. It
recognizes a category only by its literal keywords until a worked example (a demo) in its prompt shows
that label; then it uses its whole vocabulary for it. So the demos the optimizer picks change its
answers, as they change a real model's. Set FLOCK_MODEL (for example
`openai/gpt-4.1-mini`, with OPENAI_API_KEY) to run the same workflow and optimization on a real model.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
from pydantic import BaseModel, Field

from engines import (
    DSPyEngine,
    OptimizeOptions,
    WorkflowExample,
    WorkflowRun,
    aevaluate,
    aoptimize,
    load_learned,
    save_learned,
)
from flock_core import Flock, flock_type
from flock_core.testing import ChatRequest, FakeOpenAIServer

Category = Literal["eta", "missing_item", "driver", "other"]
DATA = Path(__file__).with_name("tickets.jsonl")


@flock_type(name="support.Ticket")
class Ticket(BaseModel):
    """A customer's message to support."""

    text: str


@flock_type(name="support.Triage")
class Triage(BaseModel):
    """Which desk handles a ticket."""

    category: Category = Field(
        description="eta: when an order arrives or why it is late; missing_item: something ordered is not "
        "in the delivery; driver: the courier's behaviour; other: anything else"
    )


@flock_type(name="support.Reply")
class Reply(BaseModel):
    """The answer sent to the customer."""

    text: str


DESKS: dict[Category, str] = {
    "eta": "Answer a question about when an order will arrive: apologize for any delay, give a realistic update.",
    "missing_item": "Handle an order with missing items: apologize and offer a refund or redelivery of them.",
    "driver": "Handle a complaint about a courier: apologize, say the report goes to the courier team.",
    "other": "Answer any other request (account, payments, app): help or point to the right place.",
}


def build_flock(flock: Flock) -> Flock:
    """Declare the router: triage, and one desk per category."""
    flock.agent("triage").description("Classify the customer's support ticket.").consumes(Ticket).publishes(Triage)
    for category, description in DESKS.items():
        flock.agent(f"{category}_desk").description(description).consumes(
            Triage, where=lambda triage, wanted=category: triage.category == wanted
        ).publishes(Reply)
    return flock


def load_examples() -> list[WorkflowExample[str]]:
    """The labelled tickets (16 per category, interleaved)."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [WorkflowExample(Ticket(text=row["text"]), row["category"]) for row in rows]


def routed_correctly(example: WorkflowExample[str], run: WorkflowRun) -> bool:
    """The metric: triage chose the labelled category and the desk replied."""
    triage = run.final(Triage)
    return triage is not None and triage.category == example.expected and run.final(Reply) is not None


# -- the simulated model (offline only) -------------------------------------------------------------
# What it "knows" about each category. Until a worked example in its prompt shows a label, it only
# recognizes that label by its literal keywords; a demo of the label unlocks its whole vocabulary.

_LITERAL: dict[str, set[str]] = {"eta": {"late", "when"}, "missing_item": {"missing"}, "driver": {"driver"}}
_VOCABULARY: dict[str, str] = {
    "eta": "late when long time wait waiting arrive schedule estimate update timing tracker still minutes",
    "missing_item": "missing forgot left only included not no half instead never bag receipt one got",
    "driver": "driver courier dasher rude tip threw ate yelled parked refused wrong neighbour unprofessional "
    "smoking mask ignored person guy",
}


def _stem(word: str) -> str:
    return next((word[: -len(end)] for end in ("ing", "ed", "es", "s") if word.endswith(end) and len(word) > 5), word)


def _words(text: str) -> set[str]:
    return {_stem(word) for word in re.findall(r"[a-z]+", text.lower())}


def _field(content: str, name: str) -> Any:
    header = f"[[ ## {name} ## ]]\n"
    start = content.find(header)
    return json.JSONDecoder().raw_decode(content, start + len(header))[0] if start >= 0 else None


def _classify(ticket: str, taught: set[str]) -> str:
    """The category with the most known words in the ticket; `other` when none or a tie."""
    words = _words(ticket)
    votes = {
        category: len(words & {_stem(w) for w in (_VOCABULARY[category].split() if category in taught else literal)})
        for category, literal in _LITERAL.items()
    }
    best = max(votes.values())
    leaders = [category for category, count in votes.items() if count == best]
    return leaders[0] if best > 0 and len(leaders) == 1 else "other"


def simulated_model(request: ChatRequest) -> str:
    """Answer a ChatAdapter prompt: classify a ticket (as the demos in the prompt taught), or write a reply."""
    messages = [str(message["content"]) for message in request.messages]
    if "[[ ## ticket ## ]]" in messages[0]:  # the triage agent's prompt (the desks get the ticket as context)
        taught = {_field(reply, "triage")["category"] for reply in messages[2:-1:2]}  # the demos' answers
        category = _classify(_field(messages[-1], "ticket")["text"], taught)
        return f'[[ ## triage ## ]]\n{{"category": "{category}"}}\n\n[[ ## completed ## ]]'
    context: list[dict[str, Any]] = _field(messages[-1], "context") or []
    ticket = next((str(item["payload"]["text"]) for item in context if item["type"] == "support.Ticket"), "")
    reply = {"text": f"Thanks for reaching out about: {ticket[:60]} We are on it."}
    return f"[[ ## reply ## ]]\n{json.dumps(reply)}\n\n[[ ## completed ## ]]"


@contextmanager
def model_engine() -> Generator[tuple[DSPyEngine, str]]:
    """An engine on FLOCK_MODEL, or on the simulated model behind a local fake server; and the model's name."""
    model = os.environ.get("FLOCK_MODEL")
    if model:
        yield DSPyEngine(model), model
        return
    with FakeOpenAIServer(simulated_model) as server:
        engine = DSPyEngine("openai/simulated", api_base=server.base_url, api_key="sk-simulated", num_retries=0)
        yield engine, "SIMULATED few-shot classifier (offline stand-in, not an LLM)"


async def main() -> None:
    examples = load_examples()
    trainset, devset = examples[:24], examples[24:]
    with model_engine() as (engine, model):
        flock = build_flock(Flock(engine=engine))
        print(f"model: {model}")
        before = await aevaluate(flock, devset, routed_correctly, concurrency=20)
        print(f"dev accuracy before optimization: {before.score:.0%} ({len(devset)} tickets)")
        options = OptimizeOptions(optimizer="bootstrap_random_search", max_demos=8, num_candidates=4, concurrency=24)
        result = await aoptimize(flock, trainset, routed_correctly, options)
        trials = ", ".join(f"{t.label} {t.score:.0%}" for t in result.trials if t.score is not None)
        print(f"optimization: {len(result.trials)} trials ({trials}); {result.usage.calls} model calls")
        after = await aevaluate(flock, devset, routed_correctly, concurrency=20)
        print(f"dev accuracy after optimization: {after.score:.0%}")
        demos = {f"{agent}/{group}": len(state.demos) for (agent, group), state in sorted(flock.learned.items())}
        print(f"learned demos: {demos}")
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "router.learned.json"
            save_learned(flock, path)
            fresh = build_flock(Flock(engine=engine))
            report = load_learned(fresh, path)
            again = await aevaluate(fresh, devset, routed_correctly, concurrency=20)
            print(f"saved, then loaded into a new Flock ({len(report.loaded)} groups): dev accuracy {again.score:.0%}")


if __name__ == "__main__":
    anyio.run(main)
