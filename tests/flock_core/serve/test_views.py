"""The JSON views of records: `artifact_json` sends exactly what `artifact_view` describes."""

from __future__ import annotations

import json

import pytest

from flock_core import Artifact, LabelledVisibility, TenantVisibility
from flock_core.serve._views import artifact_json, artifact_view


@pytest.mark.parametrize("tags", [frozenset[str](), frozenset({"only"}), frozenset({"b", "a", "c"})])
def test_artifact_json_is_the_artifact_view(tags: frozenset[str]) -> None:
    artifacts = [
        Artifact(type="Note", payload={"text": "héllo ✓", "score": 0.1, "big": 10**20, "nested": [{"x": None}]},
                 correlation_id="c", tags=tags),
        Artifact(type="Note", payload={}, correlation_id="c", tags=tags, partition_key="p",
                 visibility=LabelledVisibility(required_labels=frozenset({"l2", "l1"}), tenant="acme")),
        Artifact(type="Note", payload={}, correlation_id="c", tags=tags, visibility=TenantVisibility(tenant_id="t"),
                 trace_context={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}),
    ]  # fmt: skip
    for artifact in artifacts:
        sent = artifact_json(artifact)
        assert json.loads(sent) == artifact_view(artifact)
        assert "héllo ✓".encode() in sent or not artifact.payload  # UTF-8, not escaped, as JSON responses are
