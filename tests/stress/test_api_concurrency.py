"""Eight clients creating and signing flows at once over HTTP, on PostgreSQL, against two
``yinxin serve`` worker processes: nothing lost, nothing signed twice, and a POST retried with
its Idempotency-Key (even at the same moment) acts once."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from tests.fixtures.samples import contract_pdf
from tests.integration.api_world import Client, id_card
from tests.integration.server import PASSPHRASE, running_server
from tests.integration.signing_flow import _form, _issue, outbox_lines, read_code
from yinxin.app import Platform
from yinxin.settings import Settings
from yinxin.store.models.flows import SignFlow
from yinxin.store.models.signing import SignatureRecord

CLIENTS = 8
PIN = "864209"

pytestmark = pytest.mark.postgres


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def pg_world(tmp_path, pg_cluster):
    url = pg_cluster.new_database()
    home = tmp_path / "home"
    p = Platform(Settings(home=home, database_url=url), passphrase=PASSPHRASE)
    p.ca.init("ec-p256")
    signers = []
    for i in range(CLIENTS):
        sub = p.subscribers.add_person(
            name=f"签署人{i}", id_number=id_card(f"11010119900101{i:02d}1"), phone=f"1350013{i:04d}"
        )
        p.subscribers.accept_agreement(sub.id, accepted_by=sub.name)
        cert = _issue(p, sub.id, "person-signing", pin=PIN)
        seal = p.seals.create(
            subscriber_id=sub.id,
            kind="personal",
            certificate_serial=cert.serial,
            form=_form(sub.name, id_card(f"11010119900101{i:02d}1")),
        )
        signers.append((sub, seal))
    key = p.api_keys.create(name="oa", role="integration", actor="t").secret
    yield p, url, home, signers, key
    p.close()


def test_eight_clients_create_and_sign_flows_at_once(pg_world):
    p, url, home, signers, key = pg_world
    env = {"YINXIN_DATABASE_URL": url, "YINXIN_API_RATE": "0"}
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    outbox = home / "outbox" / "sms.jsonl"
    outbox_lock = threading.Lock()
    with running_server(home, env=env, args=["--workers", "2"]) as srv:

        def client(i: int) -> dict:
            sub, seal = signers[i]
            api = Client(srv.url(""), key)
            link = Client(srv.url(""), None)
            try:
                body = {
                    "title": f"合同{i}",
                    "documents": [
                        {
                            "name": f"合同{i}.pdf",
                            "content_base64": _b64(contract_pdf(1, title=f"合同{i}")),
                        },
                        {
                            "name": f"附件{i}.pdf",
                            "content_base64": _b64(contract_pdf(1, title=f"附件{i}")),
                        },
                    ],
                    "signers": [{"subscriber_id": sub.id, "role": "乙方", "seal": seal.es_id}],
                    "deadline": deadline,
                }
                key_header = {"Idempotency-Key": f"create-{i}"}
                # the same create sent twice at the same moment: one flow
                with ThreadPoolExecutor(2) as twice:
                    answers = list(
                        twice.map(
                            lambda _: api.post("/flows", json=body, headers=key_header), [0, 1]
                        )
                    )
                ok = [r for r in answers if r.status_code == 201]
                assert ok, [r.text for r in answers]
                for r in answers:  # the other got the same answer, or was told to retry
                    assert r.status_code == 201 or r.json()["code"] == "idempotency_in_progress"
                flow = ok[0].json()
                assert all(r.json()["id"] == flow["id"] for r in ok)
                started = api.post(f"/flows/{flow['id']}/start")
                assert started.status_code == 200, started.text
                token = started.json()["links"][0]["token"]
                with outbox_lock:
                    before = outbox_lines(outbox)
                    ch = link.post(f"/sign/{token}/code")
                    assert ch.status_code == 201, ch.text
                    code = read_code(outbox, f"1350013{i:04d}", after=before)
                sign = {"pin": PIN, "challenge_id": ch.json()["challenge_id"], "code": code}
                # the signer presses "sign" twice at once: one signature per document, not two
                with ThreadPoolExecutor(2) as twice:
                    tries = list(
                        twice.map(lambda _: link.post(f"/sign/{token}", json=sign), [0, 1])
                    )
                done = [r for r in tries if r.status_code == 200]
                assert len(done) >= 1, [r.text for r in tries]
                for r in tries:
                    assert r.status_code < 500, r.text
                return api.get(f"/flows/{flow['id']}").json()
            finally:
                api.close()
                link.close()

        with ThreadPoolExecutor(CLIENTS) as pool:
            flows = list(pool.map(client, range(CLIENTS)))
        log = srv.log()
    assert "Traceback" not in log, log[-3000:]
    assert all(f["state"] == "completed" for f in flows)
    assert len({f["id"] for f in flows}) == CLIENTS
    with p.db.read() as s:
        assert s.execute(select(func.count(SignFlow.id))).scalar_one() == CLIENTS
        # exactly one signature per document: two per flow, none doubled
        rows = s.execute(
            select(SignatureRecord.sha256_before, func.count()).group_by(
                SignatureRecord.sha256_before
            )
        ).all()
    assert len(rows) == 2 * CLIENTS and all(n == 1 for _h, n in rows)
    assert p.verify_audit().ok
