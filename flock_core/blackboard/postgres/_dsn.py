"""Connection strings: the startup options every connection of a store gets, and a printable DSN."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = ["conninfo", "redacted"]


def _escape_option(value: str) -> str:
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def conninfo(dsn: str, schema: str, settings: dict[str, str]) -> str:
    """`dsn` with startup options: the search path, UTC, and `settings` (appended to the DSN's own options)."""
    params = conninfo_to_dict(dsn)
    options = [str(params.pop("options", "") or "")]
    for name, value in {"search_path": schema, "TimeZone": "UTC", **settings}.items():
        options.append(f"-c {name}={_escape_option(value)}")
    params.setdefault("application_name", "flock_core")
    return make_conninfo("", **params, options=" ".join(o for o in options if o))


def redacted(dsn: str) -> str:
    """`dsn` without its password, for messages."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<invalid DSN>"
    params.pop("password", None)
    return make_conninfo("", **params)
