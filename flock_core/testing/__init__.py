"""Test doubles shipped with the framework: deterministic engines, capture, a fake model server, a network guard.

Nothing here changes global state at import time.

Sits on top: may import any part of `flock_core`; nothing in `flock_core` imports it.
"""

from .._clock import VirtualClock
from ._capture import CapturedArtifacts, capture
from ._engines import FunctionEngine, Script, ScriptedEngine
from ._fake_openai import ChatRequest, FakeOpenAIServer, Fault
from ._isolation import isolated_type_registry
from ._network import NetworkBlockedError, block_network
from ._tool_calls import ToolCall, ToolCallReply

__all__ = [
    "CapturedArtifacts",
    "ChatRequest",
    "FakeOpenAIServer",
    "Fault",
    "FunctionEngine",
    "NetworkBlockedError",
    "Script",
    "ScriptedEngine",
    "ToolCall",
    "ToolCallReply",
    "VirtualClock",
    "block_network",
    "capture",
    "isolated_type_registry",
]
