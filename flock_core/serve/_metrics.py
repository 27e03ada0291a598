"""Counters of a Flock's run events, rendered in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

from collections import Counter

from ..orchestration._events import (
    ActivationFailed,
    ActivationFinished,
    ActivationStarted,
    ArtifactPublished,
    FlockEvent,
)

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COUNTERS: dict[str, tuple[str, str]] = {
    "flock_artifacts_published_total": ("type", "Artifacts stored on the blackboard, by type."),
    "flock_activations_started_total": ("agent", "Activations started, by agent."),
    "flock_activations_finished_total": ("agent", "Activations that published their outputs, by agent."),
    "flock_activations_failed_total": ("agent", "Activations that failed (a WorkflowError was published), by agent."),
}


class Metrics:
    """Counts run events since the server was created; subscribe `observe` to `flock.events`."""

    def __init__(self) -> None:
        self.counters: dict[str, Counter[str]] = {name: Counter() for name in _COUNTERS}
        self.stream_clients = 0

    def observe(self, event: FlockEvent) -> None:
        """Count one run event."""
        if isinstance(event, ArtifactPublished):
            self.counters["flock_artifacts_published_total"][event.artifact.type] += 1
        elif isinstance(event, ActivationStarted):
            self.counters["flock_activations_started_total"][event.agent] += 1
        elif isinstance(event, ActivationFinished):
            self.counters["flock_activations_finished_total"][event.agent] += 1
        elif isinstance(event, ActivationFailed):
            self.counters["flock_activations_failed_total"][event.agent] += 1

    def render(self) -> str:
        """The metrics in the Prometheus text format."""
        lines: list[str] = []
        for name, (label, text) in _COUNTERS.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
            lines += [
                f'{name}{{{label}="{_escape(key)}"}} {value}' for key, value in sorted(self.counters[name].items())
            ]
        lines += [
            "# HELP flock_event_stream_clients Clients connected to the event stream.",
            "# TYPE flock_event_stream_clients gauge",
            f"flock_event_stream_clients {self.stream_clients}",
        ]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    r"""Escape a label value: backslash, double quote and line feed.

    >>> _escape('a"b\\c\nd')
    'a\\"b\\\\c\\nd'
    """
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
