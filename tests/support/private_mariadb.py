"""A private, throw-away MariaDB server with TLS, for tests that must not touch the shared one.

The shared server on 127.0.0.1:3306 has TLS disabled, and turning it on would need a restart
under every other test run. This starts a second ``mariadbd`` from the same installation on
a free loopback port with a fresh data directory (``mariadb-install-db``, under a second) and
the given certificate; it is stopped and its data deleted afterwards.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 30.0
_SMALL = ["--innodb-log-file-size=4M", "--innodb-data-file-path=ibdata1:4M:autoextend"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _tool(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError(f"{name} not found: the MariaDB server package is needed for this test")


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            return bool(sock.recv(1))  # the server greets first
    except OSError:
        return False


@contextmanager
def private_mariadb(folder: Path, cert: Path, key: Path) -> Iterator[int]:
    """Run a TLS-enabled MariaDB (root without password on TCP); yields its port."""
    datadir = folder / "data"
    subprocess.run(
        [_tool("mariadb-install-db"), "--no-defaults", f"--datadir={datadir}",
         "--auth-root-authentication-method=normal", "--skip-test-db", "--user=root", *_SMALL],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    port = _free_port()
    log_file = (folder / "mysqld.log").open("wb")
    server = subprocess.Popen(
        [_tool("mariadbd"), "--no-defaults", f"--datadir={datadir}", "--user=root",
         f"--port={port}", "--bind-address=127.0.0.1", f"--socket={folder / 'mysqld.sock'}",
         f"--pid-file={folder / 'mysqld.pid'}", f"--ssl-cert={cert}", f"--ssl-key={key}",
         "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--skip-name-resolve", *_SMALL],
        stdout=subprocess.DEVNULL, stderr=log_file,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepting(port):
            if server.poll() is not None or time.monotonic() > deadline:
                log = (folder / "mysqld.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the private MariaDB did not start:\n{log}")
            time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log_file.close()
        shutil.rmtree(datadir, ignore_errors=True)
