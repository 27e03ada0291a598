"""`flock optimize`, `flock evaluate` and `flock manifest` end to end, on the simulated model (`tiny_task.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engines import evaluate, import_manifest, read_manifest
from flock_core.cli._main import main

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _in_this_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)  # MODULE:TASK imports from the current directory, as on the command line


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_optimize_reports_before_and_after_per_agent_and_saves_a_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, manifest = tmp_path / "report.html", tmp_path / "router.manifest.json"
    status, out, err = run(
        capsys, "optimize", "tiny_task:task", "--progress", "plain", "--report", str(report), "--save", str(manifest)
    )
    assert status == 0, err
    assert "score: 33.3% before -> 100.0% after (+66.7 points)" in out
    assert "triage  33.3% of 3 runs -> 100.0% of 3 runs" in out
    assert "learned triage/0 (changed): 4 demos" in out
    assert "flock optimize: trial 1/5 bootstrap 'training set': score 50.0%" in err  # plain progress lines
    assert "flock optimize: scoring test after: done score 100.0%" in err
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") == 1
    assert '<td>triage</td><td class="n">33.3%</td>' in page
    assert "<script" not in page
    assert "Ticket {&quot;text&quot;: &quot;my fries are missing from the bag&quot;}" in page  # demos, escaped

    import tiny_task

    fresh = tiny_task.build()
    import_manifest(fresh, read_manifest(manifest))
    assert evaluate(fresh, tiny_task.TEST, tiny_task.right_category).score == 1.0


def test_optimize_json_and_a_call_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["optimize", "tiny_task:task", "--progress", "off", "--json", "--report", str(tmp_path / "r.html")]
    status, out, _ = run(capsys, *argv, "--max-calls", "7", "--run-dir", str(tmp_path / "run"))
    assert status == 0
    summary = json.loads(out)
    assert summary["stop_reason"] == "budget"
    assert summary["optimization"]["calls"] <= 7
    assert [trial["kind"] for trial in summary["trials"]] == ["bootstrap"]
    assert summary["before"] == pytest.approx(1 / 3)
    _, again, _ = run(capsys, *argv, "--max-calls", "7", "--run-dir", str(tmp_path / "run"))
    assert json.loads(again)["optimization"]["calls"] <= 7  # a resume spends nothing more


def test_optimize_with_gepa_reports_its_reflections_and_the_learned_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["optimize", "tiny_task:task", "--optimizer", "gepa", "--progress", "plain", "--report", ""]
    status, out, err = run(capsys, *argv)
    assert status == 0, err
    assert "score: 33.3% before -> 100.0% after (+66.7 points)" in out
    assert 'learned triage/0 (changed): 0 demos, instructions "Classify the support ticket. If the ticket ment' in out
    assert "flock optimize: trial 1/5 baseline 'baseline': score 33.3%" in err
    assert "trial 2/5 reflect 'iteration 1: triage/0 2 -> 3 accepted'" in err  # a line per reflection


def test_evaluate_scores_a_split_and_imports_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "eval.html"
    status, out, _ = run(
        capsys, "evaluate", "tiny_task:task", "--split", "dev", "--progress", "off", "--report", str(report)
    )
    assert status == 0
    assert "flock evaluate tiny_task:task: dev split, 3 examples\n  score: 33.3%" in out
    manifest = tmp_path / "m.json"
    run(capsys, "optimize", "tiny_task:task", "--progress", "off", "--report", "", "--save", str(manifest))
    status, out, _ = run(capsys, "evaluate", "tiny_task:task", "--manifest", str(manifest), "--progress", "off")
    assert status == 0
    assert "score: 100.0%" in out
    assert "Score on the dev split (3 examples)" in report.read_text(encoding="utf-8")


def test_manifest_export_check_and_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain, optimized = tmp_path / "plain.json", tmp_path / "optimized.json"
    assert run(capsys, "manifest", "export", "tiny_task:flock", "-o", str(plain))[0] == 0
    assert (
        run(capsys, "optimize", "tiny_task:task", "--progress", "off", "--report", "", "--save", str(optimized))[0] == 0
    )
    status, out, _ = run(capsys, "manifest", "check", "tiny_task:flock", str(optimized))
    assert (status, "matches the declarations" in out) == (0, True)
    status, _, err = run(capsys, "manifest", "check", "tiny_task:changed", str(optimized))
    assert status == 2
    assert "ManifestMismatchError: agent 'triage': the manifest's description does not match" in err
    status, out, _ = run(capsys, "manifest", "diff", str(plain), str(optimized))
    assert status == 1
    assert out.startswith("+ agents.reply.learned.0:")
    assert "+ agents.triage.learned.0:" in out
    assert run(capsys, "manifest", "diff", str(plain), "tiny_task:build") == (0, "", "")  # a factory works too


def test_a_target_that_is_not_a_task_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "optimize", "tiny_task:flock")
    assert status == 2
    assert err == "flock: tiny_task:flock is not an engines.LearningTask (got Flock)\n"


@pytest.mark.slow  # a new interpreter imports DSPy (several seconds on a loaded machine)
def test_the_console_script_finds_the_commands_through_their_entry_points() -> None:
    code = "import sys; from flock_core.cli._main import main; sys.exit(main())"
    argv = ["evaluate", "tiny_task:task", "--progress", "plain", "--json", "--report", ""]
    command = [sys.executable, "-c", code, *argv]
    done = subprocess.run(command, check=False, cwd=HERE, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["after"] == pytest.approx(1 / 3)
    assert "flock evaluate: scoring test: done score 33.3%" in done.stderr
