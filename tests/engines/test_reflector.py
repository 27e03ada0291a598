"""The simulated model as a reflection model: rules from the failing examples it is shown, the same in-process
and behind the fake OpenAI server."""

from __future__ import annotations

from typing import Any, Literal

import anyio
import pytest
from pydantic import BaseModel

from engines import DSPyEngine, ReflectionExample, simulated_responder
from engines._learning._reflection import reflect
from engines._reflector import reflect as reflect_rules
from engines._simulated import content_words
from flock_core import AgentSpec, OutputGroup, Subscription
from flock_core.testing import FakeOpenAIServer


def shown(text: str, produced: str, expected: str | None) -> dict[str, Any]:
    return {
        "inputs": [["support.Ticket", {"text": text}]],
        "generated_outputs": [["support.Triage", {"category": produced}]],
        "expected_outputs": None if expected is None else [["support.Triage", {"category": expected}]],
    }


def rules(*examples: dict[str, Any], current: str = "Classify.") -> str | None:
    return reflect_rules({"current_instructions": current, "examples": list(examples)}, content_words)


def test_a_rule_per_wrong_value_from_the_word_most_failures_share() -> None:
    """Words are stemmed as the model reads them: "fries" is "frie", which a ticket with "fries" contains."""
    assert rules(
        shown("the courier was rude", "other", "driver"),
        shown("a rude courier again", "other", "driver"),
        shown("my fries are missing", "eta", "missing_item"),
    ) == (
        'Classify. If the ticket mentions "courier", answer driver. If the ticket mentions "frie", answer missing_item.'
    )


def test_no_rule_from_words_of_examples_that_want_another_value_nor_from_numbers() -> None:
    assert (
        rules(
            shown("courier rude 4711", "other", "driver"),
            shown("courier late", "eta", "eta"),  # passed: "courier" also means eta here
        )
        == 'Classify. If the ticket mentions "rude", answer driver.'
    )


def test_without_expected_outputs_or_failures_the_instructions_stay() -> None:
    assert rules(shown("the courier was rude", "other", None)) == "Classify."
    assert rules(shown("the courier was rude", "driver", "driver")) == "Classify."
    assert reflect_rules({"text": "not a reflection task"}, content_words) is None


def test_a_phrase_already_in_a_rule_is_not_repeated() -> None:
    current = 'Classify. If the ticket mentions "courier", answer driver.'
    assert rules(shown("the courier was rude", "other", "driver"), current=current) == (
        current + ' If the ticket mentions "rude", answer driver.'
    )


class Ticket(BaseModel):
    text: str


class Triage(BaseModel):
    category: Literal["driver", "other"]


SPEC = AgentSpec(
    "triage",
    "Classify the ticket.",
    subscriptions=(Subscription(("support.Ticket",), (Ticket,)),),
    output_groups=(OutputGroup(("support.Triage",), (Triage,)),),
)


@pytest.mark.parametrize("through_server", [False, True])
def test_the_simulated_model_answers_a_reflection_call(through_server: bool) -> None:
    examples = [
        ReflectionExample.model_validate(shown("the courier was rude", "other", "driver") | {"feedback": "failed"})
    ]

    async def ask(engine: DSPyEngine) -> str | None:
        reply = await reflect(engine, SPEC, 0, current="Classify the ticket.", examples=examples, model=None)
        assert reply.usage.calls == 1
        return reply.instructions

    if through_server:
        with FakeOpenAIServer(simulated_responder) as server:
            engine = DSPyEngine("openai/simulated", api_base=server.base_url, api_key="sk-fake", num_retries=0)
            answer = anyio.run(ask, engine)
    else:
        answer = anyio.run(ask, DSPyEngine("simulated"))
    assert answer == 'Classify the ticket. If the ticket mentions "courier", answer driver.'
