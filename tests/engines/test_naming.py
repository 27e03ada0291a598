from __future__ import annotations

import pytest

from engines import pluralize, snake_case


@pytest.mark.parametrize(
    ("type_name", "expected"),
    [
        ("ResearchQuestion", "research_question"),
        ("Report", "report"),
        ("HTMLPage", "html_page"),
        ("URLList", "url_list"),
        ("IOError", "io_error"),
        ("PDFToText", "pdf_to_text"),
        ("HTML5Parser", "html5_parser"),
        ("Report2Draft", "report2_draft"),
        ("already_snake", "already_snake"),
        ("doc.Idea", "idea"),
        ("blog.posts.BlogPost", "blog_post"),
        ("Page[int]", "page_int"),
        ("My-Type", "my_type"),
        ("3DModel", "x_3d_model"),
        ("_Private", "private"),
        ("Ünïcode", "ünïcode"),
    ],
)
def test_snake_case(type_name: str, expected: str) -> None:
    assert snake_case(type_name) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("report", "reports"),
        ("story", "stories"),
        ("category", "categories"),
        ("day", "days"),
        ("key", "keys"),
        ("analysis", "analyses"),
        ("hypothesis", "hypotheses"),
        ("box", "boxes"),
        ("match", "matches"),
        ("dish", "dishes"),
        ("class", "classes"),
        ("status", "statuses"),
        ("bus", "buses"),
        ("hero", "heroes"),
        ("photo", "photos"),
        ("leaf", "leaves"),
        ("knife", "knives"),
        ("proof", "proofs"),
        ("person", "people"),
        ("child", "children"),
        ("criterion", "criteria"),
        ("news", "news"),
        ("feedback", "feedback"),
        ("metrics", "metrics"),
        ("settings", "settings"),
        ("research_question", "research_questions"),
        ("url_list", "url_lists"),
        ("user_story", "user_stories"),
        ("a", "as"),
    ],
)
def test_pluralize(word: str, expected: str) -> None:
    assert pluralize(word) == expected


def test_plural_field_names_are_valid_identifiers() -> None:
    names = ["ResearchQuestion", "HTMLPage", "3DModel", "Ünïcode", "Analysis", "Person"]
    assert all(pluralize(snake_case(name)).isidentifier() for name in names)
