"""Changing a subscriber's contact details (phone, e-mail, an organization's contact) on the
record alone — through the service, ``yinxin subscriber update`` and ``PATCH
/api/v1/subscribers/{id}`` —: checked as at registration, nothing changed on a refusal, no
certificate revoked, audited with masked values, and a new mobile number told to the old one.

Before, the only way was ``yinxin cert change``, which issues a new certificate and revokes the
old one although neither the phone nor the contact is in the certificate's subject."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.clear_text import in_clear
from tests.codes import wrong_code
from tests.conftest import PASSPHRASE, cli_env
from tests.dbdump import diff, dump
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import World, outbox_lines
from tests.integration.test_web_selfservice_api import subscriber_session
from yinxin.adapters.cli import app as cli_app
from yinxin.errors import ValidationError
from yinxin.store.models.notify import Notification


def notices(w: World, template: str = "subscriber_phone_changed") -> list[Notification]:
    with w.p.db.read() as s:
        q = select(Notification).where(Notification.template_id == template)
        rows = s.execute(q.order_by(Notification.id)).scalars().all()
        s.expunge_all()
        return rows


def sms(w: World) -> list[dict]:
    return [json.loads(line) for line in w.outbox.read_text("utf-8").splitlines()]


def both_codes(w: World, ask: dict, new: str, current: str, *, after: int) -> dict:
    """The proof of a holder's own phone change: the codes sent to the new number and to the
    registered one, with their challenges from the ``202`` answer ``ask``."""
    from tests.integration.signing_flow import read_code

    return {
        "phone": new,
        "phone_challenge_id": ask["challenge_id"],
        "phone_code": read_code(w.outbox, new, after=after),
        "current_phone_challenge_id": ask["current_phone_challenge_id"],
        "current_phone_code": read_code(w.outbox, current, after=after),
    }


def changed_own_email(w: World, client, url: str, h: dict, email: str):
    """A holder's own e-mail change made whole: a minute on (past the last code's limit), the
    ``202`` asked for, then the same change with the code sent to the new address."""
    from tests.integration.signing_flow import read_code

    w.clock.advance(seconds=61)
    mark = outbox_lines(w.mailbox)
    r = client.patch(url, json={"email": email}, headers=h)
    assert r.status_code == 202, r.text
    ask = r.json()
    code = read_code(w.mailbox, email, after=mark)
    proof = {"email_challenge_id": ask["email_challenge_id"], "email_code": code}
    return client.patch(url, json={"email": email, **proof}, headers=h)


def changed_own_phone(w: World, client, url: str, h: dict, new: str, current: str):
    """A holder's own phone change made whole: a minute on (past the last code's limit), the
    ``202`` asked for, then the same change with both codes; the final answer."""
    w.clock.advance(seconds=61)
    mark = outbox_lines(w.outbox)
    ask = client.patch(url, json={"phone": new}, headers=h).json()
    return client.patch(url, json=both_codes(w, ask, new, current, after=mark), headers=h)


def test_a_new_phone_changes_the_record_alone_and_the_old_number_is_told(world: World) -> None:
    p, person, cert = world.p, world.person, world.person_cert
    before = p.certificates.get(cert.serial)
    out = p.subscribers.update(
        person.id, {"phone": "+86 139-0013-9555", "email": " zs@example.cn "}, actor="受理员 陈静"
    )
    assert (out.phone, out.email) == ("139****9555", "zs@example.cn")
    assert p.subscribers.get(person.id, reveal=True).phone == "13900139555"
    # the certificate is untouched: same serial, still active, no new one
    after = p.certificates.get(cert.serial)
    assert (after.status, after.revoked_at) == ("active", None)
    assert len(p.certificates.list(subscriber_id=person.id)) == 1 and after == before
    # the old number hears of it, the new one masked, through the outbox
    [row] = notices(world)
    assert (row.channel, row.recipient, row.status) == ("sms", "13800138000", "sent")
    assert "手机号码已于" in row.body and "变更为 139****9555" in row.body
    assert "13900139555" not in row.body and "如非本人操作" in row.body
    assert sms(world)[-1]["to"] == "13800138000"
    # the audit trail has the change, masked like listings
    [ev] = p.audit_events(action="subscriber.updated", subject_id=str(person.id))
    assert ev.actor == "受理员 陈静"
    assert ev.data["changes"] == {
        "phone": {"from": "138****8000", "to": "139****9555"},
        "email": {"from": None, "to": "z***@example.cn"},
    }
    assert "13900139555" not in json.dumps(ev.data) and p.verify_audit().ok
    # the next notice goes to the new number
    p.certificates.freeze(cert.serial, actor="张三")
    assert sms(world)[-1]["to"] == "13900139555" and "冻结" in sms(world)[-1]["body"]
    # the same values again: nothing to record, nothing told
    p.subscribers.update(person.id, {"phone": "13900139555"}, actor="张三")
    assert len(p.audit_events(action="subscriber.updated")) == 1 and len(notices(world)) == 1


def test_an_organizations_contact_is_changed_without_a_notice_to_anyone(world: World) -> None:
    p, org = world.p, world.org
    out = p.subscribers.update(
        org.id, {"contact_name": "林八", "contact_phone": "0591-87760022"}, actor="ra"
    )
    assert (out.contact_name, out.contact_phone) == ("林八", "059******0022")
    assert p.certificates.get(world.org_cert.serial).status == "active"
    assert notices(world) == []  # the login and notice phone did not change
    [ev] = p.audit_events(action="subscriber.updated", subject_id=str(org.id))
    assert ev.data["changes"]["contact_name"] == {"from": "王五", "to": "林八"}
    assert ev.data["changes"]["contact_phone"] == {"from": "010*****5678", "to": "059******0022"}


BAD = [
    ({"phone": "12345"}, "phone"),
    ({"phone": "13900139555", "email": "no-at-sign"}, "email"),  # one bad: none applied
    ({"email": "a@b"}, "email"),
    ({"email": "a b@example.cn"}, "email"),
    ({"contact_name": "林\u202e八"}, "contact_name"),
    ({"contact_phone": "87760022"}, "contact_phone"),
    ({"name": "张三丰"}, "name"),
    ({"id_number": "11010519491231002X"}, "id_number"),
    ({"uscc": "91350100M000100Y43"}, "uscc"),
    ({"legal_representative": "赵六"}, "legal_representative"),
    ({}, "phone"),
    ({"phone": None}, "phone"),
]


@pytest.mark.parametrize(("changes", "field"), BAD)
def test_a_bad_change_is_refused_by_name_and_nothing_changes(
    world: World, changes: dict, field: str
) -> None:
    target = world.org if {"contact_name", "contact_phone", "uscc"} & set(changes) else world.person
    before = dump(world.p)
    with pytest.raises(ValidationError) as e:
        world.p.subscribers.update(target.id, changes, actor="ra")
    assert e.value.field == field, e.value.message
    if field in ("name", "id_number", "uscc"):
        assert e.value.code == "in_subject" and "cert change" in e.value.message
    assert diff(before, dump(world.p)) == []


NO_SUBSCRIBER = 999_999


@pytest.mark.parametrize(
    ("changes", "field"),
    [c for c in BAD if c[1] not in ("name", "id_number", "uscc", "legal_representative")]
    + [({"legal_representative": ""}, "legal_representative")],
)
def test_a_bad_value_is_refused_by_name_whatever_the_id(
    world: World, changes: dict, field: str
) -> None:
    """What was typed is judged before the subscriber is looked up: ``--phone 12`` for an id
    with no subscriber said "no subscriber with id …" (exit 3), and the phone was refused only
    once the id was right — the officer fixed the id to be told the number was wrong too."""
    for sid in (NO_SUBSCRIBER, world.person.id):
        target = world.org.id if sid != NO_SUBSCRIBER and "contact_phone" in changes else sid
        with pytest.raises(ValidationError) as e:
            world.p.subscribers.update(target, changes, actor="ra")
        assert e.value.field == field, (sid, e.value.message)
        with pytest.raises(ValidationError) as e:
            world.p.subscribers.check(target, changes)
        assert e.value.field == field, (sid, e.value.message)


def test_the_cli_judges_what_was_typed_before_the_id(world: World) -> None:
    """``yinxin subscriber update 999999 --phone 12`` exits 2 naming ``phone`` (it exited 3,
    "no subscriber"); with no option at all the refusal names the options to give (it named
    ``changes``, which no option is called); an unknown id with a good value is still 3."""
    for args, field, words in (
        (["--phone", "12"], "phone", "11 digits"),
        (["--email", "zs@"], "email", "e-mail"),
        (["--contact-phone", "87760022"], "contact_phone", "area code"),
        (["--legal-representative", ""], "legal_representative", "empty"),
        ([], "phone", "nothing to change: give --phone, --email"),
    ):
        before = dump(world.p)
        res = cli(world, str(NO_SUBSCRIBER), *args)
        assert res.exit_code == 2, (args, res.output)
        assert f"error [{field}]" in res.stderr and words in res.stderr, res.stderr
        assert "changes" not in res.stderr
        assert diff(before, dump(world.p)) == []
    res = cli(world, str(NO_SUBSCRIBER), "--phone", "13900139555")
    assert res.exit_code == 3 and "[subscriber_id]" in res.stderr, res.output


def test_a_field_the_kind_does_not_have_is_refused(world: World) -> None:
    p = world.p
    with pytest.raises(ValidationError) as e:
        p.subscribers.update(world.person.id, {"contact_name": "林八"}, actor="ra")
    assert e.value.field == "contact_name" and "person" in e.value.message
    device = p.subscribers.add_device(device_name="门禁网关-9", organization_id=world.org.id)
    with pytest.raises(ValidationError) as e:
        p.subscribers.update(device.id, {"phone": "13900139555"}, actor="ra")
    assert e.value.field == "phone" and "organization" in e.value.message


def test_a_change_that_rolls_back_tells_no_one(world: World, monkeypatch) -> None:
    """The old number's notice is written in the change's transaction: no change, no notice."""
    from yinxin.store import audit

    real = audit.record

    def fail(s, **kw):
        if kw.get("action") == "subscriber.updated":
            raise RuntimeError("database went away")
        return real(s, **kw)

    monkeypatch.setattr(audit, "record", fail)
    with pytest.raises(RuntimeError):
        world.p.subscribers.update(world.person.id, {"phone": "13900139555"}, actor="ra")
    monkeypatch.undo()
    assert world.p.subscribers.get(world.person.id, reveal=True).phone == "13800138000"
    assert notices(world) == []


def cli(w: World, *args: str):
    env = cli_env(w.p)
    return CliRunner().invoke(cli_app, ["subscriber", "update", *args], env=env)


def test_the_cli_changes_contact_details_and_refuses_by_option(world: World) -> None:
    p, person = world.p, str(world.person.id)
    for args, field, words in (
        (["--phone", "12345"], "phone", "11 digits"),
        (["--email", "zs@"], "email", "e-mail"),
        (["--name", "张三丰"], "name", "cert change"),
        (["--contact-phone", "0591-87760022"], "contact_phone", "person"),
        ([], "phone", "give --phone, --email, --legal-representative"),
    ):
        before = dump(p)
        res = cli(world, person, *args)
        assert res.exit_code == 2, (args, res.output)
        assert f"[{field}]" in res.stderr and words in res.stderr, res.stderr
        assert diff(before, dump(p)) == []
    res = cli(world, person, "--phone", "13900139555", "--actor", "受理员 陈静", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["phone"] == "139****9555"
    assert p.subscribers.get(world.person.id, reveal=True).phone == "13900139555"
    assert [r.recipient for r in notices(world)] == ["13800138000"]
    assert p.audit_events(action="subscriber.updated")[0].actor == "受理员 陈静"
    assert p.certificates.get(world.person_cert.serial).status == "active"


def desk(w: World, client: TestClient) -> dict[str, str]:
    secret = w.p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_patches_contact_details_naming_a_refused_field(
    world: World, client: TestClient
) -> None:
    h = desk(world, client)
    url = f"/api/v1/subscribers/{world.org.id}"
    for role in world.p.status.crl_roles():  # signed now, not by the server amid the dumps
        world.p.status.current_crl(role)
    for body, field, code in (
        ({"contact_phone": "12"}, "contact_phone", "invalid"),
        ({"name": "新名称有限公司"}, "name", "in_subject"),
        ({"uscc": "91350100M000100Y43"}, "uscc", "in_subject"),
        ({"id_type": "passport"}, "id_type", "in_subject"),
        ({"seal_name": "x"}, "seal_name", None),  # not in the schema
        ({"phone": 13900139555}, "phone", None),
        ({}, "phone", "invalid"),
    ):
        before = dump(world.p)
        r = client.patch(url, json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == field, r.json()
        if code:
            assert r.json()["code"] == code
        assert diff(before, dump(world.p)) == []
    r = client.patch(url, json={"phone": "13900139555", "contact_name": "林八"}, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["phone"], r.json()["contact_name"]) == ("139****9555", "林八")
    assert [n.recipient for n in notices(world)] == ["13900139000"]
    assert world.p.audit_events(action="subscriber.updated")[0].actor.startswith("api:")
    assert world.p.certificates.get(world.org_cert.serial).status == "active"
    # the document offers the PATCH with the contact fields only
    doc = client.get("/api/v1/openapi.json", headers=h).json()
    schema = doc["components"]["schemas"]["ContactIn"]
    assert set(schema["properties"]) == {
        "phone",
        "email",
        "legal_representative",
        "contact_name",
        "contact_phone",
        "phone_challenge_id",  # a holder's own new phone: the code sent to it
        "phone_code",
        "current_phone_challenge_id",  # …and the code sent to the registered phone
        "current_phone_code",
        "email_challenge_id",  # a holder's own new e-mail: the code sent to it
        "email_code",
        "current_email_challenge_id",  # …and, with no mobile phone, to the current address
        "current_email_code",
    }
    assert schema["additionalProperties"] is False
    assert "patch" in doc["paths"]["/api/v1/subscribers/{subscriber_id}"]


def test_a_holder_changes_its_own_details_only(world: World, client: TestClient) -> None:
    token = subscriber_session(client, world, "13800138000")  # 张三, a person
    h = {"X-CSRF-Token": token}
    r = client.patch(f"/api/v1/subscribers/{world.member.id}", json={"email": "x@y.cn"}, headers=h)
    # refused as any other id is, seen or not (it was the 404 of a subscriber not in scope)
    assert r.status_code == 403 and r.json()["field"] == "subscriber_id"
    r = changed_own_email(
        world, client, f"/api/v1/subscribers/{world.person.id}", h, "zs@example.cn"
    )
    assert r.status_code == 200, r.text
    assert world.p.subscribers.get(world.person.id).email == "zs@example.cn"
    ev = world.p.audit_events(action="subscriber.updated")[0]
    assert ev.actor == f"subscriber:{world.person.id}"


def _member_of_the_organization(world: World):
    """A person of the world's organization, whose own phone (13600136000) receives their
    codes: the organization's contact sees them but changes none of their details."""
    return world.p.subscribers.add_person(
        name="林八",
        id_number="35010219851122348X",
        phone="13600136000",
        organization_id=world.org.id,
    )


def test_an_organizations_session_does_not_change_its_members_phone(
    world: World, client: TestClient
) -> None:
    """The organization's contact sees its members, but their phone receives their own codes:
    changing it would take over their signing. A session changes its own record only."""
    p = world.p
    staff = _member_of_the_organization(world)
    token = subscriber_session(client, world, "13900139000")
    h = {"X-CSRF-Token": token}
    assert client.get(f"/api/v1/subscribers/{staff.id}").status_code == 200
    r = client.patch(f"/api/v1/subscribers/{staff.id}", json={"phone": "13900139555"}, headers=h)
    assert r.status_code == 403 and r.json()["field"] == "subscriber_id"
    assert p.subscribers.get(staff.id, reveal=True).phone == "13600136000"
    r = client.patch(
        f"/api/v1/subscribers/{world.org.id}", json={"contact_name": "林八"}, headers=h
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"phone": ', id="body-not-json"),
        pytest.param(b'{"phone": "13900139555", "phone": "1"}', id="body-twice"),
        pytest.param(b'{"phnoe": "13900139555"}', id="body-invalid"),
        pytest.param(b'{"phone": "13900139555"}', id="body-valid"),
    ],
)
def test_a_session_changing_another_subscriber_is_refused_before_the_shape(
    world: World, client: TestClient, body: bytes
) -> None:
    """A subscriber's session changes its own record only, whatever the body: the refusal was
    made in the handler, after the subscriber's scope and the body, so a body that was not
    JSON, gave a member twice or a field the route does not take got ``422`` naming the
    fields of a change (an organization's session on its member), and a subscriber the
    session does not see its ``404``. The ``403`` now comes first, the same for any other id
    (it tells nothing of whether the subscriber exists); nothing is written."""
    p = world.p
    staff = _member_of_the_organization(world)
    for phone, others in (
        ("13900139000", [staff.id, world.person.id, 999_999]),  # the organization's contact
        ("13800138000", [world.member.id, world.org.id, 999_999]),  # a person
    ):
        h = {"X-CSRF-Token": subscriber_session(client, world, phone)}
        h["content-type"] = "application/json"
        for other in others:
            before = dump(p)
            r = client.patch(f"/api/v1/subscribers/{other}", content=body, headers=h)
            assert r.status_code == 403, (phone, other, r.text)
            assert r.json()["field"] == "subscriber_id" and "errors" not in r.json(), r.text
            assert diff(before, dump(p)) == []
        client.cookies.clear()


def test_a_certificate_change_of_contact_details_alone_is_refused(world: World) -> None:
    """``cert change SERIAL --phone`` revoked the certificate for a detail not in its subject;
    now it is refused pointing to ``subscriber update``, nothing revoked. With a subject field
    (the name) the contact details still ride along, and an e-mail is checked there too."""
    p, cert = world.p, world.person_cert
    before = dump(p)
    for updates, field in (({"phone": "13900139555"}, "phone"), ({"email": "zs@x.cn"}, "email")):
        with pytest.raises(ValidationError) as e:
            p.certificates.change(cert.serial, actor="ra", updates=updates)
        assert (e.value.field, e.value.code) == (field, "not_in_subject")
        assert "subscriber update" in e.value.message
    with pytest.raises(ValidationError) as e:
        p.certificates.change(cert.serial, actor="ra", updates={"name": "张三丰", "email": "zs@"})
    assert e.value.field == "email"  # taken unchecked before
    assert diff(before, dump(p)) == []
    out = p.certificates.change(
        cert.serial, actor="ra", updates={"name": "张三丰", "phone": "13900139555"}
    )
    assert out.previous.status == "revoked"
    assert p.subscribers.get(world.person.id, reveal=True).phone == "13900139555"


def test_registration_checks_an_e_mail_as_the_update_does(world: World) -> None:
    """One validator for both: registration took any text with an @ (``a@b``, ``x @y.cn``),
    which the notifier then refused at every send."""
    p = world.p
    for bad in ("a@b", "x @y.cn", "a@b@c.cn", "a@.cn"):
        with pytest.raises(ValidationError) as e:
            p.subscribers.add_person(
                name="李雷", id_number="11010519491231002X", phone="13600136000", email=bad
            )
        assert e.value.field == "email", bad
    ok = p.subscribers.add_person(
        name="李雷", id_number="11010519491231002X", phone="13600136000", email=" lilei@x.cn "
    )
    assert ok.email == "lilei@x.cn"


def test_a_certificate_change_audits_the_new_phone_masked(world: World) -> None:
    """``certificate.change`` kept the new phone number (and e-mail) in the audit trail in
    clear, as typed, where every listing and ``subscriber.updated`` mask it."""
    p, cert = world.p, world.person_cert
    p.certificates.change(
        cert.serial,
        actor="ra",
        updates={"name": "张三丰", "phone": "+86 139 0013 9555", "email": "zsf@example.cn"},
    )
    [ev] = p.audit_events(action="certificate.change", subject_id=cert.serial)
    assert ev.data["updates"] == {
        "name": "张三丰",
        "phone": "139****9555",
        "email": "z***@example.cn",
    }
    assert "9555" not in json.dumps(ev.data).replace("139****9555", "")
    assert p.verify_audit().ok


def test_a_legal_representative_changes_on_the_record_and_not_by_a_certificate_change(
    world: World, client: TestClient
) -> None:
    """法定代表人 is not in a certificate's subject (``certificates.subject_for``: an
    organization's name and credit code), yet it was taken by ``cert change`` alone, which
    revoked the organization's certificate for nothing, and ``subscriber update`` refused it."""
    p, org, cert = world.p, world.org, world.org_cert
    before = dump(p)
    with pytest.raises(ValidationError) as e:
        p.certificates.change(cert.serial, actor="ra", updates={"legal_representative": "赵七"})
    assert (e.value.field, e.value.code) == ("legal_representative", "not_in_subject")
    assert "subscriber update" in e.value.message and "--legal-representative" in e.value.message
    for bad in ("", "赵\u202e七", "赵" * 51):  # checked as at registration
        with pytest.raises(ValidationError) as e:
            p.subscribers.update(org.id, {"legal_representative": bad}, actor="ra")
        assert e.value.field == "legal_representative", bad
    assert diff(before, dump(p)) == []
    out = p.subscribers.update(org.id, {"legal_representative": " 赵七 "}, actor="受理员 陈静")
    assert out.legal_representative == "赵七"
    [ev] = p.audit_events(action="subscriber.updated", subject_id=str(org.id))
    assert ev.data["changes"] == {"legal_representative": {"from": "李四", "to": "赵七"}}
    assert p.certificates.get(cert.serial).status == "active"
    assert notices(world) == []  # no phone changed: no one told
    # a person has none
    with pytest.raises(ValidationError) as e:
        p.subscribers.update(world.person.id, {"legal_representative": "某人"}, actor="ra")
    assert e.value.field == "legal_representative"
    # the CLI and the API take it too
    res = cli(world, str(org.id), "--legal-representative", "钱八", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["legal_representative"] == "钱八"
    h = desk(world, client)
    r = client.patch(
        f"/api/v1/subscribers/{org.id}", json={"legal_representative": "孙九"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["legal_representative"] == "孙九"
    r = client.patch(f"/api/v1/subscribers/{org.id}", json={"legal_representative": ""}, headers=h)
    assert (r.status_code, r.json()["field"]) == (422, "legal_representative")
    assert p.certificates.get(cert.serial).status == "active"


def test_a_holders_new_phone_takes_effect_only_with_the_code_sent_to_it(
    world: World, client: TestClient
) -> None:
    """A subscriber's own session changed its registered phone at once: a typo, or whoever
    held the session, took every later login and signing code. Now the change waits for the
    code sent by SMS to the new number — counted, expiring, kept as an HMAC, audited masked —
    and the one sent to the registered number (``test_phone_change_proof``), and is then made
    whole, the old number told; a desk key still changes it at once."""
    from tests.integration.signing_flow import outbox_lines, read_code

    p, me = world.p, world.person
    token = subscriber_session(client, world, "13800138000")
    h = {"X-CSRF-Token": token}
    url = f"/api/v1/subscribers/{me.id}"
    world.clock.advance(seconds=61)
    before, mark = dump(p), outbox_lines(world.outbox)
    body = {"phone": "13900139555", "email": "zs@example.cn"}
    r = client.patch(url, json=body, headers=h)
    assert r.status_code == 202, r.text
    ask = r.json()
    assert ask["status"] == "phone_confirmation_required"
    assert ask["sent_to_masked"] == "139****9555"
    # the new e-mail's code too, sent by e-mail in the same request
    assert ask["email_sent_to_masked"] == "z***@example.cn"
    mail = read_code(world.mailbox, "zs@example.cn")
    # nothing changed: the phone and the e-mail wait for the code; the old number not told yet
    now = p.subscribers.get(me.id, reveal=True)
    assert (now.phone, now.email) == ("13800138000", None)
    assert notices(world) == [] and p.audit_events(action="subscriber.updated") == []
    changed = [t for t in diff(before, dump(p)) if "subscribers" in str(t)]
    assert changed == [], changed
    code = read_code(world.outbox, "13900139555", after=mark)  # to the NEW number
    current = read_code(world.outbox, "13800138000", after=mark)  # and to the registered one
    assert [m["template_id"] for m in sms(world)[-2:]] == [
        "phone_change_code",
        "phone_change_current_code",
    ]
    # kept as an HMAC: neither the code nor the new number in clear in the database
    with p.db.read() as s:
        rows = [str(n.body) for n in s.execute(select(Notification)).scalars()]
    assert not any(in_clear(code, b) for b in rows)
    [ev] = p.audit_events(action="intent.code_requested", subject_id=ask["challenge_id"])
    assert ev.data["sent_to"] == "139****9555" and ev.data["purpose"] == "phone_change"
    assert "13900139555" not in json.dumps([e.data for e in p.audit_events()])

    def confirm(phone: str, given: str, **extra):
        data = {**body, "phone": phone, "phone_challenge_id": ask["challenge_id"]}
        data |= {
            "current_phone_challenge_id": ask["current_phone_challenge_id"],
            "current_phone_code": current,
            "email_challenge_id": ask["email_challenge_id"],
            "email_code": mail,
        }
        return client.patch(url, json={**data, "phone_code": given, **extra}, headers=h)

    wrong = wrong_code(code)
    r = confirm("13900139555", wrong)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (403, "wrong_code", "phone_code")
    r = confirm("13900139666", code)  # the codes prove that number only
    assert (r.status_code, r.json()["code"]) == (403, "wrong_document")
    r = client.patch(url, json={**body, "phone_code": code}, headers=h)
    assert (r.status_code, r.json()["field"]) == (422, "current_phone_challenge_id")
    assert p.subscribers.get(me.id, reveal=True).phone == "13800138000"
    r = confirm("13900139555", code)
    assert r.status_code == 200, r.text
    assert (r.json()["phone"], r.json()["email"]) == ("139****9555", "zs@example.cn")
    assert p.subscribers.get(me.id, reveal=True).phone == "13900139555"
    [told] = notices(world)
    assert told.recipient == "13800138000"  # the old number is still told
    [ev] = p.audit_events(action="subscriber.updated")
    assert ev.data["changes"]["phone"] == {"from": "138****8000", "to": "139****9555"}
    # used up: the same code does not change the number again
    r = confirm("13900139555", code, email="zs2@example.cn")
    assert (r.status_code, r.json()["code"]) == (409, "code_used")
    assert p.subscribers.get(me.id).email == "zs@example.cn"
    # the desk changes it at once (identity checked in person)
    r = client.patch(url, json={"phone": "13900139777"}, headers=desk(world, client))
    assert r.status_code == 200, r.text
    assert p.subscribers.get(me.id, reveal=True).phone == "13900139777"


def test_a_holders_new_email_takes_effect_only_with_the_code_sent_to_it(
    world: World, client: TestClient
) -> None:
    """A holder's own session changed the registered e-mail at once: a typo, or whoever held
    the session, sent every later notice to an address nobody reads. Now the change waits for
    the code sent by e-mail to the new address (``202 email_confirmation_required``, nothing
    written); a wrong, expired, used or other address's code is refused at ``email_code`` (or
    ``email_challenge_id``) with nothing written; the right one makes it, the old address told.
    Removing the address stays one step; a desk key changes it at once."""
    from tests.integration.signing_flow import read_code

    p, me = world.p, world.person
    h = {"X-CSRF-Token": subscriber_session(client, world, "13800138000")}
    url = f"/api/v1/subscribers/{me.id}"
    p.subscribers.update(me.id, {"email": "zs@old.example.cn"}, actor="受理员 陈静")
    world.clock.advance(seconds=61)
    before, mark = dump(p), outbox_lines(world.mailbox)
    r = client.patch(url, json={"email": "zs@new.example.cn"}, headers=h)
    assert r.status_code == 202, r.text
    ask = r.json()
    assert ask["status"] == "email_confirmation_required"
    assert ask["email_sent_to_masked"] == "z***@new.example.cn"
    code = read_code(world.mailbox, "zs@new.example.cn", after=mark)
    [sent] = [json.loads(x) for x in world.mailbox.read_text("utf-8").splitlines()[mark:]]
    assert sent["template_id"] == "email_change_code"
    # nothing changed yet; the old address not told; the code nowhere in the database
    assert p.subscribers.get(me.id, reveal=True).email == "zs@old.example.cn"
    assert [t for t in diff(before, dump(p)) if "subscribers" in str(t)] == []
    assert notices(world, "subscriber_email_changed") == []
    with p.db.read() as s:
        bodies = [str(n.body) for n in s.execute(select(Notification)).scalars()]
    assert not any(in_clear(code, b) for b in bodies)
    [ev] = p.audit_events(action="intent.code_requested", subject_id=ask["email_challenge_id"])
    assert (ev.data["sent_to"], ev.data["purpose"]) == ("z***@new.example.cn", "email_change")

    def confirm(email: str, given: str | None, **extra):
        body = {"email": email, "email_challenge_id": ask["email_challenge_id"], **extra}
        if given is not None:
            body["email_code"] = given
        return client.patch(url, json=body, headers=h)

    refusals = [
        (confirm("zs@new.example.cn", wrong_code(code)), 403),
        (confirm("zs@new.example.cn", None), 422),  # the code missing
        (confirm("other@example.cn", code), 403),  # the code proves that address only
    ]
    for r, status in refusals:
        assert r.status_code == status, r.text
    assert [(r.json()["code"], r.json()["field"]) for r, _ in refusals] == [
        ("wrong_code", "email_code"),
        ("invalid", "email_code"),
        ("wrong_document", "email_challenge_id"),
    ]
    assert p.subscribers.get(me.id, reveal=True).email == "zs@old.example.cn"
    assert p.audit_events(action="subscriber.updated")[-1].actor == "受理员 陈静"
    r = confirm("zs@new.example.cn", code)
    assert r.status_code == 200, r.text
    assert p.subscribers.get(me.id, reveal=True).email == "zs@new.example.cn"
    [told] = notices(world, "subscriber_email_changed")
    assert told.recipient == "zs@old.example.cn"  # the old address is told
    r = confirm("zs@new.example.cn", code)  # used up
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (409, "code_used", "email_code")
    # expired: refused at email_code, nothing written
    world.clock.advance(seconds=61)
    r = client.patch(url, json={"email": "zs@late.example.cn"}, headers=h)
    assert r.status_code == 202, r.text
    ask = r.json()
    late = read_code(world.mailbox, "zs@late.example.cn")
    world.clock.advance(seconds=p.settings.otp_ttl_seconds + 1)
    r = confirm("zs@late.example.cn", late)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        403,
        "code_expired",
        "email_code",
    )
    assert p.subscribers.get(me.id, reveal=True).email == "zs@new.example.cn"
    # removing it takes no code
    r = client.patch(url, json={"email": ""}, headers=h)
    assert (r.status_code, r.json()["email"]) == (200, None)
    # the desk sets one at once (identity checked in person)
    r = client.patch(url, json={"email": "zs@desk.example.cn"}, headers=desk(world, client))
    assert r.status_code == 200, r.text
    assert p.subscribers.get(me.id, reveal=True).email == "zs@desk.example.cn"


def test_a_mailed_holders_new_email_also_waits_for_the_code_sent_to_the_current_address(
    world: World, client: TestClient
) -> None:
    """An organization registered at the desk with a landline and no mobile number gets its
    notices by e-mail. Its own key changed the address with the code sent to the NEW address
    alone: a leaked key moved every notice to the attacker's mailbox with a code sent there.
    Now a code goes to the current address too (``email_change_current_code``, naming the new
    address masked: the holder is warned), the ``202`` names both, and the change takes both:
    missing, wrong or for another address, the current address's is refused at its own field
    with nothing written. The desk still changes it at once."""
    from tests.integration.signing_flow import read_code

    p = world.p
    org = _mailed_organization(p)
    key = p.api_keys.create(
        name="fz", role="organization_admin", actor="test", organization_id=org.id
    ).secret
    h = {"Authorization": f"Bearer {key}"}
    url = f"/api/v1/subscribers/{org.id}"
    world.clock.advance(seconds=61)
    before, mark = dump(p), outbox_lines(world.mailbox)
    r = client.patch(url, json={"email": "evil@attacker.example"}, headers=h)
    assert r.status_code == 202, r.text
    ask = r.json()
    assert ask["status"] == "email_confirmation_required"
    assert ask["email_sent_to_masked"] == "e***@attacker.example"
    assert ask["current_email_sent_to_masked"] == "o***@fz.example.cn"
    sent = [json.loads(x) for x in world.mailbox.read_text("utf-8").splitlines()[mark:]]
    assert [(m["to"], m["template_id"]) for m in sent] == [
        ("evil@attacker.example", "email_change_code"),
        ("ops@fz.example.cn", "email_change_current_code"),  # the holder is warned
    ]
    assert "e***@attacker.example" in sent[1]["body"]
    new = read_code(world.mailbox, "evil@attacker.example", after=mark)
    current = read_code(world.mailbox, "ops@fz.example.cn", after=mark)
    assert p.subscribers.get(org.id, reveal=True).email == "ops@fz.example.cn"
    assert [t for t in diff(before, dump(p)) if "subscribers" in str(t)] == []
    [ev] = p.audit_events(
        action="intent.code_requested", subject_id=ask["current_email_challenge_id"]
    )
    assert (ev.data["sent_to"], ev.data["purpose"]) == (
        "o***@fz.example.cn",
        "email_change_current",
    )

    proof = {
        "email": "evil@attacker.example",
        "email_challenge_id": ask["email_challenge_id"],
        "email_code": new,
    }
    wrong = wrong_code(current)
    refusals = [
        (client.patch(url, json=proof, headers=h), 422),  # the new address's code alone
        (client.patch(url, json=proof | {"current_email_code": current}, headers=h), 422),
        (
            client.patch(
                url,
                json=proof
                | {
                    "current_email_challenge_id": ask["current_email_challenge_id"],
                    "current_email_code": wrong,
                },
                headers=h,
            ),
            403,
        ),
        (  # the new address's challenge given for the current one
            client.patch(
                url,
                json=proof
                | {
                    "current_email_challenge_id": ask["email_challenge_id"],
                    "current_email_code": new,
                },
                headers=h,
            ),
            403,
        ),
    ]
    for r, status in refusals:
        assert r.status_code == status, r.text
    assert [(r.json()["code"], r.json()["field"]) for r, _ in refusals] == [
        ("invalid", "current_email_challenge_id"),
        ("invalid", "current_email_challenge_id"),
        ("wrong_code", "current_email_code"),
        ("wrong_document", "current_email_challenge_id"),
    ]
    assert p.subscribers.get(org.id, reveal=True).email == "ops@fz.example.cn"
    assert notices(world, "subscriber_email_changed") == []
    both = proof | {
        "current_email_challenge_id": ask["current_email_challenge_id"],
        "current_email_code": current,
    }
    # the codes prove that new address only
    r = client.patch(url, json=both | {"email": "other@attacker.example"}, headers=h)
    assert (r.status_code, r.json()["field"]) == (403, "current_email_challenge_id"), r.text
    r = client.patch(url, json=both, headers=h)
    assert r.status_code == 200, r.text
    assert p.subscribers.get(org.id, reveal=True).email == "evil@attacker.example"
    [told] = notices(world, "subscriber_email_changed")
    assert told.recipient == "ops@fz.example.cn"
    # a holder with a mobile phone: its notices go by SMS, the new address's code is enough
    r = changed_own_email(
        world,
        client,
        f"/api/v1/subscribers/{world.person.id}",
        {"X-CSRF-Token": subscriber_session(client, world, "13800138000")},
        "zs@example.cn",
    )
    assert r.status_code == 200, r.text
    # the desk changes it at once (identity checked in person)
    r = client.patch(url, json={"email": "ops@desk.example.cn"}, headers=desk(world, client))
    assert r.status_code == 200, r.text
    assert p.subscribers.get(org.id, reveal=True).email == "ops@desk.example.cn"


def test_a_phone_change_code_expires_and_dies_after_five_wrong_codes(
    world: World, client: TestClient
) -> None:
    p, me = world.p, world.person
    h = {"X-CSRF-Token": subscriber_session(client, world, "13800138000")}
    url = f"/api/v1/subscribers/{me.id}"

    def ask(phone: str) -> dict:
        world.clock.advance(seconds=61)
        r = client.patch(url, json={"phone": phone}, headers=h)
        assert r.status_code == 202, r.text
        return r.json()

    from tests.integration.signing_flow import outbox_lines

    mark = outbox_lines(world.outbox)
    first = ask("13900139555")
    proof = both_codes(world, first, "13900139555", "13800138000", after=mark)
    world.clock.advance(seconds=p.settings.otp_ttl_seconds + 1)
    r = client.patch(url, json=proof, headers=h)
    assert (r.status_code, r.json()["code"]) == (403, "code_expired")
    assert r.json()["field"] == "current_phone_code"  # checked first
    mark = outbox_lines(world.outbox)
    second = ask("13900139555")
    proof = both_codes(world, second, "13900139555", "13800138000", after=mark)
    for _ in range(5):
        r = client.patch(url, json={**proof, "phone_code": "abcdef"}, headers=h)
        assert r.status_code == 403
    assert (r.json()["code"], r.json()["field"]) == ("challenge_dead", "phone_code")
    r = client.patch(url, json=proof, headers=h)  # the right code, too late
    assert (r.status_code, r.json()["code"]) == (403, "challenge_dead")
    assert p.subscribers.get(me.id, reveal=True).phone == "13800138000"
    assert notices(world) == []


def test_a_new_e_mail_is_told_to_the_old_address(tmp_path, clock) -> None:
    """A new phone was told to the old phone, but a new e-mail to no one: whoever changed it
    received the notices from then on and the holder never heard. Now the old address gets
    ``subscriber_email_changed`` (the new one masked), through the outbox and a real SMTP
    server; an address given where there was none tells no one, and a refused change no one."""
    from tests.integration.test_gateways import Mailbox, smtp_server
    from yinxin.app import Platform
    from yinxin.settings import MessageSettings, Settings

    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        messages = MessageSettings(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_tls="none",
            smtp_from="印信 <noreply@yinxin.test>",
            smtp_timeout=5,
        )
        home = tmp_path / "home"
        settings = Settings(home=home, database_url=f"sqlite:///{home / 'y.db'}", messages=messages)
        p = Platform(settings, clock=clock, passphrase=PASSPHRASE)
        try:
            zs = p.subscribers.add_person(
                name="张三",
                id_number="110105199003071239",
                phone="13800138000",
                email="zhangsan@old.example.cn",
            )
            bare = p.subscribers.add_person(
                name="李雷", id_number="11010519491231002X", phone="13600136000"
            )
            p.subscribers.update(bare.id, {"email": "lilei@example.cn"}, actor="ra")
            assert mailbox.delivered == []  # no old address: no one to tell
            with pytest.raises(ValidationError):
                p.subscribers.update(zs.id, {"email": "new@example.cn", "phone": "1"}, actor="ra")
            assert mailbox.delivered == []
            p.subscribers.update(zs.id, {"email": "zs.new@example.cn"}, actor="受理员 陈静")
            [mail] = mailbox.delivered
            assert mail.rcpt_tos == ["zhangsan@old.example.cn"]
            body = mailbox.parsed().get_body(preferencelist=("plain",)).get_content()
            assert "z***@example.cn" in body and "zs.new@example.cn" not in body
            assert "如非本人操作" in body
            with p.db.read() as s:
                [row] = s.execute(
                    select(Notification).where(
                        Notification.template_id == "subscriber_email_changed"
                    )
                ).scalars()
                assert (row.recipient, row.status, row.channel) == (
                    "zhangsan@old.example.cn",
                    "sent",
                    "email",
                )
            # the same address again: nothing changed, no one told
            p.subscribers.update(zs.id, {"email": "zs.new@example.cn"}, actor="ra")
            assert len(mailbox.delivered) == 1
        finally:
            p.close()


def test_a_certificate_change_with_a_new_phone_or_e_mail_tells_the_old_ones(world: World) -> None:
    """``cert change SERIAL --name … --phone … --email …`` moved the phone and the e-mail with
    the new subject and told neither the old number nor the old address, where ``subscriber
    update`` tells both: the same change of contact, two behaviours. Now both paths tell."""
    p, cert = world.p, world.person_cert
    p.subscribers.update(world.person.id, {"email": "zs@old.example.cn"}, actor="ra")
    p.certificates.change(
        cert.serial,
        actor="受理员 陈静",
        updates={"name": "张三丰", "phone": "13900139555", "email": "zsf@example.cn"},
    )
    [phone] = notices(world)
    assert (phone.recipient, phone.status) == ("13800138000", "sent")
    assert "139****9555" in phone.body and "13900139555" not in phone.body
    assert any(m["to"] == "13800138000" and "139****9555" in m["body"] for m in sms(world))
    [mail] = notices(world, "subscriber_email_changed")
    assert (mail.recipient, mail.status, mail.channel) == ("zs@old.example.cn", "sent", "email")
    assert "z***@example.cn" in mail.body and "zsf@example.cn" not in mail.body
    # a change of the name alone tells no one of a contact change
    p.certificates.change(
        p.certificates.list(subscriber_id=world.person.id, status="active")[0].serial,
        actor="ra",
        updates={"name": "张三"},
    )
    assert len(notices(world)) == 1 and len(notices(world, "subscriber_email_changed")) == 1


def test_a_certificate_change_judges_its_values_before_the_serial(world: World) -> None:
    """``yinxin cert change 99999 --name 新名 --phone 12`` said "no certificate with serial
    99999" (exit 3) and the phone was refused only once the serial was right; what a change
    of the subject carries is judged first (exit 2 naming it), whatever the serial. A good
    change of an unknown serial is still exit 3, contact details alone still the pointer to
    ``subscriber update``."""
    for extra, field in (
        ({"phone": "12"}, "phone"),
        ({"email": "zs@"}, "email"),
        ({"contact_name": "林" * 60}, "contact_name"),
        ({"name": ""}, "name"),
        ({"name": "a\u202eb"}, "name"),
    ):
        updates = {"name": "新名称有限公司", **extra}
        with pytest.raises(ValidationError) as e:
            world.p.certificates.change("99999", actor="ra", updates=updates)
        assert e.value.field == field, (extra, e.value.message)
    before = dump(world.p)
    for args, code, field in (
        (["--name", "新名称有限公司", "--phone", "12"], 2, "phone"),
        (["--device-name", ""], 2, "device_name"),
        (["--name", "新名称有限公司"], 3, "serial"),
        (["--phone", "13900139555"], 3, "serial"),
    ):
        res = CliRunner().invoke(
            cli_app, ["cert", "change", "99999", *args, "--json"], env=cli_env(world.p)
        )
        assert res.exit_code == code, (args, res.output)
        assert json.loads(res.stdout)["field"] == field, (args, res.stdout)
    assert diff(before, dump(world.p)) == []
    with pytest.raises(ValidationError) as e:  # a real serial: the pointer, as before
        world.p.certificates.change(world.person_cert.serial, actor="ra", updates={"phone": "12"})
    assert e.value.code == "not_in_subject"


def test_a_certificate_change_checks_contact_details_as_the_update_does(world: World) -> None:
    """``cert change`` checked an organization's contact person and legal representative
    against 100 characters where registration and ``subscriber update`` allow 50 (a name the
    update then refused as it stood), and refused an organization's new login phone or e-mail
    as something an organization "cannot" change, which the update changes. One check now."""
    p, cert = world.p, world.org_cert
    before = dump(p)
    for field in ("contact_name", "legal_representative"):
        with pytest.raises(ValidationError) as e:
            p.certificates.change(
                cert.serial, actor="ra", updates={"name": "新名称有限公司", field: "林" * 60}
            )
        assert e.value.field == field, e.value.message
    assert diff(before, dump(p)) == []
    out = p.certificates.change(
        cert.serial,
        actor="ra",
        updates={
            "name": "北京印信新名称科技有限公司",
            "phone": "13900139888",
            "email": "ops@yx.cn",
        },
    )
    assert out.previous.status == "revoked"
    from yinxin.store.models import Subscriber

    with p.db.read() as s:
        row = s.get(Subscriber, world.org.id)
        assert (row.phone, row.email) == ("13900139888", "ops@yx.cn")
    [told] = notices(world)
    assert told.recipient == "13900139000"


def test_an_organizations_e_mail_is_registered_and_shown(world: World, client: TestClient) -> None:
    """An organization's e-mail could be changed (``subscriber update --email``, ``PATCH``)
    but neither given at registration nor shown afterwards: the answer to the change did not
    say what was stored. Now registration takes it (checked as a person's) and every view of
    an organization shows it."""
    p = world.p
    fields = dict(
        name="福州示范有限公司",
        uscc="91350100M000100Y43",
        legal_representative="赵六",
        contact_name="林八",
        contact_phone="0591-87760022",
        phone="13500135000",
    )
    with pytest.raises(ValidationError) as e:
        p.subscribers.add_organization(**fields, email="ops@")
    assert e.value.field == "email"
    org = p.subscribers.add_organization(**fields, email=" ops@fz.example.cn ")
    assert org.email == "ops@fz.example.cn"
    h = desk(world, client)
    r = client.patch(f"/api/v1/subscribers/{world.org.id}", json={"email": "it@yx.cn"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "it@yx.cn"
    assert client.get(f"/api/v1/subscribers/{org.id}", headers=h).json()["email"] == (
        "ops@fz.example.cn"
    )
    r = client.post(
        "/api/v1/subscribers/organizations",
        json={
            "name": "厦门示范有限公司",
            "uscc": "91350200MA0000007F",
            "legal_representative": "钱七",
            "contact_name": "孙九",
            "contact_phone": "13300133001",
            "email": "no-at-sign",
        },
        headers=h,
    )
    assert (r.status_code, r.json()["field"]) == (422, "email"), r.text


def test_an_actor_with_hidden_characters_is_refused_by_the_cli(world: World) -> None:
    """``--actor`` names who acted in the audit trail; only a blank one was refused, so
    ``受理员<RLO>静陈`` (read as 受理员陈静) or a line break forging a second line went into
    the trail as given. Refused now, exit 2 naming ``--actor``, nothing written — in Chinese
    and English, as every other field's hidden character (it was said in English alone)."""
    p = world.p
    for bad in ("受理员\u202e静陈", "受理员\n陈静", "受理员\u200b陈静"):
        before = dump(p)
        res = cli(world, str(world.person.id), "--email", "zs@example.cn", "--actor", bad)
        assert res.exit_code == 2, res.output
        assert "--actor" in res.stderr and "U+" in res.stderr, res.stderr
        said = " ".join(res.stderr.replace("│", " ").split())  # as the error box wrapped it
        assert "第 4 个字符 U+" in said and "是不可见字符或控制字符" in said, said
        assert "contains an invisible or control character" in said, said
        assert diff(before, dump(p)) == []
    res = cli(world, str(world.person.id), "--email", "zs@example.cn", "--actor", "受理员 陈静")
    assert res.exit_code == 0, res.output


def test_codes_sent_to_the_old_phone_stop_working_when_it_changes(
    world: World, client: TestClient
) -> None:
    """A signing or login code sent to the old number stayed good for its five minutes after
    the number was changed — often because the old phone was lost or stolen: whoever held it
    could still confirm a signature or log in. The change now withdraws every code still
    waiting for the subscriber (audited), in the change's transaction."""
    from tests.integration.signing_flow import outbox_lines, read_code
    from tests.integration.signing_flow import request_code as ask_code

    p = world.p
    pdf = contract_pdf()
    ch, code = ask_code(world, world.yi, pdf)
    world.clock.advance(seconds=61)
    mark = outbox_lines(world.outbox)
    login = client.post("/api/v1/sessions/subscriber/codes", json={"phone": "13800138000"})
    assert login.status_code == 202, login.text
    login_code = read_code(world.outbox, "13800138000", after=mark)
    p.subscribers.update(world.person.id, {"phone": "13900139555"}, actor="受理员 陈静")
    with pytest.raises(Exception) as e:
        p.signing.confirm(ch.challenge_id, code, signer_subscriber_id=world.person.id, document=pdf)
    assert getattr(e.value, "code", None) == "challenge_dead", e.value
    r = client.post(
        "/api/v1/sessions/subscriber",
        json={"challenge_id": login.json()["challenge_id"], "code": login_code},
    )
    assert r.status_code in (401, 403) and r.json()["field"] == "code", r.text
    withdrawn = p.audit_events(action="intent.code_withdrawn")
    assert {e.subject_id for e in withdrawn} == {ch.challenge_id, login.json()["challenge_id"]}
    assert all(e.data["reason"] == "phone_changed" for e in withdrawn)
    assert p.verify_audit().ok
    # a code asked for after the change goes to the new number and works
    ch2, code2 = ask_code(world, replace(world.yi, phone="13900139555"), pdf)
    p.signing.confirm(ch2.challenge_id, code2, signer_subscriber_id=world.person.id, document=pdf)


def test_a_phone_change_ends_the_holders_other_sessions(world: World, client: TestClient) -> None:
    """Browser sessions opened with the old number outlived its change: the desk changed the
    number of a holder whose phone was stolen, and the thief's session (opened with a code to
    that phone) went on signing in the holder's name. A change of the registered phone now
    ends every session of the subscriber in its transaction — but the one making the change,
    when the holder makes it (audited ``session.closed``, reason ``phone_changed``)."""
    from yinxin.adapters.http.server import create_app

    me = world.person.id
    url = f"/api/v1/subscribers/{me}"
    with TestClient(create_app(world.p, jobs=False), base_url="http://127.0.0.1:8000") as other:
        h = {"X-CSRF-Token": subscriber_session(client, world, "13800138000")}
        subscriber_session(other, world, "13800138000")
        assert other.get("/api/v1/sessions/current").status_code == 200
        # the holder's own change, with the code: the other session ends, this one stays
        r = changed_own_phone(world, client, url, h, "13900139555", "13800138000")
        assert r.status_code == 200, r.text
        assert client.get("/api/v1/sessions/current").status_code == 200
        assert other.get("/api/v1/sessions/current").status_code == 401
        [closed] = world.p.audit_events(action="session.closed")
        assert closed.data["reason"] == "phone_changed"
        # the desk's change (the phone reported stolen): every session of the holder ends
        world.p.subscribers.update(me, {"phone": "13900139666"}, actor="受理员 陈静")
        assert client.get("/api/v1/sessions/current").status_code == 401
        assert client.patch(url, json={"email": "x@y.cn"}, headers=h).status_code == 401
        assert world.p.verify_audit().ok


def test_a_code_that_cannot_reach_the_new_number_is_said_so(
    world: World, client: TestClient
) -> None:
    """When the SMS with a phone change's code could not be sent to the NEW number, the refusal
    said the code could not be sent to "the registered phone" — the number that works and that
    the code was never meant for — and the web said only 服务暂时不可用. It now names the new
    number (masked), in English and in the Chinese part the web shows; a signing or login code
    that fails still names the registered phone."""
    from yinxin.notify.gateways import DeliveryError

    class Unreachable:
        channel = "sms"

        def send(self, message):
            raise DeliveryError("provider unreachable")

    p, me = world.p, world.person
    h = {"X-CSRF-Token": subscriber_session(client, world, "13800138000")}
    p.notifier.gateways["sms"] = Unreachable()
    world.clock.advance(seconds=61)
    r = client.patch(f"/api/v1/subscribers/{me.id}", json={"phone": "13900139555"}, headers=h)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (502, "delivery_failed", "phone")
    detail = r.json()["detail"]
    assert "registered phone" not in detail and "登记手机号" not in detail, detail
    assert detail.startswith("验证码未能发送到新手机号 139****9555"), detail
    assert "new phone 139****9555" in detail and "13900139555" not in detail
    assert p.subscribers.get(me.id, reveal=True).phone == "13800138000"
    # a signing code to the registered phone that fails still says so (a login code is
    # answered as for an unknown phone: test_login_enumeration.py)
    world.clock.advance(seconds=61)
    with pytest.raises(DeliveryError) as refused:
        p.signing.request_confirmation(
            signer_subscriber_id=me.id, document=contract_pdf(), document_name="合同.pdf"
        )
    assert str(refused.value).startswith("验证码未能发送到登记手机号"), str(refused.value)


def test_what_a_phone_change_ends_is_audited_as_done_by_whoever_changed_it(
    world: World, client: TestClient
) -> None:
    """The codes withdrawn and the sessions ended by a change of the registered phone were
    audited as done by ``phone-change`` — a name of no one, and the same whether the holder
    changed the number with the code or a desk officer after a reported theft. They now name
    the actor of the change itself (its ``subscriber.updated``): the holder's session, or the
    officer."""
    from yinxin.adapters.http.server import create_app

    p, me = world.p, world.person.id
    url = f"/api/v1/subscribers/{me}"
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as other:
        h = {"X-CSRF-Token": subscriber_session(client, world, "13800138000")}
        subscriber_session(other, world, "13800138000")
        world.clock.advance(seconds=61)
        pending = other.post("/api/v1/sessions/subscriber/codes", json={"phone": "13800138000"})
        assert pending.status_code == 202, pending.text
        r = changed_own_phone(world, client, url, h, "13900139555", "13800138000")
        assert r.status_code == 200, r.text
        [changed] = p.audit_events(action="subscriber.updated")
        holder = changed.actor
        assert holder.startswith("subscriber:"), holder
        [withdrawn] = p.audit_events(action="intent.code_withdrawn")
        [closed] = p.audit_events(action="session.closed")
        assert (withdrawn.actor, closed.actor) == (holder, holder)
        # the desk's change: the officer ends the holder's session
        p.subscribers.update(me, {"phone": "13900139666"}, actor="受理员 陈静")
        ended = p.audit_events(action="session.closed")[1:]
        assert ended and {e.actor for e in ended} == {"受理员 陈静"}
        # only the code's use names the service that used it, as a signing code's does
        others = [e for e in p.audit_events() if e.action != "intent.consumed"]
        assert "phone-change" not in {e.actor for e in others}
        assert p.verify_audit().ok


def test_a_holder_removes_an_optional_e_mail_and_the_old_address_is_told(
    world: World, client: TestClient
) -> None:
    """An e-mail given once could be changed but never removed: registration takes none, yet
    ``PATCH`` with ``"email": ""`` (or ``--email ""``) was refused as "not an e-mail address".
    Now an empty e-mail removes it — the old address told (``subscriber_email_removed``),
    audited masked — unless it is where the subscriber's notices go: an organization with no
    mobile number registered keeps it (422 naming ``email``, nothing written)."""
    p, me = world.p, world.person
    h = {"X-CSRF-Token": subscriber_session(client, world, "13800138000")}
    url = f"/api/v1/subscribers/{me.id}"
    r = changed_own_email(world, client, url, h, "zs@old.example.cn")
    assert r.status_code == 200, r.text
    r = client.patch(url, json={"email": ""}, headers=h)  # removed at once: no code
    assert r.status_code == 200, r.text
    assert r.json()["email"] is None
    assert p.subscribers.get(me.id, reveal=True).email is None
    [told] = notices(world, "subscriber_email_removed")
    assert (told.recipient, told.channel, told.status) == ("zs@old.example.cn", "email", "sent")
    assert "如非本人操作" in told.body
    ev = p.audit_events(action="subscriber.updated")[-1]
    assert ev.data["changes"]["email"] == {"from": "z***@old.example.cn", "to": None}
    # none to remove: nothing changes, no one is told
    r = client.patch(url, json={"email": ""}, headers=h)
    assert r.status_code == 200, r.text
    assert len(notices(world, "subscriber_email_removed")) == 1
    # the desk's command line removes one too
    p.subscribers.update(me.id, {"email": "zs@new.example.cn"}, actor="ra")
    res = cli(world, str(me.id), "--email", "", "--actor", "受理员 陈静")
    assert res.exit_code == 0, res.output
    assert p.subscribers.get(me.id, reveal=True).email is None
    # an organization whose notices go by e-mail (no mobile number) keeps it
    org = _mailed_organization(p)
    before = dump(p)
    with pytest.raises(ValidationError) as e:
        p.subscribers.update(org.id, {"email": ""}, actor="ra")
    assert e.value.field == "email" and "mobile" in e.value.message
    assert diff(before, dump(p)) == []


def test_an_organization_no_notice_can_reach_is_not_registered(
    world: World, client: TestClient
) -> None:
    """An organization registered with a landline contact phone, no mobile number and no
    e-mail was accepted: its notices (expiry, revocation) and one-time codes could reach
    nobody. Refused now by the API (422 ``no_contact`` naming ``phone``) and the CLI (exit 2),
    nothing written; a mobile number or an e-mail is enough, and a person's mobile number is
    required as before. Removing the last way to reach it is refused as it was."""
    p = world.p
    h = desk(world, client)
    fields = {
        "name": "厦门无联系方式有限公司",
        "uscc": "91350200MA0000007F",
        "legal_representative": "钱七",
        "contact_name": "孙九",
        "contact_phone": "0592-5550000",
    }
    before = dump(p)
    r = client.post("/api/v1/subscribers/organizations", json=fields, headers=h)
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["code"], body["field"]) == ("no_contact", "phone"), body
    assert "e-mail" in body["detail"] and "5550000" not in body["detail"]
    env = cli_env(p)
    args = ["subscriber", "add-organization"]
    for k, v in fields.items():
        args += [f"--{k.replace('_', '-')}", v]
    res = CliRunner().invoke(cli_app, args, env=env)
    assert res.exit_code == 2, res.output
    assert "[phone]" in res.stderr and "e-mail" in res.stderr, res.stderr
    assert diff(before, dump(p)) == []
    person = {"name": "李雷", "id_number": "11010519491231002X"}
    r = client.post("/api/v1/subscribers/persons", json=person, headers=h)
    assert (r.status_code, r.json().get("field")) == (422, "phone"), r.text
    assert diff(before, dump(p)) == []
    # an e-mail, or a mobile number, is enough
    r = client.post(
        "/api/v1/subscribers/organizations", json=fields | {"email": "ops@xm.cn"}, headers=h
    )
    assert r.status_code == 201, r.text
    org = r.json()
    assert (org["phone"], org["email"]) == (None, "ops@xm.cn")
    res = CliRunner().invoke(
        cli_app,
        [
            "subscriber",
            "add-organization",
            "--name",
            "厦门有手机有限公司",
            "--uscc",
            "91350100M000100Y43",
            "--legal-representative",
            "钱七",
            "--contact-name",
            "孙九",
            "--contact-phone",
            "0592-5550000",
            "--phone",
            "13300133002",
            "--json",
        ],
        env=env,
    )
    assert res.exit_code == 0, res.output
    # its only way to be reached stays
    url = f"/api/v1/subscribers/{org['id']}"
    r = client.patch(url, json={"email": ""}, headers=h)
    assert (r.status_code, r.json()["field"]) == (422, "email"), r.text
    assert p.subscribers.get(org["id"]).email == "ops@xm.cn"


def test_the_desk_sees_which_subscribers_no_notice_can_reach(
    world: World, client: TestClient
) -> None:
    """A database from before ``422 no_contact`` may hold an organization with neither a
    mobile number nor an e-mail: its notices, and its devices' (they go to the organization),
    were skipped with an info log line alone, and no view said so. Now every subscriber view
    says ``reachable`` (API ``GET /subscribers``, ``GET /subscribers/{id}``, CLI ``subscriber
    list`` and ``show``) and ``reachable=false`` / ``--unreachable`` lists only those."""
    from yinxin.store.models import Subscriber

    p = world.p
    h = desk(world, client)
    org = p.subscribers.add_organization(
        name="厦门旧库有限公司",
        uscc="91350200MA0000007F",
        legal_representative="钱七",
        contact_name="孙九",
        contact_phone="0592-5550000",
        email="old@xm.cn",
    )
    device = p.subscribers.add_device(device_name="gw.xm.cn", organization_id=org.id)
    r = client.get("/api/v1/subscribers", params={"reachable": "false"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []
    # the row as an old database holds it: the service refuses to remove its last contact
    with p.db.transaction() as s:
        s.get(Subscriber, org.id).email = None
    for sid, kind in ((org.id, "organization"), (device.id, "device")):
        r = client.get(f"/api/v1/subscribers/{sid}", headers=h)
        assert r.status_code == 200, r.text
        assert (r.json()["kind"], r.json()["reachable"]) == (kind, False), r.json()
    for sid in (world.org.id, world.member.id, world.person.id):
        assert client.get(f"/api/v1/subscribers/{sid}", headers=h).json()["reachable"] is True
    r = client.get("/api/v1/subscribers", params={"reachable": "false"}, headers=h)
    assert [x["id"] for x in r.json()["items"]] == [org.id, device.id], r.text
    r = client.get(
        "/api/v1/subscribers", params={"reachable": "false", "kind": "device"}, headers=h
    )
    assert [x["id"] for x in r.json()["items"]] == [device.id], r.text
    r = client.get("/api/v1/subscribers", params={"reachable": "true", "limit": 200}, headers=h)
    listed = [x["id"] for x in r.json()["items"]]
    assert world.person.id in listed and org.id not in listed and device.id not in listed
    assert all(x["reachable"] for x in r.json()["items"])
    r = client.get("/api/v1/subscribers", params={"reachable": "maybe"}, headers=h)
    assert (r.status_code, r.json().get("field")) == (422, "reachable"), r.text
    env = cli_env(p)
    res = CliRunner().invoke(cli_app, ["subscriber", "list", "--unreachable", "--json"], env=env)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["items"]
    assert [(x["id"], x["reachable"]) for x in rows] == [(org.id, False), (device.id, False)]
    res = CliRunner().invoke(cli_app, ["subscriber", "list"], env=env)
    assert res.exit_code == 0 and "reachable" in res.stdout, res.output
    res = CliRunner().invoke(cli_app, ["subscriber", "show", str(device.id), "--json"], env=env)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["reachable"] is False
    # an e-mail given again at the desk makes both reachable
    p.subscribers.update(org.id, {"email": "new@xm.cn"}, actor="ra")
    res = CliRunner().invoke(cli_app, ["subscriber", "list", "--unreachable", "--json"], env=env)
    assert res.exit_code == 0 and json.loads(res.stdout)["items"] == [], res.output


def _mailed_organization(p):
    """An organization registered at the desk with a landline and an e-mail, no mobile number:
    its notices and codes go by e-mail."""
    org = p.subscribers.add_organization(
        name="福州示范有限公司",
        uscc="91350100M000100Y43",
        legal_representative="赵六",
        contact_name="林八",
        contact_phone="0591-87760022",
        email="ops@fz.example.cn",
    )
    assert org.phone is None
    return org
