"""The HTML graph page: self-contained, escaped, and rendered by headless Chromium without console errors.

The Chromium check needs the Debian `chromium` package. When it is missing the fixture installs it (as root,
with apt-get); if that is impossible the test fails under CI (`CI` set) and is skipped elsewhere, saying why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flock_core import Artifact
from flock_core.tracing import LineageGraph, declared_graph, lineage_graph

from .conftest import Topic, make_flock

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--dump-dom",
)


def _find_chromium() -> str | None:
    return next((path for name in _CANDIDATES if (path := shutil.which(name))), None)


def _install_chromium() -> str:
    """Try `apt-get install chromium`; returns what went wrong (empty when it worked)."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available on this machine"
    if os.geteuid() != 0:
        return "installing needs root (run: apt-get update && apt-get install -y chromium)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command, timeout in ((["apt-get", "update"], 300), (["apt-get", "install", "-y", "chromium"], 600)):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
        except subprocess.TimeoutExpired:
            return f"{' '.join(command)} timed out after {timeout} s"
        if done.returncode != 0:
            return f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
    return ""


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a headless-capable Chromium, installed with apt-get if needed."""
    found = _find_chromium()
    if found is None:
        problem = _install_chromium()
        found = _find_chromium()
        if found is None:
            reason = f"headless Chromium is needed to check the HTML graph: {problem or 'not found after install'}"
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
    return found


def render(chromium: str, page: Path, tmp_path: Path, fragment: str = "") -> tuple[str, list[str]]:
    """Load `page` in headless Chromium; returns the DOM after scripts ran and any console messages."""
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    done = subprocess.run(
        [chromium, *_FLAGS, f"--user-data-dir={profile}", page.as_uri() + fragment],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return done.stdout, console


def node_classes(dom: str) -> dict[str, str]:
    return {m.group(2): m.group(1) for m in re.finditer(r'<g class="([^"]*)" data-id="([^"]+)"', dom)}


@pytest.fixture
async def two_runs() -> LineageGraph:
    flock = make_flock(judge=True)
    await flock.arun(Topic(name="bees"))
    await flock.arun(Topic(name="ants"))
    return await lineage_graph(flock.store)


@pytest.mark.anyio
@pytest.mark.timeout(900)  # the first use may install Chromium
async def test_lineage_page_renders_without_console_errors(
    chromium: str, two_runs: LineageGraph, tmp_path: Path
) -> None:
    page = tmp_path / "lineage.html"
    page.write_text(two_runs.to_html(), encoding="utf-8")
    dom, console = render(chromium, page, tmp_path)
    assert console == []
    assert '<div id="flock-graph-ready" hidden="" data-nodes="18" data-edges="20"></div>' in dom
    assert "Select a node to see its details" in dom
    # a link to a node selects it: its lineage stays bright, the other workflow is dimmed
    dom, console = render(chromium, page, tmp_path, "#x2")
    assert console == []
    classes = node_classes(dom)
    assert classes["x2"] == "node kind-activation selected"
    assert {classes[n] for n in ("a1", "x1", "a2", "a5", "x3", "a6")} == {
        "node kind-artifact",
        "node kind-activation",
        "node kind-artifact error",
        "node kind-activation error",
    }
    assert all(classes[f"a{i}"].endswith(" dim") for i in range(7, 13))
    assert "<dt>agent</dt><dd>summarise</dd>" in dom


@pytest.mark.timeout(900)
def test_declared_page_renders_without_console_errors(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "agents.html"
    page.write_text(declared_graph(make_flock(judge=True)).to_html(), encoding="utf-8")
    dom, console = render(chromium, page, tmp_path)
    assert console == []
    assert 'data-nodes="5" data-edges="4"' in dom


def test_console_errors_are_caught_by_the_check(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>x</title><script>console.error('bad'); missing();</script>")
    _, console = render(chromium, page, tmp_path)
    assert len(console) == 2
    assert "Uncaught ReferenceError: missing is not defined" in console[1]


@pytest.mark.anyio
async def test_page_is_self_contained_and_escapes_what_it_shows(two_runs: LineageGraph) -> None:
    html = two_runs.to_html(title="<script>alert(1)</script>")
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>]*", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    assert re.findall(r"<(?:link|script|img)\b[^>]*>", html) == [
        '<link rel="icon" href="data:,">',
        '<script type="application/json" id="flock-graph-data">',
        "<script>",
    ]
    assert "<script>alert(1)" not in html
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in html


def test_node_labels_cannot_close_the_data_script() -> None:
    label = "</script><script>alert(1)</script>"
    graph = LineageGraph.from_artifacts([Artifact(type=label, payload={}, correlation_id="c")])
    html = graph.to_html()
    assert html.count("</script>") == 2
    data = html.split('id="flock-graph-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["nodes"][0]["label"] == label
