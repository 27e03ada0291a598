from __future__ import annotations

import dspy

from engines._recorder import CallRecorder, FormattedCall, LMRelay, watching


def test_records_the_innermost_format_call_and_counts_lm_calls() -> None:
    recorder = CallRecorder()
    adapter = dspy.JSONAdapter()
    signature = dspy.make_signature("question -> answer")
    with dspy.context(callbacks=[recorder]):
        assert CallRecorder.current() is recorder
        adapter.format(signature, [], {"question": "why?"})
    assert recorder.last == FormattedCall(adapter, signature)
    recorder.on_lm_start("id", object(), {})
    assert recorder.calls == 1


def test_no_recorder_outside_a_run() -> None:
    assert CallRecorder.current() is None


def test_the_relay_hands_lm_events_to_the_watchers_of_this_task_only() -> None:
    relay, recorder = LMRelay(), CallRecorder()
    relay.on_lm_start("before", object(), {})
    with watching(recorder):
        relay.on_lm_start("during", object(), {})
        relay.on_lm_end("during", None)
    relay.on_lm_start("after", object(), {})
    assert recorder.calls == 1
