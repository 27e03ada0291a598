"""Tests of `flock_core.blackboard._visibility`: who may see an artifact, failing closed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from flock_core.blackboard._visibility import (
    AfterVisibility,
    AgentIdentity,
    LabelledVisibility,
    PrivateVisibility,
    PublicVisibility,
    TenantVisibility,
    Visibility,
    is_visible,
    visible_from,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)

ALICE = AgentIdentity("alice", labels=frozenset({"clearance:high", "team:red"}), tenant="acme")
BOB = AgentIdentity("bob", labels=frozenset({"team:red"}), tenant="globex")
NOBODY = AgentIdentity("nobody")


def sees(visibility: Visibility, identity: AgentIdentity, *, at: datetime = T0) -> bool:
    return is_visible(visibility, identity, created_at=T0, now=at)


def test_agent_identity_defaults() -> None:
    assert AgentIdentity("a") == AgentIdentity("a", labels=frozenset(), tenant=None)


def test_public_allows_everyone() -> None:
    public = PublicVisibility()
    assert [sees(public, who) for who in (ALICE, BOB, NOBODY)] == [True, True, True]


def test_private_allows_only_the_listed_agents() -> None:
    private = PrivateVisibility(agents=frozenset({"alice", "carol"}))
    assert [sees(private, who) for who in (ALICE, BOB, NOBODY)] == [True, False, False]


def test_private_with_no_agents_allows_nobody() -> None:
    assert sees(PrivateVisibility(agents=frozenset()), ALICE) is False


def test_labelled_requires_every_label() -> None:
    both = LabelledVisibility(required_labels=frozenset({"clearance:high", "team:red"}))
    one = LabelledVisibility(required_labels=frozenset({"team:red"}))
    none = LabelledVisibility(required_labels=frozenset())
    assert [sees(both, who) for who in (ALICE, BOB, NOBODY)] == [True, False, False]
    assert [sees(one, who) for who in (ALICE, BOB, NOBODY)] == [True, True, False]
    assert [sees(none, who) for who in (ALICE, BOB, NOBODY)] == [True, True, True]


def test_tenant_allows_only_the_same_tenant() -> None:
    tenant = TenantVisibility(tenant_id="acme")
    assert [sees(tenant, who) for who in (ALICE, BOB, NOBODY)] == [True, False, False]


def test_after_without_then_is_public_once_the_ttl_has_passed() -> None:
    after = AfterVisibility(ttl=HOUR)
    assert after.then == PublicVisibility()
    assert [sees(after, who, at=T0) for who in (ALICE, NOBODY)] == [False, False]
    assert [sees(after, who, at=T0 + HOUR - timedelta(microseconds=1)) for who in (ALICE, NOBODY)] == [False, False]
    assert [sees(after, who, at=T0 + HOUR) for who in (ALICE, NOBODY)] == [True, True]
    assert [sees(after, who, at=T0 + 2 * HOUR) for who in (ALICE, NOBODY)] == [True, True]


def test_after_with_then_applies_then_once_the_ttl_has_passed() -> None:
    after = AfterVisibility(ttl=HOUR, then=PrivateVisibility(agents=frozenset({"bob"})))
    assert [sees(after, who, at=T0 + timedelta(minutes=59)) for who in (ALICE, BOB)] == [False, False]
    assert [sees(after, who, at=T0 + HOUR) for who in (ALICE, BOB)] == [False, True]


def test_nested_after_waits_for_the_longest_delay() -> None:
    after = AfterVisibility(ttl=HOUR, then=AfterVisibility(ttl=2 * HOUR))
    assert [sees(after, ALICE, at=T0 + d) for d in (HOUR, 2 * HOUR)] == [False, True]


class _Broken(PublicVisibility):
    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        raise RuntimeError("check exploded")


def test_a_check_that_raises_denies_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="flock_core.visibility"):
        assert sees(_Broken(), ALICE) is False
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("flock_core.visibility", logging.ERROR, "visibility check failed for 'alice'; denying")
    ]
    (record,) = caplog.records
    assert record.exc_info is not None
    assert (type(record.exc_info[1]), str(record.exc_info[1])) == (RuntimeError, "check exploded")


def test_a_broken_then_inside_after_denies() -> None:
    after = AfterVisibility(ttl=HOUR, then=_Broken())
    assert sees(after, ALICE, at=T0 + 2 * HOUR) is False


@pytest.mark.parametrize(
    ("visibility", "expected"),
    [
        pytest.param(PublicVisibility(), T0, id="public"),
        pytest.param(PrivateVisibility(agents=frozenset({"a"})), T0, id="private"),
        pytest.param(AfterVisibility(ttl=HOUR), T0 + HOUR, id="after"),
        pytest.param(AfterVisibility(ttl=HOUR, then=TenantVisibility(tenant_id="t")), T0 + HOUR, id="after-then"),
        pytest.param(AfterVisibility(ttl=2 * HOUR, then=AfterVisibility(ttl=HOUR)), T0 + 2 * HOUR, id="nested"),
        pytest.param(AfterVisibility(ttl=HOUR, then=AfterVisibility(ttl=3 * HOUR)), T0 + 3 * HOUR, id="nested-long"),
    ],
)
def test_visible_from(visibility: Visibility, expected: datetime) -> None:
    assert visible_from(visibility, T0) == expected


ADAPTER: TypeAdapter[Visibility] = TypeAdapter(Visibility)

EVERY_KIND: list[tuple[Visibility, dict[str, object]]] = [
    (PublicVisibility(), {"kind": "public"}),
    (PrivateVisibility(agents=frozenset({"a"})), {"kind": "private", "agents": ["a"]}),
    (LabelledVisibility(required_labels=frozenset({"x"})), {"kind": "labelled", "required_labels": ["x"]}),
    (TenantVisibility(tenant_id="acme"), {"kind": "tenant", "tenant_id": "acme"}),
    (AfterVisibility(ttl=HOUR), {"kind": "after", "ttl": "PT1H", "then": {"kind": "public"}}),
    (
        AfterVisibility(ttl=timedelta(seconds=90), then=PrivateVisibility(agents=frozenset({"b"}))),
        {"kind": "after", "ttl": "PT1M30S", "then": {"kind": "private", "agents": ["b"]}},
    ),
]


@pytest.mark.parametrize(
    ("visibility", "as_json"), EVERY_KIND, ids=[f"{v.kind}-{i}" for i, (v, _) in enumerate(EVERY_KIND)]
)
def test_json_round_trip_discriminated_by_kind(visibility: Visibility, as_json: dict[str, object]) -> None:
    dumped = ADAPTER.dump_json(visibility)
    assert ADAPTER.validate_json(dumped) == visibility
    assert type(ADAPTER.validate_json(dumped)) is type(visibility)
    assert ADAPTER.dump_python(visibility, mode="json") == as_json
    assert ADAPTER.validate_python(as_json) == visibility


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="does not match any of the expected tags"):
        ADAPTER.validate_python({"kind": "secret"})


def test_extra_fields_are_rejected() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        ADAPTER.validate_python({"kind": "public", "agents": ["a"]})


def test_visibilities_are_frozen() -> None:
    private = PrivateVisibility(agents=frozenset({"a"}))
    with pytest.raises(ValueError, match="frozen"):
        private.agents = frozenset({"b"})  # pyright: ignore[reportAttributeAccessIssue]
