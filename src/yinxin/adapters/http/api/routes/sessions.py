"""Browser sessions: staff login (password + TOTP), subscriber login (phone + one-time code),
the current session, logout.

A login answers with the session (never its secret) and the CSRF token, and sets two cookies:
``yx_session`` (the secret: HttpOnly, SameSite=Strict, Secure when the base URL is https) and
``yx_csrf`` (the token, readable by the page's script, which sends it back as
``X-CSRF-Token`` on every request that changes something). API keys need none of this.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response
from pydantic import BaseModel, Field

from yinxin.access.sessions import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    LoginCode,
    OpenedSession,
    SessionView,
    check_csrf,
)
from yinxin.adapters.http.api.context import Plat, Strict
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.shapes import Mobile
from yinxin.errors import Forbidden

router = APIRouter(route_class=JsonRoute, tags=["sessions"])


class StaffLoginIn(Strict):
    username: str = Field(min_length=1, max_length=50, examples=["desk1"])
    password: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=10, description="the authenticator's 6 digits")


class CodeRequestIn(Strict):
    phone: Mobile = Field(min_length=1, max_length=20)
    subscriber_id: int | None = Field(
        None, ge=1, le=2**62, description="when several subscribers share the phone"
    )


class SubscriberLoginIn(Strict):
    challenge_id: str = Field(min_length=1, max_length=60)
    code: str = Field(min_length=1, max_length=10)
    subscriber_id: int | None = Field(
        None,
        ge=1,
        le=2**62,
        description="the account to open when several share the phone: the right code without "
        "it is answered 409 choose_account with their `choices` (subscriber_id, kind, name)",
    )


class SessionOut(BaseModel):
    session: SessionView
    csrf_token: str


def _secure(platform) -> bool:
    return platform.settings.base_url.startswith("https://")


def set_session_cookies(response: Response, platform, opened: OpenedSession) -> SessionOut:
    secure = _secure(platform)
    max_age = int((opened.session.expires_at - opened.session.created_at).total_seconds())
    # the session's secret out of scripts' reach; the CSRF token readable by the page's script
    for name, value, http_only in (
        (SESSION_COOKIE, opened.secret, True),
        (CSRF_COOKIE, opened.csrf_token, False),
    ):
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=http_only,
            samesite="strict",
            secure=secure,
        )
    response.headers["Cache-Control"] = "no-store"
    return SessionOut(session=opened.session, csrf_token=opened.csrf_token)


def _clear_cookies(response: Response, platform) -> None:
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(
            name, path="/", httponly=http_only, samesite="strict", secure=_secure(platform)
        )


@router.post("/sessions/staff", status_code=201, response_model=SessionOut)
def staff_login(body: StaffLoginIn, response: Response, platform: Plat):
    """Sign in as staff: username, password and the authenticator's current code. Five wrong
    attempts in a row lock the account for 15 minutes."""
    opened = platform.sessions.login_staff(body.username, body.password, body.code)
    return set_session_cookies(response, platform, opened)


@router.post("/sessions/subscriber/codes", status_code=202, response_model=LoginCode)
def subscriber_login_code(body: CodeRequestIn, background: BackgroundTasks, platform: Plat):
    """Send a login code to a registered mobile phone. The answer looks the same whether or
    not the phone is registered, and whether or not the SMS could be sent (a failure is
    audited ``intent.code_undelivered`` for the operator); the code is sent after it."""
    return platform.sessions.request_login_code(
        body.phone, body.subscriber_id, later=background.add_task
    )


@router.post("/sessions/subscriber", status_code=201, response_model=SessionOut)
def subscriber_login(body: SubscriberLoginIn, response: Response, platform: Plat):
    """Sign in as a subscriber with the code sent to the phone: the session sees that
    subscriber's own data only (an organization's: the organization and its people)."""
    opened = platform.sessions.login_subscriber(body.challenge_id, body.code, body.subscriber_id)
    return set_session_cookies(response, platform, opened)


@router.get("/sessions/current", response_model=SessionView)
def current_session(request: Request, response: Response, platform: Plat):
    """The browser's session: who is signed in, and until when."""
    response.headers["Cache-Control"] = "no-store"
    return platform.sessions.current(request.cookies.get(SESSION_COOKIE))


@router.delete("/sessions/current", status_code=204, response_class=Response)
def logout(request: Request, platform: Plat):
    """Sign out: the session ends at once and its cookies are cleared. Needs the CSRF token
    (otherwise another site could sign the user out)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        if not check_csrf(cookie, request.headers.get(CSRF_HEADER)):
            raise Forbidden(
                "the CSRF token is missing or wrong; reload the page",
                field="x-csrf-token",
                code="csrf",
            )
        platform.sessions.logout(cookie)
    response = Response(status_code=204)
    _clear_cookies(response, platform)
    return response
