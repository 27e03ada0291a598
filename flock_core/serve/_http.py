"""HTTP plumbing shared by the routes: the error shape, JSON bodies with a size limit, JSON responses."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["ApiError", "error_response", "json_response", "parse_body", "read_json", "validation_details"]

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
    headers = {"WWW-Authenticate": 'Bearer realm="flock"'} if error.status == 401 else None
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


async def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object: 413 when larger than `max_bytes`, 400 when not a JSON object."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    try:
        data: Any = json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "the request body must be a JSON object")
    return dict(data)  # pyright: ignore[reportUnknownArgumentType]


def parse_body(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate a request body as `model`; 422 naming each invalid field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", "the request body is invalid", validation_details(exc)) from None


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is larger than {max_bytes} bytes")
