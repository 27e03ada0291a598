"""Field names from type names: semantic snake_case words and their English plurals.

The signature builder names every prompt field after the type it carries, so the model reads
`research_question` and `reports` rather than `input_1` and `output`. The rules are small and
predictable on purpose; they are the ones documented in `docs/engines.md`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["pluralize", "snake_case"]

_ACRONYM_THEN_WORD = re.compile(r"([A-Z]+)([A-Z][a-z])")
_LOWER_THEN_UPPER = re.compile(r"([a-z])([A-Z])")
_DIGIT_THEN_WORD = re.compile(r"([0-9])([A-Z][a-z])")
_NOT_WORD = re.compile(r"\W+")
_UNDERSCORES = re.compile(r"_+")

# Irregular plurals. `person -> people` follows everyday English (not the legal "persons").
_IRREGULAR = {
    "child": "children",
    "criterion": "criteria",
    "datum": "data",
    "foot": "feet",
    "goose": "geese",
    "man": "men",
    "mouse": "mice",
    "person": "people",
    "phenomenon": "phenomena",
    "tooth": "teeth",
    "woman": "women",
}
# Words with no separate plural form: the list field keeps the singular word.
_UNCOUNTABLE = frozenset(
    {
        "advice",
        "data",
        "equipment",
        "evidence",
        "feedback",
        "information",
        "knowledge",
        "metadata",
        "news",
        "research",
        "series",
        "software",
        "species",
    }
)
_F_TO_VES = frozenset({"calf", "half", "knife", "leaf", "life", "loaf", "self", "shelf", "thief", "wife", "wolf"})
_O_TO_OES = frozenset({"echo", "hero", "potato", "tomato", "veto"})
_SIBILANT_ENDINGS = ("s", "x", "z", "ch", "sh")


def snake_case(type_name: str) -> str:
    """The snake_case word for a type name; a dotted registered name uses its last segment.

    Acronyms stay one word, digits stay attached to the word before them, and a name that
    would not start with a letter gets the prefix `x_` so that it is a valid field name.

    >>> [snake_case(n) for n in ("ResearchQuestion", "HTMLPage", "URLList", "doc.Idea", "HTML5Parser")]
    ['research_question', 'html_page', 'url_list', 'idea', 'html5_parser']
    >>> snake_case("3DModel")
    'x_3d_model'
    """
    name = type_name.rsplit(".", 1)[-1]
    name = _ACRONYM_THEN_WORD.sub(r"\1_\2", name)
    name = _LOWER_THEN_UPPER.sub(r"\1_\2", name)
    name = _DIGIT_THEN_WORD.sub(r"\1_\2", name)
    name = _UNDERSCORES.sub("_", _NOT_WORD.sub("_", name)).strip("_").lower()
    if not name or not (name[0].isalpha()):
        name = f"x_{name}".rstrip("_")
    return name


def pluralize(name: str) -> str:
    """The English plural of the last word of a snake_case name.

    >>> [pluralize(w) for w in ("report", "story", "day", "box", "match", "analysis", "category")]
    ['reports', 'stories', 'days', 'boxes', 'matches', 'analyses', 'categories']
    >>> [pluralize(w) for w in ("person", "research_question", "leaf", "status", "news", "metrics")]
    ['people', 'research_questions', 'leaves', 'statuses', 'news', 'metrics']
    """
    head, _, word = name.rpartition("_")
    prefix = f"{head}_" if head else ""
    return prefix + _plural_word(word)


def _plural_word(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    rule = next((plural for applies, plural in _RULES if applies(word)), None)
    return rule(word) if rule else word + "s"


_RULES: tuple[tuple[Callable[[str], bool], Callable[[str], str]], ...] = (
    (lambda w: w in _UNCOUNTABLE, lambda w: w),
    (lambda w: w.endswith("is") and len(w) > 2, lambda w: w[:-2] + "es"),  # analysis -> analyses
    (lambda w: w.endswith("s") and not w.endswith(("ss", "us")), lambda w: w),  # already plural: metrics
    (lambda w: w.endswith("y") and len(w) > 1 and w[-2] not in "aeiou", lambda w: w[:-1] + "ies"),
    (lambda w: w in _F_TO_VES, lambda w: w.removesuffix("fe").removesuffix("f") + "ves"),
    (lambda w: w in _O_TO_OES or w.endswith(_SIBILANT_ENDINGS), lambda w: w + "es"),
)
