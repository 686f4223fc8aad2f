"""``python -m tests.support.relay LISTEN_PORT TARGET_HOST TARGET_PORT``: a TCP relay from
``127.0.0.1:LISTEN_PORT`` to ``TARGET_HOST:TARGET_PORT``.

The probe agent speaks plain ``http://`` only to a loopback address; an agent run in a
namespace of its own (``TestNetwork.add_client``) reaches ``cloudperf serve`` in the root
namespace through this relay, started in the same namespace. Each connection is relayed to
a new connection to the target (refused while the target is down: the agent sees the outage
as it would see a stopped server). Prints ``relaying`` once listening; runs until killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def _relay(host: str, port: int, listen_port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print("relaying", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    listen_port, host, port = int(argv[0]), argv[1], int(argv[2])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_relay(host, port, listen_port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
