"""A seal grant (用印授权) to a person not registered under the seal's organization, as an old
database holds it, on a real SQLite file, the real CLI and the real ``yinxin serve``.

``seal grant --member`` refuses such a grant now (``other_organization``:
``test_grant_limits``), but rows written before that refusal stay in the database: 甲方's
contract seal granted to 孙八, staff of another organization. Such a grant does not authorise
signing — every signing path asks the one grant check (``seals.grants``) before any code is
sent or PIN tried — and the operator sees it (``state`` ``other_organization`` in ``seal
grants`` and ``GET /seals/{seal}/grants``) so that it can be withdrawn; the row is kept.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3

import httpx
import pytest
from sqlalchemy import select

from tests.clock import START
from tests.fixtures.samples import contract_pdf
from tests.integration.server import free_port, running_server, yinxin_cli
from tests.integration.signing_flow import (
    World,
    build_world,
    new_platform,
    outbox_lines,
    read_code,
    sign_as,
)
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.errors import Forbidden
from yinxin.identity import id_card_check_char, org_code_check_char, uscc_check_char
from yinxin.pdf.sign import Placement
from yinxin.signing.batch import BatchItem
from yinxin.store.models import PlatformKey
from yinxin.store.models.seals import SealGrant
from yinxin.store.models.signing import SignatureRecord

OUTSIDER_PHONE = "13600136021"
API_OUTSIDER_PHONE = "13600136023"


def _uscc(org_code: str) -> str:
    body = "91110108" + org_code + org_code_check_char(org_code)
    return body + uscc_check_char(body)


def _person(w: World, name: str, body: str, phone: str, organization_id: int | None) -> int:
    sub = w.p.subscribers.add_person(
        name=name, id_number=body + id_card_check_char(body), phone=phone,
        organization_id=organization_id,
    )  # fmt: skip
    w.p.subscribers.accept_agreement(sub.id, accepted_by=name)
    return sub.id


def _other_organization(w: World) -> int:
    return w.p.subscribers.add_organization(
        name="上海另一家贸易有限公司",
        uscc=_uscc("MA02YY21"),
        legal_representative="赵六",
        contact_name="赵六",
        contact_phone="021-62345678",
        phone="13900139021",
    ).id


def _old_grant(w: World, member_id: int) -> int:
    """A grant of 甲方's contract seal to ``member_id`` written straight into the SQLite file,
    as a database from before the ``other_organization`` refusal holds it (the columns of the
    world's own grant to 王五, another member); its id."""
    con = sqlite3.connect(w.p.settings.home / "yinxin.db")
    try:
        with con:
            cur = con.execute(
                "INSERT INTO seal_grants (seal_id, member_subscriber_id, granted_by, granted_at,"
                " note, uses) SELECT seal_id, ?, granted_by, granted_at, '旧库授权', 0"
                " FROM seal_grants WHERE member_subscriber_id = ?",
                (member_id, w.member.id),
            )
            assert cur.lastrowid
            return cur.lastrowid
    finally:
        con.close()


def _move(p: Platform, person: int, to: int) -> None:
    """The person's row made to name organization ``to``, in the SQLite file: no verb moves a
    person (the organization is set at registration), an old import or a repair by hand may."""
    con = sqlite3.connect(p.settings.home / "yinxin.db")
    try:
        with con:
            con.execute("UPDATE subscribers SET organization_id = ? WHERE id = ?", (to, person))
    finally:
        con.close()


def _signatures(w: World) -> int:
    with w.p.db.read() as s:
        return len(list(s.execute(select(SignatureRecord.id)).scalars()))


def _pin_failures(w: World) -> int:
    with w.p.db.read() as s:
        return sum(k.failed_attempts for k in s.execute(select(PlatformKey)).scalars())


def _refused(got: dict) -> None:
    """The one refusal: names the seal, says why in both languages."""
    assert (got["error"], got["field"]) == ("other_organization", "seal"), got
    assert "not in force" in got["message"] and "不属于" in got["message"], got


def test_an_old_grant_to_another_organizations_person_signs_nothing(tmp_path):
    base_url = f"http://127.0.0.1:{free_port()}"
    home = tmp_path / "home"
    p = new_platform(home, base_url=base_url)  # the system clock, as the CLI processes see it
    try:
        w = build_world(p)
        other = _other_organization(w)
        outsider = _person(w, "孙八", "31010119900101223", OUTSIDER_PHONE, other)
        gid = _old_grant(w, outsider)
        # another, for the API (a signer gets one code a minute)
        api_outsider = _person(w, "吴十", "31010119900101231", API_OUTSIDER_PHONE, other)
        api_gid = _old_grant(w, api_outsider)
        es_id = w.jia.seal.es_id
        env = {"YINXIN_DATABASE_URL": p.settings.database_url}
        contract = tmp_path / "contract.pdf"
        contract.write_bytes(contract_pdf(1, title="采购合同"))
        before_sms, before_sigs = outbox_lines(w.outbox), _signatures(w)

        # the services: not usable, not offered among the seals the person may use
        assert not p.seals.can_use(es_id, outsider)
        with pytest.raises(Forbidden) as e:
            p.seals.check_usable(es_id, outsider)
        assert (e.value.field, e.value.code) == ("seal", "other_organization"), e.value
        assert f"grant #{gid}" in e.value.message and f"#{other}" in e.value.message
        assert p.seals.usable_by(outsider) == []
        assert p.seals.list(organization_id=outsider, granted_to=outsider) == []
        assert outsider not in p.seals.get(es_id).authorized_members

        # the operator's listing marks it; the row stays as it was
        listed = json.loads(yinxin_cli(["seal", "grants", es_id, "--json"], home, env=env).stdout)
        mine = [g for g in listed if g["id"] == gid]
        assert len(mine) == 1 and mine[0]["state"] == "other_organization", listed
        assert mine[0]["active"] is True and mine[0]["withdrawn_at"] is None
        assert {g["state"] for g in listed if g["id"] not in (gid, api_gid)} == {"active"}

        # `sign code --seal`: refused, no SMS
        r = yinxin_cli(
            ["sign", "code", "--in", str(contract), "--signer", str(outsider), "--seal", es_id,
             "--json"], home, env=env, check=False,
        )  # fmt: skip
        assert r.returncode == 5, r.stdout + r.stderr
        _refused(json.loads(r.stdout))
        # `sign batch --seal` (its first run sends the code): refused, no SMS
        r = yinxin_cli(
            ["sign", "batch", str(contract), "--seal", es_id, "--signer", str(outsider),
             "--anchor", "甲方（签章）", "--json"], home, env=env, check=False,
        )  # fmt: skip
        assert r.returncode == 5, r.stdout + r.stderr
        _refused(json.loads(r.stdout))
        assert outbox_lines(w.outbox) == before_sms

        # a code asked for without naming the seal is the signer's own; `sign pdf` with the
        # seal is then refused before the PIN is asked (none given: it would say so)
        ch = json.loads(
            yinxin_cli(
                ["sign", "code", "--in", str(contract), "--signer", str(outsider), "--json"],
                home, env=env,
            ).stdout
        )["challenge_id"]  # fmt: skip
        code = read_code(w.outbox, OUTSIDER_PHONE, after=before_sms)
        out = tmp_path / "signed.pdf"
        r = yinxin_cli(
            ["sign", "pdf", "--in", str(contract), "--out", str(out), "--seal", es_id,
             "--signer", str(outsider), "--challenge", ch, "--anchor", "甲方（签章）", "--json"],
            home, env={**env, "YINXIN_CODE": code}, check=False,
        )  # fmt: skip
        assert r.returncode == 5, r.stdout + r.stderr
        _refused(json.loads(r.stdout))
        assert not out.exists()
        # with the right PIN too (through the service, as every path): refused, PIN untried
        with pytest.raises(Forbidden) as e:
            p.seals.unlock_for_signing(es_id, "000000", outsider)
        assert (e.value.field, e.value.code) == ("seal", "other_organization")
        assert _pin_failures(w) == 0

        # the API over the real server
        key = p.api_keys.create(name="oa", role="integration", actor="test").secret
        sms = outbox_lines(w.outbox)
        with running_server(home, port=int(base_url.rsplit(":", 1)[1])) as srv:
            api = httpx.Client(
                base_url=srv.url("/api/v1"),
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            doc = {
                "name": "采购合同.pdf",
                "content_base64": base64.b64encode(contract.read_bytes()).decode(),
                "placement": {"anchor": "甲方（签章）"},
            }
            body = {"signer_subscriber_id": api_outsider, "documents": [doc], "seal": es_id}
            r = api.post("/batches/code", json=body)
            assert r.status_code == 403, r.text
            assert (r.json()["code"], r.json()["field"]) == ("other_organization", "seal")
            assert outbox_lines(w.outbox) == sms
            # a code for the batch without the seal named; signing with the seal: refused
            r = api.post("/batches/code", json={**body, "seal": None})
            assert r.status_code == 201, r.text
            batch = {"challenge_id": r.json()["challenge_id"], "pin": w.jia.pin}
            batch["code"] = read_code(w.outbox, API_OUTSIDER_PHONE, after=sms)
            r = api.post("/batches/sign", json={**body, **batch})
            assert r.status_code == 403, r.text
            assert (r.json()["code"], r.json()["field"]) == ("other_organization", "seal")
            r = api.get(f"/seals/{es_id}/grants")
            assert r.status_code == 200, r.text
            states = {g["id"]: g["state"] for g in r.json()}
            assert states[gid] == states[api_gid] == "other_organization", states
            api.close()
        assert _signatures(w) == before_sigs and _pin_failures(w) == 0
        with p.db.read() as s:  # kept, for the organization to withdraw
            for i in (gid, api_gid):
                g = s.get(SealGrant, i)
                assert g is not None and g.withdrawn_at is None and g.uses == 0

        # withdrawn, it is an ordinary withdrawn grant; the organization's own member signs on
        p.seals.withdraw(es_id, outsider, actor="单位管理员")
        assert [g.state for g in p.seals.grants(es_id, include_withdrawn=True) if g.id == gid] == [
            "withdrawn"
        ]
        sign_as(w, w.jia, contract_pdf(1, title="采购合同2"), name="采购合同2.pdf")
        assert _signatures(w) == before_sigs + 1
    finally:
        p.close()


def test_a_grant_stops_when_its_person_is_no_longer_the_organizations(tmp_path):
    """A person's organization is set at registration and no verb changes it; but the grant is
    judged from the current rows at every use, so a person whose row comes to name another
    organization (an old import, a repair by hand) stops signing at once, and starts again if
    it is put back — nothing about the grant itself is written."""
    p = new_platform(tmp_path / "home")
    try:
        w = build_world(p)
        other = _other_organization(w)
        staff = _person(w, "周九", "11010819900101223", "13600136022", w.org.id)
        es_id = w.jia.seal.es_id
        g = p.seals.grant(es_id, staff, actor="单位管理员")
        assert p.seals.can_use(es_id, staff)

        _move(p, staff, other)
        with pytest.raises(Forbidden) as e:
            p.seals.check_usable(es_id, staff)
        assert (e.value.field, e.value.code) == ("seal", "other_organization")
        assert staff not in p.seals.get(es_id).authorized_members
        assert [x.state for x in p.seals.grants(es_id) if x.id == g.id] == ["other_organization"]
        _move(p, staff, w.org.id)
        assert p.seals.can_use(es_id, staff)
        assert [x.state for x in p.seals.grants(es_id) if x.id == g.id] == ["active"]
    finally:
        p.close()


def test_an_automatic_signing_authorization_made_by_another_organizations_person_signs_nothing(
    tmp_path,
):
    """An automatic-signing authorization (自动签署授权) made by a member under the seal's grant
    signs later without the member's PIN or code. Made by a person whose row names another
    organization — made under an old grant to that organization's person, before the grant
    check refused it, or by staff moved since — it signed on: its use never looked at the
    person. Now refused ``other_organization`` naming ``seal``, nothing signed; the
    authorization is kept for withdrawal, and signs again if the person is the
    organization's again."""
    clock = FrozenClock(START)
    p = new_platform(tmp_path / "home", clock)
    try:
        w = build_world(p, clock)
        other = _other_organization(w)
        staff = _person(w, "周九", "11010819900101223", "13600136022", w.org.id)
        es_id = w.jia.seal.es_id
        p.seals.grant(es_id, staff, actor="单位管理员")
        a = p.authorizations.grant(
            es_id,
            pin=w.jia.pin,
            granted_by_subscriber_id=staff,
            actor="周九",
            max_documents=5,
            valid_until=clock.now() + dt.timedelta(days=30),
        )

        def use() -> int:
            doc = contract_pdf(1, title=f"自动签署{clock.now():%H%M%S}")
            item = BatchItem(doc, "自动.pdf", Placement(anchor="甲方（签章）"), "甲方")
            clock.advance(minutes=1)
            return len(p.batch.sign_authorized([item], authorization_id=a.id).documents)

        assert use() == 1
        _move(p, staff, other)
        before = _signatures(w)
        with pytest.raises(Forbidden) as e:
            use()
        assert (e.value.field, e.value.code) == ("seal", "other_organization"), e.value
        assert f"authorization {a.id}" in e.value.message and "不属于" in e.value.message
        assert _signatures(w) == before
        assert p.authorizations.get(a.id).state == "active"  # kept, to be withdrawn
        _move(p, staff, w.org.id)
        assert use() == 1
    finally:
        p.close()
