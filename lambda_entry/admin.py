"""``lambda_entry.admin.handler``: the administrator's actions, by direct invocation.

The event is ``{"action": NAME, ...}``; the same use-cases as ``cloudperf admin``:

==================  ==========================================  ===============================
action              fields                                      result (besides ``ok: true``)
==================  ==========================================  ===============================
``migrate``                                                     ``schema``: port -> applied
``create_user``     ``username``, ``role``, ``password``        ``user``, ``role``
``register_probe``  ``name``, ``location``                      ``probe_id``, ``token`` (once)
``rotate_token``    ``name``                                    ``probe_id``, ``token`` (once)
``disable_probe``   ``name``                                    ``probe_id``, ``enabled``
``enable_probe``    ``name``                                    ``probe_id``, ``enabled``
``pause``                                                       ``paused``
``resume``                                                      ``paused``
``import``          ``kind`` (ip2asn|cities), ``path`` or       the import's counts
                    ``text``, ``restart`` (default false)
==================  ==========================================  ===============================

``import`` reads a file in the function (``path``: shipped in the bundle, or under /tmp) or
the file's content inline (``text``; an invocation payload is at most 6 MB); fetching from
S3 is left to the caller. A bad event or a refused action answers
``{"ok": false, "error": CODE, "detail": REASON}`` (the API's codes), never a traceback. The
event is never logged: it may hold a password.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from cloudperf_core.bootstrap import Services
from cloudperf_core.errors import CloudperfError
from lambda_entry._runtime import call, jsonable, make_logger

logger = make_logger("admin")


class Migrate(msgspec.Struct, tag="migrate", tag_field="action", forbid_unknown_fields=True):
    pass


class CreateUser(msgspec.Struct, tag="create_user", tag_field="action", forbid_unknown_fields=True):
    username: str  # as in POST /v1/login
    role: str
    password: str

    def __repr__(self) -> str:
        return f"CreateUser(username={self.username!r}, role={self.role!r})"


class RegisterProbe(
    msgspec.Struct, tag="register_probe", tag_field="action", forbid_unknown_fields=True
):
    name: str
    location: str


class RotateToken(
    msgspec.Struct, tag="rotate_token", tag_field="action", forbid_unknown_fields=True
):
    name: str


class DisableProbe(
    msgspec.Struct, tag="disable_probe", tag_field="action", forbid_unknown_fields=True
):
    name: str


class EnableProbe(
    msgspec.Struct, tag="enable_probe", tag_field="action", forbid_unknown_fields=True
):
    name: str


class Pause(msgspec.Struct, tag="pause", tag_field="action", forbid_unknown_fields=True):
    pass


class Resume(msgspec.Struct, tag="resume", tag_field="action", forbid_unknown_fields=True):
    pass


class Import(msgspec.Struct, tag="import", tag_field="action", forbid_unknown_fields=True):
    kind: Literal["ip2asn", "cities"]
    path: str | None = None
    text: str | None = None
    restart: bool = False


Action = (
    Migrate | CreateUser | RegisterProbe | RotateToken | DisableProbe | EnableProbe | Pause
    | Resume | Import
)  # fmt: skip
ACTIONS: tuple[str, ...] = tuple(str(cls.__struct_config__.tag) for cls in Action.__args__)


def _refusal(code: str, detail: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "detail": detail}


def parse_action(event: Any) -> Action:
    """The action the event asks for; CloudperfError (InvalidSpecError) when it is none."""
    from cloudperf_core.errors import InvalidSpecError

    if not isinstance(event, dict) or not isinstance(event.get("action"), str):
        raise InvalidSpecError(
            f'the event must be an object with "action": one of {", ".join(ACTIONS)}'
        )
    if event["action"] not in ACTIONS:
        raise InvalidSpecError(f"unknown action {event['action']!r}: one of {', '.join(ACTIONS)}")
    try:
        # msgspec's messages name the field and the expected type, never a value.
        action: Action = msgspec.convert(event, Action)
        return action
    except msgspec.ValidationError as exc:
        raise InvalidSpecError(f"action {event['action']}: {exc}") from None


async def _migrate(services: Services) -> dict[str, Any]:
    from cloudperf_core.ports import Migratable

    done: dict[int, str] = {}
    schema: dict[str, Any] = {}
    for port in ("store", "catalog"):
        backend = await services.port(port)
        if id(backend) in done:
            schema[port] = f"same as {done[id(backend)]}"
            continue
        done[id(backend)] = port
        if not isinstance(backend, Migratable):
            schema[port] = "managed automatically"
            continue
        applied = await backend.migrate()
        schema[port] = {"applied": applied, "version": await backend.schema_version()}
    return {"schema": schema}


async def _run(action: Action, services: Services) -> dict[str, Any]:
    from cloudperf_core.clock import SystemClock
    from cloudperf_core.service import directory

    catalog = await services.catalog()
    match action:
        case Migrate():
            return await _migrate(services)
        case CreateUser(username=name, role=role, password=password):
            from cloudperf_core.auth import PasswordHasher
            from cloudperf_core.errors import InvalidSpecError

            if not password:
                raise InvalidSpecError("the password is empty")
            hasher = PasswordHasher(services.config.settings)
            user = await directory.create_user(catalog, hasher, name, password, role)
            return {"user": user.name, "role": user.role}
        case RegisterProbe(name=name, location=location):
            probe, token = await directory.register_probe(
                catalog, catalog, SystemClock(), name, location
            )
            return {"probe_id": probe.probe_id, "location": probe.location, "token": token}
        case RotateToken(name=name):
            return {"probe_id": name, "token": await directory.rotate_token(catalog, name)}
        case DisableProbe(name=name) | EnableProbe(name=name):
            enabled = isinstance(action, EnableProbe)
            probe = await directory.set_probe_enabled(catalog, name, enabled)
            return {"probe_id": probe.probe_id, "enabled": probe.enabled}
        case Pause() | Resume():
            settings = await directory.set_paused(catalog, isinstance(action, Pause))
            return {"paused": settings.paused}
        case Import():
            return await _import(action, services)
    raise AssertionError(action)  # pragma: no cover


async def _import(action: Import, services: Services) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    import anyio.to_thread

    from cloudperf_core.clock import SystemClock
    from cloudperf_core.errors import InvalidSpecError
    from cloudperf_core.service.admin import import_catalog

    if (action.path is None) == (action.text is None):
        raise InvalidSpecError('import takes one of "path" (a file in the function) or "text"')
    with tempfile.TemporaryDirectory(prefix="cloudperf-import-") as folder:
        if action.text is not None:
            path = Path(folder) / f"{action.kind}.txt"
            await anyio.to_thread.run_sync(path.write_text, action.text)
        else:
            path = Path(action.path or "")
            if not await anyio.to_thread.run_sync(path.is_file):
                raise InvalidSpecError(f"no file at {action.path!r} in the function")
        result = await import_catalog(
            await services.catalog(), await services.store(), path, action.kind,
            clock=SystemClock(), restart=action.restart,
        )  # fmt: skip
    if result.records == 0 and result.skipped > 0:
        first = result.issues[0]
        raise InvalidSpecError(
            f"no usable {action.kind} line ({result.skipped} skipped; line {first.line}: "
            f"{first.reason})"
        )
    out: dict[str, Any] = jsonable(result)
    return out


def _error_code(exc: CloudperfError) -> tuple[str, str]:
    from cloudperf_core.api.errors import ERROR_STATUS

    _status, code = next(
        ((s, c) for cls, s, c in ERROR_STATUS if isinstance(exc, cls)), (500, "internal")
    )
    return code, str(exc)


# log_event=False wins over POWERTOOLS_LOGGER_LOG_EVENT: events hold passwords.
@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        action = parse_action(event)
    except CloudperfError as exc:
        logger.warning("refused an admin event", extra={"reason": str(exc)})
        return _refusal(*_error_code(exc))
    name = type(action).__struct_config__.tag
    logger.append_keys(action=name)
    try:
        result = call(lambda services: _run(action, services))
    except CloudperfError as exc:
        code, detail = _error_code(exc)
        logger.warning("admin action failed", extra={"error": code, "detail": detail})
        return _refusal(code, detail)
    logger.info("admin action done")
    return {"ok": True, "action": name, **result}
