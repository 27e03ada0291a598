"""The fake model's answers: a DSPy ChatAdapter reply for whatever output fields a request asks for.

Both frameworks' DSPy engines describe the outputs in the system message, one numbered line per field:

    Your output fields are:
    1. `ideas` (list[Idea]): A list of exactly 20 Idea artifacts.

`requested_fields` reads those lines (field name, type, whether it is a list and how many items the
description asks for) and `chat_reply` answers with one `[[ ## field ## ]]` section per field, holding
JSON built from `_payloads.sample`, then `[[ ## completed ## ]]`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ._payloads import MODELS, sample

__all__ = ["RequestedField", "chat_reply", "requested_fields"]

_SECTION = re.compile(r"Your output fields are:\n(?P<lines>.*?)\n(?:All interactions|\S[^\n]*will be structured)", re.S)
_FIELD = re.compile(r"^\d+\. `(?P<name>\w+)` \((?P<type>[^)]*)\)(?::\s*(?P<desc>.*))?$")
_LIST = re.compile(r"^(?:list|List)\[(?P<item>.+)\]$")
_COUNT = re.compile(r"\bexactly (?P<n>\d+)\b|\b(?P<low>\d+)\s*(?:-|to)\s*\d+\b")
_BY_NAME: dict[str, type[BaseModel]] = {model.__name__: model for model in MODELS}


@dataclass(frozen=True, slots=True)
class RequestedField:
    """One output field a request asks for: its name, payload model, and item count when it is a list."""

    name: str
    model: type[BaseModel]
    count: int | None


def requested_fields(system: str) -> list[RequestedField]:
    """The output fields described in a ChatAdapter system message.

    >>> requested_fields("Your output fields are:\\n1. `ideas` (list[Idea]): Exactly 2 ideas.\\nAll interactions")
    [RequestedField(name='ideas', model=<class 'benchmarks._payloads.Idea'>, count=2)]

    Raises:
        ValueError: the message has no output-field section, or names a type the benchmarks do not define.
    """
    section = _SECTION.search(system)
    if section is None:
        raise ValueError("no 'Your output fields are:' section in the system message")
    fields: list[RequestedField] = []
    for line in section["lines"].splitlines():
        match = _FIELD.match(line.strip())
        if match is None:
            continue
        type_label, description = match["type"].strip(), (match["desc"] or "").lower()
        item = _LIST.match(type_label)
        fields.append(
            RequestedField(
                name=match["name"],
                model=_model_named(item["item"] if item else type_label),
                count=_count_in(description) if item else None,
            )
        )
    if not fields:
        raise ValueError("the output-field section lists no field")
    return fields


def chat_reply(system: str, *, seed: int = 0) -> str:
    """A ChatAdapter reply that fills every field `system` asks for (items numbered from `seed`).

    >>> print(chat_reply("Your output fields are:\\n1. `review` (Review): The review.\\nAll interactions"))
    [[ ## review ## ]]
    {"verdict": "Draft 0 reads well", "stars": 1}
    <BLANKLINE>
    [[ ## completed ## ]]
    """
    sections: list[str] = []
    for field in requested_fields(system):
        value: Any
        if field.count is None:
            value = sample(field.model, seed).model_dump(mode="json")
        else:
            value = [sample(field.model, seed + i).model_dump(mode="json") for i in range(field.count)]
        sections.append(f"[[ ## {field.name} ## ]]\n{json.dumps(value)}")
    return "\n\n".join([*sections, "[[ ## completed ## ]]"])


def _model_named(label: str) -> type[BaseModel]:
    name = label.strip().rsplit(".", 1)[-1]
    if name not in _BY_NAME:
        raise ValueError(f"the fake model has no sample for type {label!r}")
    return _BY_NAME[name]


def _count_in(description: str) -> int:
    """How many items a list field's description asks for (`exactly 20`, or the low end of `2-4`); 1 if unsaid."""
    match = _COUNT.search(description)
    if match is None:
        return 1
    return int(match["n"] or match["low"])
