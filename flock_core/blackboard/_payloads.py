"""Turning what users publish (a model instance or a typed mapping) into a validated payload."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from ..exceptions import ConfigurationError, PayloadValidationError, TypeRegistrationError
from ._registry import TypeRegistry, validate_payload
from ._visibility import AfterVisibility, LabelledVisibility, PrivateVisibility, PublicVisibility, TenantVisibility

__all__ = ["check_publish_options", "to_payload"]

_VISIBILITY_KINDS = (
    "PublicVisibility",
    "PrivateVisibility",
    "LabelledVisibility",
    "TenantVisibility",
    "AfterVisibility",
)


def _not_publishable(obj: object) -> str:
    """Why `obj` cannot be published, and what to pass instead."""
    what = type(obj).__name__
    if isinstance(obj, type):
        fix = f"got the class {obj.__name__}; publish an instance: {obj.__name__}(...)"
    elif dataclasses.is_dataclass(obj):
        fix = f"got the dataclass {what}; declare it as a Pydantic model (`class {what}(BaseModel): ...`)"
    elif isinstance(obj, list | tuple | set):
        fix = f"got a {what}; pass the artifacts as separate arguments: run(*items) / publish_many(items)"
    else:
        fix = f"got {what} {obj!r:.60}"
    return f'publish: expected a registered Pydantic model instance or {{"type": name, "payload": {{...}}}}; {fix}'


def to_payload(registry: TypeRegistry, obj: BaseModel | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return `(type name, JSON-compatible payload)` for `obj`, validated against its registered type.

    `obj` is an instance of a registered model, or a mapping `{"type": name, "payload": {...}}`.

    >>> from pydantic import BaseModel
    >>> class Movie(BaseModel):
    ...     title: str
    >>> registry = TypeRegistry()
    >>> _ = registry.register(Movie)
    >>> to_payload(registry, {"type": "Movie", "payload": {"title": "Heat"}})
    ('Movie', {'title': 'Heat'})
    >>> to_payload(registry, {"type": "Movie", "payload": {}})
    Traceback (most recent call last):
    ...
    flock_core.exceptions.PayloadValidationError: invalid 'Movie' payload:
      - title: Field required
    """
    if isinstance(obj, BaseModel):
        model = type(obj)
        name = registry.name_of(model)
        data: Any = obj
    else:
        if not isinstance(obj, Mapping):
            raise TypeRegistrationError(_not_publishable(obj))
        if set(obj) != {"type", "payload"} or not isinstance(obj["type"], str):
            raise TypeRegistrationError(
                'a published mapping must be {"type": <registered type name>, "payload": {...}}'
            )
        name = obj["type"]
        model = registry.resolve(name)
        data = obj["payload"]
    try:
        payload = validate_payload(model, data)
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()]
        raise PayloadValidationError(name, errors) from exc
    return name, payload


_NO_TAGS: frozenset[str] = frozenset()


def check_publish_options(
    *, visibility: object, correlation_id: object, partition_key: object, tags: object
) -> frozenset[str]:
    """Check the keywords of `publish()` (a mistake raises `ConfigurationError` naming it); returns the tags.

    A single tag may be given as a string: `tags="urgent"` is `{"urgent"}`, not its letters.

    >>> sorted(check_publish_options(visibility=None, correlation_id=None, partition_key=None, tags="urgent"))
    ['urgent']
    """
    usual = visibility is None and partition_key is None and tags is None
    if usual and (correlation_id is None or (type(correlation_id) is str and correlation_id)):
        return _NO_TAGS  # the usual publish: nothing else to check
    visibilities = (PublicVisibility, PrivateVisibility, LabelledVisibility, TenantVisibility, AfterVisibility)
    if visibility is not None and not isinstance(visibility, visibilities):
        raise ConfigurationError(
            f"publish(visibility={visibility!r}): pass a visibility object ({', '.join(_VISIBILITY_KINDS)}), "
            "e.g. visibility=PrivateVisibility(agents={'reader'})",
            setting="visibility",
        )
    for name, value in (("correlation_id", correlation_id), ("partition_key", partition_key)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigurationError(f"publish({name}={value!r}): {name} is a non-empty string", setting=name)
    if tags is None:
        return frozenset()
    names: list[object] = [tags]
    if isinstance(tags, list | tuple | set | frozenset):
        names = [*cast("Iterable[object]", tags)]
    if not all(isinstance(t, str) and t for t in names):
        raise ConfigurationError(
            f"publish(tags={tags!r}): tags are a string or a list of non-empty strings", setting="tags"
        )
    return frozenset(str(t) for t in names)
