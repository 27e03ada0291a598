"""Tools as the model sees them: full JSON schemas, arguments checked before the call, errors as one line.

`FlockTool` is a `dspy.Tool` whose argument schemas keep every limit (`minimum`, `maxLength`, enums, ...):
a function that declares `__tool_schema__` (the JSON schema of its keyword arguments, as MCP tools from
`flock_core.mcp` do) is described by it, any other function by its annotations. The same
schemas go to the model (as the `tools` of a native function call, or in the ReAct prompt) and check the
arguments before the call (DSPy validates each argument against its schema; missing and unknown arguments
are refused here). A failing tool, invalid arguments included, answers the model with one line,
`Error: <Type>: <message>`, with no traceback and no file paths; its `execute_tool` span records the error.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import anyio.to_thread
import dspy
from pydantic import TypeAdapter

from flock_core.exceptions import ConfigurationError

__all__ = ["FlockTool", "as_tools", "error_line"]

_PATH = re.compile(r"(?<![\w:/.])(?:[A-Za-z]:)?[/\\](?:[\w.-]+[/\\])+[\w.-]*")
_MAX_LINE = 500


def error_line(error: BaseException) -> str:
    """`Type: message` on one line, absolute file paths replaced by `<path>`, at most 500 characters.

    >>> error_line(FileNotFoundError(2, "No such file", "/home/me/secret/data.csv"))
    "FileNotFoundError: [Errno 2] No such file: '<path>'"
    >>> error_line(ValueError("bad\\n  value"))
    'ValueError: bad value'
    """
    text = _PATH.sub("<path>", " ".join(str(error).split()))
    if len(text) > _MAX_LINE:
        text = text[: _MAX_LINE - 1] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class ToolArgumentError(ValueError):
    """The model called a tool without a required argument, or with one the tool does not take."""


class FlockTool(dspy.Tool):
    """A `dspy.Tool` with the tool's own `required` list, strict arguments and one-line errors."""

    required_args: list[str] | None = None

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        desc: str | None = None,
        args: dict[str, Any] | None = None,
        arg_types: dict[str, Any] | None = None,
        arg_desc: dict[str, str] | None = None,
        required_args: list[str] | None = None,
    ) -> None:
        super().__init__(func, name=name, desc=desc, args=args, arg_types=arg_types, arg_desc=arg_desc)  # pyright: ignore[reportUnknownMemberType]
        self.required_args = required_args

    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the tool's arguments (the `parameters` of a function-calling request)."""
        args = dict(self.args or {})
        required = self.required_args
        if required is None:
            required = [name for name, schema in args.items() if "default" not in schema]
        schema: dict[str, Any] = {"type": "object", "properties": args, "required": required}
        if not self.has_kwargs:
            schema["additionalProperties"] = False
        return schema

    def format_as_litellm_function_call(self) -> dict[str, Any]:
        """The tool in the OpenAI `tools` format, with the full argument schema."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.desc, "parameters": self.parameters()},
        }

    def _check(self, arguments: Mapping[str, Any]) -> None:
        schema = self.parameters()
        missing = [name for name in schema["required"] if name not in arguments]
        if missing:
            raise ToolArgumentError(f"missing required argument(s) {missing}")
        unknown = sorted(set(arguments) - set(schema["properties"]))
        if unknown and not self.has_kwargs:
            raise ToolArgumentError(f"unknown argument(s) {unknown}; the arguments are {sorted(schema['properties'])}")

    async def acall(self, **kwargs: Any) -> Any:
        """Call the tool; any failure is returned to the model as `Error: <one line>` instead of raised."""
        try:
            self._check(kwargs)
            call = cast(Callable[..., Awaitable[Any]], super().acall)  # pyright: ignore[reportUnknownMemberType]
            return await call(**kwargs)
        except Exception as exc:  # noqa: BLE001 - a tool's failure is the model's to handle: it reads one line
            return f"Error: {error_line(exc)}"


def _declared_arguments(function: Callable[..., Any]) -> tuple[dict[str, Any], list[str]] | None:
    """The argument schemas and required names a function declares in `__tool_schema__` (MCP tools do)."""
    schema = getattr(function, "__tool_schema__", None)
    if not isinstance(schema, Mapping):
        return None
    declared = cast(Mapping[str, Any], schema)
    properties = cast(Mapping[str, Any], declared.get("properties") or {})
    args = {name: dict(cast(Mapping[str, Any], value)) for name, value in properties.items()}
    return args, list(cast(list[str], declared.get("required") or []))


def _annotated_limits(function: Callable[..., Any], inferred: Mapping[str, Any]) -> dict[str, Any]:
    """Schemas of the `Annotated[T, Field(...)]` arguments, limits kept (DSPy's inference drops the metadata)."""
    target = function if inspect.isfunction(function) or inspect.ismethod(function) else type(function).__call__
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except (NameError, TypeError):  # unresolvable annotations: keep DSPy's inference
        return {}
    schemas: dict[str, Any] = {}
    for name, hint in hints.items():
        if name in inferred and typing.get_origin(hint) is typing.Annotated:
            schema = TypeAdapter(hint).json_schema()
            if "$defs" not in schema and "$ref" not in schema:
                extra = {k: v for k, v in inferred[name].items() if k in ("default", "description")}
                schemas[name] = {**schema, **extra}
    return schemas


def _tool(function: Callable[..., Any]) -> FlockTool:
    if isinstance(function, dspy.Tool):  # a user's dspy.Tool is copied, never changed
        t = function
        func = cast(Callable[..., Any], t.func)  # pyright: ignore[reportUnknownMemberType]
        return FlockTool(func, name=t.name, desc=t.desc, args=t.args, arg_types=t.arg_types, arg_desc=t.arg_desc)
    declared = _declared_arguments(function)
    if declared is None:
        tool = FlockTool(function)
        tool.args = {**(tool.args or {}), **_annotated_limits(function, tool.args or {})}
        return tool
    return FlockTool(function, args=declared[0], required_args=declared[1])


def as_tools(functions: Sequence[Callable[..., Any]]) -> list[FlockTool]:
    """The tools of an agent and its engine; blocking functions run in worker threads. Names must be unique."""
    tools: dict[str, FlockTool] = {}
    for function in functions:
        tool = _tool(function)
        name = cast(str, tool.name)
        if name in tools:
            raise ConfigurationError(f"two tools are named {name!r}; tool names must be unique per agent")
        call = cast(Callable[..., Any], tool.func)  # pyright: ignore[reportUnknownMemberType]
        if not _is_async(call):
            tool.func = _in_worker_thread(call)
        tools[name] = tool
    return list(tools.values())


def _is_async(function: Callable[..., Any]) -> bool:
    call = getattr(function, "__call__", None)  # noqa: B004 - async callable objects count too
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


def _in_worker_thread(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run a blocking tool in a worker thread, so that other activations keep running meanwhile."""

    @functools.wraps(function)
    async def call(**kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(functools.partial(function, **kwargs))

    return call
