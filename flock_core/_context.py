"""What an activation sees besides its inputs: by default, its own workflow, filtered by visibility."""

from __future__ import annotations

from collections.abc import Sequence

from ._artifacts import Artifact
from ._clock import Clock
from ._spec import AgentSpec
from ._store import ArtifactQuery, BlackboardStore

__all__ = ["correlation_context"]


async def correlation_context(
    store: BlackboardStore, spec: AgentSpec, inputs: Sequence[Artifact], clock: Clock, limit: int
) -> tuple[Artifact, ...]:
    """The most recent `limit` artifacts of the inputs' workflow that `spec` may see, excluding the inputs.

    Context never crosses workflows: other correlation ids are invisible here, so prompt size does not grow
    with the history of the board.
    """
    if not inputs or limit <= 0:
        return ()
    own = {a.id for a in inputs}
    query = ArtifactQuery(correlation_id=inputs[0].correlation_id, visible_to=spec.identity, now=clock.now())
    page = await store.query(query)
    others = [a for a in page.items if a.id not in own]
    return tuple(others[-limit:])
