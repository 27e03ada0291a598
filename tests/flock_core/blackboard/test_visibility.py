"""Tests of `flock_core.blackboard._visibility`: who may see an artifact, failing closed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from flock_core.blackboard._visibility import (
    AfterVisibility,
    AgentIdentity,
    ComposedVisibility,
    DeclassifiedVisibility,
    LabelledVisibility,
    PrivateVisibility,
    PublicVisibility,
    TenantVisibility,
    Visibility,
    audience_tenant,
    combine,
    is_visible,
    settled,
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


def test_private_allows_only_the_listed_agents_of_its_tenant() -> None:
    private = PrivateVisibility(agents=frozenset({"alice", "carol", "nobody"}), tenant="acme")
    assert [sees(private, who) for who in (ALICE, BOB, NOBODY)] == [True, False, False]
    untenanted = PrivateVisibility(agents=frozenset({"alice", "nobody"}))
    assert [sees(untenanted, who) for who in (ALICE, BOB, NOBODY)] == [False, False, True]


def test_an_identity_is_a_name_in_a_tenant() -> None:
    private = PrivateVisibility(agents=frozenset({"alice"}), tenant="t1")
    assert [sees(private, AgentIdentity("alice", tenant=t)) for t in ("t1", "t2", None)] == [True, False, False]
    assert [str(AgentIdentity("alice", tenant="t1")), str(AgentIdentity("alice"))] == ["alice@t1", "alice"]


def test_private_with_no_agents_allows_nobody() -> None:
    assert sees(PrivateVisibility(agents=frozenset()), ALICE) is False


def test_labelled_requires_the_tenant_and_every_label() -> None:
    both = LabelledVisibility(required_labels=frozenset({"clearance:high", "team:red"}), tenant="acme")
    one = LabelledVisibility(required_labels=frozenset({"team:red"}), tenant="globex")
    none = LabelledVisibility(required_labels=frozenset())
    assert [sees(both, who) for who in (ALICE, BOB, NOBODY)] == [True, False, False]
    assert [sees(one, who) for who in (ALICE, BOB, NOBODY)] == [False, True, False]
    assert [sees(none, who) for who in (ALICE, BOB, NOBODY)] == [False, False, True]


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
    after = AfterVisibility(ttl=HOUR, then=PrivateVisibility(agents=frozenset({"bob"}), tenant="globex"))
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
    (PrivateVisibility(agents=frozenset({"a"})), {"kind": "private", "agents": ["a"], "tenant": None}),
    (
        LabelledVisibility(required_labels=frozenset({"x"}), tenant="t"),
        {"kind": "labelled", "required_labels": ["x"], "tenant": "t"},
    ),
    (TenantVisibility(tenant_id="acme"), {"kind": "tenant", "tenant_id": "acme"}),
    (AfterVisibility(ttl=HOUR), {"kind": "after", "ttl": "PT1H", "then": {"kind": "public"}}),
    (
        AfterVisibility(ttl=timedelta(seconds=90), then=PrivateVisibility(agents=frozenset({"b"}))),
        {"kind": "after", "ttl": "PT1M30S", "then": {"kind": "private", "agents": ["b"], "tenant": None}},
    ),
    (
        ComposedVisibility(all_of=(TenantVisibility(tenant_id="t"), AfterVisibility(ttl=HOUR))),
        {
            "kind": "all",
            "all_of": [
                {"kind": "tenant", "tenant_id": "t"},
                {"kind": "after", "ttl": "PT1H", "then": {"kind": "public"}},
            ],
        },
    ),
    (
        DeclassifiedVisibility(name="anonymised", then=PublicVisibility()),
        {"kind": "declassified", "name": "anonymised", "then": {"kind": "public"}},
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


# -- the algebra: combine, settled, audience_tenant -----------------------------------------------------------

ACME = TenantVisibility(tenant_id="acme")
GLOBEX = TenantVisibility(tenant_id="globex")
NOBODY_IN_ACME = PrivateVisibility(agents=frozenset(), tenant="acme")


def private(*agents: str, tenant: str | None = "acme") -> PrivateVisibility:
    return PrivateVisibility(agents=frozenset(agents), tenant=tenant)


def labelled(*labels: str, tenant: str | None = "acme") -> LabelledVisibility:
    return LabelledVisibility(required_labels=frozenset(labels), tenant=tenant)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param((), PublicVisibility(), id="nothing-is-public"),
        pytest.param((PublicVisibility(), PublicVisibility()), PublicVisibility(), id="public-public"),
        pytest.param((PublicVisibility(), ACME), ACME, id="public-with-x-is-x"),
        pytest.param((ACME, ACME), ACME, id="tenant-t-with-t-is-t"),
        pytest.param((ACME, GLOBEX), NOBODY_IN_ACME, id="two-tenants-is-nobody"),
        pytest.param((private("a", "b"), private("b", "c")), private("b"), id="private-lists-intersect"),
        pytest.param((private("a"), ACME), private("a"), id="private-implies-its-tenant"),
        pytest.param((private("a"), GLOBEX), NOBODY_IN_ACME, id="private-in-another-tenant"),
        pytest.param((private("a", tenant=None), ACME), NOBODY_IN_ACME, id="untenanted-private-with-tenant"),
        pytest.param((labelled("x"), labelled("y"), ACME), labelled("x", "y"), id="labels-unite"),
        pytest.param(
            (private("a"), labelled("x")), ComposedVisibility(all_of=(labelled("x"), private("a"))), id="composed"
        ),
        pytest.param(
            (ComposedVisibility(all_of=(labelled("x"), private("a"))), private("a", "b"), labelled("y")),
            ComposedVisibility(all_of=(labelled("x", "y"), private("a"))),
            id="compositions-flatten",
        ),
        pytest.param(
            (DeclassifiedVisibility(name="n", then=PublicVisibility()), ACME), ACME, id="declassified-is-its-then"
        ),
    ],
)
def test_combine_simplifies(parts: tuple[Visibility, ...], expected: Visibility) -> None:
    assert combine(*parts) == expected


IDENTITIES = [
    AgentIdentity(name, labels=frozenset(labels), tenant=tenant)
    for name in ("a", "b")
    for labels in ((), ("x",), ("x", "y"))
    for tenant in ("acme", "globex", None)
]
SAMPLES: list[Visibility] = [
    PublicVisibility(),
    ACME,
    GLOBEX,
    private("a"),
    private("a", "b", tenant=None),
    labelled("x"),
    labelled("y", tenant=None),
    AfterVisibility(ttl=HOUR, then=ACME),
    DeclassifiedVisibility(name="n", then=labelled("x")),
]


@pytest.mark.parametrize("left", SAMPLES, ids=lambda v: v.kind)
@pytest.mark.parametrize("right", SAMPLES, ids=lambda v: v.kind)
def test_combine_admits_exactly_whom_both_admit(left: Visibility, right: Visibility) -> None:
    both = combine(left, right)
    for at in (T0, T0 + 2 * HOUR):
        for who in IDENTITIES:
            assert sees(both, who, at=at) == (sees(left, who, at=at) and sees(right, who, at=at)), (who, at)


@pytest.mark.parametrize("visibility", SAMPLES, ids=lambda v: v.kind)
def test_settled_is_who_may_see_it_after_any_delay(visibility: Visibility) -> None:
    late = T0 + 2 * HOUR
    assert [sees(settled(visibility), who) for who in IDENTITIES] == [
        sees(visibility, who, at=late) for who in IDENTITIES
    ]


def test_settled_unwraps_delays_inside_compositions() -> None:
    composed = ComposedVisibility(all_of=(AfterVisibility(ttl=HOUR, then=ACME), labelled("x")))
    assert settled(composed) == labelled("x")


@pytest.mark.parametrize(
    ("visibility", "expected"),
    [
        pytest.param(PublicVisibility(), (True, None), id="public"),
        pytest.param(ACME, (False, "acme"), id="tenant"),
        pytest.param(private("a", tenant=None), (False, None), id="private-untenanted"),
        pytest.param(labelled("x"), (False, "acme"), id="labelled"),
        pytest.param(AfterVisibility(ttl=HOUR), (True, None), id="after-public"),
        pytest.param(AfterVisibility(ttl=HOUR, then=private("a")), (False, "acme"), id="after-private"),
        pytest.param(ComposedVisibility(all_of=(AfterVisibility(ttl=HOUR), GLOBEX)), (False, "globex"), id="all"),
        pytest.param(DeclassifiedVisibility(name="n", then=ACME), (False, "acme"), id="declassified"),
    ],
)
def test_audience_tenant(visibility: Visibility, expected: tuple[bool, str | None]) -> None:
    assert audience_tenant(visibility) == expected


def test_a_composition_needs_two_parts() -> None:
    with pytest.raises(ValueError, match="at least 2 items"):
        ComposedVisibility(all_of=(ACME,))
