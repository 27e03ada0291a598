"""Install as users do: build the sdist and wheel, install the wheel into a fresh virtualenv, run it there.

The build runs without isolation (hatchling is a dev dependency) and the install uses `uv`, whose cache makes
the second run take seconds; the first run downloads the dependencies from the package index. When that is
impossible the test fails on CI (CI=true) and is skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from flock_core import __version__

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT)
    return out


def test_the_sdist_and_wheel_carry_the_packages_typing_marker_license_and_metadata(dist: Path) -> None:
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    assert (wheel.name, sdist.name) == (
        f"flockboard-{__version__}-py3-none-any.whl",
        f"flockboard-{__version__}.tar.gz",
    )
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = Parser().parsestr(archive.read(f"flockboard-{__version__}.dist-info/METADATA").decode())
        entry_points = archive.read(f"flockboard-{__version__}.dist-info/entry_points.txt").decode()
    assert {"flock_core/py.typed", "engines/py.typed", f"flockboard-{__version__}.dist-info/licenses/LICENSE"} <= names
    assert {n.split("/")[0] for n in names} == {"flock_core", "engines", f"flockboard-{__version__}.dist-info"}
    assert (metadata["License-Expression"], metadata["Requires-Python"]) == ("MIT", ">=3.11")
    assert sorted(u.split(",")[0] for u in metadata.get_all("Project-URL") or []) == [
        "Changelog",
        "Documentation",
        "Homepage",
        "Issues",
        "Source",
    ]
    assert "Typing :: Typed" in (metadata.get_all("Classifier") or [])
    assert "flock = flock_core.cli._main:main" in entry_points
    assert "default = engines:DSPyEngine" in entry_points
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "LICENSE", "README.md", "flock_core/py.typed", "examples/demo.py"} <= members


def test_the_classifiers_list_the_pythons_make_test_all_runs() -> None:
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    claimed = [c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    [line] = [ln for ln in (ROOT / "Makefile").read_text().splitlines() if ln.startswith("PYTHONS :=")]
    assert claimed == line.split(":=")[1].split()


def test_the_wheel_installed_in_a_fresh_virtualenv_imports_runs_the_cli_and_the_demo(
    dist: Path, tmp_path: Path
) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv is not None, "uv is a dev dependency"
    [wheel] = dist.glob("*.whl")
    venv = tmp_path / "venv"
    run(uv, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        reason = f"could not install the wheel's dependencies: {done.stderr.strip()[-1000:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    elsewhere = tmp_path / "user"  # away from the checkout, so only the installed packages can be imported
    elsewhere.mkdir()
    imported = run(
        python, "-c", "import flock_core, engines; print(flock_core.__file__, engines.__file__)", cwd=elsewhere
    )
    assert all(str(venv) in path for path in imported.split())
    assert run(venv / "bin" / "flock", "--version", cwd=elsewhere).strip().endswith(__version__)
    assert "usage: flock" in run(venv / "bin" / "flock", "--help", cwd=elsewhere)
    shutil.copy(ROOT / "examples" / "demo.py", elsewhere / "demo.py")
    output = run(python, "demo.py", cwd=elsewhere)
    assert "11 artifacts, state=completed, errors=0" in output
