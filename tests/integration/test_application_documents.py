"""The applicant's identity documents with a certificate application (issue 13 item 4), through
the API in-process on a frozen clock: a person uploads the ID card's two sides in their own
session, the organization's contact its business licence; each sees its own only (another's
application answers 404), the officer sees all; the file comes back byte for byte with the
type read from its magic bytes; refusals (kind, empty, not PDF/JPEG/PNG, a declared type that
lies, too large, too many, a decided application) write neither a row, a file nor an event;
each upload is audited in the chain."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from tests.integration.signing_flow import World
from tests.integration.test_web_selfservice_api import problem, subscriber_session
from yinxin.errors import ValidationError
from yinxin.registry import documents
from yinxin.store.models import AuditEvent
from yinxin.store.models.applicant_documents import ApplicationDocument

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(40))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 50 + b"\xff\xd9"
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def pending(world: World, subscriber_id: int, profile: str, pin: str = "246810") -> int:
    return world.p.certificates.apply(subscriber_id=subscriber_id, profile=profile, pin=pin).id


def counts(world: World) -> tuple[int, int, int]:
    """Rows, stored files and audit events: what a refusal must leave as it was."""
    with world.p.db.read() as s:
        rows = s.execute(select(func.count(ApplicationDocument.id))).scalar_one()
        events = s.execute(select(func.count(AuditEvent.seq))).scalar_one()
    return rows, len(world.p.application_documents.files.keys()), events


def upload(c, app_id, data, kind, h, ctype="application/octet-stream", name=None):
    params = {"kind": kind} | ({"name": name} if name else {})
    return c.post(
        f"/api/v1/applications/{app_id}/documents",
        params=params,
        content=data,
        headers={**h, "Content-Type": ctype},
    )


def test_documents_are_kept_scoped_and_read_back(world, client):
    person_app = pending(world, world.person.id, "person-signing")
    org_app = pending(world, world.org.id, "organization-signing")

    h = {"X-CSRF-Token": subscriber_session(client, world, "13800138000")}  # 张三
    r = upload(client, person_app, JPEG, "id_front", h, "image/jpeg", name="C:\\fakepath\\正面.jpg")
    assert r.status_code == 201, r.text
    front = r.json()
    assert front["media_type"] == "image/jpeg" and front["size"] == len(JPEG)
    assert front["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert front["file_name"] == "正面.jpg" and front["kind"] == "id_front"
    assert front["uploaded_by"] == f"subscriber:{world.person.id}"
    r = upload(client, person_app, PNG, "id_back", h)  # octet-stream: the bytes decide
    assert r.status_code == 201 and r.json()["media_type"] == "image/png"
    listed = client.get(f"/api/v1/applications/{person_app}/documents").json()
    assert [d["kind"] for d in listed] == ["id_front", "id_back"]
    got = client.get(f"/api/v1/applications/{person_app}/documents/{front['id']}")
    assert got.status_code == 200 and got.content == JPEG
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"] == (
        f"inline; filename=\"document-{front['id']}.jpg\"; filename*=UTF-8''%E6%AD%A3%E9%9D%A2.jpg"
    )
    # an ID card's scan is kept by no cache (it was private, max-age=300: 5 minutes on disk)
    assert got.headers["cache-control"] == "no-store"
    # the organization's application is not there for the person: 404, nothing written
    before = counts(world)
    problem(upload(client, org_app, PDF, "business_licence", h), 404, "not_found", "application_id")
    problem(client.get(f"/api/v1/applications/{org_app}/documents"), 404, "not_found")
    assert counts(world) == before

    client.cookies.clear()
    h = {"X-CSRF-Token": subscriber_session(client, world, "13900139000")}  # the organization
    r = upload(client, org_app, PDF, "business_licence", h, "application/pdf", name="营业执照.pdf")
    assert r.status_code == 201, r.text
    licence = r.json()
    problem(client.get(f"/api/v1/applications/{person_app}/documents"), 404, "not_found")
    problem(
        client.get(f"/api/v1/applications/{person_app}/documents/{front['id']}"), 404, "not_found"
    )
    # a document id of another application under one's own application id: not found either
    problem(
        client.get(f"/api/v1/applications/{org_app}/documents/{front['id']}"),
        404,
        "not_found",
        "document_id",
    )

    client.cookies.clear()
    officer = world.p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    o = {"Authorization": f"Bearer {officer}"}
    assert len(client.get(f"/api/v1/applications/{person_app}/documents", headers=o).json()) == 2
    pdf = client.get(f"/api/v1/applications/{org_app}/documents/{licence['id']}", headers=o)
    assert pdf.content == PDF and pdf.headers["content-type"] == "application/pdf"
    events = world.p.audit_events(action="application.document_added")
    assert [e.data["sha256"] for e in events][-1] == hashlib.sha256(PDF).hexdigest()
    assert world.p.verify_audit().ok


def test_refusals_write_nothing(world, client, monkeypatch):
    app_id = pending(world, world.person.id, "person-signing")
    officer = world.p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    o = {"Authorization": f"Bearer {officer}"}
    before = counts(world)
    problem(upload(client, app_id, PNG, "passport_scan", o), 422, "invalid", "kind")
    problem(upload(client, app_id, b"", "id_front", o), 422, "empty", "body")
    problem(upload(client, app_id, b"GIF89a....", "id_front", o), 422, "unsupported_type", "body")
    problem(upload(client, app_id, b"<html>", "id_front", o, "image/png"), 422, "unsupported_type")
    problem(upload(client, app_id, PDF, "id_front", o, "image/png"), 422, "type_mismatch", "body")
    monkeypatch.setattr(documents, "MAX_DOCUMENT", 1000)
    big = PNG + bytes(2000)
    problem(upload(client, app_id, big, "id_front", o), 413, "too_large", "body")
    problem(upload(client, 2**40, PNG, "id_front", o), 404, "not_found", "application_id")
    assert counts(world) == before

    monkeypatch.setattr(documents, "MAX_DOCUMENTS", 2)
    for kind in ("id_front", "id_back"):
        assert upload(client, app_id, PNG + kind.encode(), kind, o).status_code == 201
    before = counts(world)
    problem(upload(client, app_id, JPEG, "other", o), 409, "too_many_documents", "body")
    assert counts(world) == before

    world.p.certificates.reject(app_id, officer="desk1", reason="证件模糊")
    other = pending(world, world.person.id, "person-signing", pin="975310")
    world.p.certificates.reject(other, officer="desk1", reason="重复申请")
    before = counts(world)
    problem(upload(client, other, JPEG, "id_front", o), 409, "illegal_transition", "application_id")
    assert counts(world) == before
    # a decided application's documents stay readable at the desk
    assert len(client.get(f"/api/v1/applications/{app_id}/documents", headers=o).json()) == 2


def test_a_file_name_with_hidden_characters_is_refused_not_cleaned(world, client):
    """A document's name with NUL, another control character or a bidi override (U+202E shows
    ``证件‮gpj.exe`` as ``证件exe.jpg``) was silently cleaned and the upload taken, so the desk
    read a name the applicant never sent. Now it is refused naming ``name`` (422), nothing
    written; a browser's ``C:\\fakepath\\`` is still taken off."""
    app_id = pending(world, world.person.id, "person-signing")
    officer = world.p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    o = {"Authorization": f"Bearer {officer}"}
    before = counts(world)
    for bad in ("正面\x00.jpg", "正面\x1b[8m.jpg", "证件\u202egpj.exe", "a\u200b.jpg", "x\ny.png"):
        r = upload(client, app_id, PNG, "id_front", o, name=bad)
        body = problem(r, 422, "invalid", "name")
        assert "U+" in body["detail"], body
        assert counts(world) == before, bad
    with pytest.raises(ValidationError) as e:
        world.p.application_documents.upload(
            app_id, PNG, kind="id_front", actor="ra", file_name="正面\u202e.png"
        )
    assert e.value.field == "file_name"
    assert counts(world) == before
    r = upload(client, app_id, PNG, "id_front", o, name="C:\\fakepath\\身份证 正面.png")
    assert r.status_code == 201, r.text
    assert r.json()["file_name"] == "身份证 正面.png"
