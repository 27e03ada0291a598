"""Deterministic, schema-valid synthetic values: what the offline model answers with.

`synthesize` walks a JSON schema (as Pydantic generates it) and builds a value that satisfies it:
string lengths and formats, numeric bounds and `multipleOf`, enums and `const`, nested objects and
`$ref`s, array lengths, optional values (the non-null branch is chosen). Strings are visibly synthetic:
`"synthetic text 1 for title (3f9a)"`, where the tag comes from the seed. Regular-expression `pattern`
constraints are not solved.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

__all__ = ["synthesize"]

_MAX_DEPTH = 6
_DEFAULT_ITEMS = 2
_NUMBER_SPAN = 100
_FORMATS = {
    "date": "2025-01-01",
    "time": "12:00:00",
    "duration": "PT1H",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
Schema = Mapping[str, Any]


def synthesize(schema: Schema, *, seed: int, label: str, count: tuple[int, int] | None = None) -> Any:
    """A value valid for `schema`, the same for the same arguments.

    Args:
        schema: a JSON schema, with its `$defs` at the root.
        seed: makes choices (numbers, enum members) and the string tag reproducible.
        label: the field name, used in synthetic strings.
        count: for a top-level array, how many items to produce (`(low, high)`, one is chosen).

    >>> synthesize({"type": "object", "properties": {"title": {"type": "string"}}}, seed=0x3F9A, label="report")
    {'title': 'synthetic text 1 for report.title (3f9a)'}
    >>> synthesize({"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 3}}, seed=1, label="n",
    ...            count=(3, 3))
    [3, 1, 2]
    """
    return _Synthesizer(schema, seed).value(schema, label, 0, count)


class _Synthesizer:
    def __init__(self, root: Schema, seed: int) -> None:
        self._defs = cast(Mapping[str, Schema], root.get("$defs", {}))
        self._rng = random.Random(seed)
        self._tag = f"{seed & 0xFFFF:04x}"
        self._strings = 0

    def value(self, schema: Schema, path: str, depth: int, count: tuple[int, int] | None = None) -> Any:
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self._rng.choice(cast(Sequence[Any], schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.value(self._branch(cast(Sequence[Schema], schema[key])), path, depth, count)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in cast(list[str], kind) if k != "null"), "null")
        if "properties" in schema:
            kind = "object"
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth, count)
        return self._scalar(schema, path, kind)

    def _scalar(self, schema: Schema, path: str, kind: object) -> Any:
        if kind in ("integer", "number"):
            return self._number(schema, integer=kind == "integer")
        if kind == "boolean":
            return self._rng.random() < 0.5
        return None if kind == "null" else self._string(schema, path)

    def _resolve(self, schema: Schema) -> Schema:
        while "$ref" in schema:
            schema = self._defs[str(schema["$ref"]).rsplit("/", 1)[-1]]
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in cast(Sequence[Schema], schema["allOf"]):
                merged.update(self._resolve(part))
            merged.update({k: v for k, v in schema.items() if k != "allOf"})
            return merged
        return schema

    def _branch(self, branches: Sequence[Schema]) -> Schema:
        real = [b for b in branches if self._resolve(b).get("type") != "null"]
        return real[0] if real else {"type": "null"}

    def _object(self, schema: Schema, path: str, depth: int) -> dict[str, Any]:
        properties = cast(Mapping[str, Schema], schema.get("properties", {}))
        required = set(cast(Sequence[str], schema.get("required", ())))
        result: dict[str, Any] = {}
        for name, sub in properties.items():
            if depth >= _MAX_DEPTH and name not in required:
                continue
            result[name] = self.value(sub, f"{path}.{name}", depth + 1)
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, Mapping) and depth < _MAX_DEPTH:
            result["key_1"] = self.value(cast(Schema, extra), f"{path}.key_1", depth + 1)
        return result

    def _array(self, schema: Schema, path: str, depth: int, count: tuple[int, int] | None) -> list[Any]:
        prefix = cast(Sequence[Schema], schema.get("prefixItems", ()))
        if prefix:
            return [self.value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(prefix)]
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(low, _DEFAULT_ITEMS)))
        if count is not None:
            size = self._rng.randint(count[0], count[1])
        elif depth >= _MAX_DEPTH:
            size = low
        else:
            size = min(max(low, _DEFAULT_ITEMS), high)
        items = cast(Schema, schema.get("items", {}))
        return [self.value(items, f"{path}[{i}]", depth + 1) for i in range(size)]

    def _number(self, schema: Schema, *, integer: bool) -> int | float:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        low = float(low) if low is not None else (float(high) - _NUMBER_SPAN if high is not None else 0.0)
        high = float(high) if high is not None else low + _NUMBER_SPAN
        step = float(schema.get("multipleOf", 1 if integer else 0.01))
        first = math.floor(low / step) + (1 if "exclusiveMinimum" in schema or low / step % 1 else 0)
        last = math.ceil(high / step) - (1 if "exclusiveMaximum" in schema or high / step % 1 else 0)
        value = self._rng.randint(first, max(first, last)) * step
        return int(value) if integer else round(value, 10)

    def _string(self, schema: Schema, path: str) -> str:
        self._strings += 1
        n = self._strings
        fmt = schema.get("format")
        if fmt == "date-time":
            text = f"2025-01-01T00:00:{n % 60:02d}Z"
        elif fmt == "email":
            text = f"synthetic{n}@example.com"
        elif fmt in ("uri", "url", "uri-reference", "iri"):
            text = f"https://example.com/synthetic/{n}"
        elif fmt == "uuid":
            text = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        elif fmt in _FORMATS:
            text = _FORMATS[str(fmt)]
        else:
            text = f"synthetic text {n} for {path} ({self._tag})"
        return _fit(text, n, int(schema.get("minLength", 0)), schema.get("maxLength"))


def _fit(text: str, n: int, low: int, high: object) -> str:
    """`text` padded to `low` characters, or shortened (still saying "synthetic" when it can) to `high`."""
    if len(text) < low:
        text = f"{text} {'x' * low}"[:low]
    if isinstance(high, int) and len(text) > high:
        shorter = [f"synthetic {n}", f"synth {n}", "synthetic"]
        text = next((s for s in shorter if low <= len(s) <= high), text[:high])
    return text
