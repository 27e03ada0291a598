"""Every Python code block in README.md and docs/*.md runs, so no documented API can be missing."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file, in order."""
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


DOCUMENTS = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] if python_blocks(p)]


def test_documents_with_code_are_found() -> None:
    assert {p.name for p in DOCUMENTS} >= {"README.md", "concepts.md", "patterns.md"}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_document_code_runs(document: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(document)
    script = tmp_path / f"docs_{document.stem.replace('-', '_')}.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOCK_MODEL", raising=False)
    monkeypatch.setattr(sys, "argv", [str(script)])
    runpy.run_path(str(script), run_name=f"docs_{document.stem.replace('-', '_')}")
