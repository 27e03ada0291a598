"""DSPy's chat adapter with the part of the prompt that depends only on the signature built once.

`ChatAdapter.format_system_message` describes the signature's fields, their structure (with each output
type's JSON schema) and the instructions: the same text on every call of an agent, yet DSPy rebuilds it
(JSON schemas included) for each call. Here it is made once per signature and reused; what is sent is
unchanged, byte for byte (tests compare the requests with DSPy's own adapter's).
"""

from __future__ import annotations

import weakref
from typing import Any

import dspy

__all__ = ["CachedChatAdapter"]


class CachedChatAdapter(dspy.ChatAdapter):
    """`dspy.ChatAdapter` that formats each signature's system message once (per native tool calling)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._system_messages: weakref.WeakKeyDictionary[type[dspy.Signature], dict[bool, str]] = (
            weakref.WeakKeyDictionary()
        )

    def format_system_message(self, signature: type[dspy.Signature]) -> str:
        """The system message of `signature`: formatted the first time, then reused."""
        native = bool(getattr(self, "use_native_function_calling", False))
        by_mode = self._system_messages.setdefault(signature, {})
        message = by_mode.get(native)
        if message is None:
            message = by_mode[native] = super().format_system_message(signature)
        return message

    def __copy__(self) -> CachedChatAdapter:  # a copy (the native tool loop makes one) shares no cache
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._system_messages = weakref.WeakKeyDictionary()
        return clone
