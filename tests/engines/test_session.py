from __future__ import annotations

import pytest

from engines._offline import OfflineLM
from engines._session import DSPySession
from engines._settings import EngineSettings


def test_one_lm_and_adapter_per_model_reused() -> None:
    session = DSPySession(EngineSettings(adapter="xml"))
    lm, adapter = session.runtime("offline")
    assert isinstance(lm, OfflineLM)
    assert session.runtime("offline") == (lm, adapter)
    other, _ = session.runtime("openai/gpt-4.1-mini")
    assert other is not lm


@pytest.mark.parametrize("model", ["offline", "openai/gpt-4.1-mini"])
def test_lms_keep_no_cache(model: str) -> None:
    lm, _ = DSPySession(EngineSettings()).runtime(model)
    assert lm.cache is False
