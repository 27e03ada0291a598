from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import engines


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in vars(engines) if not name.startswith("_")}
    assert engines.__all__ == sorted(engines.__all__, key=lambda name: (not name.isupper(), name))
    assert set(engines.__all__) == public | engines._LAZY  # pyright: ignore[reportPrivateUsage]


def test_baml_adapter_is_dspys_and_loads_on_first_use() -> None:
    from dspy.adapters.baml_adapter import BAMLAdapter

    assert engines.BAMLAdapter is BAMLAdapter


def test_import_loads_neither_dspy_nor_litellm() -> None:
    code = "import sys, engines; print(sorted({'dspy', 'litellm'} & set(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_the_default_engine_entry_point_is_dspy_engine() -> None:
    [entry_point] = entry_points(group="flock_core.engines", name="default")
    assert entry_point.value == "engines:DSPyEngine"
    assert entry_point.load() is engines.DSPyEngine
