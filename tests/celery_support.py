"""A real redis-server on a free loopback port, real `s4 worker` and `s4 run` processes."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import redis

from s4.config import Home
from tests.conftest import S4_BIN, wait_for

PASSWORD_ENV = "S4_REDIS_PASSWORD"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """``redis-server`` with a password and no persistence (a restart forgets everything)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `make install`")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--requirepass", self.password, "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, 20, "redis-server to answer")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=5)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)

    def restart(self) -> None:
        """Like a broker machine losing power: kill -9, start again on the same port."""
        self.kill()
        self.start()


def use_celery(home: Home, server: RedisServer, lease_seconds: float = 4.0,
               max_attempts: int = 3) -> None:
    text = home.settings_file.read_text()
    for old, new in (('executor = "local"', 'executor = "celery"'),
                     ('broker = "redis://127.0.0.1:6379/0"',
                      f'broker = "redis://127.0.0.1:{server.port}/0"'),
                     ("lease_seconds = 30.0", f"lease_seconds = {lease_seconds}"),
                     ("max_attempts = 3", f"max_attempts = {max_attempts}")):
        assert old in text, old
        text = text.replace(old, new)
    home.settings_file.write_text(text)


class S4Process:
    """A real `s4` subprocess in its own process group, with the broker's password."""

    def __init__(self, home: Home, server: RedisServer, name: str, *args: str,
                 env: dict[str, str] | None = None):
        self.log = home.root / f"{name}.log"
        self.handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(S4_BIN), "--home", str(home.root), *args],
            env={**os.environ, PASSWORD_ENV: server.password, "OMP_THREAD_LIMIT": "1",
                 **(env or {})},
            stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self.handle.close()
        return code

    def end(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.handle.close()


def registered(server: RedisServer) -> set[str]:
    """Registry names (host:pid) of the workers alive now."""
    client = server.client()
    try:
        return {name.decode().split(":", 2)[2] for name in client.scan_iter("s4:workers:*")}
    except redis.RedisError:
        return set()
    finally:
        client.close()
