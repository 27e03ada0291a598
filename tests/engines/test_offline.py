from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import dspy
import pytest
from dspy.adapters.baml_adapter import BAMLAdapter
from dspy.lm15 import Message, Request
from pydantic import BaseModel, Field

from engines import DSPyEngine
from engines._offline import OfflineLM, offline_reply
from engines._recorder import CallRecorder, FormattedCall
from flock_core import AgentSpec, EvaluationRequest, FanOut, OutputGroup, Subscription

RequestFactory = Callable[..., EvaluationRequest]


class Question(BaseModel):
    text: str


class Finding(BaseModel):
    claim: str = Field(max_length=80)
    confidence: float = Field(ge=0, le=1)


SIGNATURE = dspy.make_signature(
    {
        "question": (Question, dspy.InputField()),
        "findings": (list[Finding], dspy.OutputField(desc="A list of exactly 3 Finding artifacts.")),
        "verdict": (str, dspy.OutputField()),
    },
    "Investigate.",
)
ADAPTERS: dict[str, dspy.Adapter] = {
    "chat": dspy.ChatAdapter(),
    "json": dspy.JSONAdapter(),
    "xml": dspy.XMLAdapter(),
    "baml": BAMLAdapter(),
}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_the_reply_parses_with_the_adapter_that_formatted_the_prompt(name: str) -> None:
    adapter = ADAPTERS[name]
    reply = offline_reply(FormattedCall(adapter, SIGNATURE), prompt="the prompt")
    parsed: dict[str, Any] = adapter.parse(SIGNATURE, reply)
    assert [type(f) for f in parsed["findings"]] == [Finding] * 3
    assert parsed["verdict"].startswith("synthetic text")


def test_the_reply_is_in_the_adapters_own_format() -> None:
    chat = offline_reply(FormattedCall(ADAPTERS["chat"], SIGNATURE), prompt="p")
    assert chat.startswith("[[ ## findings ## ]]\n[{")
    assert chat.endswith("[[ ## completed ## ]]\n")
    assert set(json.loads(offline_reply(FormattedCall(ADAPTERS["json"], SIGNATURE), prompt="p"))) == {
        "findings",
        "verdict",
    }
    assert "<verdict>\nsynthetic text 1 for verdict" in offline_reply(
        FormattedCall(ADAPTERS["xml"], SIGNATURE), prompt="p"
    )


def test_between_counts_stay_in_range() -> None:
    signature = dspy.make_signature({"items": (list[Finding], dspy.OutputField(desc="between 2 and 4 items"))}, "x")
    sizes = {
        len(json.loads(offline_reply(FormattedCall(ADAPTERS["json"], signature), prompt=str(n)))["items"])
        for n in range(30)
    }
    assert sizes == {2, 3, 4}


def test_same_prompt_same_reply() -> None:
    call = FormattedCall(ADAPTERS["chat"], SIGNATURE)
    assert offline_reply(call, prompt="a") == offline_reply(call, prompt="a")
    assert offline_reply(call, prompt="a") != offline_reply(call, prompt="b")


def test_usage_is_estimated_from_the_prompt_and_the_reply() -> None:
    lm = OfflineLM()
    recorder = CallRecorder()
    recorder.last = FormattedCall(ADAPTERS["chat"], SIGNATURE)
    request = Request(model="offline", system="You investigate.", messages=(Message.user("Is it true?"),))
    with dspy.context(callbacks=[recorder]):
        engine: Any = lm.engine
        response = engine.complete(request)
    prompt = "You investigate.\n\nIs it true?"
    assert response.usage.input_tokens == math.ceil(len(prompt) / 4)
    assert response.usage.output_tokens == math.ceil(len(response.text or "") / 4)
    assert response.model == "offline"


def test_outside_an_engine_it_refuses_with_an_explanation() -> None:
    with pytest.raises(dspy.LMError, match=r"engines\.DSPyEngine"):
        dspy.Predict(SIGNATURE)(question=Question(text="?"), lm=OfflineLM())


@pytest.mark.anyio
async def test_offline_runs_never_call_tools(request_for: RequestFactory) -> None:
    calls: list[str] = []

    def search(query: str) -> str:
        """Search the web."""
        calls.append(query)
        return "nothing"

    spec = AgentSpec(
        "investigator",
        "Investigate the question.",
        subscriptions=(Subscription(("Question",), (Question,)),),
        output_groups=(OutputGroup(("Finding",), (Finding,), FanOut(2)),),
        tools=(search,),
    )
    result = await DSPyEngine("offline").evaluate(request_for(spec, Question(text="why?")))
    assert len(result.outputs) == 2
    assert calls == []
    assert result.usage.calls == 2  # one tool-loop step (finish) and the extraction
