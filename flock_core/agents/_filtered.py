"""Flock's declarative context filter: `FilteredContextProvider(FilterConfig(...), limit=...)`.

Unlike `FilteredContext` (same workflow by default), it reads the whole board unless the `FilterConfig`
names a `correlation_id`, as in Flock: the filter is the user's explicit choice. Visibility still applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..blackboard._artifacts import Artifact
from ..blackboard._store import ArtifactQuery
from ..exceptions import ConfigurationError
from ._context import ContextRequest, visible_matches

__all__ = ["FilterConfig", "FilteredContextProvider"]


def _names(values: Iterable[str] | None) -> frozenset[str] | None:
    if isinstance(values, str):
        return frozenset({values})
    return None if values is None else frozenset(values)


@dataclass(frozen=True, slots=True, init=False)
class FilterConfig:
    """Which artifacts a `FilteredContextProvider` offers: every filter given must match.

    Args:
        type_names: blackboard type names (any of them).
        produced_by: producing agents (any of them).
        correlation_id: one workflow (default: every workflow).
        tags: tags the artifact must all carry.
        start: created at or after this time.
        end: created before this time.

    >>> FilterConfig(tags={"urgent"}).tags
    frozenset({'urgent'})
    """

    type_names: frozenset[str] | None
    produced_by: frozenset[str] | None
    correlation_id: str | None
    tags: frozenset[str] | None
    start: datetime | None
    end: datetime | None

    def __init__(
        self,
        *,
        type_names: Iterable[str] | None = None,
        produced_by: Iterable[str] | None = None,
        correlation_id: str | None = None,
        tags: Iterable[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        object.__setattr__(self, "type_names", _names(type_names))
        object.__setattr__(self, "produced_by", _names(produced_by))
        object.__setattr__(self, "correlation_id", correlation_id)
        object.__setattr__(self, "tags", _names(tags))
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    def query(self) -> ArtifactQuery:
        """The store query this filter stands for."""
        return ArtifactQuery(
            types=self.type_names,
            produced_by=self.produced_by,
            correlation_id=self.correlation_id,
            tags=self.tags,
            since=self.start,
            until=self.end,
        )


@dataclass(frozen=True, slots=True)
class FilteredContextProvider:
    """The latest `limit` artifacts matching `filter_config` that the agent may see (Flock's provider)."""

    filter_config: FilterConfig
    limit: int = 50

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ConfigurationError(f"FilteredContextProvider(limit=...) must be >= 0, got {self.limit}")

    async def provide(self, request: ContextRequest) -> Sequence[Artifact]:
        """Matching visible artifacts, most recent `limit`, excluding the inputs."""
        return await visible_matches(request, self.filter_config.query(), self.limit)
