"""New artifacts: published objects and activation outputs, stamped with time, workflow, lineage and trace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from .._clock import Clock
from .._ids import new_id
from .._tracing import inject_current
from ..agents._activation import Output
from ..blackboard._artifacts import Artifact, build_artifact
from ..blackboard._payloads import check_publish_options, to_payload
from ..blackboard._registry import TypeRegistry
from ..blackboard._visibility import Visibility

__all__ = ["ArtifactFactory"]

_NO_TAGS: frozenset[str] = frozenset()


class ArtifactFactory:
    """Builds the artifacts a run stores, validating what comes from outside.

    Args:
        registry: the payload types.
        clock: stamps `created_at`.
    """

    def __init__(self, registry: TypeRegistry, clock: Clock) -> None:
        self._registry = registry
        self._clock = clock

    def from_object(
        self,
        obj: BaseModel | Mapping[str, Any],
        *,
        visibility: Visibility | None = None,
        correlation_id: str | None = None,
        partition_key: str | None = None,
        tags: Iterable[str] | None = None,
        produced_by: str = "external",
        consumed_from: Sequence[Artifact] = (),
        artifact_id: UUID | None = None,
        traced: bool = True,
    ) -> Artifact:
        """Validate `obj` and wrap it in a new artifact; without a `correlation_id` it starts a workflow.

        It carries the current span's trace context, unless not `traced` (the caller knows there is none).
        """
        checked = check_publish_options(
            visibility=visibility, correlation_id=correlation_id, partition_key=partition_key, tags=tags
        )
        type_name, payload = to_payload(self._registry, obj)
        return build_artifact(
            type_name=type_name,
            payload=payload,
            produced_by=produced_by,
            correlation_id=correlation_id or str(new_id()),
            partition_key=partition_key,
            tags=checked,
            visibility=visibility,
            created_at=self._clock.now(),
            consumed_from=tuple(a.id for a in consumed_from) if consumed_from else (),
            trace_context=inject_current() if traced else {},
            artifact_id=artifact_id,
        )

    def from_outputs(
        self,
        agent: str,
        outputs: Sequence[Output],
        inputs: Sequence[Artifact],
        correlation_id: str,
        *,
        traced: bool = True,
    ) -> list[Artifact]:
        """Artifacts for an activation's outputs, with its lineage, workflow and partition key.

        Their lineage is the inputs, and the artifacts of the activation's trail each output derives from.
        They carry the current span's trace context, unless not `traced` (the caller knows there is none).

        The contract has validated the payloads already: they are only serialised here, not validated again.
        """
        partition_key = inputs[0].partition_key if inputs else None
        lineage = (inputs[0].id,) if len(inputs) == 1 else tuple([a.id for a in inputs])
        name_of, now = self._registry.name_of, self._clock.now
        return [
            build_artifact(
                type_name=name_of(type(payload := output.payload)),
                payload=payload.__pydantic_serializer__.to_python(payload, mode="json"),  # `model_dump(mode="json")`
                produced_by=agent,
                correlation_id=correlation_id,
                partition_key=partition_key,
                tags=_NO_TAGS,
                visibility=output.visibility,
                created_at=now(),
                consumed_from=(*lineage, *output.derived_from) if output.derived_from else lineage,
                trace_context=inject_current() if traced else {},
            )
            for output in outputs
        ]
