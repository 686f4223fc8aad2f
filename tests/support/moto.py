"""moto's SQS emulator for tests: one in-process server per test session, on a free port.

The server starts on first use (``moto_endpoint()``) and stops at interpreter exit; tests
keep apart by using uniquely named queues (``unique_name``).
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid

from moto.server import ThreadedMotoServer

_lock = threading.Lock()
_server: ThreadedMotoServer | None = None
_endpoint: str | None = None


def moto_endpoint() -> str:
    """``http://127.0.0.1:PORT`` of the session's moto server, starting it if needed."""
    global _server, _endpoint
    with _lock:
        if _endpoint is None:
            # werkzeug logs every request to stderr; keep test output readable.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            _server, _endpoint = server, f"http://{host}:{port}"
            atexit.register(_stop)
        return _endpoint


def _stop() -> None:
    global _server, _endpoint
    with _lock:
        if _server is not None:
            _server.stop()
        _server, _endpoint = None, None


def unique_name(prefix: str) -> str:
    """A queue name no other test in this session uses (SQS names: <= 80 chars)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"
