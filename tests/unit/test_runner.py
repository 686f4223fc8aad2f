"""FpingRunner with an in-memory ProcessExecutor: batching, pacing, exit codes, attribution."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import anyio
import pytest

from cloudperf_core.errors import (
    FpingError,
    FpingNotFoundError,
    InvalidSpecError,
    ProbePermissionError,
    RunnerTimeoutError,
)
from cloudperf_core.fping.runner import NO_RESULT_ERROR, FpingRunner, resolve_fping_path
from cloudperf_core.models import DiscoverySpec, ProbeSpec, ProcessResult

FPING = "/usr/bin/fping"

Responder = Callable[[list[str]], tuple[int, str, str]]


def _targets(argv: Sequence[str]) -> list[str]:
    return list(argv[list(argv).index("--") + 1 :])


def _option(argv: Sequence[str], flag: str) -> str:
    return argv[list(argv).index(flag) + 1]


def answer_all(rtt: str = "0.050") -> Responder:
    """fping -C -q: one stderr row per target, every probe answered."""

    def respond(argv: list[str]) -> tuple[int, str, str]:
        count = int(_option(argv, "-C")) if "-C" in argv else 1
        rows = "".join(f"{t} : {' '.join([rtt] * count)}\n" for t in _targets(argv))
        return 0, "", rows

    return respond


class FakeExecutor:
    """Answers each argv through ``respond``; records calls and peak concurrency."""

    def __init__(self, respond: Responder, *, delay_s: float = 0.0) -> None:
        self.respond = respond
        self.delay_s = delay_s
        self.calls: list[tuple[list[str], float]] = []
        self.running = 0
        self.peak_running = 0

    async def run(
        self, argv: Sequence[str], *, deadline_s: float, max_output_bytes: int
    ) -> ProcessResult:
        self.calls.append((list(argv), deadline_s))
        self.running += 1
        self.peak_running = max(self.peak_running, self.running)
        try:
            with anyio.fail_after(deadline_s):
                await anyio.sleep(self.delay_s)
        except TimeoutError as exc:
            raise RunnerTimeoutError("killed") from exc
        finally:
            self.running -= 1
        code, out, err = self.respond(list(argv))
        return ProcessResult(
            argv=tuple(argv), exit_code=code, stdout=out.encode(), stderr=err.encode()
        )

    @property
    def probe_calls(self) -> list[list[str]]:
        return [argv for argv, _ in self.calls if "-C" in argv]


def make_runner(executor: FakeExecutor, **kwargs: object) -> FpingRunner:
    return FpingRunner(executor, fping_path=FPING, **kwargs)  # type: ignore[arg-type]


def loopback_hosts(n: int) -> tuple[str, ...]:
    return tuple(f"127.0.{i // 250}.{i % 250 + 1}" for i in range(n))


async def test_results_come_back_in_spec_order_once_each_across_batches() -> None:
    targets = ("127.0.0.9", "localhost", "::1", "127.0.0.3", "127.0.0.1")

    def reversed_rows(argv: list[str]) -> tuple[int, str, str]:
        # Attribution is by label, so the order of rows inside a batch does not matter.
        rows = "".join(f"{t} : 0.1{i} -\n" for i, t in enumerate(reversed(_targets(argv))))
        return 1, "", rows

    executor = FakeExecutor(reversed_rows)
    results = await make_runner(executor, max_targets_per_batch=2).measure(
        ProbeSpec(targets=(*targets, "127.0.0.3", "LOCALHOST"), count=2)
    )
    assert [r.target for r in results] == list(targets)
    assert len(executor.probe_calls) == 3
    assert sorted(t for argv in executor.probe_calls for t in _targets(argv)) == sorted(targets)
    assert all(r.sent == 2 and r.received == 1 and r.rtts_us is not None for r in results)
    assert all(r.rtts_us[1] is None for r in results if r.rtts_us is not None)


async def test_total_packet_rate_is_kept_when_batches_run_concurrently() -> None:
    executor = FakeExecutor(answer_all(), delay_s=0.01)
    runner = make_runner(executor, max_targets_per_batch=10, max_concurrency=3)
    await runner.measure(ProbeSpec(targets=loopback_hosts(50), interval_ms=4, count=1))
    # 5 batches, 3 at a time: each gets -i 3*4 so together they send at most 1 packet / 4 ms.
    assert len(executor.probe_calls) == 5
    assert {_option(argv, "-i") for argv in executor.probe_calls} == {"12"}
    assert executor.peak_running == 3


async def test_single_batch_keeps_the_spec_interval() -> None:
    executor = FakeExecutor(answer_all())
    await make_runner(executor).measure(ProbeSpec(targets=loopback_hosts(3), interval_ms=7))
    assert [_option(argv, "-i") for argv in executor.probe_calls] == ["7"]


async def test_deadline_covers_probing_time_timeout_and_slack() -> None:
    executor = FakeExecutor(answer_all())
    spec = ProbeSpec(targets=loopback_hosts(2), count=5, period_ms=200, timeout_ms=800)
    await make_runner(executor, deadline_slack_s=2.0).measure(spec)
    assert executor.calls[0][1] == pytest.approx(5 * 0.2 + 0.8 + 2.0)
    # When packet spacing, not the period, sets the pace, the deadline grows with it.
    executor = FakeExecutor(answer_all())
    spec = ProbeSpec(targets=loopback_hosts(100), count=5, period_ms=10, interval_ms=2)
    await make_runner(executor, deadline_slack_s=0.0).measure(spec)
    assert executor.calls[0][1] == pytest.approx((5 * 100 * 2 + 1000) / 1000)


async def test_batch_overrunning_its_deadline_raises_runner_timeout() -> None:
    executor = FakeExecutor(answer_all(), delay_s=3600)
    runner = make_runner(executor, deadline_slack_s=0.0, max_targets_per_batch=1)
    with pytest.raises(RunnerTimeoutError):
        await runner.measure(ProbeSpec(targets=loopback_hosts(3), count=1, timeout_ms=10))


async def test_unresolvable_name_under_q_gets_a_result_with_an_error() -> None:
    def one_name_fails(argv: list[str]) -> tuple[int, str, str]:
        rows = "".join(f"{t} : 0.02\n" for t in _targets(argv) if t != "nxdomain.invalid")
        return 2, "", rows

    executor = FakeExecutor(one_name_fails)
    results = await make_runner(executor).measure(
        ProbeSpec(targets=("127.0.0.1", "nxdomain.invalid", "127.0.0.2"), count=1)
    )
    assert [r.target for r in results] == ["127.0.0.1", "nxdomain.invalid", "127.0.0.2"]
    failed = results[1]
    assert failed.sent is None and failed.errors == [NO_RESULT_ERROR]
    assert results[0].received == 1 and results[2].received == 1


async def test_every_name_failing_reports_every_target_not_an_exception() -> None:
    executor = FakeExecutor(lambda argv: (2, "", ""))
    results = await make_runner(executor).measure(ProbeSpec(targets=("a.invalid", "b.invalid")))
    assert [(r.target, r.sent, bool(r.errors)) for r in results] == [
        ("a.invalid", None, True),
        ("b.invalid", None, True),
    ]


@pytest.mark.parametrize(
    ("code", "stderr", "message"),
    [
        (1, "fping: can't parse source address: x\n", "can't parse source address"),
        (1, "/usr/bin/fping: invalid option -- 'Z'\nsee 'fping -h' for usage\n", "invalid option"),
        (1, "Usage: fping [options] [targets...]\n", "Usage"),
        (3, "fping: cant bind to a particular net interface\n", "cant bind"),
        (4, "fping: can't create socket (must run as root?)\n", "can't create socket"),
        (4, "", "exit code 4"),
    ],
)
async def test_fping_refusing_to_run_raises_with_its_message(
    code: int, stderr: str, message: str
) -> None:
    executor = FakeExecutor(lambda argv: (code, "", stderr))
    with pytest.raises(FpingError, match=message) as info:
        await make_runner(executor).measure(ProbeSpec(targets=("127.0.0.1",)))
    assert info.value.exit_code == code
    assert not isinstance(info.value, ProbePermissionError)


async def test_total_loss_with_silent_loopback_is_a_permission_error() -> None:
    def nothing_answers(argv: list[str]) -> tuple[int, str, str]:
        if "-C" not in argv:  # the loopback check
            return 1, "", "127.0.0.1 : xmt/rcv/%loss = 1/0/100%\n"
        count = int(_option(argv, "-C"))
        return 1, "", "".join(f"{t} : {' '.join('-' * count)}\n" for t in _targets(argv))

    executor = FakeExecutor(nothing_answers)
    with pytest.raises(ProbePermissionError, match="raw-socket permission"):
        await make_runner(executor).measure(ProbeSpec(targets=loopback_hosts(3), count=3))
    check = executor.calls[-1][0]
    assert _targets(check) == ["127.0.0.1"] and _option(check, "-c") == "1"


async def test_total_loss_with_answering_loopback_is_reported_as_loss() -> None:
    def only_loopback_answers(argv: list[str]) -> tuple[int, str, str]:
        if "-C" not in argv:
            return 0, "", "127.0.0.1 : xmt/rcv/%loss = 1/1/0%, min/avg/max = 0.1/0.1/0.1\n"
        return 1, "", "".join(f"{t} : - -\n" for t in _targets(argv))

    executor = FakeExecutor(only_loopback_answers)
    results = await make_runner(executor).measure(ProbeSpec(targets=("192.0.2.1",), count=2))
    assert results[0].loss_ratio == 1.0 and results[0].sent == 2
    assert len(executor.calls) == 2  # the batch and the loopback check


async def test_ipv6_run_checks_ipv6_loopback() -> None:
    executor = FakeExecutor(lambda argv: (1, "", "".join(f"{t} : -\n" for t in _targets(argv))))
    with pytest.raises(ProbePermissionError):
        await make_runner(executor).measure(ProbeSpec(targets=("::1",), count=1, ip_version=6))
    assert _targets(executor.calls[-1][0]) == ["::1"] and "-6" in executor.calls[-1][0]


async def test_partial_loss_does_not_trigger_the_loopback_check() -> None:
    executor = FakeExecutor(lambda argv: (1, "", "127.0.0.1 : - 0.1\n127.0.0.2 : - -\n"))
    results = await make_runner(executor).measure(
        ProbeSpec(targets=("127.0.0.1", "127.0.0.2"), count=2)
    )
    assert [r.loss_ratio for r in results] == [0.5, 1.0]
    assert len(executor.calls) == 1


async def test_progress_is_reported_after_each_batch() -> None:
    progress: list[tuple[int, int]] = []
    executor = FakeExecutor(answer_all())
    await make_runner(executor, max_targets_per_batch=4, max_concurrency=1).measure(
        ProbeSpec(targets=loopback_hosts(10), count=1),
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert progress == [(4, 10), (8, 10), (10, 10)]


async def test_invalid_spec_fails_before_any_process_runs() -> None:
    executor = FakeExecutor(answer_all())
    with pytest.raises(InvalidSpecError, match="rm -rf"):
        await make_runner(executor).measure(ProbeSpec(targets=("127.0.0.1", "; rm -rf /")))
    assert executor.calls == []


async def test_parse_warnings_are_logged_and_returned(caplog: pytest.LogCaptureFixture) -> None:
    executor = FakeExecutor(lambda argv: (0, "", "127.0.0.1 : 0.1\nsomething odd happened\n"))
    with caplog.at_level(logging.WARNING, logger="cloudperf_core.fping.runner"):
        outcome = await make_runner(executor).measure_outcome(
            ProbeSpec(targets=("127.0.0.1",), count=1)
        )
    assert [w.line for w in outcome.warnings] == ["something odd happened"]
    assert "something odd happened" in caplog.text
    assert outcome.results[0].received == 1


async def test_discover_returns_alive_addresses_capped_at_max_hosts() -> None:
    alive = "".join(f"127.0.0.{i}\n" for i in range(1, 6))
    executor = FakeExecutor(lambda argv: (1, alive, "ICMP Host Unreachable from x for y\n"))
    found = await make_runner(executor).discover(DiscoverySpec(start="127.0.0.0/29", max_hosts=3))
    assert found == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    argv = executor.calls[0][0]
    assert argv[0] == FPING and "-a" in argv and argv[-1] == "127.0.0.0/29"


async def test_discover_nothing_alive_is_empty_not_an_error() -> None:
    executor = FakeExecutor(lambda argv: (1, "", ""))
    assert await make_runner(executor).discover(DiscoverySpec(start="127.0.0.0/30")) == []


async def test_discover_fatal_error_raises() -> None:
    executor = FakeExecutor(lambda argv: (4, "", "fping: can't create socket\n"))
    with pytest.raises(FpingError, match="can't create socket"):
        await make_runner(executor).discover(DiscoverySpec(start="127.0.0.0/30"))


async def test_discover_refuses_huge_range_before_running() -> None:
    executor = FakeExecutor(answer_all())
    with pytest.raises(InvalidSpecError, match="maximum"):
        await make_runner(executor).discover(DiscoverySpec(start="10.0.0.0/8"))
    assert executor.calls == []


def test_resolve_fping_path(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_fping_path("/opt/fping") == "/opt/fping"
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FpingNotFoundError, match="apt-get install fping"):
        resolve_fping_path(None)
    with pytest.raises(FpingNotFoundError):
        FpingRunner(FakeExecutor(answer_all()))


def test_output_cap_leaves_room_for_everything_a_batch_can_print() -> None:
    # Worst legitimate -C -q batch: long names, every probe an ICMP error and a duplicate.
    from benchmarks._gen import GenTarget, render
    from cloudperf_core.fping.runner import probe_output_cap

    count = 50
    labels = [f"host-{i:03d}-" + "x" * 200 + ".example" for i in range(256)]
    model = [
        GenTarget(
            label,
            [1_000_000] * (count // 2) + [None] * (count - count // 2),
            duplicates=count,
            icmp_errors=["ICMP Host Unreachable from fd00:ffff:ffff:ffff:ffff:ffff:ffff:1"] * count,
        )
        for label in labels
    ]
    printed = len(render(model, "C", quiet=True).encode())
    assert printed < probe_output_cap(labels, count) < 4 * printed
