"""Who imposed a freeze: a holder lifts a freeze the holder asked for; a freeze imposed by the
certification authority (a desk officer, a court order, suspected misuse) is lifted by it only.

Before, any caller allowed to freeze could unfreeze: a subscriber's web session or a key bound
to the organization released a certificate or seal the desk had frozen."""

from __future__ import annotations

from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import cli_env
from tests.dbdump import diff, dump
from tests.integration.signing_flow import World, outbox_lines, read_code
from tests.integration.test_web_selfservice_api import subscriber_session
from yinxin.adapters.cli import app as cli_app


def desk(w: World) -> dict[str, str]:
    secret = w.p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    return {"Authorization": f"Bearer {secret}"}


def refused_to_holder(r, field: str = "hold_by") -> None:
    assert r.status_code == 403, r.text
    body = r.json()
    assert (body["field"], body["code"]) == (field, "frozen_by_ca"), body
    assert "认证机构" in body["detail"] or "认证机构" in body.get("message", str(body))


def test_a_holder_does_not_lift_a_freeze_the_ca_imposed(world: World, client: TestClient) -> None:
    p, serial = world.p, world.person_cert.serial
    officer = desk(world)
    r = client.post(
        f"/api/v1/certificates/{serial}/freeze", json={"note": "法院协助冻结"}, headers=officer
    )
    assert r.status_code == 200 and r.json()["hold_by"] == "ca", r.text
    token = subscriber_session(client, world, "13800138000")  # 张三, the holder
    h = {"X-CSRF-Token": token}
    assert client.get(f"/api/v1/certificates/{serial}").json()["hold_by"] == "ca"
    before = dump(p)
    r = client.post(f"/api/v1/certificates/{serial}/unfreeze", headers=h)
    refused_to_holder(r)
    assert diff(before, dump(p)) == []
    r = client.post(f"/api/v1/certificates/{serial}/unfreeze", headers=officer)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    assert r.json()["hold_by"] is None
    # a freeze the holder asked for, the holder lifts
    r = client.post(f"/api/v1/certificates/{serial}/freeze", json={}, headers=h)
    assert r.status_code == 200 and r.json()["hold_by"] == "holder", r.text
    r = client.post(f"/api/v1/certificates/{serial}/unfreeze", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    events = p.audit_events(action="certificate.freeze", subject_id=serial)
    assert sorted((e.actor.split(":")[0], e.data["hold_by"]) for e in events) == [
        ("api", "ca"),
        ("subscriber", "holder"),
    ]


def test_a_key_bound_to_the_organization_is_the_holder(world: World, client: TestClient) -> None:
    p, serial = world.p, world.org_cert.serial
    p.certificates.freeze(serial, actor="受理员 陈静")  # the operator: the CA
    assert p.certificates.get(serial).hold_by == "ca"
    secret = p.api_keys.create(
        name="org", role="organization_admin", actor="t", organization_id=world.org.id
    ).secret
    h = {"Authorization": f"Bearer {secret}"}
    refused_to_holder(client.post(f"/api/v1/certificates/{serial}/unfreeze", headers=h))
    assert p.certificates.get(serial).status == "on_hold"
    # a restore after a loss reported over the CA's freeze goes back to that freeze, still the CA's
    p.certificates.report_loss(serial, actor="org")
    p.certificates.restore(serial, actor="org")
    assert (p.certificates.get(serial).hold_kind, p.certificates.get(serial).hold_by) == (
        "frozen",
        "ca",
    )
    refused_to_holder(client.post(f"/api/v1/certificates/{serial}/unfreeze", headers=h))
    assert p.certificates.unfreeze(serial, actor="受理员 陈静").status == "active"


def cli(w: World, *args: str):
    env = cli_env(w.p)
    return CliRunner().invoke(cli_app, list(args), env=env)


def test_the_cli_marks_a_freeze_asked_for_by_the_holder(world: World, client: TestClient) -> None:
    p, serial = world.p, world.person_cert.serial
    res = cli(world, "cert", "freeze", serial, "--at-holder-request")
    assert res.exit_code == 0, res.output
    assert p.certificates.get(serial).hold_by == "holder"
    token = subscriber_session(client, world, "13800138000")
    r = client.post(f"/api/v1/certificates/{serial}/unfreeze", headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    seal = world.yi.seal.es_id
    res = cli(world, "seal", "freeze", seal)
    assert res.exit_code == 0, res.output
    assert p.seals.get(seal).hold_by == "ca"
    res = cli(world, "seal", "unfreeze", seal)
    assert res.exit_code == 0, res.output
    res = cli(world, "seal", "freeze", seal, "--at-holder-request")
    assert res.exit_code == 0, res.output
    assert p.seals.get(seal).hold_by == "holder"


def test_a_seal_frozen_by_the_ca_is_released_by_it(world: World, client: TestClient) -> None:
    p, seal = world.p, world.yi.seal.es_id
    officer = desk(world)
    r = client.post(f"/api/v1/seals/{seal}/freeze", json={"note": "涉嫌冒用"}, headers=officer)
    assert r.status_code == 200 and r.json()["hold_by"] == "ca", r.text
    token = subscriber_session(client, world, "13800138000")
    h = {"X-CSRF-Token": token}
    before = dump(p)
    refused_to_holder(client.post(f"/api/v1/seals/{seal}/unfreeze", headers=h))
    assert diff(before, dump(p)) == []
    r = client.post(f"/api/v1/seals/{seal}/unfreeze", headers=officer)
    assert r.status_code == 200 and r.json()["state"] == "active", r.text
    r = client.post(f"/api/v1/seals/{seal}/freeze", json={}, headers=h)
    assert r.status_code == 200 and r.json()["hold_by"] == "holder", r.text
    r = client.post(f"/api/v1/seals/{seal}/unfreeze", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "active", r.text


def test_a_holder_does_not_reissue_past_a_freeze_the_ca_imposed(
    world: World, client: TestClient
) -> None:
    """补办 (reissue) over a freeze revokes the frozen certificate and issues an active one: a
    holder could shed a freeze the CA imposed (a court order, suspected misuse) with it —
    directly, or by reporting the key lost over the freeze first. Now both are refused to the
    holder like 解冻 (403 ``frozen_by_ca``, nothing written); the desk may still reissue, and a
    holder's own freeze or loss is reissued by the holder."""
    p, serial = world.p, world.person_cert.serial
    officer = desk(world)
    r = client.post(
        f"/api/v1/certificates/{serial}/freeze", json={"note": "法院协助冻结"}, headers=officer
    )
    assert r.status_code == 200, r.text
    token = subscriber_session(client, world, "13800138000")  # 张三, the holder
    h = {"X-CSRF-Token": token}
    before = dump(p)
    r = client.post(f"/api/v1/certificates/{serial}/reissue", json={"pin": "246802"}, headers=h)
    refused_to_holder(r)
    assert diff(before, dump(p)) == []
    # a loss reported over the CA's freeze is still under it
    r = client.post(f"/api/v1/certificates/{serial}/report-loss", headers=h)
    assert r.status_code == 200 and r.json()["hold_kind"] == "lost", r.text
    before = dump(p)
    r = client.post(f"/api/v1/certificates/{serial}/reissue", json={"pin": "246802"}, headers=h)
    refused_to_holder(r)
    assert diff(before, dump(p)) == []
    # the desk reissues it
    r = client.post(
        f"/api/v1/certificates/{serial}/reissue", json={"pin": "246802"}, headers=officer
    )
    assert r.status_code == 200, r.text
    new = r.json()["certificate"]["serial"]
    # the holder's own freeze: the holder reissues
    r = client.post(f"/api/v1/certificates/{new}/freeze", json={}, headers=h)
    assert r.status_code == 200 and r.json()["hold_by"] == "holder", r.text
    # (proved by the code sent by SMS to the registered phone: test_certificate_key_proof)
    world.clock.advance(seconds=61)
    mark = outbox_lines(world.outbox)
    url = f"/api/v1/certificates/{new}/reissue"
    r = client.post(url, json={"pin": "246802"}, headers=h)
    assert r.status_code == 202 and r.json()["status"] == "code_required", r.text
    code = read_code(world.outbox, "13800138000", after=mark)
    proof = {"challenge_id": r.json()["challenge_id"], "code": code}
    r = client.post(url, json={"pin": "246802", **proof}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["previous"]["status"] == "revoked"
