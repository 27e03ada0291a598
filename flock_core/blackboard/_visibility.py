"""Who may see an artifact. Visibility is a security boundary: every check fails closed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AfterVisibility",
    "AgentIdentity",
    "LabelledVisibility",
    "PrivateVisibility",
    "PublicVisibility",
    "TenantVisibility",
    "Visibility",
    "is_visible",
    "visible_from",
]

_log = logging.getLogger("flock_core.visibility")


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """Who is looking: an agent (or an API caller) with a name, labels and an optional tenant.

    >>> AgentIdentity("critic", labels=frozenset({"clearance:high"}), tenant="acme").name
    'critic'
    """

    name: str
    labels: frozenset[str] = field(default_factory=frozenset[str])
    tenant: str | None = None


class _Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class PublicVisibility(_Base):
    """Everyone may see the artifact."""

    kind: Literal["public"] = "public"

    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        """Whether `identity` may see an artifact created at `created_at`, at time `now`."""
        return True


class PrivateVisibility(_Base):
    """Only the named agents may see the artifact."""

    kind: Literal["private"] = "private"
    agents: frozenset[str]

    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        """Whether `identity` is one of the listed agents."""
        return identity.name in self.agents


class LabelledVisibility(_Base):
    """Only identities that carry every one of `required_labels` may see the artifact."""

    kind: Literal["labelled"] = "labelled"
    required_labels: frozenset[str]

    def allows(self, identity: AgentIdentity, *, created_at: datetime, now: datetime) -> bool:
        """Whether `identity` carries all required labels."""
        return self.required_labels <= identity.labels


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


Visibility = Annotated[
    PublicVisibility | PrivateVisibility | LabelledVisibility | TenantVisibility | AfterVisibility,
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
    try:
        return bool(visibility.allows(identity, created_at=created_at, now=now))
    except Exception:  # noqa: BLE001 - fail closed: a broken check must never grant access
        _log.exception("visibility check failed for %r; denying", identity.name)
        return False


def visible_from(visibility: Visibility, created_at: datetime) -> datetime:
    """The earliest time at which anyone may see the artifact (its creation time unless delayed)."""
    at = created_at
    while isinstance(visibility, AfterVisibility):
        at = max(at, created_at + visibility.ttl)
        visibility = visibility.then
    return at
