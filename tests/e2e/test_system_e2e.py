"""The whole system end to end: ``cloudperf serve`` (API, worker, scheduler) on MariaDB, Redis
and the SQS emulator; two ``cloudperf probe`` agents at the same location, each in a network
namespace of its own, measuring impaired test hosts through the root namespace.

Set up as an operator does it: a fresh database migrated with ``cloudperf admin migrate``;
the sample catalogue (``samples/catalog``) imported with its test-host rows narrowed to this
run's two blocks of test hosts (the documentation ranges as they are: they must never get a
job); two probes registered; an admin user (who pauses the system at the end). Then, on
the scheduler's own ticks:

- discovery sweeps the two blocks (a silent address in each is not found), latency jobs
  measure the answering hosts, and ``/v1/latency`` shows each host's configured loss (within
  four binomial sigmas) and median (within 1 ms);
- probe A is killed (SIGKILL) while it runs a job: the lease lapses and probe B, at the same
  location, runs that job;
- the API is stopped while B runs a job: the report waits in B's spool and is delivered when
  the API is back; a copy of that spool posted again (a second agent run) is accepted and
  counted once;
- at the end every latency job that was run is counted exactly once: the stored probes sent
  are ``count x targets`` per distinct job id the agents ran, and the reports queue and its
  dead-letter queue are empty.

The per-host table (configured vs measured) is printed and written to
``/tmp/cloudperf-e2e-hosts.txt``.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
import pytest

from cloudperf_core.bootstrap import Config, Services
from tests.contract.makers.aurora import empty_database
from tests.contract.makers.redis import delete_prefix, fresh_prefix, redis_url
from tests.contract.makers.sqs import sqs_url
from tests.support.admin_cli import CHEAP_ARGON2, admin, cli_prefix
from tests.support.moto import unique_name
from tests.support.testhosts import ClientNamespace, Impairment, TestNetwork

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "catalog"
HOSTS_TABLE = Path("/tmp/cloudperf-e2e-hosts.txt")
WAIT_S = 90  # upper bound for one phase (ticks are 10 s apart); never reached when it works
SIGMAS = 4
COUNT, PERIOD_MS = 50, 40  # a latency job: 50 probes per target, 2 s of probing
PASSWORD = "system-test-password"
RELAY_PORT = 18080  # inside each agent's namespace
# The sample's two test-host rows (ip2asn AS and name, city row) narrowed to one block each;
# every block: three answering hosts and one silent address.
BLOCKS: dict[str, tuple[str, str]] = {
    "A": ("64510\tDE\tCLOUDPERF-TESTHOSTS-A Test hosts (namespaces)",
          'EU,DE,Hesse,"Frankfurt am Main",50.1109,8.68213'),
    "B": ("64511\tAU\tCLOUDPERF-TESTHOSTS-B Test hosts (namespaces)",
          'OC,AU,"New South Wales",Sydney,-33.8688,151.209'),
}  # fmt: skip
HOSTS: dict[str, list[tuple[str, Impairment]]] = {
    "A": [("clean", Impairment(delay_ms=5, jitter_ms=1)),
          ("lossy25", Impairment(delay_ms=10, jitter_ms=2, loss=0.25)),
          ("slow", Impairment(delay_ms=30, jitter_ms=3))],
    "B": [("lossy10", Impairment(delay_ms=3, jitter_ms=1, loss=0.10)),
          ("far", Impairment(delay_ms=20, jitter_ms=2)),
          ("lossy40", Impairment(delay_ms=15, jitter_ms=1, loss=0.40))],
}  # fmt: skip
TARGETS_PER_JOB = 3  # every answering host of one block
PROBE_PLACE = "203.0.113.10"  # a documentation address of the sample: where the probes are
SETTINGS = {
    "CLOUDPERF_TICK_S": "10",
    "CLOUDPERF_LEASE_S": "18",  # >= 2 x a job's worst-case runtime (check_sizing)
    "CLOUDPERF_LATENCY_COUNT": str(COUNT),
    "CLOUDPERF_LATENCY_PERIOD_MS": str(PERIOD_MS),
    "CLOUDPERF_LATENCY_TIMEOUT_MS": "500",
    "CLOUDPERF_LATENCY_TARGETS": str(TARGETS_PER_JOB),
    "CLOUDPERF_DISCOVERY_CHUNK_HOSTS": "4",
    "CLOUDPERF_DESTINATIONS_REFRESH_S": "1",
    "CLOUDPERF_PROBE_ONLINE_S": "10",
    "CLOUDPERF_POLL_IDLE_S": "1",
    **CHEAP_ARGON2,
}
RUNNING = re.compile(r"running (latency|discovery) job (\S+) \(lease")
DELIVERED = "delivered report "
FAILED = ("failed, not reported", "not run: fping")


class Output:
    """A child's stderr (or stdout), read line by line in a thread and kept."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait(self, found: Callable[[list[str]], Any], what: str, timeout_s: float = WAIT_S) -> Any:
        """Wait until ``found(lines)`` is truthy; return it."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not (result := found(self.lines)):
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"never saw {what}; output so far:\n{''.join(self.lines)}")
                self._changed.wait(min(left, 0.5))
        return result

    def text(self) -> str:
        with self._changed:
            return "".join(self.lines)


def runs(lines: list[str], kind: str = "latency") -> list[str]:
    """The job ids in 'running ... job' lines, in order."""
    return [m.group(2) for line in lines if (m := RUNNING.search(line)) and m.group(1) == kind]


def idle(lines: list[str]) -> bool:
    """Every job the agent started is delivered or given up (one submission per job here)."""
    started = sum(1 for line in lines if RUNNING.search(line))
    ended = sum(1 for line in lines if DELIVERED in line or any(f in line for f in FAILED))
    return started == ended


@dataclass
class Agent:
    """``cloudperf -v probe`` in its own namespace, reaching the API through a local relay."""

    name: str
    ns: ClientNamespace
    token_file: Path
    spool: Path
    relay: subprocess.Popen[str] | None = None
    proc: subprocess.Popen[str] | None = None
    out: Output | None = None
    history: list[str] = field(default_factory=list)  # lines of earlier runs

    def start_relay(self, api_host: str, api_port: int) -> None:
        argv = [sys.executable, "-m", "tests.support.relay", str(RELAY_PORT), api_host]
        self.relay = subprocess.Popen(
            self.ns.exec([*argv, str(api_port)]), cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        assert self.relay.stdout is not None and self.relay.stdout.readline() == "relaying\n"

    def argv(self, *extra: str, spool: Path | None = None) -> list[str]:
        return self.ns.exec([
            *cli_prefix(), "-v", "probe", "--api", f"http://127.0.0.1:{RELAY_PORT}",
            "--token-file", str(self.token_file), "--spool", str(spool or self.spool),
            "--poll-s", "0.2", "--heartbeat-s", "2", "--backoff-s", "0.1",
            "--backoff-cap-s", "0.5", "--max-jobs", "1", *extra,
        ])  # fmt: skip

    def start(self) -> None:
        if self.out is not None:
            self.history += self.out.lines
        self.proc = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,  # its own process group: fping children die with it
        )  # fmt: skip
        assert self.proc.stderr is not None
        self.out = Output(self.proc.stderr)

    @property
    def lines(self) -> list[str]:
        assert self.out is not None
        return self.out.lines

    def all_lines(self) -> list[str]:
        return [*self.history, *self.lines]

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signum)

    def stop(self) -> str:
        """SIGTERM and wait; the agent's stderr."""
        assert self.proc is not None and self.out is not None
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=WAIT_S)
        return self.out.text()

    def close(self) -> None:
        for proc in (self.proc, self.relay):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


class Server:
    """``cloudperf serve`` as a separate process, configured from the environment."""

    def __init__(self, env: dict[str, str], host: str, log: Path) -> None:
        self.env, self.host, self.port, self.log = env, host, 0, log
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        argv = [*cli_prefix(), "serve", "--host", self.host, "--port", str(self.port)]
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                argv, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.fullmatch(rf"cloudperf serve: listening on http://{self.host}:(\d+)\n", line)
        if match is None:
            self.proc.kill()
            pytest.fail(f"cloudperf serve did not start: {line!r}\n{self.log.read_text()}")
        self.port = int(match.group(1))

    def stop(self) -> None:
        """SIGTERM; it must stop cleanly (exit 0)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=WAIT_S) == 0, self.log.read_text()[-3000:]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@dataclass
class Backends:
    store: str
    cache: str
    reports: str
    reports_name: str


@pytest.fixture
def backends() -> Iterator[Backends]:
    """A fresh MariaDB database, a Redis key prefix and an SQS queue (with dead letters)."""
    prefix = fresh_prefix()
    name = unique_name("cloudperf-e2e")
    reports = sqs_url(name, create=True, dlq=f"{name}-dlq", max_receives=3)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(empty_database()) as store,
    ):
        try:
            yield Backends(store, redis_url(prefix), reports, name)
        finally:
            portal.call(delete_prefix, prefix)


def catalogue_files(folder: Path, blocks: dict[str, str]) -> tuple[Path, Path]:
    """The sample catalogue with its test-host rows narrowed to this run's blocks (so
    discovery may sweep them and nothing else); its documentation ranges kept as they are."""

    def sample_rows(path: Path) -> list[str]:
        rows = path.read_text().splitlines(keepends=True)
        return [r for r in rows if not r.startswith(("10.231.", "fd00:231:"))]

    ip2asn, cities = folder / "ip2asn.tsv", folder / "cities.csv"
    spans = {k: (str(ipaddress.ip_network(c)[0]), str(ipaddress.ip_network(c)[-1]))
             for k, c in blocks.items()}  # fmt: skip
    ours = sorted(spans, key=lambda k: ipaddress.ip_address(spans[k][0]))
    ip2asn.write_text(
        "".join(f"{spans[k][0]}\t{spans[k][1]}\t{BLOCKS[k][0]}\n" for k in ours)
        + "".join(sample_rows(SAMPLES / "ip2asn-sample.tsv"))
    )
    cities.write_text(
        "".join(f"{spans[k][0]},{spans[k][1]},{BLOCKS[k][1]}\n" for k in ours)
        + "".join(sample_rows(SAMPLES / "dbip-city-sample.csv"))
    )
    return ip2asn, cities


async def _location_of(store: str, address: str) -> str:
    async with Services(Config(store=store)) as services:
        found = await (await services.catalog()).locate(address)
        assert found is not None, address
        return found.name


async def _reports_left(reports_url: str, name: str) -> dict[str, int]:
    """Messages on the reports queue and its dead-letter queue (visible + in flight)."""
    async with Services(Config(store="memory://", reports=reports_url)) as services:
        queue: Any = await services.reports()
        left = {}
        for queue_name in (name, f"{name}-dlq"):
            attrs = await queue.connection.call(
                "get_queue_attributes",
                QueueUrl=await queue.connection.queue_url(queue_name),
                AttributeNames=["ApproximateNumberOfMessages",
                                "ApproximateNumberOfMessagesNotVisible"],
            )  # fmt: skip
            left[queue_name] = sum(int(v) for v in attrs["Attributes"].values())
        return left


def lost_within_sigmas(lost: int, sent: int, p: float) -> bool:
    return abs(lost - sent * p) <= SIGMAS * math.sqrt(sent * p * (1 - p))


def test_the_whole_system(testnet: TestNetwork, backends: Backends, tmp_path: Path) -> None:
    # --- the test hosts, the agents' namespaces, the catalogue, probes and a user -----------
    addr: dict[str, str] = {}  # host name -> address
    block_of: dict[str, str] = {}
    blocks: dict[str, str] = {}
    silent: list[str] = []
    for block, hosts in HOSTS.items():
        cidr, addresses = testnet.add_block([imp for _, imp in hosts])
        blocks[block] = cidr
        silent += addresses[len(hosts) :]
        for (name, _), address in zip(hosts, addresses, strict=False):
            addr[name], block_of[name] = address, block
    impairment = {name: imp for hosts in HOSTS.values() for name, imp in hosts}
    store = backends.store
    admin(store, "migrate")
    ip2asn, cities = catalogue_files(tmp_path, blocks)
    admin(store, "import", "ip2asn", str(ip2asn))
    admin(store, "import", "cities", str(cities))
    location = anyio.run(_location_of, store, PROBE_PLACE)
    agents: dict[str, Agent] = {}
    with ThreadPoolExecutor() as pool:  # the CLI starts slowly on a loaded machine
        tokens = pool.map(
            lambda n: admin(store, "register-probe", n, "--location", location).strip(),
            ("probe-a", "probe-b"),
        )
        user = pool.submit(admin, store, "create-user", "ada", "--role", "admin",
                           "--password-stdin", stdin=PASSWORD)  # fmt: skip
        for name, token in zip(("probe-a", "probe-b"), tokens, strict=True):
            token_file = tmp_path / f"{name}.token"
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
            agents[name] = Agent(name, testnet.add_client(), token_file, tmp_path / f"{name}.db")
        user.result()
    a, b = agents["probe-a"], agents["probe-b"]

    env = dict(os.environ, CLOUDPERF_STORE=store, CLOUDPERF_JOBS=backends.cache,
               CLOUDPERF_CACHE=backends.cache, CLOUDPERF_REPORTS=backends.reports,
               **SETTINGS)  # fmt: skip
    server = Server(env, testnet.gateway4, tmp_path / "serve.log")
    try:
        server.start()
        for agent in agents.values():
            agent.start_relay(server.host, server.port)
            agent.start()
        with httpx.Client(base_url=server.url, timeout=30) as api:
            login = api.post("/v1/login", json={"username": "ada", "password": PASSWORD})
            assert login.status_code == 200, login.text
            api.headers["Authorization"] = f"Bearer {login.json()['token']}"
            _run_scenario(api, server, a, b, backends, tmp_path)
            rows = _check_counted_once(api, a, b, backends)
            by_probe = _latency(api, source_by="probe", dest_by="target")
        server.stop()
        _check_hosts(rows, by_probe, addr, impairment, silent)
        anyio.run(_check_discovery, store, blocks, addr, block_of)
    finally:
        for agent in agents.values():
            agent.close()
        server.close()


def _latency(api: httpx.Client, **params: str) -> list[dict[str, Any]]:
    answer = api.get("/v1/latency", params={"since": "1h", "limit": "1000", **params})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _wait_until(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.3)
    return result


def _phase(text: str, started: list[float] = []) -> None:  # noqa: B006 - the run's start
    started[:] = started or [time.monotonic()]
    print(f"[{time.monotonic() - started[0]:5.1f} s] {text}", flush=True)


def _run_scenario(
    api: httpx.Client, server: Server, a: Agent, b: Agent, backends: Backends, tmp_path: Path
) -> None:
    _phase("serve and both agents started")
    # 1. Discovery then latency, on the scheduler's ticks: both blocks' answering hosts
    #    measured (six targets in the store).
    # Discovery and the rotation over both destinations take a few ticks; on a loaded machine
    # (twice in about ten runs) more than WAIT_S, so this phase gets longer.
    _wait_until(
        lambda: len(_latency(api, group_by="target")) >= 6, "all six hosts measured", 2 * WAIT_S
    )

    _phase("all six hosts measured")
    # 2. B idle and frozen (so A takes the next jobs); A killed as it runs one.
    for _ in range(5):
        _wait_until(lambda: idle(a.lines) and idle(b.lines), "both agents idle")
        b.signal(signal.SIGSTOP)
        time.sleep(1.0)  # the reader thread takes in what B wrote before it stopped
        if idle(b.lines):
            break
        b.signal(signal.SIGCONT)  # B took a job just as it was stopped: let it finish, again
    else:
        pytest.fail("B took a job every time it was stopped")
    assert a.out is not None and a.proc is not None and b.out is not None
    mark = len(a.lines)
    killed: list[str] = a.out.wait(lambda ls: runs(ls[mark:]), "A running a job")
    a.signal(signal.SIGKILL)
    a.proc.wait(timeout=WAIT_S)
    assert DELIVERED not in "".join(a.lines[mark:]), "A delivered before it was killed"
    b.signal(signal.SIGCONT)
    _phase(f"A killed running {killed}")

    # 3. B runs the killed job once its lease lapsed; the API stops while it does.
    mark = len(b.lines)
    b.out.wait(lambda ls: set(killed) <= set(runs(ls[mark:])), f"B taking over {killed}")
    _phase(f"B runs {killed}")
    b.signal(signal.SIGSTOP)  # the job runs on in fping; B delivers nothing meanwhile
    time.sleep(1.0)  # the reader thread takes in what B wrote before it stopped
    taken_over = len(b.lines)
    assert not idle(b.lines), "B delivered the job before the outage"
    server.stop()
    b.signal(signal.SIGCONT)
    b.out.wait(lambda ls: any("delivery failed" in x for x in ls[taken_over:]), "a failed try")
    spool_copy = tmp_path / "spool-copy.db"
    with sqlite3.connect(b.spool) as src, sqlite3.connect(spool_copy) as dst:
        src.backup(dst)  # what B still holds: the report of the job A was killed in
    _phase("API stopped; B's report waits in its spool")
    server.start()  # the same port: B's relay and retries find it again
    b.out.wait(lambda ls: any(DELIVERED in x for x in ls[taken_over:]), "delivery after outage")

    _phase("API back; B delivered")
    # 4. Paused (no more jobs): the copy of B's spool posted again by a second agent run.
    assert api.post("/v1/admin/pause").json()["paused"] is True
    again = subprocess.run(
        b.argv("--once", spool=spool_copy), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert re.search(r"0 job\(s\) run, 0 failed; [1-9]\d* report\(s\) delivered, 0 refused",
                     again.stdout), again.stdout  # fmt: skip
    b.out.wait(lambda ls: idle(ls), "B idle")
    assert "0 report(s) wait in the spool" in b.stop()
    _phase("spool copy posted again; B stopped")


def _check_counted_once(
    api: httpx.Client, a: Agent, b: Agent, backends: Backends
) -> list[dict[str, Any]]:
    """Every latency job run is counted exactly once; the rows by target."""
    lines = [*a.all_lines(), *b.all_lines()]
    assert not [x for x in lines if any(f in x for f in FAILED)]
    jobs = set(runs(lines))
    expected = COUNT * TARGETS_PER_JOB * len(jobs)

    def total() -> int:
        return sum(row["sent"] for row in _latency(api, group_by="target"))

    _wait_until(lambda: total() >= expected, f"{expected} probes sent stored")
    left = anyio.run(_reports_left, backends.reports, backends.reports_name)
    assert set(left.values()) == {0}, left  # nothing waits, nothing was dead-lettered
    rows = _latency(api, group_by="target")
    assert sum(row["sent"] for row in rows) == expected, (len(jobs), rows)
    return rows


def _check_hosts(
    rows: list[dict[str, Any]],
    by_probe: list[dict[str, Any]],
    addr: dict[str, str],
    impairment: dict[str, Impairment],
    silent: list[str],
) -> None:
    """Each host's measured loss and median against its impairment; the table written out."""
    row_of = {row["dest"]: row for row in rows}
    assert set(row_of) == set(addr.values()), (row_of, addr)  # silent ones: never a target
    assert not set(silent) & set(row_of)
    per_probe: dict[str, dict[str, int]] = {}
    for row in by_probe:
        per_probe.setdefault(row["dest"], {})[row["source"]] = row["sent"]
    table = [
        f"{'host':8} {'address':14} {'conf loss':>9} {'conf delay':>10} {'loss':>7} "
        f"{'median':>9} {'sent':>5} {'recv':>5}  sent by probe"
    ]
    problems = []
    for name, address in addr.items():
        imp, row = impairment[name], row_of[address]
        sent, received, p50 = row["sent"], row["received"], row["p50_ms"]
        probes = ", ".join(f"{k} {v}" for k, v in sorted(per_probe[address].items()))
        table.append(
            f"{name:8} {address:14} {imp.loss:9.0%} {imp.delay_ms:8.0f} ms "
            f"{(sent - received) / sent:7.1%} {p50:6.2f} ms {sent:5d} {received:5d}  {probes}"
        )
        if not lost_within_sigmas(sent - received, sent, imp.loss):
            problems.append(f"{name}: {sent - received} of {sent} lost, configured {imp.loss}")
        if abs(p50 - imp.delay_ms) > 1.0:
            problems.append(f"{name}: median {p50} ms, configured {imp.delay_ms} ms")
    text = "\n".join(table) + "\n"
    print("\n" + text)
    HOSTS_TABLE.write_text(text)
    assert not problems, problems


async def _check_discovery(
    store: str, blocks: dict[str, str], addr: dict[str, str], block_of: dict[str, str]
) -> None:
    """Only the two blocks were swept, and what the sweeps found is their answering hosts."""
    async with Services(Config(store=store)) as services:
        catalog: Any = await services.catalog()
        ranges = await catalog.list_ranges(limit=1000)
        swept = {r.start for r in ranges if r.last_checked_ms is not None}
        assert swept == {str(ipaddress.ip_network(c)[0]) for c in blocks.values()}, ranges
        for block, cidr in blocks.items():
            start = str(ipaddress.ip_network(cidr)[0])
            (where,) = [r.location for r in ranges if r.start == start]
            found = {a.address for a in await catalog.reachable_addresses(where)}
            assert found == {a for n, a in addr.items() if block_of[n] == block}, found
