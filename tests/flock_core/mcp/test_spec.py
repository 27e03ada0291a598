"""`McpServerSpec`: the two transports and their validation."""

from __future__ import annotations

import pytest

from flock_core.exceptions import ConfigurationError
from flock_core.mcp import McpServerSpec


def test_stdio_and_http_specs() -> None:
    stdio = McpServerSpec.stdio("uvx", ["server"], env={"K": "v"}, cwd="/tmp", tools=["a"], timeout=5)
    assert (stdio.transport, stdio.command, stdio.args, stdio.env, stdio.cwd) == (
        "stdio",
        "uvx",
        ("server",),
        {"K": "v"},
        "/tmp",
    )
    assert (stdio.tools, stdio.timeout, stdio.url) == (frozenset({"a"}), 5, None)
    http = McpServerSpec.http("https://example.invalid/mcp", headers={"Authorization": "Bearer t"})
    assert (http.transport, http.url, dict(http.headers), http.tools) == (
        "streamable-http",
        "https://example.invalid/mcp",
        {"Authorization": "Bearer t"},
        None,
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: McpServerSpec("stdio"),
        lambda: McpServerSpec("stdio", command="x", url="http://h"),
        lambda: McpServerSpec("streamable-http"),
        lambda: McpServerSpec.http("ftp://h"),
        lambda: McpServerSpec("streamable-http", command="x", url="http://h"),
        lambda: McpServerSpec.stdio("x", timeout=0),
    ],
)
def test_invalid_specs(build: object) -> None:
    with pytest.raises(ConfigurationError):
        build()  # type: ignore[operator]


def test_declaring_servers_does_not_import_the_mcp_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from flock_core.mcp import McpServerSpec, McpToolbox; box = McpToolbox(); "
        "box.add('s', McpServerSpec.stdio('x')); print('mcp' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"
