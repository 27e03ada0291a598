"""The benchmarks package lives at the repository root and is not installed: make it importable."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:  # `pytest` (unlike `python -m pytest`) does not put the working directory on sys.path
    sys.path.insert(0, ROOT)
