"""The simulated model: an offline stand-in whose answers depend on what its prompt says, as a model's do.

`simulated_reply(system, turns)` answers a DSPy ChatAdapter prompt (the system message, then
user/assistant turns ending with the question). For every output field it builds a schema-valid value
(`engines._synthetic`, like the offline model); every string property with a closed set of values (a
JSON-schema `enum`, as a `Literal` generates) is *classified* from the prompt:

1. **Rules in the instructions.** A sentence `If the <anything> mentions "<phrase>", answer <value>.` in
   the instructions (the text after "your objective is:") decides when the question's text contains the
   phrase; the first matching rule wins.
2. **Similarity to the evidence.** Otherwise each value gets the similarity of the question's text to its
   best piece of evidence: every demo (a user/assistant pair before the question) whose answer has that
   value, and the value's own description (`value: text` in the field's description or the
   instructions). The value with the most similar evidence wins (ties: the one with more evidence in
   total, then schema order); with no similar evidence at all, the last value of the schema (where a
   catch-all such as `other` usually sits).

Asked for new `instructions` (a string property of that name) by a reflection task (current instructions
and examples with expected outputs, as GEPA-style optimizers show a reflection model), it writes rules
of the form above from the failing examples (`engines._reflector`).

Similarity is the cosine of the sets of content words: words lowercased, a few suffixes stripped, and the
words of a fixed list of English function words (`STOPWORDS`) left out. That list is the model's whole
vocabulary: it was written once, by hand, before and independently of any dataset, and holds no word
that names or hints at a label. Everything the model knows about the labels comes from its prompt: so a
correct demo helps on similar questions, a mislabelled one misleads on them, and an unrelated one (no
shared content word) changes nothing.

3. **Instruction proposals.** Asked by the learning proposer for an `instruction_proposal` (see
   `engines._learning._propose`), it writes the agent's current instructions followed by, for every
   closed-set output value its worked examples show, `value: words` with the words of those examples'
   inputs that most set that value apart from the others (how many words depends on the tip). So its
   proposals are as good as the examples they are grounded in: mislabelled examples give misleading ones.

It is deterministic and pure (text in, text out), so the same function serves in-process as the
`"simulated"` model of `DSPyEngine` and behind `FakeOpenAIServer` as a responder (`simulated_responder`),
where the prompt travels DSPy's and LiteLLM's real HTTP path: both give the same answers.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ._reflector import reflect, strings_in
from ._synthetic import synthesize

if TYPE_CHECKING:
    from flock_core.testing import ChatRequest

__all__ = ["STOPWORDS", "Turn", "content_words", "similarity", "simulated_reply", "simulated_responder"]

Turn = tuple[str, str]
"""(role, text) of one message after the system message."""

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "get",
        "got",
        "please",
        "hi",
        "hello",
        "thanks",
        "thank",
        "still",
        "even",
        "again",
        "yet",
        "one",
        "two",
    ]
)
_SECTION = re.compile(r"\[\[ ## (\w+) ## \]\]\n")
_SCHEMA = re.compile(
    r"\[\[ ## (\w+) ## \]\]\n\{\1\}\s+# note: the value you produce must adhere to the JSON schema: (.*)"
)
_OUTPUTS = re.compile(r"Your output fields are:\n((?:\d+\. `\w+`.*\n)+)")
_OUTPUT_NAME = re.compile(r"\d+\. `(\w+)`")
_OBJECTIVE = "your objective is:"
_RULE = re.compile(r"""if the \w+ mentions? ["“']([^"”']+)["”'],? (?:answer|choose|label it|say) ["'`]?(\w+)""", re.I)
_SUFFIXES = ("ing", "ed", "es", "s", "ly")
_PROPOSAL, _PROPOSAL_TASK = "instruction_proposal", "instruction_task"
_WORDS_PER_TIP = (3, 8, 5, 4, 6)


def content_words(text: str) -> frozenset[str]:
    """The content words of `text`: lowercased, suffixes stripped, function words left out.

    >>> sorted(content_words("The drivers were waiting outside my door"))
    ['door', 'driver', 'outside', 'wait']
    """
    words = (_stem(word) for word in re.findall(r"[a-z0-9]+", text.lower()) if word not in STOPWORDS)
    return frozenset(word for word in words if word not in STOPWORDS and len(word) > 1)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """The cosine similarity of two word sets (0.0 when either is empty).

    >>> similarity(frozenset({"late", "order"}), frozenset({"late", "pizza"}))
    0.5
    """
    return len(a & b) / math.sqrt(len(a) * len(b)) if a and b else 0.0


def simulated_reply(system: str, turns: Sequence[Turn]) -> str:
    """The simulated model's reply (in ChatAdapter's format) to a ChatAdapter prompt; see the module docstring."""
    question = turns[-1][1] if turns else ""
    prompt = _Prompt.parse(system, turns)
    task = _sections(question).get(_PROPOSAL_TASK) if _PROPOSAL in prompt.outputs else None
    if isinstance(task, dict):
        proposal = json.dumps({"instructions": propose_instructions(cast(dict[str, Any], task))})
        return f"[[ ## {_PROPOSAL} ## ]]\n{proposal}\n\n[[ ## completed ## ]]"
    seed = int.from_bytes(hashlib.sha256((system + question).encode()).digest()[:8], "big")
    sections: list[str] = []
    for name in prompt.outputs:
        schema = prompt.schemas.get(name, {"type": "string"})
        value = synthesize(schema, seed=seed, label=name)
        if isinstance(value, dict):
            value = cast(dict[str, Any], value)
            for key, choices in _choice_properties(schema).items():
                value[key] = prompt.classify(name, key, choices)
            if _is_text(schema, "instructions") and (reflected := _reflection(turns)) is not None:
                value["instructions"] = reflected
        text = value if isinstance(value, str) else json.dumps(value)
        sections.append(f"[[ ## {name} ## ]]\n{text}")
    return "\n\n".join([*sections, "[[ ## completed ## ]]"])


def simulated_responder(request: ChatRequest) -> str:
    """`simulated_reply` as a `FakeOpenAIServer` responder (the same answers over real HTTP)."""
    messages = [(str(m.get("role", "")), str(m.get("content", ""))) for m in request.messages]
    system = next((text for role, text in messages if role == "system"), "")
    return simulated_reply(system, [(role, text) for role, text in messages if role != "system"])


def propose_instructions(task: Mapping[str, Any]) -> str:
    r"""The simulated proposer's instructions for an `InstructionTask` payload (see the module docstring).

    >>> propose_instructions({
    ...     "current_instructions": "Classify.",
    ...     "output_types": ['T: {"properties": {"c": {"enum": ["late", "lost"]}}}'],
    ...     "good_examples": ['{"inputs": [["M", {"text": "pizza delayed"}]], "outputs": [["T", {"c": "late"}]]}'],
    ...     "tip": "",
    ... })
    'Classify.\nlate: delayed pizza'
    """
    closed = {
        key: choices
        for text in cast(list[str], task.get("output_types", []))
        for key, choices in _choice_properties(_json(text.partition(": ")[2])).items()
    }
    counts: dict[tuple[str, str], Counter[str]] = {}
    surface: dict[str, str] = {}
    for example in cast(list[str], task.get("good_examples", [])):
        shown = _json(example)
        words = _surface_words(strings_in(shown.get("inputs", [])), surface)
        for _, payload in cast(list[tuple[str, Any]], shown.get("outputs", [])):
            for key, value in cast(dict[str, Any], payload if isinstance(payload, dict) else {}).items():
                if key in closed and value in closed[key]:
                    counts.setdefault((key, str(value)), Counter[str]()).update(words)
    tip = str(task.get("tip", ""))
    most = _WORDS_PER_TIP[int(hashlib.sha256(tip.encode()).hexdigest(), 16) % len(_WORDS_PER_TIP)]
    lines: list[str] = []
    for key, choices in closed.items():
        for value in choices:
            own = counts.get((key, value), Counter[str]())
            rest = [counts.get((key, other), Counter[str]()) for other in choices if other != value]
            ranked = sorted(own, key=lambda w: (-(own[w] - max((r[w] for r in rest), default=0)), w))
            chosen = [surface[w] for w in ranked[:most] if own[w] > max((r[w] for r in rest), default=0)]
            lines.extend([f"{value}: {' '.join(chosen)}"] if chosen else [])
    return "\n".join([str(task.get("current_instructions", "")), *lines]).strip()


def _surface_words(text: str, surface: dict[str, str]) -> set[str]:
    """The content words (stems) of `text`, noting the first spelling seen of each in `surface`."""
    stems: set[str] = set()
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        for stem in content_words(word):
            surface.setdefault(stem, word)
            stems.add(stem)
    return stems


@dataclass(frozen=True, slots=True)
class _Demo:
    words: frozenset[str]
    answer: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Prompt:
    outputs: tuple[str, ...]
    schemas: Mapping[str, Mapping[str, Any]]
    instructions: str
    question: frozenset[str]
    question_text: str
    demos: tuple[_Demo, ...]

    @classmethod
    def parse(cls, system: str, turns: Sequence[Turn]) -> _Prompt:
        listed = _OUTPUTS.search(system)
        outputs = tuple(_OUTPUT_NAME.findall(listed[1])) if listed else ()
        schemas = {match[1]: _json(match[2]) for match in _SCHEMA.finditer(system)}
        instructions = system[system.find(_OBJECTIVE) + len(_OBJECTIVE) :] if _OBJECTIVE in system else ""
        text = _input_text(turns[-1][1]) if turns else ""
        demos = tuple(
            _Demo(content_words(_input_text(user)), _sections(assistant))
            for (_, user), (_, assistant) in zip(turns[:-1:2], turns[1:-1:2], strict=False)
        )
        return cls(outputs, schemas, instructions, content_words(text), text.lower(), demos)

    def classify(self, field: str, key: str, choices: Sequence[str]) -> str:
        """The value of `field.key` among `choices`: a rule that applies, else the most similar evidence."""
        for phrase, answer in _RULE.findall(self.instructions):
            if phrase.lower() in self.question_text and answer in choices:
                return answer
        described = _descriptions(" ".join([self.instructions, _description(self.schemas.get(field), key)]), choices)
        best: dict[str, float] = {choice: similarity(self.question, described[choice]) for choice in choices}
        total = dict(best)
        for demo in self.demos:
            answer = demo.answer.get(field)
            label = cast(dict[str, Any], answer).get(key) if isinstance(answer, dict) else None
            if label in best:
                score = similarity(self.question, demo.words)
                best[label] = max(best[label], score)
                total[label] += score
        if max(best.values(), default=0.0) <= 0.0:
            return choices[-1]
        return max(choices, key=lambda c: (best[c], total[c], -choices.index(c)))


def _is_text(schema: Mapping[str, Any], key: str) -> bool:
    properties = cast(Mapping[str, Mapping[str, Any]], schema.get("properties", {}))
    return properties.get(key, {}).get("type") == "string" and "enum" not in properties.get(key, {})


def _reflection(turns: Sequence[Turn]) -> str | None:
    """New instructions, when the question is a reflection task (`engines._reflector`); else `None`."""
    for value in _sections(turns[-1][1]).values() if turns else ():
        if isinstance(value, dict) and (found := reflect(cast(dict[str, Any], value), content_words)) is not None:
            return found
    return None


def _choice_properties(schema: Mapping[str, Any]) -> dict[str, list[str]]:
    properties = cast(Mapping[str, Mapping[str, Any]], schema.get("properties", {}))
    return {
        key: [str(value) for value in prop["enum"]]
        for key, prop in properties.items()
        if isinstance(prop.get("enum"), list) and prop["enum"]
    }


def _description(schema: Mapping[str, Any] | None, key: str) -> str:
    properties = cast(Mapping[str, Mapping[str, Any]], (schema or {}).get("properties", {}))
    return str(properties.get(key, {}).get("description", ""))


def _descriptions(text: str, choices: Sequence[str]) -> dict[str, frozenset[str]]:
    """The words that describe each choice: `choice: words` up to the next `;`, newline or period."""
    found = {choice: frozenset[str]() for choice in choices}
    for choice in choices:
        for match in re.finditer(rf"(?<![\w-]){re.escape(choice)}\s*:\s*([^;\n.]*)", text):
            found[choice] = found[choice] | content_words(match[1])
    return found


def _sections(content: str) -> dict[str, Any]:
    """The `[[ ## name ## ]]` sections of a message, each parsed as JSON where it is JSON."""
    parts = _SECTION.split(content)
    values: dict[str, Any] = {}
    for name, raw in zip(parts[1::2], parts[2::2], strict=False):
        body = raw.strip()
        try:
            values[name] = json.JSONDecoder().raw_decode(body)[0]
        except json.JSONDecodeError:
            values[name] = body
    return values


def _input_text(content: str) -> str:
    """The text of a user message's input fields (string leaves of their JSON), without the context field."""
    sections = {name: value for name, value in _sections(content).items() if name != "context"}
    return " ".join(strings_in(value) for value in sections.values())


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.JSONDecoder().raw_decode(text.strip())[0]
    except json.JSONDecodeError:
        return {"type": "string"}
    return cast(dict[str, Any], value) if isinstance(value, dict) else {"type": "string"}


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word
