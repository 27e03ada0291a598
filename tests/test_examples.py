"""Every example runs offline and prints what it promises."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.py"))

EXPECTED: dict[str, list[str]] = {
    "support_router/router.py": [
        "model: SIMULATED model, in-process",
        "tickets: 112 train, 56 dev, 56 test (split seed 2024)",
        "test accuracy before optimization: 33.9%",
        "test accuracy after optimization: 51.8%",
        "saved, loaded into a new Flock (5 groups): test accuracy 51.8%",
    ],
    "support_router/make_tickets.py": ["tickets.jsonl is up to date: 224 tickets"],
    "durable_resume.py": [
        "flock 1 stopped with 1 of 3 reviews",
        "flock 2 resumed 2 pending activations",
        "reviews: 3, duplicates: 0",
    ],
    "demo.py": ["output below is SYNTHETIC", "judge -> demo.Shortlist", "11 artifacts, state=completed, errors=0"],
    "patterns/join_orders.py": ["shipped: {'order_id': 2, 'item': 'chair', 'amount': 12.5}", "expired: order 1"],
    "patterns/batch_digest.py": ["digest: ['story 1', 'story 2', 'story 3']", "digest: ['story 7']"],
    "patterns/timers.py": ["heartbeat 3 at 08:03", "report at Mon 09:00", "report at Tue 09:00"],
    "patterns/route_by_meaning.py": [
        "   billing <- I was charged twice, I want a refund of my money",
        "    access <- my account is locked after a wrong password",
        "  shipping <- the package delivery is two weeks late",
        "unassigned <- what a lovely day",
        "embedding requests: 4 (one per ticket, queries cached)",
    ],
    "patterns/run_until.py": ["condition met: True; stopped after 3 of 20 verdicts"],
    "patterns/context_and_best_of.py": ["based on ['the sky is blue'] (confidence 0.9)"],
    "support_chat.py": [
        "support:  Which order is it about?",
        "-- the support process restarts --\ncustomer: Any news?\nsupport:  Order 4711 left our depot today.",
        "turns on the board: 6; model calls: 3",
    ],
    "research_fact_check.py": [
        "unsupported: the Moon is made of cheese\nsupported: the Moon orbits the Earth",
        "lineage of a verdict: Verdict by judge <- Evidence by find_evidence <- Claim by fact_check"
        " <- Claim by researcher <- Topic by external",
    ],
}


def test_every_example_has_expectations() -> None:
    names = {str(p.relative_to(ROOT / "examples")) for p in EXAMPLES}
    assert names - {"__init__.py"} <= set(EXPECTED) | {n for n in names if n.startswith("_")}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_runs(example: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOCK_MODEL", raising=False)
    monkeypatch.setattr(sys, "argv", [str(example)])
    monkeypatch.syspath_prepend(str(example.parent))
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    for expected in EXPECTED[str(example.relative_to(ROOT / "examples"))]:
        assert expected in out


def test_the_router_learns_the_same_through_the_fake_openai_server(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--server`: the same simulated model behind FakeOpenAIServer (DSPy's and LiteLLM's HTTP path), same numbers."""
    example = ROOT / "examples" / "support_router" / "router.py"
    monkeypatch.delenv("FLOCK_MODEL", raising=False)
    monkeypatch.setattr(sys, "argv", [str(example), "--server"])
    monkeypatch.syspath_prepend(str(example.parent))
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    assert "model: SIMULATED model behind a local fake OpenAI server" in out
    for expected in EXPECTED["support_router/router.py"][1:]:
        assert expected in out
