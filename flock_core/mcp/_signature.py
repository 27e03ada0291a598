"""Python signatures from MCP tools' JSON input schemas (pure functions: no I/O)."""

from __future__ import annotations

import functools
import inspect
import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

__all__ = ["Argument", "annotation_of", "arguments_of", "python_name", "resolve_ref"]

_SIMPLE: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}
_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Argument:
    """One tool argument: its Python name, its name on the wire, its annotation and its default."""

    name: str
    wire_name: str
    annotation: Any
    default: Any
    description: str | None

    def parameter(self) -> inspect.Parameter:
        """The keyword-only parameter of the generated function."""
        return inspect.Parameter(
            self.name, inspect.Parameter.KEYWORD_ONLY, default=self.default, annotation=self.annotation
        )


def python_name(name: str, taken: set[str]) -> str:
    """A valid, unused Python identifier for a JSON property name.

    >>> python_name("from", set()), python_name("max-items", set()), python_name("2d", set())
    ('from_', 'max_items', '_2d')
    """
    candidate = re.sub(r"\W", "_", name) or "_"
    if candidate[0].isdigit():
        candidate = "_" + candidate
    if keyword.iskeyword(candidate):
        candidate += "_"
    while candidate in taken:
        candidate += "_"
    taken.add(candidate)
    return candidate


def resolve_ref(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """`schema`, or what its local `$ref` (`#/...`) points to in `root`."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: object = root
    for part in ref[2:].split("/"):
        node = cast(Mapping[str, object], node).get(part) if isinstance(node, Mapping) else None
    return cast(Mapping[str, Any], node) if isinstance(node, Mapping) else {}


def _or(left: Any, right: Any) -> Any:
    return left | right


def _union(options: list[Any]) -> Any:
    """`A | B | ...` of the distinct options (a `types.UnionType` where Python makes one)."""
    return functools.reduce(_or, dict.fromkeys(options))


def _choice(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any | None:
    """The annotation of an `enum`, `const`, `anyOf`, `oneOf` or multi-type schema, else `None`."""
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return Literal[tuple(cast(list[Any], enum))]  # pyright: ignore[reportInvalidTypeForm]
    if "const" in schema:
        return Literal[schema["const"]]  # pyright: ignore[reportInvalidTypeForm]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            return _union([annotation_of(o, root, depth + 1) for o in cast(list[Mapping[str, Any]], options)])
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return _union([annotation_of({**schema, "type": k}, root, depth + 1) for k in cast(list[str], kinds)])
    return None


def annotation_of(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None, depth: int = 0) -> Any:
    """The Python type of a JSON schema (objects as `dict[str, Any]`, unknown shapes as `Any`).

    >>> annotation_of({"type": ["string", "null"]})
    str | None
    >>> annotation_of({"type": "array", "items": {"enum": ["a", "b"]}})
    list[typing.Literal['a', 'b']]
    """
    root = schema if root is None else root
    schema = resolve_ref(schema, root)
    if depth > _MAX_DEPTH:
        return Any
    choice = _choice(schema, root, depth)
    if choice is not None:
        return choice
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        item = annotation_of(cast(Mapping[str, Any], items), root, depth + 1) if isinstance(items, Mapping) else Any
        return list[item]  # pyright: ignore[reportInvalidTypeArguments]
    if kind == "object":
        return dict[str, Any]
    return _SIMPLE.get(kind, Any) if isinstance(kind, str) else Any


def arguments_of(input_schema: Mapping[str, Any]) -> list[Argument]:
    """The arguments of a tool, in the schema's order; optional ones default to the schema's default or `None`."""
    properties = input_schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    required = set(cast(list[str], input_schema.get("required") or []))
    taken: set[str] = set()
    arguments: list[Argument] = []
    for wire_name, raw in cast(Mapping[str, object], properties).items():
        schema: Mapping[str, Any] = cast(Mapping[str, Any], raw) if isinstance(raw, Mapping) else {}
        annotation = annotation_of(schema, input_schema)
        if wire_name in required:
            default: Any = inspect.Parameter.empty
        else:
            default = schema.get("default")
            if default is None and annotation is not Any:
                annotation = annotation | None
        description = schema.get("description")
        arguments.append(
            Argument(
                python_name(wire_name, taken),
                wire_name,
                annotation,
                default,
                description if isinstance(description, str) else None,
            )
        )
    return arguments
