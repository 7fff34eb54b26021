"""The API where the key store's platform KEK does not open the stored key blobs (another
installation's ``keys/``, or a blob damaged): a refusal the operator can act on, not a crash,
and never a wrong PIN."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from tests.clear_text import in_clear
from tests.dbdump import dump
from tests.integration.api_world import Client, api_world, problem_of
from tests.integration.server import running_server
from tests.integration.signing_flow import PASSPHRASE, new_platform
from tests.integration.test_api_kek_missing import home_with_a_webhook
from yinxin.app import Platform
from yinxin.settings import Settings
from yinxin.store.models import PlatformKey

KEK_FILE = "platform-kek.kek"
PIN = "OrgA-pin-571903"
NEW_PIN = "Changed-pin-77215"
WRONG_PIN = "Wrong-pin-40028"
OFFICER = "受理员 陈静"


def another_installations_kek(kek: Path, other: Path) -> bytes:
    """Put at ``kek`` the KEK of another installation made at ``other``; the bytes it held,
    to put back."""
    p = new_platform(other)
    p.kek.ready()
    p.close()
    kept = kek.read_bytes()
    shutil.copyfile(other / "keys" / KEK_FILE, kek)
    return kept


def test_a_kek_that_does_not_open_the_keys_is_503_kek_mismatch_and_no_wrong_pin(
    tmp_path: Path,
) -> None:
    """``POST /seals/{es}/change-pin`` on a home whose ``keys/platform-kek.kek`` is another
    installation's (the seal's key wrapped under this one's) was answered ``500`` like an
    unexpected crash, though the service refuses it ``kek_mismatch``. Now it is ``503 Service
    Unavailable`` with that code, the ``keystore`` field and a message saying what to restore,
    for the right PIN and a wrong one alike (the KEK layer says nothing of the PIN: no attempt
    counted), nothing written; once this installation's KEK is back a wrong PIN is ``403``
    ``wrong_pin`` as before and the right one changes the PIN."""
    home = tmp_path / "home"
    w = api_world(home)
    p = w.platform
    p.subscribers.accept_agreement(w.org_a, accepted_by="王五")
    app = p.certificates.apply(subscriber_id=w.org_a, profile="organization-signing", pin=PIN)
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    cert = p.certificates.approve(app.id, officer=OFFICER)
    form = {
        "business_type": "new",
        "project": "百城e采平台项目",
        "holder_name": "王五",
        "id_type": "id_card",
        "id_number": "350102198511223455",
        "declaration_accepted": True,
    }
    es = p.seals.create(
        subscriber_id=w.org_a,
        kind="contract",
        certificate_serial=cert.serial,
        form=form,
        code="1101080012346",
    ).es_id
    p.close()
    kek = home / "keys" / KEK_FILE
    kept = another_installations_kek(kek, tmp_path / "other")
    engine = create_engine(f"sqlite:///{home / 'yinxin.db'}")

    def failures() -> int:
        with Session(engine) as s:
            return sum(s.execute(select(PlatformKey.failed_attempts)).scalars())

    with running_server(home, args=["--no-jobs"]) as srv:  # no job writes meanwhile
        c = Client(srv.url(""), w.keys["admin"])
        try:
            before = dump(engine)
            for pin in (PIN, WRONG_PIN):
                r = c.post(f"/seals/{es}/change-pin", json={"pin": pin, "new_pin": NEW_PIN})
                problem = problem_of(r, 503, field="keystore", code="kek_mismatch")
                assert problem["title"] == "Service Unavailable"
                assert "restore the keys directory" in problem["detail"]
                assert not in_clear(pin, r.text) and not in_clear(NEW_PIN, r.text)
            assert dump(engine) == before  # nothing written, no wrong PIN counted
            assert failures() == 0
        finally:
            c.close()
    kek.write_bytes(kept)  # this installation's keys directory restored
    with running_server(home) as srv:
        c = Client(srv.url(""), w.keys["admin"])
        try:
            r = c.post(f"/seals/{es}/change-pin", json={"pin": WRONG_PIN, "new_pin": NEW_PIN})
            problem_of(r, 403, field="pin", code="wrong_pin")
            assert failures() == 1
            r = c.post(f"/seals/{es}/change-pin", json={"pin": PIN, "new_pin": NEW_PIN})
            assert r.status_code == 200, r.text
        finally:
            c.close()
    engine.dispose()


def test_sealing_a_new_secret_under_another_installations_kek_is_503_kek_mismatch(
    tmp_path: Path,
) -> None:
    """``POST /webhooks`` (a new signing secret to seal) on a home whose
    ``keys/platform-kek.kek`` is another installation's was answered ``201``: only opening a
    stored blob was refused, so the new secret was sealed under the wrong KEK, the database
    then held blobs under two KEKs, and once this installation's keys were restored the new
    subscription's secret could not be opened. Now sealing is refused like opening: ``503``
    ``kek_mismatch`` on the ``keystore`` field, saying what to restore, nothing written; with
    this installation's KEK back the same request goes through and its secret opens."""
    home = tmp_path / "home"
    w, kept_secret = home_with_a_webhook(home)
    kek = home / "keys" / KEK_FILE
    kept = another_installations_kek(kek, tmp_path / "other")
    engine = create_engine(f"sqlite:///{home / 'yinxin.db'}")
    body = {"url": "https://hooks.example.com/b", "events": ["*"]}
    try:
        with running_server(home, args=["--no-jobs"]) as srv:  # no job writes meanwhile
            c = Client(srv.url(""), w.keys["admin"])
            try:
                before = dump(engine)
                r = c.post("/webhooks", json=body)
                problem = problem_of(r, 503, field="keystore", code="kek_mismatch")
                assert problem["title"] == "Service Unavailable"
                assert "restore the keys directory" in problem["detail"]
                assert kept_secret not in r.text
                assert dump(engine) == before  # nothing sealed under the wrong KEK
                listed = c.get("/webhooks")  # the rest of the API still answers
                assert listed.status_code == 200, listed.text
                assert [s["url"] for s in listed.json()["items"]] == ["https://hooks.example.com/a"]
            finally:
                c.close()
        kek.write_bytes(kept)  # this installation's keys directory restored
        with running_server(home, args=["--no-jobs"]) as srv:
            c = Client(srv.url(""), w.keys["admin"])
            try:
                r = c.post("/webhooks", json=body)
                assert r.status_code == 201, r.text
                new_id = r.json()["subscription"]["id"]
            finally:
                c.close()
    finally:
        engine.dispose()
    p = Platform(
        Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}"),
        passphrase=PASSPHRASE,
    )
    try:  # every secret in the database opens under this installation's KEK (else refused)
        done = p.recrypt.run("aes-256-gcm")
        assert done.recrypted["webhook_secret"] + done.unchanged["webhook_secret"] == 2
        assert new_id
    finally:
        p.close()
