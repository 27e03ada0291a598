from __future__ import annotations

from typing import Any

import dspy
import pytest
from dspy.utils.callback import BaseCallback

from engines._lm import make_lm
from engines._program import _usage, make_program, run_program
from engines._settings import LMSettings
from engines._tool_loop import ToolLoop
from engines._tools import as_tools
from flock_core import Usage
from flock_core.exceptions import ConfigurationError
from flock_core.testing import FakeOpenAIServer

SIGNATURE = dspy.make_signature("question -> answer", "Answer.")


def lookup(key: str) -> str:
    """Look a key up."""
    return key.upper()


async def fetch(url: str) -> str:
    """Fetch a page."""
    return url


def test_programs_by_name() -> None:
    assert type(make_program("predict", SIGNATURE, (), max_tool_calls=3)) is dspy.Predict
    assert type(make_program("chain_of_thought", SIGNATURE, (), max_tool_calls=3)) is dspy.ChainOfThought
    loop = make_program("react", SIGNATURE, (), max_tool_calls=3)
    assert isinstance(loop, ToolLoop)
    assert loop.max_iters == 3


def test_tools_switch_any_program_to_the_tool_loop() -> None:
    loop = make_program("predict", SIGNATURE, (lookup, fetch), max_tool_calls=4)
    assert isinstance(loop, ToolLoop)
    assert sorted(loop.tools) == ["fetch", "finish", "lookup"]


def test_tool_names_must_be_unique() -> None:
    with pytest.raises(ConfigurationError, match="'lookup'"):
        as_tools([lookup, dspy.Tool(fetch, name="lookup")])


@pytest.mark.anyio
async def test_blocking_tools_run_in_a_worker_thread_and_user_tools_are_not_changed() -> None:
    mine = dspy.Tool(lookup)
    [wrapped, async_tool] = as_tools([mine, fetch])
    assert mine.func is lookup
    assert wrapped.func is not lookup
    assert await wrapped.acall(key="abc") == "ABC"
    assert await async_tool.acall(url="u") == "u"
    assert wrapped.args == {"key": {"type": "string"}}


def test_usage_sums_every_model() -> None:
    totals: dict[str, dict[str, Any]] = {
        "openai/a": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        "openai/b": {"prompt_tokens": 5, "completion_tokens": None},
    }
    assert _usage(totals, calls=2) == Usage(input_tokens=15, output_tokens=3, calls=2)


@pytest.mark.anyio
async def test_a_run_leaves_no_global_dspy_state_behind() -> None:
    from dspy.clients.base_lm import GLOBAL_HISTORY

    from engines._offline import OfflineLM

    settings: Any = dspy.settings
    history, trace = len(GLOBAL_HISTORY), len(settings.trace)
    lm = OfflineLM()
    prediction, usage = await run_program(
        dspy.Predict(SIGNATURE), {"question": "why?"}, lm=lm, adapter=dspy.ChatAdapter()
    )
    assert str(prediction.answer).startswith("synthetic")
    assert usage.calls == 1
    assert usage.input_tokens > 0
    assert (len(GLOBAL_HISTORY), len(settings.trace), lm.history) == (history, trace, [])
    assert settings.lm is None
    assert settings.adapter is None
    assert settings.callbacks == []


@pytest.mark.anyio
async def test_a_run_counts_the_calls_of_a_relayed_lm_without_callbacks_in_dspy_settings() -> None:
    seen: list[list[object]] = []

    class Spy(BaseCallback):
        def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            settings: Any = dspy.settings
            seen.append(list(settings.callbacks))

    from dspy.clients.base_lm import GLOBAL_HISTORY

    history = len(GLOBAL_HISTORY)
    reply = "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]"
    with FakeOpenAIServer(replies=[reply]) as server:
        settings = LMSettings(
            num_retries=0, api_base=server.base_url, api_key="sk-fake", lm_kwargs={"callbacks": [Spy()]}
        )
        lm = make_lm("openai/gpt-4.1-mini", settings)
        prediction, usage = await run_program(
            dspy.Predict(SIGNATURE), {"question": "why?"}, lm=lm, adapter=dspy.ChatAdapter()
        )
    assert prediction.answer == "42"
    assert usage.calls == 1
    assert seen == [[]]  # DSPy's callback machinery ran around the LM call only
    assert (len(GLOBAL_HISTORY), lm.history) == (history, [])  # the LM records a response id, keeps no history


@pytest.mark.anyio
async def test_the_calls_of_another_lm_behind_a_users_adapter_count_too() -> None:
    extracted = "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]"
    with FakeOpenAIServer(replies=["It is 42."]) as main, FakeOpenAIServer(replies=[extracted]) as extraction:
        lm = make_lm("openai/gpt-4.1-mini", LMSettings(num_retries=0, api_base=main.base_url, api_key="sk-fake"))
        other = dspy.LM("openai/gpt-4.1-mini", api_base=extraction.base_url, api_key="sk-fake", num_retries=0)
        adapter = dspy.TwoStepAdapter(extraction_model=other)
        prediction, usage = await run_program(
            dspy.Predict(SIGNATURE), {"question": "why?"}, lm=lm, adapter=adapter, foreign_adapter=True
        )
    assert prediction.answer == "42"
    assert usage.calls == 2
