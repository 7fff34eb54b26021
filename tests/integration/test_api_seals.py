"""The seal resources of the JSON API over the real ``yinxin serve`` on 127.0.0.1: the application
form to an active seal, the picture and the SESeal record, every lifecycle verb and its 409,
grants, the PIN (change, lock, unlock), organization scope on every route, roles, validation,
Idempotency-Key, and no PIN in any answer, log line or database row."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from PIL import Image, ImageDraw
from sqlalchemy import select

from tests.clear_text import in_clear
from tests.dbdump import count, dump
from tests.integration.api_world import ApiWorld, Client, api_world, id_card, problem_of
from tests.integration.server import Server, running_server
from yinxin.app import Platform
from yinxin.errors import halves
from yinxin.registry.views import CertificateView
from yinxin.seals.seseal import verify_seseal
from yinxin.seals.view import SealView
from yinxin.store.models import AuditEvent, Certificate, PlatformKey
from yinxin.store.models.seals import Seal

PROJECT = "百城e采平台项目"
OFFICER = "受理员 陈静"
# Distinctive PINs, so that finding one in an answer, a log or the database cannot be chance.
ORG_A_PIN = "OrgA-pin-571903"
ORG_B_PIN = "OrgB-pin-826431"
PERSON_PIN = "Person-pin-30917"
NEW_PIN = "Changed-pin-77215"
WRONG_PIN = "Wrong-pin-40028"
PINS = (ORG_A_PIN, ORG_B_PIN, PERSON_PIN, NEW_PIN, WRONG_PIN)


@dataclass
class SealWorld:
    w: ApiWorld
    srv: Server
    seal_a: SealView  # organization A's contract seal (合同专用章)
    seal_b: SealView  # organization B's contract seal

    @property
    def p(self) -> Platform:
        return self.w.platform


def _issue(p: Platform, subscriber_id: int, profile: str, pin: str) -> CertificateView:
    app = p.certificates.apply(subscriber_id=subscriber_id, profile=profile, pin=pin)
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    return p.certificates.approve(app.id, officer=OFFICER)


def _form(holder: str, id_number: str, business_type: str = "new") -> dict:
    return {
        "business_type": business_type,
        "project": PROJECT,
        "holder_name": holder,
        "id_type": "id_card",
        "id_number": id_number,
        "declaration_accepted": True,
    }


def _contract_seal(p: Platform, org: int, holder: str, id_number: str, pin: str) -> SealView:
    p.subscribers.accept_agreement(org, accepted_by=holder)
    cert = _issue(p, org, "organization-signing", pin)
    return p.seals.create(
        subscriber_id=org,
        kind="contract",
        certificate_serial=cert.serial,
        form=_form(holder, id_number),
        code="1101080012346",
    )


def personal_seal(p: Platform, first17: str, name: str, organization_id: int | None = None):
    """A person with a platform-held key under PERSON_PIN and a personal seal, made in-process."""
    number = id_card(first17)
    person = p.subscribers.add_person(
        name=name, id_number=number, phone="13600136000", organization_id=organization_id
    )
    p.subscribers.accept_agreement(person.id, accepted_by=name)
    cert = _issue(p, person.id, "person-signing", PERSON_PIN)
    return p.seals.create(
        subscriber_id=person.id,
        kind="personal",
        certificate_serial=cert.serial,
        form=_form(name, number),
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[SealWorld]:
    home = tmp_path_factory.mktemp("api-seals")
    w = api_world(home)
    p = w.platform
    seal_a = _contract_seal(p, w.org_a, "王五", "350102198511223455", ORG_A_PIN)
    seal_b = _contract_seal(p, w.org_b, "钱七", "110105199003071239", ORG_B_PIN)
    with running_server(home, env={"YINXIN_API_RATE": "0"}) as srv:
        yield SealWorld(w, srv, seal_a, seal_b)
    p.close()


@pytest.fixture
def as_(world):
    made: list[Client] = []

    def client(role: str | None) -> Client:
        c = Client(world.srv.url(""), world.w.keys[role] if role else None)
        made.append(c)
        return c

    yield client
    for c in made:
        c.close()


def _but_job_runs(p) -> dict:
    """Every table but ``job_runs``, which the running server's jobs write on their own."""
    return {t: rows for t, rows in dump(p).items() if t != "job_runs"}


def ok(r, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def no_pin_in(*answers) -> None:
    for r in answers:
        for pin in PINS:
            assert not in_clear(pin, r.text), (pin, r.request.url)


def scan_png() -> bytes:
    img = Image.new("RGB", (400, 400), "white")
    d = ImageDraw.Draw(img)
    d.ellipse((20, 20, 380, 380), outline=(220, 20, 30), width=18)
    d.rectangle((150, 150, 250, 250), fill=(220, 20, 30))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def audit_count(p: Platform, es_id: str, action: str) -> int:
    return count(p, AuditEvent, AuditEvent.subject_id == es_id, AuditEvent.action == action)


def sealed_key(p: Platform, seal_id: int) -> tuple[bytes, int, bool]:
    with p.db.read() as s:
        k = s.execute(
            select(PlatformKey)
            .join(Certificate, Certificate.platform_key_id == PlatformKey.id)
            .join(Seal, Seal.certificate_id == Certificate.id)
            .where(Seal.id == seal_id)
        ).scalar_one()
        return k.sealed_key, k.failed_attempts, k.locked


# --- the application form to an active seal -------------------------------------------------------
def test_the_seal_application_form_makes_an_active_seal_over_http_only(as_, world):
    p = world.p
    admin, officer = as_("admin"), as_("officer")
    number = id_card("11010819850615201")
    person = ok(
        admin.post(
            "/subscribers/persons",
            json={"name": "赵敏", "id_number": number, "phone": "13600136001"},
        ),
        201,
    )
    pid = person["id"]
    ok(admin.post(f"/subscribers/{pid}/agreement-acceptances", json={"accepted_by": "赵敏"}), 201)
    form = {**_form("赵敏", number), "subscriber_id": pid, "kind": "personal"}

    # no certificate yet: the form asks for a new platform-held key under the seal PIN
    r = admin.post("/seal-applications", json={**form, "new_key": {"pin": PERSON_PIN}})
    pending = ok(r, 202)
    assert pending["status"] == "certificate_pending" and pending["seal"] is None
    app = pending["certificate_application"]
    assert app["profile"] == "person-signing" and app["key_mode"] == "platform"
    assert app["subscriber_id"] == pid and app["state"] == "pending"
    assert count(p, Seal, Seal.subscriber_id == pid) == 0
    ok(admin.post(f"/applications/{app['id']}/payments", json={"reference": "S-1"}), 201)
    cert = ok(officer.post(f"/applications/{app['id']}/approve", json={}))

    # …and once issued, the same form naming the certificate makes the seal, once per key
    key = {"Idempotency-Key": "seal-form-4711"}
    body = {**form, "certificate_serial": cert["serial"]}
    first = admin.post("/seal-applications", json=body, headers=key)
    done = ok(first, 201)
    again = admin.post("/seal-applications", json=body, headers=key)  # at once: no 409
    assert again.status_code == 201 and again.content == first.content, again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert count(p, Seal, Seal.subscriber_id == pid) == 1
    assert done["status"] == "done" and done["certificate_application"] is None
    seal = done["seal"]
    assert seal["state"] == "active" and seal["usable"] and seal["key"] == "platform"
    assert seal["kind"] == "personal" and seal["name"] == "赵敏" and seal["version"] == 1
    assert seal["certificate_serial"] == cert["serial"]
    assert seal["holder_id_number"] != number and seal["holder_id_number"].endswith(number[-4:])
    es_id = seal["es_id"]
    assert len(es_id) == 14 and es_id.isdigit()
    no_pin_in(r, first, again)

    # by id and by esID alike
    assert ok(admin.get(f"/seals/{seal['id']}")) == ok(admin.get(f"/seals/{es_id}"))

    # the picture: a PNG Pillow opens, the same bytes the seal was made with; SVG and PDF too
    img = admin.get(f"/seals/{es_id}/image")
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(img.content)) as im:
        assert im.format == "PNG" and im.width > 50 and im.height > 50
    assert p.seals.artifacts(es_id)["seal.png"] == img.content
    svg = admin.get(f"/seals/{es_id}/image", params={"format": "svg"})
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    pdf = admin.get(f"/seals/{es_id}/image", params={"format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    problem_of(admin.get(f"/seals/{es_id}/image", params={"format": "gif"}), 422, "format")

    # the SESeal record: DER, made by our issuing CA, saying what the seal says
    der = admin.get(f"/seals/{es_id}/seseal")
    assert der.status_code == 200 and der.headers["content-type"] == "application/octet-stream"
    assert f"{es_id}.ses" in der.headers["content-disposition"]
    issuing = p.ca.certificate("issuing").public_bytes(serialization.Encoding.DER)
    info = verify_seseal(der.content, [issuing]).info
    assert info.es_id == es_id and info.name == "赵敏" and info.picture_data == img.content
    check = ok(admin.get(f"/seals/{es_id}/check"))
    assert check["ok"] is True and check["problem"] is None
    assert set(check["files"].values()) == {"ok"}
    records = ok(admin.get(f"/seals/{es_id}/records"))
    assert [(x["version"], x["verb"]) for x in records] == [(1, "create")]
    assert base64.b64decode(records[0]["seseal_b64"]) == der.content
    forms = ok(admin.get(f"/seals/{es_id}/applications"))
    assert [f["business_type"] for f in forms] == ["new"]
    assert forms[0]["holder_id_number"] != number

    # a second live personal seal is refused, as a new key or a certificate
    dup = admin.post("/seal-applications", json={**form, "new_key": {"pin": PERSON_PIN}})
    problem_of(dup, 409, "kind", "duplicate")
    problem_of(admin.post("/seal-applications", json=body), 409, "kind", "duplicate")
    no_pin_in(dup)

    # 注销 through the form (business type cancel), then the verb has nothing left to end
    cancel = {**_form("赵敏", number, "cancel"), "seal": es_id}
    gone = ok(admin.post("/seal-applications", json=cancel), 201)  # a form handed in: 201
    assert gone["seal"]["state"] == "cancelled" and gone["status"] == "done"
    problem_of(admin.post(f"/seals/{es_id}/cancel"), 409, "seal", "illegal_transition")
    forms = ok(admin.get(f"/seals/{es_id}/applications"))
    assert [f["business_type"] for f in forms] == ["new", "cancel"]


def test_create_is_the_form_with_business_type_new(as_, world):
    """``POST /seals`` is ``yinxin seal create``: the seal at once, for a certified holder."""
    p, integration = world.p, as_("integration")
    number = id_card("44030519880808123")
    person = p.subscribers.add_person(name="孙丽", id_number=number, phone="13600136002")
    p.subscribers.accept_agreement(person.id, accepted_by="孙丽")
    cert = _issue(p, person.id, "person-signing", PERSON_PIN)
    body = {
        **_form("孙丽", number),
        "subscriber_id": person.id,
        "kind": "personal",
        "certificate_serial": cert.serial,
        "scan_base64": base64.b64encode(scan_png()).decode(),
    }
    del body["business_type"]
    seal = ok(integration.post("/seals", json=body), 201)
    assert seal["state"] == "active" and seal["image_source"] == "scan"
    with Image.open(io.BytesIO(integration.get(f"/seals/{seal['id']}/image").content)) as im:
        assert im.format == "PNG" and im.mode == "RGBA"  # the paper made transparent


# --- lifecycle ------------------------------------------------------------------------------------
def test_lifecycle_verbs_and_their_illegal_moves(as_, world):
    p, admin = world.p, as_("admin")
    seal = personal_seal(p, "32010219790214351", "周杰")
    es = seal.es_id

    frozen = ok(admin.post(f"/seals/{es}/freeze", json={"note": "holder on leave"}))
    assert frozen["state"] == "frozen" and frozen["hold_kind"] == "frozen"
    assert not frozen["usable"]
    problem_of(admin.post(f"/seals/{es}/freeze", json={}), 409, "seal", "illegal_transition")
    problem_of(admin.post(f"/seals/{es}/renew", json={}), 409, "seal", "illegal_transition")
    problem_of(
        admin.post(f"/seals/{es}/change", json={"software": True}),
        409,
        "seal",
        "illegal_transition",
    )
    assert ok(admin.post(f"/seals/{es}/unfreeze"))["state"] == "active"
    problem_of(admin.post(f"/seals/{es}/unfreeze"), 409, "seal", "illegal_transition")

    # 续费 cannot outlast the certificate: refused naming the certificate to renew
    problem_of(admin.post(f"/seals/{es}/renew", json={"years": 1}), 422, "certificate_serial")

    # 变更 to an uploaded scan: a new record, version 2
    scan = base64.b64encode(scan_png()).decode()
    changed = ok(admin.post(f"/seals/{es}/change", json={"scan_base64": scan}))
    assert changed["image_source"] == "scan" and changed["version"] == 2
    assert changed["png_sha256"] != seal.png_sha256
    assert [x["verb"] for x in ok(admin.get(f"/seals/{es}/records"))] == ["create", "change"]
    nothing = admin.post(f"/seals/{es}/change", json={})
    problem_of(nothing, 422, "seal", "nothing_to_change")

    # a leaked PIN freezes; unfreezing waits for a PIN change; a wrong old PIN changes nothing
    leak = ok(admin.post(f"/seals/{es}/report-pin-leak", json={}))
    assert leak["state"] == "frozen" and leak["hold_kind"] == "pin_leak"
    assert leak["also_frozen"] == []
    problem_of(admin.post(f"/seals/{es}/unfreeze"), 403, "pin", "pin_change_required")
    before = sealed_key(p, seal.id)
    wrong = admin.post(f"/seals/{es}/change-pin", json={"pin": WRONG_PIN, "new_pin": NEW_PIN})
    problem_of(wrong, 403, "pin", "wrong_pin")
    after = sealed_key(p, seal.id)
    assert after[0] == before[0] and after[1] == before[1] + 1  # same key, the guess counted
    assert audit_count(p, es, "seal.pin_changed") == 0
    assert ok(admin.get(f"/seals/{es}"))["failed_pin_attempts"] == 1
    problem_of(admin.post(f"/seals/{es}/unfreeze"), 403, "pin", "pin_change_required")
    same = admin.post(f"/seals/{es}/change-pin", json={"pin": PERSON_PIN, "new_pin": PERSON_PIN})
    problem_of(same, 422, "new_pin")
    changed_pin = admin.post(
        f"/seals/{es}/change-pin", json={"pin": PERSON_PIN, "new_pin": NEW_PIN}
    )
    change = ok(changed_pin)
    assert change["es_id"] == es and change["seals"] == [es]
    assert set(change) == {"es_id", "pin_changed_at", "seals"}
    no_pin_in(wrong, same, changed_pin)
    assert sealed_key(p, seal.id)[0] != before[0]
    assert audit_count(p, es, "seal.pin_changed") == 1
    assert ok(admin.post(f"/seals/{es}/unfreeze"))["state"] == "active"
    assert p.seals.unlock_for_signing(es, NEW_PIN).stamp.es_id == es  # the new PIN opens it

    # 废止: a known ground, once; then every verb is an illegal move on the revoked seal
    problem_of(admin.post(f"/seals/{es}/revoke", json={"reason": "whim"}), 422, "reason")
    problem_of(admin.post(f"/seals/{es}/revoke", json={"reason": "other"}), 422, "note")
    revoked = ok(admin.post(f"/seals/{es}/revoke", json={"reason": "holder_request"}))
    assert revoked["state"] == "revoked" and revoked["revocation_reason"] == "holder_request"
    for verb, body in (
        ("revoke", {"reason": "holder_request"}),
        ("cancel", None),
        ("freeze", {}),
        ("unfreeze", None),
        ("report-pin-leak", {}),
        ("renew", {}),
        ("change", {"software": True}),
        ("change-pin", {"pin": NEW_PIN, "new_pin": PERSON_PIN}),
    ):
        r = admin.post(f"/seals/{es}/{verb}", json=body)
        problem_of(r, 409, "seal", "illegal_transition")
        no_pin_in(r)
    assert ok(admin.get(f"/seals/{es}"))["state"] == "revoked"


def test_five_wrong_pins_lock_and_only_an_officer_unlocks(as_, world):
    p = world.p
    admin, officer, integration = as_("admin"), as_("officer"), as_("integration")
    seal = personal_seal(p, "51010719920506234", "吴磊")
    es = seal.es_id
    codes = []
    for _ in range(5):
        r = admin.post(f"/seals/{es}/change-pin", json={"pin": WRONG_PIN, "new_pin": NEW_PIN})
        codes.append(problem_of(r, 403, "pin")["code"])
        no_pin_in(r)
    assert codes == ["wrong_pin"] * 4 + ["seal_locked"]
    view = ok(admin.get(f"/seals/{es}"))
    assert view["locked"] is True and not view["usable"]
    # locked: the right PIN is refused in the same words
    right = admin.post(f"/seals/{es}/change-pin", json={"pin": PERSON_PIN, "new_pin": NEW_PIN})
    problem_of(right, 403, "pin", "seal_locked")
    problem_of(integration.post(f"/seals/{es}/unlock", json={}), 403, code="not_permitted")
    assert ok(admin.get(f"/seals/{es}"))["locked"] is True
    unlocked = ok(officer.post(f"/seals/{es}/unlock", json={"note": "ID checked at the desk"}))
    assert unlocked["locked"] is False and unlocked["failed_pin_attempts"] == 0
    assert unlocked["usable"] is True
    problem_of(officer.post(f"/seals/{es}/unlock", json={}), 409, "seal", "illegal_transition")
    assert audit_count(p, es, "seal.unlock") == 1


# --- grants ---------------------------------------------------------------------------------------
def test_an_organization_grants_its_seal_to_its_own_people(as_, world):
    w, admin, org_a = world.w, as_("admin"), as_("org_a")
    es = world.seal_a.es_id
    g = ok(org_a.post(f"/seals/{es}/grants", json={"member_subscriber_id": w.staff_a}), 201)
    assert g["active"] and g["member_subscriber_id"] == w.staff_a and g["member_name"] == "王五"
    assert g["seal_id"] == world.seal_a.id and g["granted_by"].startswith("api:")
    problem_of(
        org_a.post(f"/seals/{es}/grants", json={"member_subscriber_id": w.staff_a}),
        409,
        "member_subscriber_id",
        "already_granted",
    )
    # another organization's person, or that organization itself: as if they did not exist
    for outsider in (w.staff_b, w.org_b):
        r = org_a.post(f"/seals/{es}/grants", json={"member_subscriber_id": outsider})
        problem_of(r, 404, "member_subscriber_id", "not_found")
    # seal use is granted to people, not organizations (an unbound key gets that far)
    r = admin.post(f"/seals/{es}/grants", json={"member_subscriber_id": w.org_b})
    problem_of(r, 422, "member_subscriber_id")
    assert [x["member_subscriber_id"] for x in ok(org_a.get(f"/seals/{es}/grants"))] == [w.staff_a]
    assert ok(admin.get(f"/seals/{es}"))["authorized_members"] == [w.staff_a]
    use = ok(org_a.get(f"/seals/{es}/usability", params={"member_subscriber_id": w.staff_a}))
    assert use["usable"] is True
    problem_of(
        org_a.get(f"/seals/{es}/usability", params={"member_subscriber_id": w.staff_b}),
        404,
        "member_subscriber_id",
    )

    out = ok(org_a.post(f"/seals/{es}/grants/{w.staff_a}/withdraw", json={"note": "left"}))
    assert out["active"] is False and out["withdrawn_at"]
    use = ok(org_a.get(f"/seals/{es}/usability", params={"member_subscriber_id": w.staff_a}))
    assert use["usable"] is False and use["code"] == "not_authorized"
    problem_of(
        org_a.post(f"/seals/{es}/grants/{w.staff_a}/withdraw", json={}),
        404,
        "member_subscriber_id",
        "not_granted",
    )
    assert ok(org_a.get(f"/seals/{es}/grants")) == []
    every = ok(org_a.get(f"/seals/{es}/grants", params={"include_withdrawn": True}))
    assert [(x["member_subscriber_id"], x["active"]) for x in every] == [(w.staff_a, False)]


def test_a_grant_with_an_end_and_a_number_of_signings(as_, world):
    """授权期限 and 用印次数: refused naming the field when wrong, with nothing written; shown
    with the uses left when made."""
    import datetime as dt

    w, admin, org_a = world.w, as_("admin"), as_("org_a")
    es = world.seal_a.es_id
    seal_end = dt.datetime.fromisoformat(ok(admin.get(f"/seals/{es}"))["valid_end"])
    now = dt.datetime.now(dt.UTC)
    member = {"member_subscriber_id": w.staff_a}
    bad = [
        ({"valid_until": (now - dt.timedelta(days=1)).isoformat()}, "valid_until"),
        ({"valid_until": (seal_end + dt.timedelta(days=1)).isoformat()}, "valid_until"),
        ({"valid_until": "2026-13-01T00:00:00+08:00"}, "valid_until"),
        ({"max_uses": 0}, "max_uses"),
        ({"max_uses": 2.5}, "max_uses"),
        ({"max_uses": "3"}, "max_uses"),
    ]
    # job_runs apart: the server's own jobs (the outbox's, each minute) write it while it serves
    before = _but_job_runs(world.p)
    for extra, field in bad:
        problem_of(org_a.post(f"/seals/{es}/grants", json={**member, **extra}), 422, field)
    assert _but_job_runs(world.p) == before
    end = (now + dt.timedelta(days=30)).replace(microsecond=0)
    g = ok(
        org_a.post(
            f"/seals/{es}/grants",
            json={**member, "valid_until": end.isoformat(), "max_uses": 3, "note": "项目"},
        ),
        201,
    )
    assert dt.datetime.fromisoformat(g["valid_until"]) == end
    assert (g["max_uses"], g["uses"], g["remaining_uses"], g["state"]) == (3, 0, 3, "active")
    (listed,) = ok(org_a.get(f"/seals/{es}/grants"))
    assert (listed["id"], listed["remaining_uses"], listed["valid_until"]) == (
        g["id"],
        3,
        g["valid_until"],
    )
    ok(org_a.post(f"/seals/{es}/grants/{w.staff_a}/withdraw", json={}))


def test_a_personal_seal_is_granted_to_no_one(as_, world):
    admin, w = as_("admin"), world.w
    seal = personal_seal(world.p, "13010219830917456", "郑爽")
    r = admin.post(f"/seals/{seal.es_id}/grants", json={"member_subscriber_id": w.staff_a})
    problem_of(r, 422, "seal")


# --- organization scope ---------------------------------------------------------------------------
def test_an_organization_key_sees_and_touches_only_its_own_seals(as_, world):
    p, w = world.p, world.w
    org_a, org_b = as_("org_a"), as_("org_b")
    theirs = world.seal_b
    tables = ("seals", "seal_grants", "seal_records", "seal_applications", "platform_keys")
    before = {t: rows for t, rows in dump(p).items() if t in tables}
    events = count(p, AuditEvent)

    for ref in (str(theirs.id), theirs.es_id):
        for path in (
            "",
            "/image",
            "/seseal",
            "/check",
            "/records",
            "/applications",
            "/usability",
            "/grants",
        ):
            problem_of(org_a.get(f"/seals/{ref}{path}"), 404, "seal", "not_found")
        for verb, body in (
            ("renew", {}),
            ("change", {"software": True, "code": "3101010099999"}),
            ("cancel", None),
            ("freeze", {}),
            ("unfreeze", None),
            ("revoke", {"reason": "holder_request"}),
            ("report-pin-leak", {}),
            ("change-pin", {"pin": ORG_B_PIN, "new_pin": NEW_PIN}),
            ("grants", {"member_subscriber_id": w.staff_a}),
            (f"grants/{w.staff_b}/withdraw", {}),
        ):
            r = org_a.post(f"/seals/{ref}/{verb}", json=body)
            problem_of(r, 404, "seal", "not_found")
            no_pin_in(r)
        # and through the form
        r = org_a.post(
            "/seal-applications",
            json={**_form("钱七", "110105199003071239", "renew"), "seal": ref},
        )
        problem_of(r, 404, "seal", "not_found")
    # a new seal for the other organization: its holder does not exist for this key
    r = org_a.post(
        "/seals",
        json={
            **{
                k: v for k, v in _form("钱七", "110105199003071239").items() if k != "business_type"
            },
            "subscriber_id": w.org_b,
            "kind": "finance",
            "certificate_serial": theirs.certificate_serial,
        },
    )
    problem_of(r, 404, "subscriber_id", "not_found")
    r = org_a.post(
        "/seal-applications",
        json={
            **_form("钱七", "110105199003071239"),
            "subscriber_id": w.org_b,
            "kind": "finance",
            "new_key": {"pin": ORG_A_PIN},
        },
    )
    problem_of(r, 404, "subscriber_id", "not_found")
    # signing or authorizing with B's seal or as B's people: each 404 names the field the
    # request used (they all said "subscriber_id", which none of these bodies has)
    auth = {
        "seal": theirs.es_id,
        "pin": ORG_B_PIN,
        "granted_by_subscriber_id": w.staff_a,
        "max_documents": 1,
        "valid_until": "2100-01-01T00:00:00+08:00",
    }
    body = problem_of(org_a.post("/authorizations", json=auth), 404, "seal", "not_found")
    assert body["detail"] == f"no seal {theirs.es_id}"
    r = org_a.post("/authorizations", json={**auth, "granted_by_subscriber_id": w.staff_b})
    problem_of(r, 404, "granted_by_subscriber_id", "not_found")
    doc = {"name": "a.pdf", "content_base64": base64.b64encode(b"%PDF-1.7\n").decode()}
    signing = {"signer_subscriber_id": w.staff_b, "seal": theirs.es_id, "pin": ORG_B_PIN}
    code = {"challenge_id": "x", "code": "123456"}
    for path, request in (
        ("/batches/code", {"signer_subscriber_id": w.staff_b, "documents": [doc]}),
        ("/batches/sign", {**signing, **code, "documents": [doc]}),
        ("/ofd/code", {"signer_subscriber_id": w.staff_b, "document": doc}),
        ("/ofd/sign", {**signing, **code, "document": doc, "placement": {"anchor": "乙方"}}),
        ("/ses-pdf/code", {"signer_subscriber_id": w.staff_b, "document": doc}),
        ("/ses-pdf/sign", {**signing, **code, "document": doc, "placement": {"anchor": "乙"}}),
    ):
        r = org_a.post(path, json=request)
        problem_of(r, 404, "signer_subscriber_id", "not_found")
        no_pin_in(r)
    # unlock is refused by role before scope: an organization administrator never unlocks
    problem_of(org_a.post(f"/seals/{theirs.es_id}/unlock", json={}), 403, code="not_permitted")

    # nothing of B's was touched, nothing was audited
    assert {t: rows for t, rows in dump(p).items() if t in tables} == before
    assert count(p, AuditEvent) == events

    # the listing holds A's seals only, whatever filter is asked for
    mine = ok(org_a.get("/seals"))
    assert world.seal_a.id in [s["id"] for s in mine["items"]]
    assert all(p.subscribers.in_organization(s["subscriber_id"], w.org_a) for s in mine["items"])
    # and naming B's holder is a 404 on the filter, as B's page is (it was an empty list)
    problem_of(org_a.get("/seals", params={"subscriber_id": w.org_b}), 404, "subscriber_id")
    assert [s["id"] for s in ok(org_b.get("/seals"))["items"]] == [theirs.id]
    # and its own seal it manages: read, freeze, unfreeze
    es = world.seal_a.es_id
    assert ok(org_a.get(f"/seals/{es}"))["id"] == world.seal_a.id
    assert ok(org_a.post(f"/seals/{es}/freeze", json={}))["state"] == "frozen"
    assert ok(org_a.post(f"/seals/{es}/unfreeze"))["state"] == "active"


# --- roles, authentication, pages -----------------------------------------------------------------
def test_roles_and_keys(as_, world):
    es = world.seal_a.es_id
    problem_of(as_(None).get(f"/seals/{es}"), 401, "authorization", "unauthenticated")
    problem_of(as_(None).post(f"/seals/{es}/freeze", json={}), 401, code="unauthenticated")
    # the full ID number is for officers
    for role in ("org_a", "integration"):
        r = as_(role).get(f"/seals/{es}", params={"reveal": True})
        problem_of(r, 403, code="not_permitted")
        problem_of(as_(role).post(f"/seals/{es}/unlock", json={}), 403, code="not_permitted")
    assert ok(as_("officer").get(f"/seals/{es}", params={"reveal": True}))["holder_id_number"] == (
        "350102198511223455"
    )
    assert ok(as_("org_a").get(f"/seals/{es}"))["holder_id_number"] == "350***********3455"
    # the seal's state does not decide the refusal: an unlocked seal is a 409 for an officer only
    problem_of(as_("officer").post(f"/seals/{es}/unlock", json={}), 409, code="illegal_transition")


def test_pages_walk_every_seal_once(as_, world):
    admin = as_("admin")
    everything = [s["id"] for s in ok(admin.get("/seals", params={"limit": 200}))["items"]]
    # the module's world holds two seals whatever ran before (tests add more): pages of one
    # walk them in more than one page alone, as with the whole file or this test by itself
    assert len(everything) >= 2 and everything == sorted(everything)
    seen, after = [], None
    while True:
        params = {"limit": 1, **({"after": after} if after else {})}
        page = ok(admin.get("/seals", params=params))
        assert len(page["items"]) <= 1
        seen += [s["id"] for s in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == everything
    contracts = ok(admin.get("/seals", params={"kind": "contract", "state": "active"}))["items"]
    assert {s["id"] for s in contracts} == {world.seal_a.id, world.seal_b.id}


# --- validation -----------------------------------------------------------------------------------
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(as_, world):
    p, w, admin = world.p, world.w, as_("admin")
    seals, events = count(p, Seal), count(p, AuditEvent)
    base = {
        **{k: v for k, v in _form("王五", "350102198511223455").items() if k != "business_type"},
        "subscriber_id": w.org_a,
        "kind": "finance",
        "certificate_serial": world.seal_a.certificate_serial,
    }
    cases = [
        ({**base, "kind": "stamp"}, "kind"),
        ({**base, "colour": "red"}, "colour"),  # an unknown field is refused, not ignored
        ({k: v for k, v in base.items() if k != "project"}, "project"),
        ({**base, "declaration_accepted": False}, "declaration_accepted"),
        ({**base, "id_number": "350102198511223456"}, "id_number"),  # bad check digit
        ({**base, "scan_base64": "not base64!"}, "scan_base64"),
        ({**base, "certificate_serial": "xyz"}, "certificate_serial"),
        ({**base, "years": 0}, "years"),
        ({**base, "subscriber_id": w.staff_a}, "kind"),  # a finance seal is an organization's
    ]
    for body, field in cases:
        problem_of(admin.post("/seals", json=body), 422, field)
    problem_of(
        admin.post("/seals", content=b"{", headers={"content-type": "application/json"}), 422
    )
    # the form: a new key and a certificate at once, a new key for a renewal, a bad PIN
    form = {**_form("王五", "350102198511223455"), "subscriber_id": w.org_a, "kind": "finance"}
    key = {"pin": ORG_A_PIN}
    both = {**form, "certificate_serial": world.seal_a.certificate_serial, "new_key": key}
    problem_of(admin.post("/seal-applications", json=both), 422, "new_key")
    renewal = {**_form("王五", "350102198511223455", "renew"), "seal": world.seal_a.es_id}
    problem_of(admin.post("/seal-applications", json={**renewal, "new_key": key}), 422, "new_key")
    problem_of(admin.post("/seal-applications", json={**form, "new_key": {"pin": ""}}), 422)
    problem_of(admin.post("/seal-applications", json={**form, "business_type": "x"}), 422)
    problem_of(
        admin.post("/seal-applications", json={**form, "declaration_accepted": False}),
        422,
        "declaration_accepted",
    )
    # paths and queries
    problem_of(admin.get("/seals/abc"), 422, "seal")
    problem_of(admin.get("/seals/999999"), 404, "seal", "not_found")
    problem_of(admin.get("/seals", params={"limit": 0}), 422, "limit")
    problem_of(admin.get("/seals", params={"state": "lost"}), 422, "state")
    problem_of(admin.post(f"/seals/{world.seal_a.es_id}/revoke", json={}), 422, "reason")
    pin = admin.post(f"/seals/{world.seal_a.es_id}/change-pin", json={"pin": ORG_A_PIN})
    problem_of(pin, 422, "new_pin")
    short = admin.post(
        f"/seals/{world.seal_a.es_id}/change-pin", json={"pin": ORG_A_PIN, "new_pin": "1"}
    )
    # too short, too long (over 64 the body's schema said it first, pydantic's English), a
    # space at either end or a full-width digit: the service's rule, in Chinese and English
    # (they were English alone), never the PIN itself
    length = ("PIN 须为 6–64 个字符", "the PIN must be 6 to 64 characters")
    space = ("PIN 首尾不能有空格", "the PIN must not begin or end with a space")
    wide = (
        "PIN 中有全角字符或其他兼容字符，请关闭输入法（半角）输入字母和数字",
        "the PIN holds a full-width (全角) or other compatibility character; type its letters "
        "and digits with the input method off (半角)",
    )
    refused = [short]
    for new_pin, rule in (
        ("97531", length),
        ("8642097531" * 6 + "86420", length),  # 65
        ("864209 ", space),
        ("８６４２０９７", wide),
    ):
        r = admin.post(
            f"/seals/{world.seal_a.es_id}/change-pin", json={"pin": ORG_A_PIN, "new_pin": new_pin}
        )
        assert halves(problem_of(r, 422, "new_pin", "invalid")["detail"]) == rule, r.text
        assert new_pin.strip() not in r.text, r.text
        refused.append(r)
    # a new seal's key under a PIN too short: the same refusal, naming the body's pin
    r = admin.post("/seal-applications", json={**form, "new_key": {"pin": "12345"}})
    assert halves(problem_of(r, 422, "pin", "invalid")["detail"]) == length, r.text
    # one holding an invisible or control character: said in Chinese and English, as every
    # hidden-character refusal is (it was in English alone), and never the PIN itself
    hidden = admin.post(
        f"/seals/{world.seal_a.es_id}/change-pin",
        json={"pin": ORG_A_PIN, "new_pin": "864\u200b2097"},
    )
    said = halves(problem_of(hidden, 422, "new_pin", "invalid")["detail"])
    assert said == (
        "PIN 中有不可见字符或控制字符，须为可打印字符",
        "the PIN must be printable characters: it holds an invisible or control character",
    ), said
    assert "864" not in hidden.text and "2097" not in hidden.text
    no_pin_in(pin, *refused, hidden)
    assert count(p, Seal) == seals and count(p, AuditEvent) == events
    assert sealed_key(p, world.seal_a.id)[1] == 0  # refused before any PIN was tried


# --- no PIN anywhere ------------------------------------------------------------------------------
def test_a_scan_that_is_no_usable_image_is_refused_naming_scan_base64(as_, world):
    """A scan that is no picture, a blank one, an empty one, or one given with ``software``
    was refused naming ``image`` or ``scan`` (the services' names, neither in the body): now
    ``scan_base64``, the field the integrator sent, on every route that takes a scan."""
    p, w, admin = world.p, world.w, as_("admin")
    seals, events = count(p, Seal), count(p, AuditEvent)
    es = world.seal_a.es_id
    junk = base64.b64encode(b"this is not a picture").decode()
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), "white").save(buf, "PNG")
    blank = base64.b64encode(buf.getvalue()).decode()
    scan = base64.b64encode(scan_png()).decode()
    for body in ({"scan_base64": junk}, {"scan_base64": blank}, {"scan_base64": ""}):
        problem_of(admin.post(f"/seals/{es}/change", json=body), 422, "scan_base64")
    both = {"scan_base64": scan, "software": True}
    problem_of(admin.post(f"/seals/{es}/change", json=both), 422, "scan_base64")
    form = {
        **{k: v for k, v in _form("王五", "350102198511223455").items() if k != "business_type"},
        "subscriber_id": w.org_a,
        "kind": "finance",
        "certificate_serial": world.seal_a.certificate_serial,
        "scan_base64": junk,
    }
    problem_of(admin.post("/seals", json=form), 422, "scan_base64")
    problem_of(admin.post("/seal-applications", json=form), 422, "scan_base64")
    empty = {**form, "certificate_serial": None, "new_key": {"pin": ORG_A_PIN}, "scan_base64": ""}
    problem_of(admin.post("/seal-applications", json=empty), 422, "scan_base64")
    preview = {"subscriber_id": w.org_a, "kind": "finance", "scan_base64": junk}
    problem_of(admin.post("/seal-previews", json=preview), 422, "scan_base64")
    assert count(p, Seal) == seals and count(p, AuditEvent) == events


def test_no_pin_in_the_server_log_or_the_database(as_, world):
    """Run last: every PIN the tests above sent must be nowhere but in the sealed keys."""
    org_a = as_("org_a")
    es = world.seal_a.es_id
    r = org_a.post(f"/seals/{es}/change-pin", json={"pin": WRONG_PIN, "new_pin": NEW_PIN})
    problem_of(r, 403, "pin", "wrong_pin")
    log = world.srv.log()  # warnings and errors only (no access log), the PINs in none
    for pin in PINS:
        assert not in_clear(pin, log), pin
    data = dump(world.p)
    for table, rows in data.items():
        for row in rows:
            for value in row:
                raw = value if isinstance(value, bytes) else str(value).encode()
                for pin in PINS:
                    assert not in_clear(pin, raw), (table, pin)
