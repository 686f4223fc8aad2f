"""``python -m tests.support.console_server``: the API app (console included) under uvicorn on
a loopback port the OS picks, configured from ``CLOUDPERF_*`` as ``cloudperf serve`` is.

It prints ``listening http://127.0.0.1:PORT`` once the socket accepts connections, then
serves until SIGTERM/SIGINT. The browser tests run it as a separate process, as a user runs
the server, over the SQLite file that ``cloudperf measure`` wrote; it stands in for
``cloudperf serve`` until that command exists.
"""

from __future__ import annotations

import socket
import sys

import uvicorn

from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.bootstrap import Config, Services


def main() -> int:
    config = Config.from_env()
    ctx = ApiContext(services=Services(config), settings=config.settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue from now on, so announcing before run() is safe
    print(f"listening http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx), log_level="warning", lifespan="off", access_log=False)
    )
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
