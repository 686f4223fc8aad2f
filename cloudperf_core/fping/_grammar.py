"""Regular expressions and number rules for fping's text output (see fping-output.md §2-4).

Everything here is pure and stateless; ``parser`` decides what a matched line means.
"""

from __future__ import annotations

import re

# fping never prints more than 3 decimals; we accept what ``sprint_tm`` can produce in any
# version (including ``%.3e`` and negative ``%.2g`` values) and let malformed ones fail.
NUM = r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
_NUM_RE = re.compile(NUM)
INT64_MAX = 2**63 - 1

# Leading ` [<- ADDR]` fragments: fping writes them to stderr without a newline (§2.9).
FRAGMENTS = re.compile(r"^(?: \[<- [^\]]*\])+")
TRAILING_FRAGMENTS = re.compile(r"(?: \[<- [^\]]*\])+$")

# `-D` prefixes of every version (§2.8): epoch, ctime, iso, "rfc3339".
TS_PREFIX = re.compile(
    r"^\[(?:\d+\.\d+"
    r"|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[+-]\d{4}|Z)?)\] "
)
INTERVAL_HEADER = re.compile(r"^\[\d\d:\d\d:\d\d\]$")

# Parts after `LABEL :` (the rest starts with the space after the colon).
_AVG = rf"(?:{NUM}|[-+]?(?:NaN|nan|inf))"
_SUFFIX = (
    r"(?:,? timestamps: Originate=\d+ Receive=\d+ Transmit=\d+ Localreceive=\d+"
    r"| \((?:SRC|TOS|TTL) [^()]+\))*"
)
REPLY = re.compile(
    rf"^ \[(\d+)\], (\d+) bytes, ({NUM}) ms \({_AVG} avg, \d+% (?:loss|return)\){_SUFFIX}$"
)
TIMEOUT = re.compile(rf"^ \[(\d+)\], timed out \({_AVG} avg, \d+% (?:loss|return)\)$")
DUPLICATE = re.compile(rf"^ duplicate for \[(\d+)\], \d+ bytes, {NUM} ms$")
SUMMARY = re.compile(
    r"^ xmt/rcv/%(loss|return) = (\d+)/(\d+)/\d+%(?:, outage\(ms\) = \d+)?"
    rf"(?:, min/avg/max = ({NUM})/({NUM})/({NUM}))?$"
)
CROW = re.compile(rf"^(?: (?:-|{NUM}))*$")

# Lines that carry no label/colon structure.
ICMP_ERROR = re.compile(
    r"^(?P<msg>ICMP(?:v6)? .+? from (?P<src>\S+)) for ICMP(?:v6)? Echo(?: Request)? sent to "
    r"(?P<label>\S.*?)$"
)
SEND_ERROR = re.compile(r"^(?P<label>\S+): (?P<msg>error while sending ping: .*)$")
ALIVE = re.compile(
    rf"^(?P<label>\S+(?: \([^()\s]+\))?) is (?P<verdict>alive|unreachable)"
    rf"(?:{_SUFFIX}| \({NUM} ms\))*$"
)
LISTED = re.compile(
    rf"^(?P<label>[^\s()]+(?: \([^()\s]+\))?)(?:{_SUFFIX}| \((?P<rtt>{NUM}) ms\))*$"
)
VERDICT = re.compile(r"^(?:Enough|Not enough) hosts reachable \(required: \d+, reachable: \d+\)$")
STATS_BLOCK = re.compile(
    r"^ *(?:\d+ (?:targets|alive|unreachable|unknown addresses|timeouts \(waiting for response\)"
    r"|ICMP Echos sent|ICMP Echo Replies received|other ICMP received)"
    rf"|{NUM} ms \((?:min|avg|max) round trip time\)|\d+\.\d+ sec \(elapsed real time\))$"
)
NETDATA = re.compile(r"^(?:CHART|DIMENSION|BEGIN|SET|END)(?: |$)")
FATAL = re.compile(
    r"^(?:(?:\S*/)?fping6?[:,] |Error: |Usage: |see '|fatal(?: error)?: "
    r"|cannot elevate privileges|binding to specific interface)"
)
DIAGNOSTIC = re.compile(
    r"^(?:fwmark ipv[46]: |setting time to live: |setting type of service octet IP_TOS: "
    r"|setsockopt IP_RECVTOS: |received packet too short for ICMP )"
)
NAME_ERROR = re.compile(r"^(?P<label>\S+?): (?P<msg>\S.*)$")
OLD_NAME_ERROR = re.compile(r"^(?P<label>\S+) (?P<msg>address not found)$")


def split_label(line: str) -> tuple[str, str] | None:
    """Split ``LABEL(padded) :REST`` at the first `` :`` followed by a space or end of line.

    Returns ``(label, rest)`` with ``rest`` starting with the space after the colon (or
    empty), or ``None`` when the line has no such colon or the label is empty.
    """
    pos = line.find(" :")
    while pos >= 0:
        nxt = pos + 2
        if nxt == len(line) or line[nxt] == " ":
            label = line[:pos].rstrip(" ")
            if not label or label[0].isspace():
                return None
            return label, line[nxt:]
        pos = line.find(" :", nxt)
    return None


def ms_to_us(token: str) -> int | None:
    """fping's millisecond text to integer microseconds; ``None`` if malformed/out of range."""
    if _NUM_RE.fullmatch(token) is None:
        return None
    value = float(token) * 1000.0
    if value != value or abs(value) >= INT64_MAX:  # NaN or beyond int64
        return None
    return round(value)
