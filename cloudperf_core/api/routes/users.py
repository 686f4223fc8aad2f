"""Signing in and out, one's own password, and user administration (admin role).

``POST /v1/login`` answers ``{"token", "role", "expires_at_ms"}`` and sets the same token as
the ``cloudperf_session`` cookie (HttpOnly, SameSite=Strict, Path=/, Secure unless the
request came over plain http from a loopback address). Either the bearer header or the
cookie authenticates. A password change ends every session of the user and answers a new
one (token and cookie), as a login does.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

import msgspec
from starlette.responses import Response

from cloudperf_core.api.http import ApiRoute, Call, Operation, endpoint
from cloudperf_core.api.paging import Page, PageParams, decode_cursor, page_of
from cloudperf_core.api.security import (
    SESSION_COOKIE,
    check_cookie_write,
    client_address,
    session_token,
)
from cloudperf_core.auth import MAX_PASSWORD_LEN, looks_like_session_token
from cloudperf_core.catalog import Role
from cloudperf_core.models import Session
from cloudperf_core.service import users

__all__ = ["ROUTES"]

_Password = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PASSWORD_LEN)]
UserName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$",
        description="1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
    ),
]


class Login(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    password: _Password


class LoginAnswer(msgspec.Struct, kw_only=True):
    """A session: use ``token`` as ``Authorization: Bearer``, or the cookie set with it."""

    token: str
    user: str
    role: str
    expires_at_ms: int


class PasswordChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    old_password: _Password
    new_password: _Password


class Me(msgspec.Struct, kw_only=True):
    user: str
    role: str
    expires_at_ms: int


class UserInfo(msgspec.Struct, kw_only=True):
    name: str
    role: Role


class NewUser(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: UserName
    password: _Password
    role: Role = "viewer"


class RoleChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: Role


class PasswordReset(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    password: _Password


async def accounts(call: Call) -> users.Accounts:
    s = call.ctx.services
    return users.Accounts(
        directory=await s.catalog(),
        sessions=await s.sessions(),
        counters=await s.counters(),
        cache=await s.cache(),
        hasher=call.ctx.password_hasher(),
        settings=call.ctx.settings,
        clock=call.ctx.clock,
    )


def _plain_http_on_loopback(call: Call) -> bool:
    request = call.request
    if request.url.scheme != "http" or request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _session_answer(call: Call, token: str, session: Session) -> Response:
    response = call.json(
        LoginAnswer(
            token=token, user=session.user, role=session.role, expires_at_ms=session.expires_at_ms
        ),
        headers={"Cache-Control": "no-store"},
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=call.ctx.settings.session_ttl_s,
        path="/",
        secure=not _plain_http_on_loopback(call),
        httponly=True,
        samesite="strict",
    )
    return response


@endpoint(
    Operation(
        "POST", "/v1/login", "Log in: a session token (also set as a cookie)", "none", "users",
        body=Login, response=LoginAnswer, errors=(401, 429, 503),
    )
)  # fmt: skip
async def login(call: Call) -> Response:
    body = await call.body(Login)
    token, session = await users.login(
        await accounts(call), body.username, body.password, client_address(call)
    )
    return _session_answer(call, token, session)


@endpoint(
    Operation(
        "POST", "/v1/logout", "End the session presented (bearer or cookie) and clear the "
        "cookie; succeeds without one too", "none", "users", status=204, errors=(415, 503),
    )
)  # fmt: skip
async def logout(call: Call) -> Response:
    check_cookie_write(call.request)
    token = session_token(call.request)
    if token is not None and looks_like_session_token(token):
        await users.logout(await accounts(call), token)
    response = call.empty()
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@endpoint(
    Operation(
        "POST", "/v1/password", "Change one's own password: every session of the user ends; "
        "answers a new one", "viewer", "users", body=PasswordChange, response=LoginAnswer,
        errors=(429,),
    )
)  # fmt: skip
async def change_password(call: Call) -> Response:
    body = await call.body(PasswordChange)
    assert call.session is not None
    token = session_token(call.request)
    assert token is not None
    new_token, session = await users.change_password(
        await accounts(call),
        call.session,
        token,
        body.old_password,
        body.new_password,
        client_address(call),
    )
    return _session_answer(call, new_token, session)


@endpoint(
    Operation(
        "GET", "/v1/me", "Who is logged in, with the current role", "viewer", "users",
        response=Me,
    )
)  # fmt: skip
async def me(call: Call) -> Response:
    session = call.session
    assert session is not None
    user = await (await call.ctx.services.catalog()).get_user(session.user)
    role = session.role if user is None else user.role
    return call.json(Me(user=session.user, role=role, expires_at_ms=session.expires_at_ms))


# --- administration -------------------------------------------------------------------------


@endpoint(
    Operation(
        "GET", "/v1/users", "Users and their roles", "admin", "users", query=PageParams,
        response=Page[UserInfo],
    )
)  # fmt: skip
async def list_users(call: Call) -> Response:
    params = call.query(PageParams)
    after = decode_cursor(params.cursor, str)
    directory = await call.ctx.services.catalog()
    found = await directory.list_users(after=after, limit=params.limit + 1)
    infos = [UserInfo(name=u.name, role=u.role) for u in found]
    return call.json(page_of(infos, key=lambda u: u.name, limit=params.limit))


@endpoint(
    Operation(
        "POST", "/v1/users", "Create a user", "admin", "users", body=NewUser,
        response=UserInfo, status=201, errors=(409,),
    )
)  # fmt: skip
async def create_user(call: Call) -> Response:
    body = await call.body(NewUser)
    user = await users.create_user(await accounts(call), body.name, body.password, body.role)
    return call.json(UserInfo(name=user.name, role=user.role))


@endpoint(
    Operation(
        "PUT", "/v1/users/{name}/role", "Set a user's role (at once; never demote the last "
        "admin)", "admin", "users", body=RoleChange, response=UserInfo, errors=(404, 409),
    )
)  # fmt: skip
async def set_role(call: Call) -> Response:
    body = await call.body(RoleChange)
    user = await users.set_role(await accounts(call), call.path("name"), body.role)
    return call.json(UserInfo(name=user.name, role=user.role))


@endpoint(
    Operation(
        "PUT", "/v1/users/{name}/password", "Reset a user's password (their sessions end)",
        "admin", "users", body=PasswordReset, status=204, errors=(404,),
    )
)  # fmt: skip
async def reset_password(call: Call) -> Response:
    body = await call.body(PasswordReset)
    await users.reset_password(await accounts(call), call.path("name"), body.password)
    return call.empty()


@endpoint(
    Operation(
        "DELETE", "/v1/users/{name}", "Delete a user (their sessions end; never the last "
        "admin)", "admin", "users", status=204, errors=(404, 409),
    )
)  # fmt: skip
async def delete_user(call: Call) -> Response:
    await users.delete_user(await accounts(call), call.path("name"))
    return call.empty()


ROUTES: list[ApiRoute] = [
    login,
    logout,
    change_password,
    me,
    list_users,
    create_user,
    set_role,
    reset_password,
    delete_user,
]
