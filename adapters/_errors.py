"""Error classification shared by adapters (each maps its own driver's exceptions)."""

from __future__ import annotations

import ssl

__all__ = ["cert_rejected"]


def cert_rejected(exc: BaseException | None) -> bool:
    """Whether ``exc`` or anything in its cause chain is a refused TLS certificate.

    Drivers wrap it (asyncmy as "can't connect", redis-py as a connection error), which
    would read as a transient failure; it is a configuration problem a retry cannot fix.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
