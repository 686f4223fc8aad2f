"""Run fping batches: validation, batching, pacing, deadlines, exit codes, attribution.

:class:`FpingRunner` turns a :class:`~cloudperf_core.models.ProbeSpec` into one
:class:`~cloudperf_core.models.TargetResult` per distinct target, in the spec's order.

Pacing rule (exact): targets are split into ``ceil(n / max_targets_per_batch)`` contiguous
batches; ``k = min(max_concurrency, number_of_batches)`` of them run at once, and each batch
is given fping ``-i`` = ``k * spec.interval_ms``. At most ``k`` batches send at a time, each at
most one packet per ``k * interval_ms``, so the total packet rate never exceeds
``1000 / spec.interval_ms`` packets/s — what the spec asks for a single fping.

Deadline of a batch (seconds): ``(count * max(period_ms, batch_size * batch_interval_ms)
+ timeout_ms) / 1000 + deadline_slack_s``; the second term of ``max`` covers batches whose
packet spacing, not the period, sets the pace. The clock starts when the batch starts.

Output cap of a batch (bytes, stdout and stderr together): what the job can legitimately print
with room to spare — ``64 KiB + sum over targets of (len + 256) + count * (8 + 2 * (len +
128))``: a row of values, and for every probe an ICMP error line and a duplicate reply line
naming the target. Past it fping (or a wrapper) is killed and the batch fails with
:class:`FpingError`, instead of memory growing without bound.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio
import msgspec

from cloudperf_core.errors import (
    CloudperfError,
    FpingError,
    FpingNotFoundError,
    InvalidSpecError,
    ProbePermissionError,
)
from cloudperf_core.fping.argv import (
    DEFAULT_MAX_RANGE_SIZE,
    build_discovery_argv,
    build_probe_argv,
    discovery_range_size,
    validate_probe_spec,
)
from cloudperf_core.fping.parser import parse_fping_output
from cloudperf_core.models import (
    DiscoverySpec,
    ParseWarning,
    ProbeSpec,
    ProcessResult,
    TargetResult,
)
from cloudperf_core.ports import ProcessExecutor

logger = logging.getLogger(__name__)

NO_RESULT_ERROR = "fping reported nothing for this target (name did not resolve?)"
PERMISSION_MESSAGE = (
    "fping could not send probes (missing raw-socket permission? fping 5.1 unprivileged mode "
    "is broken): every target had 100 % loss and loopback did not answer either. Run as root, "
    "or grant it: setcap cap_net_raw+ep $(command -v fping)"
)
_LOOPBACK_DEADLINE_S = 5.0
_BASE_OUTPUT_BYTES = 64 * 1024
_LINE_BYTES = 128  # an ICMP error or duplicate line, beyond the target's name


def probe_output_cap(targets: Sequence[str], count: int) -> int:
    """Most bytes an ``fping -C count -q`` batch over ``targets`` can legitimately print."""
    names = sum(len(t) for t in targets)
    rows = names + 256 * len(targets)
    per_probe = 8 * len(targets) + 2 * (names + _LINE_BYTES * len(targets))
    return _BASE_OUTPUT_BYTES + rows + count * per_probe


def discovery_output_cap(hosts: int, retries: int) -> int:
    """Most bytes an ``fping -a`` sweep of ``hosts`` addresses can legitimately print."""
    return _BASE_OUTPUT_BYTES + hosts * (64 + (retries + 1) * 2 * (64 + _LINE_BYTES))


def resolve_fping_path(override: str | None = None) -> str:
    """The fping binary to run: ``override`` (e.g. ``$CLOUDPERF_FPING``), else PATH.

    A non-empty override is returned as given (a missing file fails at run time with
    :class:`FpingNotFoundError`); with no override and no fping on PATH this raises it now.
    """
    if override:
        return override
    found = shutil.which("fping")
    if found is None:
        raise FpingNotFoundError(
            "fping not found on PATH: install it: apt-get install fping (Debian/Ubuntu) "
            "or set CLOUDPERF_FPING to its path"
        )
    return found


@dataclass
class MeasureOutcome:
    """Results in the spec's target order plus every line fping printed that did not parse."""

    results: list[TargetResult]
    warnings: list[ParseWarning] = field(default_factory=list)


class FpingRunner:
    """Measures latency and discovers hosts by running fping through a ProcessExecutor.

    >>> runner = FpingRunner()                                    # doctest: +SKIP
    >>> await runner.measure(ProbeSpec(targets=("127.0.0.1",)))   # doctest: +SKIP
    """

    def __init__(
        self,
        executor: ProcessExecutor | None = None,
        *,
        fping_path: str | None = None,
        max_concurrency: int = 4,
        max_targets_per_batch: int = 256,
        deadline_slack_s: float = 5.0,
        max_range_size: int = DEFAULT_MAX_RANGE_SIZE,
    ) -> None:
        if max_concurrency < 1 or max_targets_per_batch < 1:
            raise InvalidSpecError("max_concurrency and max_targets_per_batch must be >= 1")
        if executor is None:
            from cloudperf_core.fping.process import AnyioProcessExecutor

            executor = AnyioProcessExecutor()
        self._executor = executor
        self._fping_path = resolve_fping_path(fping_path)
        self._max_concurrency = max_concurrency
        self._max_targets_per_batch = max_targets_per_batch
        self._deadline_slack_s = deadline_slack_s
        self._max_range_size = max_range_size

    async def measure(
        self,
        spec: ProbeSpec,
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[TargetResult]:
        """Probe every target ``spec.count`` times; one result per distinct target, in order.

        Raises :class:`FpingError` when fping refuses to run, :class:`ProbePermissionError`
        when it cannot send probes at all, :class:`RunnerTimeoutError` when a batch overruns
        its deadline. ``on_progress(done_targets, total_targets)`` is called after each batch.
        """
        return (await self.measure_outcome(spec, on_progress=on_progress)).results

    async def measure_outcome(
        self,
        spec: ProbeSpec,
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> MeasureOutcome:
        """Like :meth:`measure`, also returning the parse warnings of the run."""
        spec = validate_probe_spec(spec)
        batches = self._split(spec.targets)
        interval_ms = self._batch_interval_ms(spec, len(batches))
        limiter = anyio.CapacityLimiter(self._max_concurrency)
        by_target: dict[str, TargetResult] = {}
        warnings: list[ParseWarning] = []
        done = 0
        first_error: CloudperfError | None = None

        async def run_batch(batch: Sequence[str], group: anyio.abc.TaskGroup) -> None:
            nonlocal done, first_error
            try:
                async with limiter:
                    result = await self._executor.run(
                        self._batch_argv(spec, batch, interval_ms),
                        deadline_s=self._deadline_s(spec, len(batch), interval_ms),
                        max_output_bytes=probe_output_cap(batch, spec.count),
                    )
                results, batch_warnings = _interpret(result, batch)
            except CloudperfError as exc:
                # Keep the first failure as is (not wrapped in an ExceptionGroup) and stop
                # the other batches; their executors kill their fping processes.
                if first_error is None:
                    first_error = exc
                group.cancel_scope.cancel()
                return
            by_target.update(results)
            warnings.extend(batch_warnings)
            done += len(batch)
            if on_progress is not None:
                on_progress(done, len(spec.targets))

        async with anyio.create_task_group() as group:
            for batch in batches:
                group.start_soon(run_batch, batch, group)
        if first_error is not None:
            raise first_error
        results = [by_target[target] for target in spec.targets]
        if _all_lost(results) and not await self._loopback_answers(spec):
            raise ProbePermissionError(PERMISSION_MESSAGE)
        return MeasureOutcome(results=results, warnings=warnings)

    async def discover(self, spec: DiscoverySpec) -> list[str]:
        """Addresses in the spec's range that answered, in fping's order, at most max_hosts."""
        argv = build_discovery_argv(spec, self._fping_path, self._max_range_size)
        hosts = discovery_range_size(spec)
        backoff = sum(1.5**attempt for attempt in range(spec.retries + 1))
        deadline_s = (
            hosts * spec.interval_ms * (spec.retries + 1) + spec.timeout_ms * backoff
        ) / 1000 + self._deadline_slack_s
        result = await self._executor.run(
            argv, deadline_s=deadline_s, max_output_bytes=discovery_output_cap(hosts, spec.retries)
        )
        fatal = _fatal_lines(result)
        if result.exit_code not in (0, 1) or (result.exit_code == 1 and fatal):
            raise FpingError(_error_message(result, fatal), result.exit_code)
        alive: list[str] = []
        for line in result.stdout.decode("utf-8", "replace").splitlines():
            try:
                alive.append(str(ipaddress.ip_address(line.strip())))
            except ValueError:
                if line.strip():
                    logger.warning("fping -a printed an unexpected line: %r", line)
        return alive[: spec.max_hosts]

    # --- helpers --------------------------------------------------------------------------

    def _split(self, targets: Sequence[str]) -> list[tuple[str, ...]]:
        size = self._max_targets_per_batch
        return [tuple(targets[i : i + size]) for i in range(0, len(targets), size)]

    def _batch_interval_ms(self, spec: ProbeSpec, batch_count: int) -> int:
        return min(self._max_concurrency, batch_count) * spec.interval_ms

    def _batch_argv(self, spec: ProbeSpec, batch: Sequence[str], interval_ms: int) -> list[str]:
        batch_spec = msgspec.structs.replace(spec, targets=tuple(batch))
        return build_probe_argv(batch_spec, self._fping_path, interval_ms=interval_ms)

    def _deadline_s(self, spec: ProbeSpec, batch_size: int, interval_ms: int) -> float:
        pace_ms = max(spec.period_ms, batch_size * interval_ms)
        return (spec.count * pace_ms + spec.timeout_ms) / 1000 + self._deadline_slack_s

    async def _loopback_answers(self, spec: ProbeSpec) -> bool:
        loopback, flag = ("::1", "-6") if spec.ip_version == 6 else ("127.0.0.1", "-4")
        argv = [self._fping_path, "-c", "1", "-t", "500", "-q", flag, "--", loopback]
        result = await self._executor.run(
            argv, deadline_s=_LOOPBACK_DEADLINE_S, max_output_bytes=_BASE_OUTPUT_BYTES
        )
        logger.info("all targets lost; loopback check exited %d", result.exit_code)
        return result.exit_code == 0


def _interpret(
    result: ProcessResult, batch: Sequence[str]
) -> tuple[dict[str, TargetResult], list[ParseWarning]]:
    """Exit code + output of one batch -> a result for every target of the batch."""
    if result.exit_code not in (0, 1, 2):
        raise FpingError(_error_message(result), result.exit_code)
    text = result.stdout + (b"\n" if result.stdout and not result.stdout.endswith(b"\n") else b"")
    parsed = parse_fping_output(text + result.stderr)
    for warning in parsed.warnings:
        logger.warning(
            "fping output line %d: %s: %r",
            warning.line_no,
            warning.reason,
            warning.line,
        )
    if not parsed.targets and (result.exit_code == 1 or parsed.fatal):
        # Exit 1 with no row at all is a usage error, not loss: -C -q prints a row for
        # every resolved target.
        fatal = parsed.fatal or _fatal_lines(result)
        raise FpingError(_error_message(result, fatal), result.exit_code)
    for line in parsed.fatal:
        logger.warning("fping reported an error but produced results: %s", line)
    wanted = set(batch)
    found: dict[str, TargetResult] = {}
    for row in parsed.targets:
        if row.target not in wanted:
            logger.warning("fping reported an unknown target %r; ignored", row.target)
        elif row.target in found:
            found[row.target].errors.extend(row.errors)  # e.g. a name error line and a row
        else:
            found[row.target] = row
    for target in batch:
        match = found.get(target)
        if match is None:
            found[target] = TargetResult(target=target, errors=[NO_RESULT_ERROR])
        elif match.sent is None and not match.errors:
            match.errors.append(NO_RESULT_ERROR)
    return found, list(parsed.warnings)


def _all_lost(results: Sequence[TargetResult]) -> bool:
    counted = [r for r in results if r.sent]
    return bool(counted) and all(not r.received for r in counted)


def _fatal_lines(result: ProcessResult) -> list[str]:
    """fping's own usage/system error lines: they start with its argv[0] (or 'Usage:')."""
    program = result.argv[0] if result.argv else "fping"
    prefixes = (f"{program}: ", f"{program}, ", "fping: ", "fping, ", "Usage: ")
    text = result.stderr.decode("utf-8", "replace") + result.stdout.decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.startswith(prefixes)]


def _error_message(result: ProcessResult, fatal: Sequence[str] = ()) -> str:
    detail = "; ".join(fatal) or result.stderr.decode("utf-8", "replace").strip()
    return f"fping failed (exit code {result.exit_code}): {detail or 'no message'}"
