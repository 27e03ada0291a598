"""Who may see an artifact, and how visibility combines. Visibility is a security boundary: checks fail closed.

An identity is a name in a tenant (`None` is the space of identities without a tenant) with labels. Every
kind of visibility except `PublicVisibility` names the one tenant its audience belongs to, so a tenant's
data is never visible in another tenant, whatever the names or labels.

`combine` is the meet of visibilities: the audience that may see all of them. It simplifies where it can
(`public` with X is X; tenant t with tenant t is tenant t; two private lists of one tenant intersect; two
label sets of one tenant unite) and composes the rest with `ComposedVisibility`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AfterVisibility",
    "AgentIdentity",
    "ComposedVisibility",
    "DeclassifiedVisibility",
    "LabelledVisibility",
    "PrivateVisibility",
    "PublicVisibility",
    "TenantVisibility",
    "Visibility",
    "audience_tenant",
    "combine",
    "is_visible",
    "public",
    "settled",
    "visible_from",
]

_log = logging.getLogger("flock_core.visibility")


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """Who is looking: an agent (or an API caller) named `name` in `tenant`, with labels.

    Two identities with one name in different tenants are different identities.

    >>> str(AgentIdentity("critic", labels=frozenset({"clearance:high"}), tenant="acme"))
    'critic@acme'
    """

    name: str
    labels: frozenset[str] = field(default_factory=frozenset[str])
    tenant: str | None = None

    def __str__(self) -> str:
        return self.name if self.tenant is None else f"{self.name}@{self.tenant}"


class _Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class PublicVisibility(_Base):
    """Everyone may see the artifact, in every tenant."""

    kind: Literal["public"] = "public"

    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        """Whether `identity` may see an artifact created at `created_at`, at time `now`."""
        return True


@functools.cache
def public() -> PublicVisibility:
    """The one public visibility the framework shares between artifacts (it is immutable); built on first
    use, so importing the package builds no model."""
    return PublicVisibility()


class PrivateVisibility(_Base):
    """Only the named agents of `tenant` (`None`: the named agents without a tenant) may see the artifact."""

    kind: Literal["private"] = "private"
    agents: frozenset[str]
    tenant: str | None = None

    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        """Whether `identity` is one of the listed agents, in the tenant."""
        return identity.tenant == self.tenant and identity.name in self.agents


class LabelledVisibility(_Base):
    """Only identities of `tenant` (`None`: without a tenant) that carry every one of `required_labels`."""

    kind: Literal["labelled"] = "labelled"
    required_labels: frozenset[str]
    tenant: str | None = None

    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        """Whether `identity` belongs to the tenant and carries all required labels."""
        return identity.tenant == self.tenant and self.required_labels <= identity.labels


class TenantVisibility(_Base):
    """Only identities of tenant `tenant_id` may see the artifact."""

    kind: Literal["tenant"] = "tenant"
    tenant_id: str

    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        """Whether `identity` belongs to the tenant."""
        return identity.tenant is not None and identity.tenant == self.tenant_id


class AfterVisibility(_Base):
    """Nobody sees the artifact until `ttl` has passed since it was created; then `then` applies.

    Agents subscribed to a delayed artifact are activated when it becomes visible, not dropped.
    """

    kind: Literal["after"] = "after"
    ttl: timedelta
    then: Visibility = Field(default_factory=PublicVisibility)

    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        """Whether the delay has passed and the follow-on visibility admits `identity`."""
        if now < created_at + self.ttl:
            return False
        return self.then.allows(identity, created_at=created_at, now=now)


class ComposedVisibility(_Base):
    """Only identities that every one of `all_of` admits: what `combine` makes when it cannot simplify."""

    kind: Literal["all"] = "all"
    all_of: tuple[Visibility, ...] = Field(min_length=2)

    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        """Whether every part admits `identity`."""
        return all(part.allows(identity, created_at=created_at, now=now) for part in self.all_of)


class DeclassifiedVisibility(_Base):
    """`then` applies; it is wider than what the artifact was derived from, by the declassification `name`.

    Agents make it only where an output group declares `declassify=`: the name records who decided to
    widen the audience, on the artifact itself (and on the activation's span).
    """

    kind: Literal["declassified"] = "declassified"
    name: str = Field(min_length=1, max_length=200)
    then: Visibility

    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        """Whether `then` admits `identity`."""
        return self.then.allows(identity, created_at=created_at, now=now)


Visibility = Annotated[
    PublicVisibility
    | PrivateVisibility
    | LabelledVisibility
    | TenantVisibility
    | AfterVisibility
    | ComposedVisibility
    | DeclassifiedVisibility,
    Field(discriminator="kind"),
]
"""Any visibility; serialised with a `kind` discriminator."""


def is_visible(visibility: Visibility, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
    """Whether `identity` may see an artifact; an error inside the check denies access.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> is_visible(PrivateVisibility(agents=frozenset({"a"})), AgentIdentity("b"), created_at=t, now=t)
    False
    """
    if type(visibility) is PublicVisibility:  # most artifacts: everyone, always (`PublicVisibility.allows`)
        return True
    try:
        return bool(visibility.allows(identity, created_at=created_at, now=now))
    except Exception:  # noqa: BLE001 - fail closed: a broken check must never grant access
        _log.exception("visibility check failed for %r; denying", identity.name)
        return False


def visible_from(visibility: Visibility, created_at: datetime) -> datetime:
    """The earliest time at which anyone may see the artifact (its creation time unless delayed)."""
    if type(visibility) is PublicVisibility:  # most artifacts: skip the class patterns below
        return created_at
    match visibility:
        case AfterVisibility():
            return max(created_at + visibility.ttl, visible_from(visibility.then, created_at))
        case DeclassifiedVisibility():
            return visible_from(visibility.then, created_at)
        case ComposedVisibility():
            return max(visible_from(part, created_at) for part in visibility.all_of)
        case _:
            return created_at


def settled(visibility: Visibility) -> Visibility:
    """Who may see the artifact once any delay has passed (`AfterVisibility` and declassification unwrapped).

    An activation reads an artifact only once it is visible, so this is what its outputs inherit.

    >>> settled(AfterVisibility(ttl=timedelta(hours=1), then=TenantVisibility(tenant_id="acme"))).kind
    'tenant'
    """
    match visibility:
        case AfterVisibility() | DeclassifiedVisibility():
            return settled(visibility.then)
        case ComposedVisibility():
            return combine(*(settled(part) for part in visibility.all_of))
        case _:
            return visibility


def combine(*visibilities: Visibility) -> Visibility:
    """The visibility admitting exactly the identities that every one of `visibilities` admits, simplified.

    >>> acme = TenantVisibility(tenant_id="acme")
    >>> combine(PublicVisibility(), acme, acme) == acme
    True
    >>> combine(acme, TenantVisibility(tenant_id="globex"))  # no identity is in both: nobody
    PrivateVisibility(kind='private', agents=frozenset(), tenant='acme')
    """
    parts = list(dict.fromkeys(_flatten(visibilities)))
    if len(parts) < 2:
        return parts[0] if parts else public()
    tenants = {
        t for p in parts if not isinstance(p, AfterVisibility) and not isinstance(t := _tenant_of(p), _AnyTenant)
    }
    kept: list[Visibility] = [p for p in parts if isinstance(p, AfterVisibility)]
    if len(tenants) > 1:  # no identity belongs to two tenants
        return PrivateVisibility(agents=frozenset(), tenant=min(tenants, key=lambda t: (t is None, t or "")))
    tenant = next(iter(tenants), _ANY)
    private = [p for p in parts if isinstance(p, PrivateVisibility)]
    labelled = [p for p in parts if isinstance(p, LabelledVisibility)]
    if private:
        agents = frozenset[str].intersection(*(p.agents for p in private))
        kept.append(PrivateVisibility(agents=agents, tenant=private[0].tenant))
    if labelled:
        labels = frozenset[str]().union(*(p.required_labels for p in labelled))
        kept.append(LabelledVisibility(required_labels=labels, tenant=labelled[0].tenant))
    if not private and not labelled and isinstance(tenant, str):
        kept.append(TenantVisibility(tenant_id=tenant))
    if not kept:
        return public()
    if len(kept) == 1:
        return kept[0]
    return ComposedVisibility(all_of=tuple(sorted(kept, key=lambda p: p.model_dump_json())))


class _AnyTenant:
    """The tenant of a visibility that admits identities of every tenant."""

    def __repr__(self) -> str:
        return "ANY_TENANT"


_ANY = _AnyTenant()


def _flatten(visibilities: Iterable[Visibility]) -> Iterable[Visibility]:
    for visibility in visibilities:
        if isinstance(visibility, ComposedVisibility):
            yield from _flatten(visibility.all_of)
        elif isinstance(visibility, DeclassifiedVisibility):
            yield from _flatten((visibility.then,))
        elif not isinstance(visibility, PublicVisibility):
            yield visibility


def _tenant_of(visibility: Visibility) -> str | _AnyTenant | None:
    match visibility:
        case TenantVisibility():
            return visibility.tenant_id
        case PrivateVisibility() | LabelledVisibility():
            return visibility.tenant
        case _:
            return _ANY


def audience_tenant(visibility: Visibility) -> tuple[bool, str | None]:
    """`(True, None)` when identities of every tenant may see it, else `(False, tenant)` of its one tenant.

    A delayed or declassified visibility has the tenant of what applies after it; a composition has the
    tenant of its parts (if they disagree, nobody may see it, and any one of them is its tenant).

    >>> audience_tenant(PublicVisibility()), audience_tenant(PrivateVisibility(agents=frozenset({"a"})))
    ((True, None), (False, None))
    """
    match visibility:
        case AfterVisibility() | DeclassifiedVisibility():
            return audience_tenant(visibility.then)
        case ComposedVisibility():
            scoped = [audience_tenant(part) for part in visibility.all_of]
            return next((s for s in scoped if not s[0]), (True, None))
        case _:
            tenant = _tenant_of(visibility)
            return (True, None) if isinstance(tenant, _AnyTenant) else (False, tenant)
