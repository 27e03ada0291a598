"""The simulated model as a reflection model: new instructions from failing examples, as rules.

GEPA-style optimizers show a reflection model an agent's current instructions and examples of its
work: the inputs, what it produced, feedback on the run and, where known, what a correct run
publishes (`expected_outputs`). Asked for new instructions (a string property named `instructions`),
the simulated model (`engines._simulated`) answers with `reflect`: the current instructions followed
by one rule per value it got wrong, in the form its classifier obeys:

    If the ticket mentions "courier", answer driver.

The phrase of a rule is the content word (`engines._simulated.content_words`, numbers left out) shared
by most of the failing examples that wanted that value, among the words of no shown example that wanted
another value (ties: alphabetical order). No such word: no rule. It is deterministic and sees only its prompt, so what
it proposes depends on which failures an optimizer shows it, as a real reflection model's proposals do.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

__all__ = ["reflect"]

_RULE_PHRASE = re.compile(r"""mentions? ["“']([^"”']+)["”']""", re.I)


def reflect(task: Mapping[str, Any], content_words: Callable[[str], frozenset[str]]) -> str | None:
    """New instructions for a reflection `task` (its `current_instructions` and `examples`), or `None` when
    the task is not a reflection task. `content_words` is the simulated model's word function.

    >>> from engines._simulated import content_words
    >>> example = {"inputs": [["Ticket", {"text": "rude courier"}]], "generated_outputs": [["Triage", {"c": "eta"}]],
    ...            "expected_outputs": [["Triage", {"c": "driver"}]]}
    >>> reflect({"current_instructions": "Classify.", "examples": [example]}, content_words)
    'Classify. If the ticket mentions "courier", answer driver.'
    """
    current, examples = task.get("current_instructions"), task.get("examples")
    if not isinstance(current, str) or not isinstance(examples, list):
        return None
    records = [
        _Record.parse(cast(Mapping[str, Any], item)) for item in cast(list[Any], examples) if isinstance(item, dict)
    ]
    taken = {phrase.lower() for phrase in _RULE_PHRASE.findall(current)}
    rules: list[str] = []
    for key, value in sorted({miss for record in records for miss in record.misses()}):
        wanted = [content_words(r.text) for r in records if (key, value) in r.misses()]
        others = set[str]().union(*(content_words(r.text) for r in records if r.wants(key, value) is False))
        counts = Counter(
            word for words in wanted for word in words if word not in others | taken and not _has_digit(word)
        )
        if counts:
            word = min(counts, key=lambda w: (-counts[w], w))
            taken.add(word)
            noun = next((r.noun for r in records if r.noun), "input")
            rules.append(f'If the {noun} mentions "{word}", answer {value}.')
    return " ".join([current.strip(), *rules]).strip()


class _Record:
    """One shown example: its input text, and per output key what it produced and what was expected."""

    def __init__(self, text: str, noun: str, produced: dict[str, Any], expected: dict[str, Any]) -> None:
        self.text, self.noun, self.produced, self.expected = text, noun, produced, expected

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> _Record:
        inputs = _pairs(item.get("inputs"))
        noun = inputs[0][0].rsplit(".", 1)[-1].lower() if inputs else ""
        text = " ".join(strings_in(payload) for _, payload in inputs)
        return cls(
            text, noun, _flat(_pairs(item.get("generated_outputs"))), _flat(_pairs(item.get("expected_outputs")))
        )

    def misses(self) -> set[tuple[str, str]]:
        """The `(key, expected value)` of every string output that differs from what was expected."""
        return {(k, v) for k, v in self.expected.items() if isinstance(v, str) and self.produced.get(k) != v}

    def wants(self, key: str, value: str) -> bool | None:
        """Whether this example expects `value` at `key` (`None`: it says nothing about `key`)."""
        return None if key not in self.expected else self.expected[key] == value


def _has_digit(word: str) -> bool:
    """Numbers name orders and people, not kinds of problems: no rule is made of them."""
    return any(char.isdigit() for char in word)


def _pairs(value: object) -> list[tuple[str, Any]]:
    """`[[type, payload], ...]` as pairs (anything else: none)."""
    if not isinstance(value, list):
        return []
    rows = [cast(Sequence[Any], row) for row in cast(list[Any], value) if isinstance(row, list | tuple)]
    return [(str(row[0]), row[1]) for row in rows if len(row) == 2]


def _flat(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """`type.key -> value` for the top-level properties of each payload."""
    flat: dict[str, Any] = {}
    for type_name, payload in pairs:
        if isinstance(payload, dict):
            for key, value in cast(dict[str, Any], payload).items():
                flat[f"{type_name}.{key}"] = value
    return flat


def strings_in(value: Any) -> str:
    """Every string inside `value` (nested dicts and lists), joined by spaces."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(strings_in(item) for item in cast(dict[str, Any], value).values())
    if isinstance(value, list):
        return " ".join(strings_in(item) for item in cast(list[Any], value))
    return ""
