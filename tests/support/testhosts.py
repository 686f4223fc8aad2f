"""Real-network test hosts: network namespaces answering pings with a chosen impairment.

A :class:`TestNetwork` creates one network namespace named ``cpt<pid>x<n>`` (unique per process
and instance, so parallel runs never clash), a veth pair with one end in the root namespace,
turns the namespace kernel's echo replies off and starts ``tests.support.icmp_responder`` inside
it. Each :meth:`TestNetwork.add_host` assigns one more address on the namespace's end of the
veth and tells the responder how that address answers. Example::

    with TestNetwork(seed=3) as net:
        lossy = net.add_host(loss=0.25)
        slow6 = net.add_host(delay_ms=30, jitter_ms=5, family=6)
        subprocess.run(["fping", "-C", "20", "-q", "-t", "500", lossy, slow6])

Addresses come only from private ranges chosen here: ``10.231.N.0/24`` and ``fd00:231:N::/64``,
with N picked so that neither overlaps any existing route (the root namespace end is ``.1`` /
``::1``). Every address a test is handed lives inside a namespace this module created.

Teardown (responder killed, namespace deleted, which also destroys the veth pair) runs on
``__exit__``, on :meth:`close` and at interpreter exit; namespaces left behind by processes
that no longer exist (e.g. a run killed with SIGKILL) are removed at the next start.
Not pytest-specific; requires root, iproute2 and ``ip netns``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import ipaddress
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import count
from pathlib import Path
from typing import IO, Any, Literal

PREFIX = "cpt"
_NAME_RE = re.compile(rf"^{PREFIX}(\d+)x(\d+)$")
_REPO_ROOT = Path(__file__).resolve().parents[2]
_READY_TIMEOUT_S = 10.0
_instances = count()
_live: set[TestNetwork] = set()


class TestNetworkError(RuntimeError):
    """Setting up or driving a test namespace failed."""


@dataclass(frozen=True)
class Impairment:
    """How one test address answers; see ``tests.support.icmp_responder`` for semantics."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    jitter_dist: Literal["uniform", "normal"] = "uniform"
    loss: float = 0.0
    dup: float = 0.0
    dup_gap_ms: float = 0.0
    silent: bool = False


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        detail = proc.stderr.strip()
        raise TestNetworkError(f"{' '.join(argv)} failed ({proc.returncode}): {detail}")
    return proc


def unavailable_reason() -> str | None:
    """Why test namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "test hosts need root (network namespaces, raw sockets)"
    if shutil.which("ip") is None:
        return "iproute2 `ip` not found"
    if _run(["ip", "netns", "list"], check=False).returncode != 0:
        return "`ip netns` is not available"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _delete_namespace(name: str) -> None:
    pids = _run(["ip", "netns", "pids", name], check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _run(["ip", "netns", "del", name], check=False)
    # The root end normally dies with its peer; remove it explicitly in case it did not.
    if _run(["ip", "link", "show", "dev", name], check=False).returncode == 0:
        _run(["ip", "link", "del", "dev", name], check=False)


def cleanup_stale() -> list[str]:
    """Delete ``cpt<pid>x<n>`` namespaces whose creating process is gone; return their names."""
    removed = []
    for line in _run(["ip", "netns", "list"]).stdout.splitlines():
        name = line.split(" ", 1)[0]
        match = _NAME_RE.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _delete_namespace(name)
            removed.append(name)
    return removed


@contextlib.contextmanager
def _allocation_lock() -> Iterator[None]:
    # Serializes "pick a free subnet" + "assign it" between concurrent test runs.
    lock_dir = Path("/run/lock") if Path("/run/lock").is_dir() else Path(tempfile.gettempdir())
    with (lock_dir / "cloudperf-testhosts.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _existing_routes() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for family in ("-4", "-6"):
        out = _run(["ip", "-j", family, "route", "show", "table", "all"]).stdout
        for route in json.loads(out or "[]"):
            dst = route.get("dst", "default")
            if dst == "default":
                continue
            with contextlib.suppress(ValueError):
                nets.append(ipaddress.ip_network(dst, strict=False))
    return nets


def _pick_subnet_index() -> int:
    routes = _existing_routes()
    start = os.getpid() % 250  # spreads parallel runs; every index is still checked
    for offset in range(254):
        index = 1 + (start + offset) % 254
        v4 = ipaddress.ip_network(f"10.231.{index}.0/24")
        v6 = ipaddress.ip_network(f"fd00:231:{index:x}::/64")
        if not any(r.overlaps(v4 if r.version == 4 else v6) for r in routes):
            return index
    raise TestNetworkError("no free 10.231.N.0/24 + fd00:231:N::/64 subnet left")


@dataclass(frozen=True)
class ClientNamespace:
    """A namespace made by :meth:`TestNetwork.add_client`: run ``ip netns exec NAME ...``."""

    name: str
    address: str  # its own IPv4 address

    def exec(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


class TestNetwork:
    """One namespace of test hosts behind a veth pair; use as a context manager."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, *, seed: int = 1, ipv6: bool = True) -> None:
        self.seed = seed
        self.want_ipv6 = ipv6
        self.name = f"{PREFIX}{os.getpid()}x{next(_instances)}"
        self.ipv6 = False
        self.net4: ipaddress.IPv4Network | None = None
        self.net6: ipaddress.IPv6Network | None = None
        self.hosts: dict[str, Impairment] = {}
        self._next_host = 10  # .1 is the root end; .2-.9 are left free on purpose
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: IO[bytes] | None = None
        self._clients: list[str] = []
        self._closed = False

    def __enter__(self) -> TestNetwork:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def gateway4(self) -> str:
        """The root namespace end of the veth (answered by the root kernel; not a test host)."""
        assert self.net4 is not None
        return str(self.net4.network_address + 1)

    def start(self) -> None:
        """Create the namespace, veth pair and responder; idempotent until closed."""
        if self._proc is not None:
            return
        reason = unavailable_reason()
        if reason:
            raise TestNetworkError(reason)
        cleanup_stale()
        _live.add(self)
        try:
            self._create()
            self._start_responder()
        except BaseException:
            self.close()
            raise

    def _create(self) -> None:
        ns, link = self.name, self.name
        with _allocation_lock():
            index = _pick_subnet_index()
            self.net4 = ipaddress.IPv4Network(f"10.231.{index}.0/24")
            self.net6 = ipaddress.IPv6Network(f"fd00:231:{index:x}::/64")
            _run(["ip", "netns", "add", ns])
            _run(["ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns])
            _run(["ip", "addr", "add", f"{self.gateway4}/24", "dev", link])
        _run(["ip", "link", "set", "dev", link, "up"])
        _run(["ip", "-n", ns, "link", "set", "dev", "lo", "up"])
        _run(["ip", "-n", ns, "link", "set", "dev", "eth0", "up"])
        self._sysctl("net.ipv4.icmp_echo_ignore_all=1")
        if self.want_ipv6:
            self.ipv6 = self._setup_ipv6(link)

    def _sysctl(self, setting: str) -> bool:
        argv = ["ip", "netns", "exec", self.name, "sysctl", "-q", "-w", setting]
        return _run(argv, check=False).returncode == 0

    def _setup_ipv6(self, link: str) -> bool:
        # Without the namespace kernel's ICMPv6 echo replies off, every v6 host would answer
        # twice (kernel + responder); without it we skip IPv6 rather than lie.
        if not (
            self._sysctl("net.ipv6.conf.eth0.disable_ipv6=0")
            and self._sysctl("net.ipv6.icmp.echo_ignore_all=1")
        ):
            return False
        assert self.net6 is not None
        gw6 = f"{self.net6.network_address + 1}/64"
        return _run(["ip", "addr", "add", gw6, "dev", link, "nodad"], check=False).returncode == 0

    def _start_responder(self) -> None:
        argv = [
            "ip", "netns", "exec", self.name,
            sys.executable, "-m", "tests.support.icmp_responder", "--seed", str(self.seed),
        ]  # fmt: skip
        pythonpath = [str(_REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives until close()
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=_REPO_ROOT,
            env=env,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._expect("ready")

    def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for raw in proc.stdout:
            self._lines.put(raw.decode().rstrip("\n"))
        self._lines.put(None)

    def _responder_stderr(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def _expect(self, wanted: str) -> None:
        try:
            line = self._lines.get(timeout=_READY_TIMEOUT_S)
        except queue.Empty:
            line = None
        if line != wanted:
            raise TestNetworkError(
                f"responder in {self.name}: expected {wanted!r}, got {line!r}; "
                f"stderr: {self._responder_stderr()}"
            )

    def _alloc(self, family: int, size: int = 1) -> list[str]:
        net = self.net4 if family == 4 else self.net6
        if net is None or (family == 6 and not self.ipv6):
            raise TestNetworkError(f"IPv{family} is not available in {self.name}")
        first = -(-self._next_host // size) * size  # align blocks to their size
        if first + size > 254:
            raise TestNetworkError(f"{self.name}: out of host addresses")
        self._next_host = first + size
        return [str(net.network_address + first + i) for i in range(size)]

    def _assign(self, addr: str, impairment: Impairment) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        if ":" in addr:
            argv = ["ip", "-n", self.name, "addr", "add", f"{addr}/64", "dev", "eth0", "nodad"]
        else:
            argv = ["ip", "-n", self.name, "addr", "add", f"{addr}/24", "dev", "eth0"]
        _run(argv)
        self._proc.stdin.write(json.dumps({"addr": addr, **asdict(impairment)}).encode() + b"\n")
        self._proc.stdin.flush()
        self._expect(f"ok {addr}")
        self.hosts[addr] = impairment

    def add_host(
        self,
        *,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        jitter_dist: Literal["uniform", "normal"] = "uniform",
        loss: float = 0.0,
        dup: float = 0.0,
        dup_gap_ms: float = 0.0,
        silent: bool = False,
        family: Literal[4, 6] = 4,
    ) -> str:
        """Assign one new address in the namespace answering with this impairment."""
        imp = Impairment(delay_ms, jitter_ms, jitter_dist, loss, dup, dup_gap_ms, silent)
        (addr,) = self._alloc(family)
        self._assign(addr, imp)
        return addr

    def add_block(
        self, impairments: Sequence[Impairment], *, family: Literal[4, 6] = 4
    ) -> tuple[str, list[str]]:
        """Assign an aligned CIDR block; address i gets ``impairments[i]`` (silent past the end).

        Every address of the block, network and broadcast included, is assigned in the
        namespace, so a discovery sweep over the block probes only test hosts.
        Returns ``(cidr, addresses)``.
        """
        size = 1
        while size < max(2, len(impairments)):
            size *= 2
        addrs = self._alloc(family, size)
        silent = Impairment(silent=True)
        for i, addr in enumerate(addrs):
            self._assign(addr, impairments[i] if i < len(impairments) else silent)
        prefix = (32 if family == 4 else 128) - (size.bit_length() - 1)
        return f"{addrs[0]}/{prefix}", addrs

    def add_client(self) -> ClientNamespace:
        """A second namespace from which the test hosts are reached as from another machine.

        It gets its own ``10.231.M.0/24`` (``.1`` the root end of its veth, ``.2`` its own
        address) and one route only: this network's ``/24`` via the root namespace, which
        forwards between the two veths (forwarding is switched on for those two interfaces
        alone, so nothing from either namespace is routed anywhere else). A server in the root
        namespace listening on :attr:`gateway4` is reachable from it. Deleted with this network.
        """
        assert self.net4 is not None and not self._closed, "start() first"
        name = f"{PREFIX}{os.getpid()}x{next(_instances)}"
        with _allocation_lock():
            index = _pick_subnet_index()
            net = ipaddress.IPv4Network(f"10.231.{index}.0/24")
            _run(["ip", "netns", "add", name])
            self._clients.append(name)
            _run(["ip", "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", name])
            _run(["ip", "addr", "add", f"{net.network_address + 1}/24", "dev", name])
        client = ClientNamespace(name=name, address=str(net.network_address + 2))
        _run(["ip", "link", "set", "dev", name, "up"])
        _run(["ip", "-n", name, "link", "set", "dev", "lo", "up"])
        _run(["ip", "-n", name, "addr", "add", f"{client.address}/24", "dev", "eth0"])
        _run(["ip", "-n", name, "link", "set", "dev", "eth0", "up"])
        _run(["ip", "-n", name, "route", "add", str(self.net4), "via", str(net[1])])
        _run(["ip", "-n", self.name, "route", "add", str(net), "via", self.gateway4])
        for link in (name, self.name):
            _run(["sysctl", "-q", "-w", f"net.ipv4.conf.{link}.forwarding=1"])
        return client

    def close(self) -> None:
        """Kill the responder and delete the namespace; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        for client in self._clients:
            _delete_namespace(client)
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()  # EOF asks the responder to exit
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        _delete_namespace(self.name)
        if self._stderr is not None:
            self._stderr.close()


@atexit.register
def _close_all() -> None:
    for net in list(_live):
        with contextlib.suppress(Exception):
            net.close()


__all__ = [
    "ClientNamespace",
    "Impairment",
    "TestNetwork",
    "TestNetworkError",
    "cleanup_stale",
    "unavailable_reason",
]


def _main(argv: list[str] | None = None) -> int:
    """Manual check: ``python -m tests.support.testhosts`` builds hosts and pings them once."""
    del argv
    with TestNetwork(seed=1) as net:
        hosts: dict[str, Any] = {
            "plain": net.add_host(),
            "slow": net.add_host(delay_ms=30, jitter_ms=5),
            "silent": net.add_host(silent=True),
        }
        if net.ipv6:
            hosts["plain6"] = net.add_host(family=6)
        argv2 = ["fping", "-C", "3", "-q", "-p", "50", "-t", "500", *hosts.values()]
        proc = _run(argv2, check=False)
        print(json.dumps(hosts), proc.returncode, proc.stdout + proc.stderr, sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
