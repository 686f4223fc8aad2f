"""Userspace ICMP/ICMPv6 echo responder with per-address impairment, for test namespaces.

Run it INSIDE a network namespace whose kernel echo replies are off
(``net.ipv4.icmp_echo_ignore_all=1``, ``net.ipv6.icmp.echo_ignore_all=1``)::

    ip netns exec NS python -m tests.support.icmp_responder --seed 7 \
        --config '{"10.231.5.10": {"delay_ms": 30, "jitter_ms": 5}}'

``--config`` is a JSON object (or the path of a file holding one) mapping an address that is
assigned in the namespace to its impairment:

- ``delay_ms``: base delay added before the reply is sent;
- ``jitter_ms`` / ``jitter_dist``: ``"uniform"`` (default) adds a value drawn uniformly from
  ``[-jitter_ms, +jitter_ms]``; ``"normal"`` adds a normal variate with sigma ``jitter_ms``.
  The total delay is clamped at 0;
- ``loss``: probability that a request gets no reply at all;
- ``dup``: probability that the reply is sent twice (the copy ``dup_gap_ms`` after the first);
- ``silent``: never reply.

Every address has its own ``random.Random`` seeded from ``(seed, address)``, so the sequence of
decisions for one address does not depend on traffic to the others and runs are reproducible.

Protocol with the parent (line-oriented, so the parent can add hosts while the responder runs):
after the sockets for the initial config are open it prints ``ready``. Each stdin line is a JSON
object ``{"addr": ..., <impairment>}`` that adds or replaces one address; it is answered with
``ok ADDR`` or ``error ADDR MESSAGE``. EOF on stdin (the parent went away) ends the responder,
so an orphan never outlives its test run.

Replies are sent from a raw socket bound to the probed address, so the source of the reply is
the address that was probed. IPv4 checksums are computed here; for ``IPPROTO_ICMPV6`` raw
sockets Linux computes the checksum itself (RFC 3542), so it is left zero.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import ipaddress
import json
import os
import random
import select
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129


@dataclass
class Impairment:
    """How one address answers echo requests."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    jitter_dist: str = "uniform"
    loss: float = 0.0
    dup: float = 0.0
    dup_gap_ms: float = 0.0
    silent: bool = False

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Impairment:
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        imp = cls(**known)
        if imp.jitter_dist not in ("uniform", "normal"):
            raise ValueError(f"jitter_dist must be 'uniform' or 'normal', not {imp.jitter_dist!r}")
        for name in ("loss", "dup"):
            value = getattr(imp, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {value}")
        return imp


def checksum(data: bytes) -> int:
    """RFC 1071 internet checksum."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass
class Host:
    """One answering address: its socket, impairment and private RNG."""

    addr: str
    family: int
    sock: socket.socket
    impairment: Impairment
    rng: random.Random
    requests: int = 0

    def reply_delays_s(self) -> list[float]:
        """Decide, for one request, after which delays (seconds) replies are sent."""
        imp = self.impairment
        self.requests += 1
        # Draw every variate for every request, so one decision never shifts the others.
        u_loss, u_dup = self.rng.random(), self.rng.random()
        if imp.jitter_dist == "normal":
            jitter_ms = self.rng.gauss(0.0, imp.jitter_ms)
        else:
            jitter_ms = self.rng.uniform(-imp.jitter_ms, imp.jitter_ms)
        if imp.silent or u_loss < imp.loss:
            return []
        delay_s = max(0.0, imp.delay_ms + jitter_ms) / 1000.0
        delays = [delay_s]
        if u_dup < imp.dup:
            delays.append(delay_s + imp.dup_gap_ms / 1000.0)
        return delays


@dataclass(order=True)
class Pending:
    due: float
    seq: int
    host: Host = field(compare=False)
    dest: Any = field(compare=False)
    packet: bytes = field(compare=False)


class Responder:
    """Select loop over one raw socket per address plus stdin, and a heap of due replies."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.hosts: dict[str, Host] = {}
        self.by_fd: dict[int, Host] = {}
        self.pending: list[Pending] = []
        self._seq = 0

    def add(self, addr: str, impairment: Impairment) -> None:
        """Start answering for ``addr`` (or change its impairment)."""
        norm = str(ipaddress.ip_address(addr))
        if norm in self.hosts:
            self.hosts[norm].impairment = impairment
            return
        if ":" in norm:
            family = socket.AF_INET6
            sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            sock.bind((norm, 0))
        else:
            family = socket.AF_INET
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            sock.bind((norm, 0))
        sock.setblocking(False)
        host = Host(norm, family, sock, impairment, random.Random(f"{self.seed}/{norm}"))
        self.hosts[norm] = host
        self.by_fd[sock.fileno()] = host

    def _on_packet(self, host: Host) -> None:
        try:
            data, src = host.sock.recvfrom(65535)
        except BlockingIOError:
            return
        if host.family == socket.AF_INET:
            ihl = (data[0] & 0x0F) * 4
            icmp = data[ihl:]
            if len(icmp) < 8 or icmp[0] != ICMP_ECHO_REQUEST:
                return
            body = bytes([ICMP_ECHO_REPLY, 0, 0, 0]) + icmp[4:]
            csum = checksum(body)
            reply = body[:2] + csum.to_bytes(2, "big") + body[4:]
        else:
            icmp = data
            if len(icmp) < 8 or icmp[0] != ICMP6_ECHO_REQUEST:
                return
            reply = bytes([ICMP6_ECHO_REPLY, 0, 0, 0]) + icmp[4:]
        now = time.monotonic()
        for delay_s in host.reply_delays_s():
            self._seq += 1
            heapq.heappush(self.pending, Pending(now + delay_s, self._seq, host, src, reply))

    def _send_due(self) -> None:
        now = time.monotonic()
        while self.pending and self.pending[0].due <= now:
            item = heapq.heappop(self.pending)
            try:
                item.host.sock.sendto(item.packet, item.dest)
            except OSError as exc:  # a full queue or vanished route must not kill the loop
                print(f"send to {item.dest} failed: {exc}", file=sys.stderr, flush=True)

    def _on_command(self, line: str) -> None:
        addr = "?"
        try:
            raw = json.loads(line)
            addr = str(raw.pop("addr"))
            self.add(addr, Impairment.from_dict(raw))
        except (ValueError, KeyError, TypeError, OSError) as exc:
            print(f"error {addr} {exc}", flush=True)
            return
        print(f"ok {addr}", flush=True)

    def run(self) -> None:
        """Serve until stdin reaches EOF."""
        stdin_fd = sys.stdin.fileno()
        buffered = b""
        while True:
            timeout = None
            if self.pending:
                timeout = max(0.0, self.pending[0].due - time.monotonic())
            readable, _, _ = select.select([stdin_fd, *self.by_fd], [], [], timeout)
            for fd in readable:
                if fd == stdin_fd:
                    chunk = os.read(stdin_fd, 65536)
                    if not chunk:
                        return
                    buffered += chunk
                    *lines, buffered = buffered.split(b"\n")
                    for line in lines:
                        if line.strip():
                            self._on_command(line.decode())
                else:
                    self._on_packet(self.by_fd[fd])
            self._send_due()


def _prefer_realtime() -> None:
    # On a loaded machine an ordinary process is scheduled late and every "30 ms" reply
    # becomes 35 ms; a low real-time priority keeps the configured delay honest. The loop
    # blocks in select(), so it cannot starve the machine (and RT throttling still applies).
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))


def _load_config(value: str) -> dict[str, Any]:
    text = value
    if not value.lstrip().startswith("{"):
        text = Path(value).read_text()
    config = json.loads(text)
    if not isinstance(config, dict):
        raise SystemExit("--config must be a JSON object {address: impairment}")
    return config


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m tests.support.icmp_responder --config JSON|PATH [--seed N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="{}", help="JSON object or path to a JSON file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-realtime", action="store_true", help="keep the normal scheduling policy"
    )
    args = parser.parse_args(argv)
    if not args.no_realtime:
        _prefer_realtime()
    responder = Responder(args.seed)
    for addr, raw in _load_config(args.config).items():
        responder.add(addr, Impairment.from_dict(raw))
    print("ready", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        responder.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
