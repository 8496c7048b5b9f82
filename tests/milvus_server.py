"""Start and stop a real Milvus standalone server for the `milvus_server` tests.

Uses the `milvus-server` launcher of the PyPI package `milvus` (2.3.x: standalone with embedded
etcd). It is found via $DESKTOP_DEDUP_MILVUS_SERVER, then PATH, then /tmp/milvus-venv/bin. The
launcher spawns `milvus run standalone`, which outlives it, so the server runs in its own process
group and is stopped by signalling the whole group.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Optional

CANDIDATES = ("/tmp/milvus-venv/bin/milvus-server",)


class ServerUnavailable(Exception):
    """The server cannot run here (no launcher, failed start, timeout); the reason is the message."""


def find_launcher() -> Optional[str]:
    env = os.environ.get("DESKTOP_DEDUP_MILVUS_SERVER")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = shutil.which("milvus-server")
    if found:
        return found
    return next((c for c in CANDIDATES if os.access(c, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MilvusServer:
    """`with MilvusServer(data_dir) as uri:` or start()/stop()."""

    def __init__(self, data_dir: str, *, port: Optional[int] = None, timeout: float = 180.0):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.timeout = timeout
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(data_dir, "server.log")

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        launcher = find_launcher()
        if not launcher:
            raise ServerUnavailable("no milvus-server launcher (pip install milvus==2.3.5 into /tmp/milvus-venv, "
                                    "or set DESKTOP_DEDUP_MILVUS_SERVER)")
        os.makedirs(self.data_dir, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([launcher, "--data", self.data_dir, "--proxy-port", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        except OSError as exc:
            raise ServerUnavailable(f"cannot run {launcher}: {exc}") from exc
        finally:
            log.close()
        try:
            self._wait_ready()
        except ServerUnavailable:
            self.stop()
            raise
        return self.uri

    def _wait_ready(self) -> None:
        from pymilvus import MilvusClient

        deadline = time.monotonic() + self.timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerUnavailable(f"milvus-server exited with {self.proc.returncode}: {self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                c = MilvusClient(uri=self.uri, timeout=5)
                c.list_collections()
                c.close()
                return
            except Exception as exc:  # not up yet
                last = str(exc)[:200]
            time.sleep(1.0)
        raise ServerUnavailable(f"milvus-server not ready after {self.timeout:.0f} s ({last}): {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                return fh.read()[-800:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            pgid = self.proc.pid  # the launcher is gone; its session id is still its pid
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):  # data is throwaway
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            t0 = time.monotonic()
            while time.monotonic() - t0 < wait and _group_alive(pgid):
                try:
                    self.proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
            if not _group_alive(pgid):
                break
        self.proc = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
