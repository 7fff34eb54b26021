"""A seal grant's end (授权期限) and number of signings (用印次数), on real SQLite.

The organization grants 王五 its contract seal for two signings and ten days: each signing
counts, the third is refused naming the grant, and a grant past its end refuses as well. A
grant with an end in the past, after the seal's end, or a limit that is not a whole number of
at least one is refused naming the field, with nothing written. (Two signings at once for the
last use: ``test_races``.)
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.dbdump import count, diff, dump
from tests.fixtures.samples import contract_pdf
from tests.integration.server import yinxin_cli
from tests.integration.signing_flow import World, build_world, sign_as
from yinxin.errors import Forbidden, ValidationError, YinxinError
from yinxin.store.models.signing import SignatureRecord

ADMIN = "单位管理员"


@pytest.fixture
def world(platform, clock) -> World:
    return build_world(platform, clock)


def regrant(w: World, **limits) -> int:
    """Replace the world's open grant to 王五 with one carrying ``limits``; its id."""
    w.p.seals.withdraw(w.jia.seal.es_id, w.member.id, actor=ADMIN)
    return w.p.seals.grant(w.jia.seal.es_id, w.member.id, actor=ADMIN, **limits).id


def refused_signing(w: World, title: str) -> YinxinError:
    doc = contract_pdf(1, title=title)
    with pytest.raises(Forbidden) as e:
        sign_as(w, w.jia, doc, name=f"{title}.pdf")
    return e.value


def test_a_limited_grant_counts_its_signings_and_then_refuses(world):
    w = world
    end = w.clock.now() + dt.timedelta(days=10)
    gid = regrant(w, valid_until=end, max_uses=2, note="百城e采平台项目")
    (g,) = w.p.seals.grants(w.jia.seal.es_id)
    assert (g.id, g.max_uses, g.uses, g.remaining_uses, g.state) == (gid, 2, 0, 2, "active")
    assert g.valid_until == end.replace(microsecond=0)
    for i in range(2):
        sign_as(w, w.jia, contract_pdf(1, title=f"采购合同{i}"), name=f"采购合同{i}.pdf")
    (g,) = w.p.seals.grants(w.jia.seal.es_id)
    assert (g.uses, g.remaining_uses, g.state, g.active) == (2, 0, "used_up", True)
    assert not w.p.seals.can_use(w.jia.seal.es_id, w.member.id)
    e = refused_signing(w, "采购合同2")
    assert e.code == "grant_used_up" and f"grant #{gid}" in e.message, e
    assert count(w.p, SignatureRecord) == 2
    # nor is the member listed among the seal's authorized members
    assert w.member.id not in w.p.seals.get(w.jia.seal.es_id).authorized_members

    # used up, the member may be granted again; this time for one day, which then passes
    again = w.p.seals.grant(
        w.jia.seal.es_id, w.member.id, actor=ADMIN, valid_until=w.clock.now() + dt.timedelta(days=1)
    )
    assert again.id != gid and again.max_uses is None and again.remaining_uses is None
    sign_as(w, w.jia, contract_pdf(1, title="采购合同3"), name="采购合同3.pdf")
    w.clock.advance(days=1, minutes=1)
    e = refused_signing(w, "采购合同4")
    assert e.code == "grant_expired" and f"grant #{again.id}" in e.message, e
    assert count(w.p, SignatureRecord) == 3
    assert {g.state for g in w.p.seals.grants(w.jia.seal.es_id)} == {"used_up", "expired"}
    # a withdrawal ends every grant of the member not withdrawn yet
    w.p.seals.withdraw(w.jia.seal.es_id, w.member.id, actor=ADMIN)
    assert w.p.seals.grants(w.jia.seal.es_id) == []
    assert {g.state for g in w.p.seals.grants(w.jia.seal.es_id, include_withdrawn=True)} == {
        "withdrawn"
    }


def test_a_grant_without_limits_is_unlimited(world):
    w = world
    (g,) = w.p.seals.grants(w.jia.seal.es_id)
    assert (g.valid_until, g.max_uses, g.remaining_uses, g.state) == (None, None, None, "active")
    sign_as(w, w.jia, contract_pdf(1, title="无限合同"), name="无限合同.pdf")
    (g,) = w.p.seals.grants(w.jia.seal.es_id)
    assert (g.uses, g.remaining_uses, g.state) == (1, None, "active")


def test_a_batch_larger_than_the_uses_left_is_refused_whole(world):
    from tests.integration.signing_flow import read_code
    from yinxin.signing import batch as batch_module

    w = world
    gid = regrant(w, max_uses=2)
    items = [
        batch_module.BatchItem(contract_pdf(1, title=f"批量合同{i}"), f"批量{i}.pdf", None, "甲方")
        for i in range(3)
    ]
    w.clock.advance(minutes=7)
    ch = w.p.batch.request_code(signer_subscriber_id=w.jia.id, items=items)
    code = read_code(w.outbox, w.jia.phone)
    with pytest.raises(Forbidden) as e:
        w.p.batch.sign(
            items,
            seal=w.jia.seal.es_id,
            pin=w.jia.pin,
            signer_subscriber_id=w.jia.id,
            challenge_id=ch.challenge_id,
            code=code,
        )
    assert e.value.code == "grant_used_up" and f"grant #{gid}" in e.value.message, e.value
    assert count(w.p, SignatureRecord) == 0
    (g,) = w.p.seals.grants(w.jia.seal.es_id)
    assert g.uses == 0


BAD: list[tuple[str, dict, str]] = [
    ("end in the past", {"valid_until": -1}, "valid_until"),
    ("end now", {"valid_until": 0}, "valid_until"),
    ("end after the seal", {"valid_until": "after-seal"}, "valid_until"),
    ("end without a zone", {"valid_until": "naive"}, "valid_until"),
    ("no uses", {"max_uses": 0}, "max_uses"),
    ("negative uses", {"max_uses": -3}, "max_uses"),
    ("fractional uses", {"max_uses": 1.5}, "max_uses"),
    ("uses as text", {"max_uses": "3"}, "max_uses"),
    ("uses as a yes", {"max_uses": True}, "max_uses"),
]


@pytest.mark.parametrize("case", [b[0] for b in BAD])
def test_a_bad_limit_is_refused_naming_the_field_with_nothing_written(world, case):
    w = world
    _, given, field = next(b for b in BAD if b[0] == case)
    w.p.seals.withdraw(w.jia.seal.es_id, w.member.id, actor=ADMIN)
    now = w.clock.now()
    seal_end = w.p.seals.get(w.jia.seal.es_id).valid_end
    limits = dict(given)
    if "valid_until" in limits:
        v = limits["valid_until"]
        limits["valid_until"] = {
            "after-seal": seal_end + dt.timedelta(seconds=1),
            "naive": (now + dt.timedelta(days=1)).replace(tzinfo=None),
        }.get(v) or now + dt.timedelta(days=v)
    before = dump(w.p)
    with pytest.raises(ValidationError) as e:
        w.p.seals.grant(w.jia.seal.es_id, w.member.id, actor=ADMIN, **limits)
    assert e.value.field == field, e.value
    assert diff(before, dump(w.p)) == []
    # the seal's own end is allowed
    w.p.seals.grant(w.jia.seal.es_id, w.member.id, actor=ADMIN, valid_until=seal_end)


def test_an_automatic_signing_authorization_by_a_member_stays_within_the_grant(world):
    """A member with a limited grant who authorizes automatic signing (a key copy that signs
    without the PIN) hands on no more than the grant allows: its documents are taken from the
    grant's uses, and it may not end after the grant. Before, the copy signed up to its own
    limit and end whatever the grant said."""
    from yinxin.store.models.authorizations import SigningAuthorization

    w = world
    now = w.clock.now()
    gid = regrant(w, valid_until=now + dt.timedelta(days=10), max_uses=3)

    def authorize(days: int, documents: int):
        return w.p.authorizations.grant(
            w.jia.seal.es_id,
            pin=w.jia.pin,
            granted_by_subscriber_id=w.member.id,
            max_documents=documents,
            valid_until=now + dt.timedelta(days=days),
        )

    before = dump(w.p)
    with pytest.raises(ValidationError) as late:
        authorize(20, 2)
    assert late.value.field == "valid_until" and f"grant #{gid}" in late.value.message
    with pytest.raises(Forbidden) as many:
        authorize(5, 4)
    assert many.value.code == "grant_used_up" and f"grant #{gid}" in many.value.message
    assert diff(before, dump(w.p)) == []
    made = authorize(5, 2)
    (g,) = w.p.seals.grants(w.jia.seal.es_id)
    assert (g.uses, g.remaining_uses) == (2, 1)
    assert count(w.p, SigningAuthorization) == 1 and made.max_documents == 2


def test_a_batch_larger_than_the_grant_allows_is_refused_before_anything_is_signed(
    world, client, monkeypatch
):
    """A member whose grant has two signings left asks for a batch of three over HTTP: it is
    refused up front (403 ``grant_used_up`` naming ``member_subscriber_id``) — no document
    signed or timestamped, no file archived, no PIN attempt counted, nothing written. Before,
    every document was signed, timestamped and archived, and only the recording transaction
    refused the batch."""
    import base64

    import yinxin.signing.batch as batch_module
    from tests.integration.signing_flow import outbox_lines, read_code

    w = world
    regrant(w, max_uses=2)
    secret = w.p.api_keys.create(name="oa", role="integration", actor="t").secret
    h = {"Authorization": f"Bearer {secret}"}
    docs = [
        {"name": f"采购合同{i}.pdf", "content_base64": base64.b64encode(pdf).decode()}
        for i, pdf in enumerate(contract_pdf(1, title=f"采购合同{i}") for i in range(3))
    ]
    who = {"signer_subscriber_id": w.member.id, "documents": docs}
    w.clock.advance(seconds=61)  # past the code's rate limit
    mark = outbox_lines(w.outbox)
    r = client.post("/api/v1/batches/code", json=who, headers=h)
    assert r.status_code == 201, r.text
    code = read_code(w.outbox, w.jia.phone, after=mark)
    signed: list[int] = []
    real = batch_module.sign_pdf_detailed
    monkeypatch.setattr(
        batch_module, "sign_pdf_detailed", lambda *a, **k: signed.append(1) or real(*a, **k)
    )
    stored: list[int] = []
    real_store = w.p.archive.store
    monkeypatch.setattr(
        w.p.archive, "store", lambda *a, **k: stored.append(1) or real_store(*a, **k)
    )
    body = {
        **who,
        "seal": w.jia.seal.es_id,
        "pin": w.jia.pin,
        "challenge_id": r.json()["challenge_id"],
        "code": code,
    }
    before = dump(w.p)
    r = client.post("/api/v1/batches/sign", json=body, headers=h)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "grant_used_up", r.text
    assert r.json()["field"] == "member_subscriber_id", r.text
    assert "not 3" in r.json()["detail"]
    assert signed == [] and stored == []
    assert diff(before, dump(w.p)) == []
    (g,) = w.p.seals.grants(w.jia.seal.es_id)
    assert (g.uses, g.remaining_uses) == (0, 2)


def test_an_authorization_ended_unused_gives_its_documents_back_to_the_grant(any_platform, clock):
    """The documents an automatic-signing authorization took from the member's grant when it
    was made and did not sign go back to the grant when it is withdrawn or expires, in the
    same commit, audited on the seal and in the authorization's end; those it signed stay
    counted, and an exhausted one gives nothing back. Before, a withdrawn or expired
    authorization kept its unsigned documents out of the grant for good."""
    import json

    from sqlalchemy import select

    from yinxin.signing.batch import BatchItem
    from yinxin.store.models import AuditEvent

    w = build_world(any_platform, clock)
    gid = regrant(w, max_uses=6)

    def authorize(documents: int, days: int = 5):
        return w.p.authorizations.grant(
            w.jia.seal.es_id,
            pin=w.jia.pin,
            granted_by_subscriber_id=w.member.id,
            max_documents=documents,
            valid_until=w.clock.now() + dt.timedelta(days=days),
        )

    def left() -> tuple[int, int | None, str]:
        (g,) = w.p.seals.grants(w.jia.seal.es_id)
        assert g.id == gid
        return g.uses, g.remaining_uses, g.state

    def sign_under(authorization_id: int, title: str) -> None:
        pdf = contract_pdf(1, title=title)
        w.p.batch.sign_authorized(
            [BatchItem(pdf, f"{title}.pdf")], authorization_id=authorization_id
        )

    def events(action: str) -> list[dict]:
        with w.p.db.read() as s:
            q = select(AuditEvent.data).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            return [json.loads(d) for d in s.execute(q).scalars()]

    withdrawn = authorize(4)
    assert left() == (4, 2, "active")
    sign_under(withdrawn.id, "自动签署一")
    assert left() == (4, 2, "active")  # signing under it spends the documents it took
    w.p.authorizations.withdraw(withdrawn.id, actor=ADMIN, reason="合作结束")
    assert left() == (1, 5, "active")  # the one signed stays counted
    (back,) = events("seal.grant_uses_returned")
    assert back["grant_id"] == gid and back["authorization_id"] == withdrawn.id
    assert (back["uses"], back["uses_now"]) == (3, 1)
    (ended,) = events("authorization.withdrawn")
    assert ended["returned_uses"] == {"seal_grant_id": gid, "uses": 3}

    # the grant used up by an authorization is in force again once it expires unused
    expiring = authorize(5, days=1)
    assert left() == (6, 0, "used_up")
    w.clock.advance(days=2)
    assert w.p.authorizations.expire_due() == 1
    assert w.p.authorizations.get(expiring.id).state == "expired"
    assert left() == (1, 5, "active")
    assert events("authorization.expired")[-1]["returned_uses"]["uses"] == 5

    # an exhausted one gives nothing back, and a second end is refused with nothing returned
    spent = authorize(1)
    sign_under(spent.id, "自动签署二")
    assert w.p.authorizations.get(spent.id).state == "exhausted"
    assert left() == (2, 4, "active")
    with pytest.raises(YinxinError):
        w.p.authorizations.withdraw(spent.id, actor=ADMIN, reason="再撤一次")
    assert left() == (2, 4, "active")
    assert len(events("seal.grant_uses_returned")) == 2


def test_a_batch_code_asked_with_the_seal_is_refused_before_any_sms(world, client):
    """``POST /batches/code`` with the seal refuses a batch that seal could not sign for the
    signer — a grant with fewer uses left than the documents (403 ``grant_used_up``), a seal
    not usable, a signer without its grant — before any code is sent: no SMS, nothing
    written, the code's rate limit not touched. Before, it took no seal: the code went out and
    only /batches/sign refused. Without ``seal`` (older callers) a code is sent as before."""
    import base64
    import json

    from tests.integration.signing_flow import CODE_TEMPLATES, outbox_lines

    w = world
    gid = regrant(w, max_uses=2)
    secret = w.p.api_keys.create(name="oa", role="integration", actor="t").secret
    h = {"Authorization": f"Bearer {secret}"}
    docs = [
        {"name": f"供货合同{i}.pdf", "content_base64": base64.b64encode(pdf).decode()}
        for i, pdf in enumerate(contract_pdf(1, title=f"供货合同{i}") for i in range(3))
    ]
    three = {"signer_subscriber_id": w.member.id, "documents": docs, "seal": w.jia.seal.es_id}
    w.clock.advance(seconds=61)  # past the code's rate limit
    mark = outbox_lines(w.outbox)
    before = dump(w.p)

    def codes_to(phone: str) -> int:
        """The one-time codes sent to ``phone`` since ``mark``."""
        lines = w.outbox.read_text("utf-8").splitlines()[mark:] if w.outbox.exists() else []
        return sum(
            1
            for m in map(json.loads, lines)
            if m.get("to") == phone and m.get("template_id") in CODE_TEMPLATES
        )

    def refused(body: dict, status: int, code: str, field: str) -> dict:
        r = client.post("/api/v1/batches/code", json=body, headers=h)
        assert r.status_code == status, r.text
        assert (r.json()["code"], r.json()["field"]) == (code, field), r.text
        return r.json()

    used_up = refused(three, 403, "grant_used_up", "member_subscriber_id")
    assert f"grant #{gid}" in used_up["detail"] and "not 3" in used_up["detail"]
    refused({**three, "seal": w.yi.seal.es_id}, 403, "not_authorized", "member_subscriber_id")
    refused(
        {**three, "signer_subscriber_id": w.person.id, "documents": docs[:1]},
        403,
        "not_authorized",
        "member_subscriber_id",
    )
    refused({**three, "seal": "99999999999999"}, 404, "not_found", "seal")
    # a placement /batches/sign refuses before the PIN (the seal off the page, an anchor text
    # not in the file) was sent its code: refused now, with the same error
    for where, code in (
        ({"page": 1, "x_mm": 200, "y_mm": 20}, "outside_page"),
        ({"anchor": "丙方（签章）"}, "anchor_not_found"),
    ):
        off = [docs[0], {**docs[1], "placement": where}]
        refused({**three, "documents": off}, 422, code, "items[1].placement")
    assert outbox_lines(w.outbox) == mark  # no SMS
    assert diff(before, dump(w.p)) == []  # nothing written: no challenge, no count
    w.p.seals.freeze(w.jia.seal.es_id, actor="officer")
    refused({**three, "documents": docs[:1]}, 403, "seal_not_active", "seal")
    w.p.seals.unfreeze(w.jia.seal.es_id, actor="officer")
    assert codes_to(w.jia.phone) == 0  # the freeze's notices went out, no code

    # two documents fit the grant: the code goes out at once (the refusals counted nothing)
    r = client.post("/api/v1/batches/code", json={**three, "documents": docs[:2]}, headers=h)
    assert r.status_code == 201, r.text
    assert codes_to(w.jia.phone) == 1
    # an older caller, without the seal: a code as before (/batches/sign refuses the batch)
    w.clock.advance(seconds=61)
    old = {"signer_subscriber_id": w.member.id, "documents": docs}
    r = client.post("/api/v1/batches/code", json=old, headers=h)
    assert r.status_code == 201, r.text
    assert codes_to(w.jia.phone) == 2
    (g,) = w.p.seals.grants(w.jia.seal.es_id)
    assert (g.uses, g.remaining_uses) == (0, 2)


def _uscc(org_code: str) -> str:
    """A unified social credit code (GB 32100) around an organization code's eight characters."""
    from yinxin.identity import org_code_check_char, uscc_check_char

    body = "91110108" + org_code + org_code_check_char(org_code)
    return body + uscc_check_char(body)


def _person(w: World, name: str, body: str, phone: str, organization_id: int | None):
    from yinxin.identity import id_card_check_char

    return w.p.subscribers.add_person(
        name=name,
        id_number=body + id_card_check_char(body),
        phone=phone,
        organization_id=organization_id,
    )


def test_a_grant_to_another_organizations_staff_is_refused_with_nothing_written(world):
    """用印授权 lets one of the organization's people use its seal. A person registered under
    another organization (that organization's staff, whom its administrator sees and manages)
    was granted the contract seal of 甲方's organization all the same — the operator's
    ``seal grant --member`` and an administrator key checked nothing — and signed with it.
    Now refused naming ``member_subscriber_id`` (``other_organization``, exit 2 / 422), nothing
    written; the organization's own staff, and a person registered on their own (whom no
    organization can register as its staff afterwards: the organization is set at
    registration), are granted as before."""
    w = world
    other = w.p.subscribers.add_organization(
        name="上海另一家贸易有限公司",
        uscc=_uscc("MA02YY11"),
        legal_representative="赵六",
        contact_name="赵六",
        contact_phone="021-62345678",
        phone="13900139011",
    )
    outsider = _person(w, "孙八", "31010119900101123", "13600136011", other.id)
    before = dump(w.p)
    with pytest.raises(ValidationError) as e:
        w.p.seals.grant(w.jia.seal.es_id, outsider.id, actor=ADMIN)
    assert (e.value.field, e.value.code) == ("member_subscriber_id", "other_organization"), e.value
    assert f"#{outsider.id}" in e.value.message and f"#{other.id}" in e.value.message, e.value
    # the operator's command line likewise: exit 2 naming the option typed
    r = yinxin_cli(
        ["seal", "grant", w.jia.seal.es_id, "--member", str(outsider.id), "--json"],
        w.p.settings.home,
        env={"YINXIN_DATABASE_URL": w.p.settings.database_url},
        check=False,
    )
    got = json.loads(r.stdout)
    assert r.returncode == 2 and (got["field"], got["error"]) == ("member", "other_organization")
    assert diff(before, dump(w.p)) == []
    assert not w.p.seals.can_use(w.jia.seal.es_id, outsider.id)

    # the organization's own staff, and a person on their own (the world's 王五), may be granted
    staff = _person(w, "周九", "11010819900101123", "13600136012", w.org.id)
    g = w.p.seals.grant(w.jia.seal.es_id, staff.id, actor=ADMIN)
    assert g.state == "active" and w.p.seals.can_use(w.jia.seal.es_id, staff.id)
    assert w.p.seals.can_use(w.jia.seal.es_id, w.member.id)
