"""An automatic-signing authorization (自动签署授权) made by a member under the seal's grant
(用印授权) authorises nothing once that grant is not in force — withdrawn (a leaving employee)
or past its end — though its own documents using the grant up do not stop it. Through the
real services, the HTTP API (TestClient on the real app, real SQLite) and the real CLI.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from tests.dbdump import count
from tests.fixtures.samples import contract_pdf
from tests.integration.server import yinxin_cli
from tests.integration.signing_flow import World
from yinxin.errors import Forbidden
from yinxin.pdf.sign import Placement
from yinxin.signing.batch import BatchItem
from yinxin.signing.flows import SignerSpec
from yinxin.store.models.authorizations import SigningAuthorization
from yinxin.store.models.seals import SealGrant
from yinxin.store.models.signing import SignatureRecord

ADMIN = "单位管理员"


def _authorize(w: World, documents: int, days: int = 5):
    return w.p.authorizations.grant(
        w.jia.seal.es_id,
        pin=w.jia.pin,
        granted_by_subscriber_id=w.member.id,
        actor="王五",
        max_documents=documents,
        valid_until=w.clock.now() + dt.timedelta(days=days),
    )


def _sign(w: World, authorization_id: int) -> int:
    w.clock.advance(minutes=1)
    doc = contract_pdf(1, title=f"自动签署{w.clock.now():%H%M%S}")
    item = BatchItem(doc, "自动.pdf", Placement(anchor="甲方（签章）"), "甲方")
    return len(w.p.batch.sign_authorized([item], authorization_id=authorization_id).documents)


def _refused(w: World, authorization_id: int, state: str) -> Forbidden:
    before = count(w.p, SignatureRecord)
    with pytest.raises(Forbidden) as e:
        _sign(w, authorization_id)
    err = e.value
    assert (err.field, err.code) == ("seal", "grant_not_in_force"), err.to_dict()
    assert f"authorization {authorization_id}" in err.message and f"({state})" in err.message
    assert "自动签署授权不再生效" in err.message, err.message
    assert count(w.p, SignatureRecord) == before
    return err


def test_a_withdrawn_grant_stops_the_authorizations_made_under_it(world, client):
    """The organization withdraws a leaving employee's grant: the automatic-signing
    authorization the employee made went on signing with the seal, no PIN, no code — its use
    never looked at the grant. Now each use is refused 403 ``grant_not_in_force`` naming
    ``seal`` (English and Chinese), nothing signed, over the service and the API; the
    authorization stays active (kept, to be withdrawn) and shows ``grant_state`` withdrawn in
    its view, its listing and the CLI. A new grant to the same person does not revive it."""
    w = world
    es_id = w.jia.seal.es_id
    secret = w.p.api_keys.create(name="oa", role="integration", actor="t").secret
    h = {"Authorization": f"Bearer {secret}"}
    a = _authorize(w, 5)
    assert _sign(w, a.id) == 1
    # a flow to sign over the API under the same authorization
    made = w.p.flows.create(
        "自动签署合同",
        documents=[("合同.pdf", contract_pdf(1))],
        signers=[SignerSpec(w.jia.id, w.jia.role, es_id)],
        deadline=w.clock.now() + dt.timedelta(days=2),
    )
    w.p.flows.start(made.id)
    signer_id = w.p.flows.get(made.id).signers[0].id

    r = client.post(f"/api/v1/seals/{es_id}/grants/{w.member.id}/withdraw", headers=h, json={})
    assert r.status_code == 200, r.text
    _refused(w, a.id, "withdrawn")
    assert a.grant_state == "active"
    before = count(w.p, SignatureRecord)
    r = client.post(
        f"/api/v1/flows/{made.id}/signers/{signer_id}/sign-authorized",
        json={"authorization_id": a.id},
        headers=h,
    )
    assert r.status_code == 403, r.text
    assert (r.json()["code"], r.json()["field"]) == ("grant_not_in_force", "seal"), r.text
    assert count(w.p, SignatureRecord) == before
    got = client.get(f"/api/v1/authorizations/{a.id}", headers=h).json()
    assert (got["state"], got["grant_state"], got["key_held"]) == ("active", "withdrawn", True)
    listed = client.get("/api/v1/authorizations", headers=h).json()["items"]
    assert [x["grant_state"] for x in listed if x["id"] == a.id] == ["withdrawn"]

    # the CLI's view says it, and withdrawing it still works (its key copy shredded)
    env = {"YINXIN_DATABASE_URL": w.p.settings.database_url}
    home = w.p.settings.home
    shown = yinxin_cli(["authorization", "show", str(a.id)], home, env=env).stdout
    assert "grant is withdrawn" in shown and "用印授权不生效" in shown, shown
    as_json = yinxin_cli(["authorization", "show", str(a.id), "--json"], home, env=env).stdout
    assert json.loads(as_json)["grant_state"] == "withdrawn"

    # granted again: a new decision with its own count, not a revival of the old authorization
    w.p.seals.grant(es_id, w.member.id, actor=ADMIN)
    _refused(w, a.id, "withdrawn")
    ended = w.p.authorizations.withdraw(a.id, actor=ADMIN, reason="员工离职")
    assert (ended.state, ended.key_held) == ("withdrawn", False)
    fresh = _authorize(w, 1)
    assert _sign(w, fresh.id) == 1


def test_an_expired_grant_stops_it_but_its_own_documents_using_the_grant_up_do_not(world):
    """An authorization's documents are taken from the grant's uses when it is made (用印次数:
    a grant of 2 cannot back one of 3): the grant it uses up stays in force for it, and it
    signs its 2. A grant past its end stops what was made under it (the authorization may not
    outlast its grant; here the grant's end is moved back by hand, as an old row or a repair
    may have it)."""
    w = world
    es_id = w.jia.seal.es_id
    w.p.seals.withdraw(es_id, w.member.id, actor=ADMIN)
    gid = w.p.seals.grant(es_id, w.member.id, actor=ADMIN, max_uses=2).id
    with pytest.raises(Forbidden) as many:
        _authorize(w, 3)
    assert many.value.code == "grant_used_up"
    a = _authorize(w, 2)
    (g,) = w.p.seals.grants(es_id)
    assert g.state == "used_up"
    assert _sign(w, a.id) == 1  # the grant its own documents used up backs it

    with w.p.db.transaction() as s:
        s.execute(
            update(SealGrant)
            .where(SealGrant.id == gid)
            .values(valid_until=w.clock.now() + dt.timedelta(minutes=30))
        )
    w.clock.advance(hours=1)
    _refused(w, a.id, "expired")
    assert w.p.authorizations.get(a.id).grant_state == "expired"
    w.clock.advance(hours=-1)
    assert w.p.authorizations.get(a.id).grant_state == "active"  # used up, still its backing
    with w.p.db.read() as s:
        r = s.execute(select(SigningAuthorization).where(SigningAuthorization.id == a.id))
        assert r.scalar_one().used_documents == 1


def test_one_made_before_its_grant_was_recorded_needs_a_grant_in_force_now(world):
    """An authorization made before migration 0028 names no grant (``seal_grant_id`` NULL; its
    documents were taken from none): it signs while the member holds a grant in force, and
    nothing once the member holds none."""
    w = world
    es_id = w.jia.seal.es_id
    a = _authorize(w, 3)
    with w.p.db.transaction() as s:
        s.execute(
            update(SigningAuthorization)
            .where(SigningAuthorization.id == a.id)
            .values(seal_grant_id=None)
        )
    assert _sign(w, a.id) == 1
    w.p.seals.withdraw(es_id, w.member.id, actor=ADMIN)
    _refused(w, a.id, "none")
    assert w.p.authorizations.get(a.id).grant_state == "none"
    w.p.seals.grant(es_id, w.member.id, actor=ADMIN)
    assert _sign(w, a.id) == 1
