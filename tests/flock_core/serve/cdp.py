"""A headless Chromium driven over the DevTools protocol, for the dashboard's browser test.

`Browser.launch()` finds Chromium (installing Debian's package when missing and possible), starts it with
`--remote-debugging-port=0`, reads the port from `DevToolsActivePort`, and connects to the page target with
`websockets`. Every host name resolves to nothing except 127.0.0.1, so the page cannot reach the network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
from websockets.asyncio.client import ClientConnection, connect

__all__ = ["FLAGS", "Page", "find_chromium", "launch"]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-pings",
    "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
]


def find_chromium() -> tuple[str | None, str]:
    """The Chromium executable (installing Debian's `chromium` if missing and possible), or `None` and why."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found, ""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None, "Chromium is not installed and apt-get is not usable here (need root)"
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=500,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if result.returncode != 0:
            return None, f"`{' '.join(command)}` failed: {result.stderr.strip()[-500:]}"
    found = shutil.which("chromium")
    return found, "" if found else "apt-get installed chromium, but no `chromium` executable was found"


class Page:
    """One page target: send commands, evaluate JavaScript, and collect console errors."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._next_id = 0
        self.errors: list[str] = []

    def _record(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(f"exception: {details.get('exception', {}).get('description', details['text'])}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.errors.append(
                "console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(f"log ({entry['source']}): {entry['text']} {entry.get('url', '')}")

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events received meanwhile are recorded)."""
        self._next_id += 1
        await self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self._socket.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self._record(message)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises are awaited)."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 10) -> Any:
        """Poll until the expression is truthy; return its value."""
        with anyio.fail_after(timeout):
            while not (value := await self.evaluate(expression)):  # noqa: ASYNC110 - polling
                await anyio.sleep(0.05)
        return value


async def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    marker = profile / "DevToolsActivePort"
    with anyio.fail_after(20):
        while not marker.exists() or not marker.read_text().strip():
            if process.poll() is not None:
                raise RuntimeError(f"Chromium exited with {process.returncode}")
            await anyio.sleep(0.05)
    return int(marker.read_text().splitlines()[0])


@asynccontextmanager
async def launch(executable: str, profile: Path) -> AsyncGenerator[Page]:
    """Start headless Chromium with a fresh profile and yield its first page, with console capture on."""
    process = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block; it is waited for below
        [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = await _devtools_port(profile, process)
        async with httpx.AsyncClient() as http:
            targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with connect(url, max_size=None) as socket:
            page = Page(socket)
            for domain in ("Runtime", "Log", "Page"):
                await page.send(f"{domain}.enable")
            yield page
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
