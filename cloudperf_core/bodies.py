"""Message bodies as text: queues like SQS carry text, cloudperf's reports and jobs are bytes.

One rule, used by whoever puts a body on a queue and whoever takes it off (the SQS adapter
when it pulls, the worker's use-case when Lambda pushes SQS records to it): a body that is
valid UTF-8 made only of characters SQS accepts (XML 1.0's) travels as it is; anything else
travels base64-encoded, with the message attribute ``cloudperf-encoding`` set to ``base64``.

>>> body_to_text(b'{"a": 1}')
('{"a": 1}', None)
>>> text, encoding = body_to_text(b"\\xff\\x00")
>>> (text, encoding, body_from_text(text, encoding))
('/wA=', 'base64', b'\\xff\\x00')
"""

from __future__ import annotations

import base64
import binascii
import re

from cloudperf_core.errors import MessageDecodeError

__all__ = ["BASE64", "ENCODING_ATTRIBUTE", "body_from_text", "body_to_text"]

ENCODING_ATTRIBUTE = "cloudperf-encoding"
BASE64 = "base64"
# Characters SQS refuses in a message body (its allowed set is XML 1.0's).
_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def body_to_text(body: bytes) -> tuple[str, str | None]:
    """``(text, encoding)``: the body as is (encoding ``None``) or base64 (``"base64"``)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _FORBIDDEN.search(text):
        return text, None
    return base64.b64encode(body).decode("ascii"), BASE64


def body_from_text(text: str, encoding: str | None) -> bytes:
    """The body bytes of a message's text and its ``cloudperf-encoding`` attribute value.

    Raises :class:`MessageDecodeError` for an unknown encoding or text that is not what the
    encoding says.
    """
    if encoding is None:
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MessageDecodeError(f"message body is not UTF-8 text: {exc}") from exc
    if encoding != BASE64:
        raise MessageDecodeError(f"unknown message body encoding {encoding!r}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MessageDecodeError(f"message body is not valid base64: {exc}") from exc
