"""Token streaming through DSPy: the model's reply, chunk by chunk, handed to an activation's `on_token`.

DSPy streams an LM call when `dspy.settings.send_stream` is set: the LM then asks the provider for a
server-sent-events stream (`"stream": true`) and awaits `send_stream.send(chunk)` with every chunk, an
OpenAI-style `chat.completion.chunk` (a LiteLLM `ModelResponseStream`, or DSPy's own `EngineChunk` on its
native backend). DSPy still assembles the whole completion from the chunks and the adapter parses that,
exactly as without streaming, so what the contract checks does not change.

`TokenSink` is such a `send_stream`: it takes the chunk's text and calls `on_token` synchronously, which
never waits for a consumer (the event bus hands the text to bounded queues). It is installed only when
the request has an `on_token`, that is, only while someone subscribed to tokens; otherwise the request
is not streamed at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["TokenSink", "chunk_text"]


def chunk_text(chunk: Any) -> str:
    """The content text of an OpenAI-style completion chunk (`choices[0].delta.content`), or `""`.

    >>> from types import SimpleNamespace as NS
    >>> chunk_text(NS(choices=[NS(delta=NS(content="Hel"))])), chunk_text(NS(choices=[]))
    ('Hel', '')
    """
    choices = getattr(chunk, "choices", None)
    if not choices:
        return ""
    content = getattr(getattr(choices[0], "delta", None), "content", None)
    return content if isinstance(content, str) else ""


class TokenSink:
    """A DSPy `send_stream` that passes the text of each streamed chunk to `on_token` (see the module docstring).

    >>> import anyio
    >>> from types import SimpleNamespace as NS
    >>> seen: list[str] = []
    >>> anyio.run(TokenSink(seen.append).send, NS(choices=[NS(delta=NS(content="Once"))]))
    >>> seen
    ['Once']
    """

    def __init__(self, on_token: Callable[[str], None]) -> None:
        self._on_token = on_token

    async def send(self, chunk: Any) -> None:
        """Hand the chunk's text (if any: tool-call and final chunks carry none) to `on_token`."""
        if text := chunk_text(chunk):
            self._on_token(text)
