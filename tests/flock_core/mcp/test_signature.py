"""Python signatures from JSON input schemas (pure)."""

from __future__ import annotations

import inspect
from typing import Any, Literal

import pytest

from flock_core.mcp._signature import annotation_of, arguments_of, python_name


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, str),
        ({"type": "integer"}, int),
        ({"type": "number"}, float),
        ({"type": "boolean"}, bool),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, dict[str, Any]),
        ({"type": "array", "items": {"type": "string"}}, list[str]),
        ({"type": "array"}, list[Any]),
        ({"enum": ["a", "b"]}, Literal["a", "b"]),
        ({"const": 3}, Literal[3]),
        ({"type": ["string", "null"]}, str | None),
        ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, int | str),
        ({"oneOf": [{"type": "integer"}, {"type": "integer"}]}, int),
        ({}, Any),
        ({"type": "weird"}, Any),
    ],
)
def test_annotation_of(schema: dict[str, Any], expected: object) -> None:
    assert annotation_of(schema) == expected


def test_references_are_resolved_and_recursion_is_bounded() -> None:
    root = {
        "$defs": {"Color": {"enum": ["red", "blue"]}, "Node": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
        "properties": {"c": {"$ref": "#/$defs/Color"}},
    }
    assert annotation_of({"$ref": "#/$defs/Color"}, root) == Literal["red", "blue"]
    assert annotation_of({"$ref": "#/$defs/Missing"}, root) is Any
    assert "list[list[" in str(annotation_of({"$ref": "#/$defs/Node"}, root))


def test_python_names_are_valid_and_unique() -> None:
    taken: set[str] = set()
    names = [python_name(n, taken) for n in ["from", "max-items", "2d", "a", "a", "", "class"]]
    assert names == ["from_", "max_items", "_2d", "a", "a_", "_", "class_"]
    assert all(n.isidentifier() for n in names)


def test_arguments_of_a_tool_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "What to look for."},
            "from": {"type": "string", "format": "date"},
            "limit": {"type": "integer", "default": 10},
        },
        "required": ["query"],
    }
    arguments = arguments_of(schema)
    assert [(a.name, a.wire_name, a.annotation, a.default, a.description) for a in arguments] == [
        ("query", "query", str, inspect.Parameter.empty, "What to look for."),
        ("from_", "from", str | None, None, None),
        ("limit", "limit", int, 10, None),
    ]
    signature = inspect.Signature([a.parameter() for a in arguments])
    assert str(signature) == "(*, query: str, from_: str | None = None, limit: int = 10)"


def test_schemas_without_properties_have_no_arguments() -> None:
    assert arguments_of({"type": "object"}) == []
    assert arguments_of({"type": "object", "properties": {"x": "not a schema"}})[0].annotation is Any
