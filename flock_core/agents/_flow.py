"""Information flow: an activation's outputs are visible only to whoever could see everything it read.

An activation reads its inputs and its context. Its outputs inherit the combination (`combine`) of
those artifacts' visibilities once any delay has passed (an activation reads an artifact only once it is
visible). A declared output visibility can only narrow that; widening it takes a named declassification.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from ..blackboard._artifacts import Artifact
from ..blackboard._visibility import DeclassifiedVisibility, PublicVisibility, Visibility, combine, settled

__all__ = ["output_visibility", "read_visibility"]


def read_visibility(read: Iterable[Artifact]) -> Visibility:
    """The identities that may see every artifact in `read` (public when nothing was read).

    >>> from flock_core.blackboard._visibility import TenantVisibility
    >>> acme = Artifact(type="T", payload={}, correlation_id="c", visibility=TenantVisibility(tenant_id="acme"))
    >>> read_visibility([acme, Artifact(type="T", payload={}, correlation_id="c")])
    TenantVisibility(kind='tenant', tenant_id='acme')
    """
    # Artifacts the framework builds share their visibility objects (one `PublicVisibility` for all), and
    # hashing a frozen model hashes its fields: each distinct object is hashed once, not once per artifact.
    distinct = {id(visibility := artifact.visibility): visibility for artifact in read}
    if len(distinct) == 1:
        (only,) = distinct.values()
        if type(only) is PublicVisibility:  # what `combine` makes of one public visibility: itself
            return only
    return _combined(frozenset(distinct.values()))


def output_visibility(read: Visibility, declared: Visibility | None, declassify: str | None = None) -> Visibility:
    """The visibility of one output: `read` narrowed by `declared`, or `declared` under a declassification.

    With `declassify`, an output whose declared visibility is wider than `read` gets it anyway, wrapped in a
    `DeclassifiedVisibility` naming the declassification; one that is not wider needs no declassification.
    """
    if declared is None:
        return read
    return _narrowed(read, declared, declassify)  # pyright: ignore[reportArgumentType] - frozen models hash


@functools.lru_cache(maxsize=4096)
def _combined(visibilities: frozenset[Visibility]) -> Visibility:
    """`combine` of the settled `visibilities`, cached: a workflow's artifacts share a few visibilities."""
    return combine(*(settled(visibility) for visibility in visibilities))


@functools.lru_cache(maxsize=4096)
def _narrowed(read: Visibility, declared: Visibility, declassify: str | None) -> Visibility:
    narrowed = combine(read, declared)
    if declassify is None or narrowed == combine(declared):
        return narrowed
    return DeclassifiedVisibility(name=declassify, then=declared)
