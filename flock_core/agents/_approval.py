"""Human approval of an agent's outputs: who must approve them, and what a timeout decides.

An agent declared with `.requires_approval(...)` (or an output group with `publishes(..., approval=...)`)
does not publish those outputs when its activation finishes: they are held, visible to the approvers
only, until one of them approves (the held outputs are then published and routed) or rejects them (an
`ApprovalRejected` record is published instead, and nothing downstream runs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from ..blackboard._approvals import ApprovalOutcome
from ..blackboard._visibility import AgentIdentity
from ..exceptions import AgentDeclarationError

__all__ = ["ApprovalPolicy", "OnTimeout", "approval_policy"]

OnTimeout = Literal["reject", "approve"]


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """Who must approve an agent's (or an output group's) outputs before they are published.

    Attributes:
        approvers: identities that may decide, as `str(AgentIdentity)`: `"alice"`, or `"alice@acme"` for
            an identity in a tenant. An approver must also be allowed to see every held output.
        timeout: how long the outputs wait for a decision (`None`: until one is made).
        on_timeout: what a timeout decides: `"reject"` (the default) or `"approve"`.
    """

    approvers: frozenset[str]
    timeout: timedelta | None = None
    on_timeout: OnTimeout = "reject"

    @property
    def timeout_outcome(self) -> ApprovalOutcome:
        """The outcome recorded when the timeout passes."""
        return "approved" if self.on_timeout == "approve" else "rejected"


def approval_policy(
    agent: str,
    approvers: Iterable[str | AgentIdentity] | str | AgentIdentity,
    timeout: timedelta | float | None,
    on_timeout: object,
) -> ApprovalPolicy:
    """A checked `ApprovalPolicy`; a mistake is an `AgentDeclarationError` naming the argument."""
    chosen = [approvers] if isinstance(approvers, (str, AgentIdentity)) else list(approvers)
    names: set[str] = set()
    for approver in chosen:
        if not isinstance(approver, (str, AgentIdentity)) or not str(approver).strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise AgentDeclarationError(
                agent, f"approvers must be names or AgentIdentity objects, got {approver!r}", argument="approvers"
            )
        names.add(str(approver))
    if not names:
        raise AgentDeclarationError(agent, "requires_approval() needs at least one approver", argument="approvers")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        timeout = timedelta(seconds=timeout)
    if timeout is not None and (not isinstance(timeout, timedelta) or timeout < timedelta(0)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise AgentDeclarationError(
            agent, f"timeout must be a non-negative timedelta or seconds, got {timeout!r}", argument="timeout"
        )
    if on_timeout not in ("reject", "approve"):
        raise AgentDeclarationError(
            agent, f"on_timeout must be 'reject' or 'approve', got {on_timeout!r}", argument="on_timeout"
        )
    return ApprovalPolicy(frozenset(names), timeout, "approve" if on_timeout == "approve" else "reject")
