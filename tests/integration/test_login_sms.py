"""The subscriber login code has its own SMS wording (issue 13): it used to reuse the signing
code's template and read "用于签署《登录印信平台》", as if logging in signed something."""

from __future__ import annotations

import json

from sqlalchemy import select
from starlette.testclient import TestClient

from tests.integration.signing_flow import read_code
from yinxin.adapters.http.server import create_app
from yinxin.notify.templates import LOGIN_CODE, TemplateCodes, default_library
from yinxin.store.models.notify import Notification


def test_the_login_sms_says_login_not_signing(world):
    with TestClient(create_app(world.p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        world.clock.advance(seconds=61)
        r = c.post("/api/v1/sessions/subscriber/codes", json={"phone": "13800138000"})
        assert r.status_code == 202, r.text  # the same answer for an unknown phone
        last = json.loads(world.outbox.read_text("utf-8").splitlines()[-1])
        assert last["template_id"] == LOGIN_CODE and last["to"] == "13800138000"
        body = last["body"]
        assert "登录验证码" in body and "仅用于登录印信平台" in body
        assert "签署" not in body and "《" not in body
        code = read_code(world.outbox, "13800138000")
        assert code in body
        r = c.post(
            "/api/v1/sessions/subscriber",
            json={"challenge_id": r.json()["challenge_id"], "code": code},
        )
        assert r.status_code == 201, r.text
    with world.p.db.read() as s:  # the send log keeps the login code masked, like a signing code
        row = s.execute(
            select(Notification).where(Notification.template_id == LOGIN_CODE)
        ).scalar_one()
        assert code not in row.body and "******" in row.body


def test_the_login_template_can_have_its_own_provider_code():
    codes = TemplateCodes.parse("one_time_code=SMS_100:code, login_code=SMS_300:code")
    assert codes.get(LOGIN_CODE) == "SMS_300"
    assert codes.variables_of(default_library.get(LOGIN_CODE)) == ("code",)
    assert set(default_library.get(LOGIN_CODE).fields) == {"code", "minutes"}
