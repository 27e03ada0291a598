"""Tests of the network guard that keeps tests on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from flock_core.testing._fake_openai import FakeOpenAIServer
from flock_core.testing._network import NetworkBlockedError, block_network


def test_the_session_guard_is_active() -> None:
    with pytest.raises(NetworkBlockedError, match=r"tried 10\.0\.0\.1:80"):
        socket.create_connection(("10.0.0.1", 80), timeout=0.1)


@pytest.mark.parametrize(
    "connect",
    [
        pytest.param(lambda: socket.create_connection(("10.0.0.1", 80), timeout=0.1), id="create_connection"),
        pytest.param(lambda: socket.create_connection(("example.com", 80), timeout=0.1), id="hostname"),
        pytest.param(lambda: socket.getaddrinfo("example.com", 443), id="getaddrinfo"),
        pytest.param(lambda: httpx.get("http://example.com/", timeout=0.1), id="httpx"),
    ],
)
def test_non_loopback_hosts_are_blocked(connect: Callable[[], object]) -> None:
    with block_network(), pytest.raises(NetworkBlockedError, match="tests may only connect to loopback"):
        connect()


@pytest.mark.parametrize("method", ["connect", "connect_ex"])
@pytest.mark.parametrize(
    ("family", "address", "shown"),
    [
        (socket.AF_INET, ("10.0.0.1", 80), "10.0.0.1:80"),
        (socket.AF_INET, ("example.com", 80), "example.com:80"),
        (socket.AF_INET6, ("2001:db8::1", 443, 0, 0), "[2001:db8::1]:443"),
    ],
)
def test_raw_socket_connects_are_blocked(
    method: str, family: socket.AddressFamily, address: tuple[object, ...], shown: str
) -> None:
    with (
        block_network(),
        socket.socket(family, socket.SOCK_STREAM) as sock,
        pytest.raises(NetworkBlockedError) as caught,
    ):
        getattr(sock, method)(address)
    assert str(caught.value).endswith(f"tried {shown}")
    assert isinstance(caught.value, RuntimeError)
    assert not isinstance(caught.value, OSError)


def test_loopback_is_allowed(fake_openai: FakeOpenAIServer) -> None:
    with block_network():
        for host in ("127.0.0.1", "localhost"):
            url = f"http://{host}:{fake_openai.port}/v1/models"
            assert httpx.get(url).status_code == 200
        assert socket.getaddrinfo("localhost", 80)
        assert socket.getaddrinfo(None, 80)


def test_a_closed_loopback_port_fails_as_usual() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with block_network(), pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()


def test_unix_sockets_are_allowed(tmp_path: Path) -> None:
    with block_network(), socket.socket(socket.AF_UNIX) as sock, pytest.raises(FileNotFoundError):
        sock.connect(f"{tmp_path}/missing.sock")


def test_nested_blocks_restore_what_they_replaced() -> None:
    before = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo)
    with block_network():
        assert socket.getaddrinfo is not before[3]
    after = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo)
    assert after == before


def test_importing_the_guard_patches_nothing() -> None:
    code = (
        "import socket; originals = (socket.socket.connect, socket.create_connection, socket.getaddrinfo)\n"
        "import flock_core.testing._network\n"
        "assert 'connect' not in vars(socket.socket)\n"
        "assert (socket.socket.connect, socket.create_connection, socket.getaddrinfo) == originals\n"
        "from flock_core.testing._network import block_network\n"
        "with block_network(): pass\n"
        "assert 'connect' not in vars(socket.socket) and 'connect_ex' not in vars(socket.socket)\n"
        "assert (socket.socket.connect, socket.create_connection, socket.getaddrinfo) == originals\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
