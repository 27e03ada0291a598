"""HTTP plumbing shared by the routes: the error shape, JSON bodies with limits, JSON responses."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

__all__ = [
    "BODY_TIMEOUT",
    "MAX_DEPTH",
    "ApiError",
    "error_response",
    "json_response",
    "parse_body",
    "read_json",
    "validation_details",
]

BODY_TIMEOUT = 10.0
"""Seconds a client has to send a whole request body (408 after that, and the connection is closed)."""

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects accepted in a request body."""

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """An error answered to the HTTP caller as `{"error": {"code", "message", "details"}}`.

    Attributes:
        status: the HTTP status code.
        code: a stable, machine-readable error code (`not_found`, `invalid_payload`, ...).
        message: a human-readable explanation.
        details: per-field problems, each `{"field": "a.b", "message": "..."}`.
    """

    def __init__(self, status: int, code: str, message: str, details: Sequence[Mapping[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = [dict(d) for d in details]


def error_response(error: ApiError) -> JSONResponse:
    """The JSON response for `error`."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="flock"'
    if error.status in {408, 413}:  # the rest of the body is not read: the connection cannot carry another request
        headers["Connection"] = "close"
    return JSONResponse({"error": body}, status_code=error.status, headers=headers)


def json_response(data: Any, status: int = 200) -> JSONResponse:
    """A JSON response (`data` must already be JSON-compatible)."""
    return JSONResponse(data, status_code=status)


def validation_details(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """One `{"field", "message"}` entry per Pydantic error; `field` is the dotted location."""
    details: list[dict[str, str]] = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"])
        field = ".".join(part for part in (prefix, location) if part) or "<root>"
        details.append({"field": field, "message": item["msg"]})
    return details


async def read_json(request: Request, max_bytes: int, *, timeout: float | None = None) -> dict[str, Any]:
    """The request body as a JSON object.

    415 unless the content type is JSON; 413 when larger than `max_bytes`; 408 when not received within
    `timeout` seconds (default `BODY_TIMEOUT`); 400 when it is not a JSON object, nests deeper than
    `MAX_DEPTH`, or holds a number that is not finite or too long to convert.
    """
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ApiError(415, "unsupported_media_type", "the request body must be JSON (Content-Type: application/json)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    timeout = BODY_TIMEOUT if timeout is None else timeout
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):  # the server runs on asyncio; less than half of `anyio.fail_after`'s cost
            more = True
            while more:  # the ASGI messages themselves: `request.stream()` adds an async generator per request
                message = await request.receive()
                if message["type"] != "http.request":  # the client disconnected
                    raise ClientDisconnect
                chunk: bytes = message.get("body", b"")
                more = message.get("more_body", False)
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, "body_timeout", f"the request body was not received within {timeout:g} s") from None
    return _decode(b"".join(chunks))


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        data: Any = json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise ApiError(400, "malformed_json", f"the request body nests deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: invalid JSON, or an integer too long to convert
        raise ApiError(400, "malformed_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "the request body must be a JSON object")
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(data) > MAX_DEPTH:  # fewer brackets: not that deep
        raise ApiError(400, "malformed_json", f"the request body nests deeper than {MAX_DEPTH} levels")
    return dict(data)  # pyright: ignore[reportUnknownArgumentType]


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]!r} is out of range")
    return value


def _no_constant(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number")


def _depth(data: Any) -> int:
    """How deeply arrays and objects nest in `data` (iteratively: the body may be deep)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        children: list[Any]
        if isinstance(value, dict):
            children = list(cast(dict[str, Any], value).values())
        elif isinstance(value, list):
            children = cast(list[Any], value)
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_body(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate a request body as `model`; 422 naming each invalid field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", "the request body is invalid", validation_details(exc)) from None


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is larger than {max_bytes} bytes")
