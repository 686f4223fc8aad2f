"""Build fping argument vectors from validated specs — never a shell string.

Every value that reaches fping is checked first: targets are IP literals (normalised by
:mod:`ipaddress`) or host names of a strict charset, numbers are in range, and the targets
come after ``--`` so nothing a caller supplies can be read as an option.

Duplicate targets are **dropped** (keeping the first occurrence, after normalisation): fping
labels each output row with the target as typed and maps rows to targets by position, so two
equal targets would give two indistinguishable rows. Callers get one result per distinct target.

Labels: we never pass ``-A``/``-n``/``-d``, so fping labels every row with the exact string we
passed; the runner relies on that to attribute rows to targets even when some names fail to
resolve (which ``-q`` hides).

>>> build_probe_argv(ProbeSpec(targets=("127.0.0.1",), count=3))
['fping', '-C', '3', '-q', '-p', '1000', '-t', '1000', '-i', '10', '-b', '56', '-r', '0', \
'--', '127.0.0.1']
"""

from __future__ import annotations

import ipaddress
import re

import msgspec

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.limits import FPING_MAX_MS, field_bounds
from cloudperf_core.models import DiscoverySpec, ProbeSpec

MAX_HOSTNAME_LEN = 253
DEFAULT_MAX_RANGE_SIZE = 4096

_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# A numeric or hex last label would make getaddrinfo read the name as an inet_aton address
# ("127.1", "0x7f000001"): refuse such names rather than probe a surprising address.
_NUMERIC_TLD_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip_literal(value: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def validate_target(target: str) -> str:
    """Return ``target`` normalised, or raise :class:`InvalidSpecError` naming it.

    IP literals come back in :mod:`ipaddress` canonical form (``"::0001"`` -> ``"::1"``); host
    names are lower-cased RFC 1123 names (labels of letters, digits and inner hyphens, at most
    253 characters, last label not numeric).

    >>> validate_target("Example.COM")
    'example.com'
    """
    if not isinstance(target, str) or not target:
        raise InvalidSpecError(f"invalid target {target!r}: empty or not a string")
    address = _ip_literal(target)
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            raise InvalidSpecError(f"invalid target {target!r}: scoped IPv6 is not supported")
        return str(address)
    name = target[:-1] if target.endswith(".") else target
    labels = name.split(".")
    if (
        len(name) > MAX_HOSTNAME_LEN
        or not name.isascii()
        or not all(_LABEL_RE.fullmatch(label) for label in labels)
        or _NUMERIC_TLD_RE.fullmatch(labels[-1])
    ):
        raise InvalidSpecError(
            f"invalid target {target!r}: not an IP address or an RFC 1123 host name"
        )
    return name.lower()


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpecError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f"..{high}"
        raise InvalidSpecError(f"{name} must be in {low}{upper}, got {value}")


def _check_fields(spec: ProbeSpec | DiscoverySpec, names: tuple[str, ...]) -> None:
    """Each named integer field within the bounds its ``msgspec.Meta`` declares."""
    for name in names:
        low, high = field_bounds(type(spec), name)
        _check_int(name, getattr(spec, name), 0 if low is None else low, high)


def _check_source(source: str | None, ip_version: int | None) -> IPAddress | None:
    if source is None:
        return None
    address = _ip_literal(source) if isinstance(source, str) else None
    if address is None:
        raise InvalidSpecError(f"source_address must be an IP literal, got {source!r}")
    if ip_version is not None and address.version != ip_version:
        raise InvalidSpecError(
            f"source_address {source!r} is IPv{address.version} but ip_version is {ip_version}"
        )
    return address


def validate_probe_spec(spec: ProbeSpec) -> ProbeSpec:
    """Check every field and return the spec with normalised, de-duplicated targets.

    Raises :class:`InvalidSpecError` on the first problem, naming the field and value.
    A target literal of the wrong family (for ``ip_version`` or ``source_address``) is refused.
    """
    _check_fields(
        spec, ("count", "period_ms", "timeout_ms", "interval_ms", "size_bytes", "retries")
    )
    if spec.ip_version not in (None, 4, 6):
        raise InvalidSpecError(f"ip_version must be 4, 6 or None, got {spec.ip_version!r}")
    source = _check_source(spec.source_address, spec.ip_version)
    family = spec.ip_version or (source.version if source else None)
    why = "ip_version" if spec.ip_version else "source_address"
    if not isinstance(spec.targets, tuple | list) or not spec.targets:
        raise InvalidSpecError("targets must be a non-empty list")
    targets: dict[str, None] = {}
    for raw in spec.targets:
        target = validate_target(raw)
        address = _ip_literal(target)
        if family is not None and address is not None and address.version != family:
            raise InvalidSpecError(
                f"target {raw!r} is not an IPv{family} address (as {why} requires)"
            )
        targets.setdefault(target, None)
    return msgspec.structs.replace(
        spec,
        targets=tuple(targets),
        source_address=None if source is None else str(source),
    )


def _family_flag(spec: ProbeSpec) -> list[str]:
    version = spec.ip_version
    if version is None and spec.source_address is not None:
        # With -S, a name must resolve in the source's family or every probe fails.
        version = ipaddress.ip_address(spec.source_address).version
    return [] if version is None else [f"-{version}"]


def build_probe_argv(
    spec: ProbeSpec, fping_path: str = "fping", *, interval_ms: int | None = None
) -> list[str]:
    """The argv of one ``fping -C`` latency batch for ``spec`` (validated here).

    ``-t`` is always explicit: in count mode fping's default timeout is the period, which
    would turn a reply arriving after the next probe was sent into loss. ``-q`` keeps stdout
    empty; the ``-C`` rows and ``duplicate for`` lines arrive on stderr. ``interval_ms``
    overrides the spec's (the runner widens it when batches run concurrently).
    """
    spec = validate_probe_spec(spec)
    if interval_ms is not None:  # widened by the runner: bounded by what fping reads exactly
        _check_int("interval_ms", interval_ms, 1, FPING_MAX_MS)
    argv = [
        fping_path,
        "-C",
        str(spec.count),
        "-q",
        "-p",
        str(spec.period_ms),
        "-t",
        str(spec.timeout_ms),
        "-i",
        str(spec.interval_ms if interval_ms is None else interval_ms),
        "-b",
        str(spec.size_bytes),
        "-r",
        str(spec.retries),
        *_family_flag(spec),
    ]
    if spec.source_address is not None:
        argv += ["-S", spec.source_address]
    return [*argv, "--", *spec.targets]


def _range_bounds(spec: DiscoverySpec) -> tuple[IPAddress, IPAddress, IPNetwork | None]:
    if spec.end is None:
        try:
            network = ipaddress.ip_network(spec.start, strict=False)
        except (ValueError, TypeError) as exc:
            raise InvalidSpecError(f"invalid discovery range {spec.start!r}: {exc}") from exc
        return network.network_address, network.broadcast_address, network
    start, end = _ip_literal(spec.start), _ip_literal(spec.end)
    if start is None or end is None:
        raise InvalidSpecError(
            f"invalid discovery range {spec.start!r}-{spec.end!r}: both ends must be IP literals"
        )
    if start.version != end.version:
        raise InvalidSpecError(f"discovery range {spec.start}-{spec.end} mixes IPv4 and IPv6")
    if int(end) < int(start):
        raise InvalidSpecError(f"discovery range {spec.start}-{spec.end} is reversed")
    return start, end, None


def discovery_bounds(spec: DiscoverySpec) -> tuple[IPAddress, IPAddress]:
    """The first and last address of the spec's range (the whole block for a CIDR)."""
    start, end, _ = _range_bounds(spec)
    return start, end


def discovery_range_size(spec: DiscoverySpec) -> int:
    """How many addresses the range spans (the whole block for a CIDR)."""
    start, end, _ = _range_bounds(spec)
    return int(end) - int(start) + 1


def validate_discovery_spec(
    spec: DiscoverySpec, max_range_size: int = DEFAULT_MAX_RANGE_SIZE
) -> DiscoverySpec:
    """Check a discovery spec; refuse ranges wider than ``max_range_size`` addresses.

    fping 5.1 has no size limit on ``-g net/len``, so the cap is enforced here, before argv.
    """
    _check_fields(spec, ("max_hosts", "timeout_ms", "retries", "interval_ms"))
    start, _, _ = _range_bounds(spec)
    size = discovery_range_size(spec)
    if size > max_range_size:
        raise InvalidSpecError(
            f"discovery range {spec.start}{'-' + spec.end if spec.end else ''} spans {size} "
            f"addresses, more than the maximum of {max_range_size}"
        )
    _check_source(spec.source_address, start.version)
    return spec


def discovery_addresses(spec: DiscoverySpec) -> list[str]:
    """Explicit targets for an IPv6 range (fping 5.1's ``-g`` is IPv4 only).

    A CIDR gives its ``hosts()`` (like ``-g``, no network address); a range every address.
    Call only on a validated spec: the range is already capped.
    """
    start, end, network = _range_bounds(spec)
    if network is not None and network.num_addresses > 2:
        return [str(address) for address in network.hosts()]
    # The range's own class: ip_address(int) would make any value below 2**32 an IPv4
    # address (::1 -> 0.0.0.1).
    family = type(start)
    return [str(family(value)) for value in range(int(start), int(end) + 1)]


def build_discovery_argv(
    spec: DiscoverySpec,
    fping_path: str = "fping",
    max_range_size: int = DEFAULT_MAX_RANGE_SIZE,
) -> list[str]:
    """The argv of an ``fping -a`` reachability sweep over the spec's range.

    IPv4 uses ``-g start end`` or ``-g net/len``; IPv6 ranges are expanded here into explicit
    targets because fping 5.1 refuses ``-g`` for IPv6.

    >>> build_discovery_argv(DiscoverySpec(start="127.0.0.0/30"))
    ['fping', '-a', '-r', '1', '-t', '500', '-i', '10', '-4', '-g', '--', '127.0.0.0/30']
    """
    spec = validate_discovery_spec(spec, max_range_size)
    start, end, network = _range_bounds(spec)
    argv = [
        fping_path,
        "-a",
        "-r",
        str(spec.retries),
        "-t",
        str(spec.timeout_ms),
        "-i",
        str(spec.interval_ms),
        f"-{start.version}",
    ]
    if spec.source_address is not None:
        argv += ["-S", str(ipaddress.ip_address(spec.source_address))]
    if start.version == 6:
        return [*argv, "--", *discovery_addresses(spec)]
    if network is not None:
        return [*argv, "-g", "--", str(network)]
    return [*argv, "-g", "--", str(start), str(end)]
