"""Authorized automatic signing (自动签署授权): an organization gives its seal PIN once and the
platform signs within the signed terms — and refuses at once outside them.

Each test grants its own authorization on one world (王五, a member holding the contract seal's
grant, grants for 北京印信示范科技有限公司). Outputs are checked with pyHanko's validator; refusals
against the row counts; the race for the last use runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import itertools
import json
import threading

import pytest
from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select, update

from tests.clear_text import in_clear
from tests.clock import START
from tests.dbdump import count
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import World, build_world, new_platform
from yinxin.clock import FrozenClock
from yinxin.errors import Forbidden, IllegalTransition, NotFound, ValidationError, YinxinError
from yinxin.pdf.sign import Placement
from yinxin.signing.authorizations import AuthorizationState, AuthorizationView
from yinxin.signing.batch import BatchItem
from yinxin.signing.flows import SignerSpec
from yinxin.store.models import AuditEvent
from yinxin.store.models.archive import ArchivedDocument
from yinxin.store.models.authorizations import SigningAuthorization, SigningBatch
from yinxin.store.models.signing import SignatureRecord

DER = serialization.Encoding.DER
DOCS = itertools.count(1)


def items(n: int) -> list[BatchItem]:
    out = []
    for _ in range(n):
        i = next(DOCS)
        out.append(
            BatchItem(
                contract_pdf(1, title=f"自动签署合同{i}"),
                f"自动{i}.pdf",
                Placement(anchor="甲方（签章）"),
                "甲方",
            )
        )
    return out


def grant(w: World, **kw) -> AuthorizationView:
    assert w.clock is not None
    terms = {
        "max_documents": 5,
        "valid_until": w.clock.now() + dt.timedelta(days=30),
        "counterparties": [w.person.id],
        "flow_ids": [],
    } | kw
    return w.p.authorizations.grant(
        w.jia.seal.es_id,
        pin=w.jia.pin,
        granted_by_subscriber_id=w.member.id,
        actor="王五（管理员）",
        **terms,
    )


def flow(w: World, *, jia: bool = True, owner: int | None = None) -> int:
    """A draft sign flow: 乙方 signs with his personal seal, and 甲方 (王五 with the
    organization's contract seal, the one the authorizations are for) unless ``jia`` is off."""
    assert w.clock is not None
    parties = [w.jia, w.yi] if jia else [w.yi]
    made = w.p.flows.create(
        "自动签署合同",
        documents=[("合同.pdf", contract_pdf(1))],
        signers=[SignerSpec(x.id, x.role, x.seal.es_id) for x in parties],
        deadline=w.clock.now() + dt.timedelta(days=2),
        owner_subscriber_id=owner,
    )
    return made.id


def use(w: World, a: AuthorizationView, n: int = 1, **kw):
    kw.setdefault("counterparty_subscriber_id", w.person.id)
    return w.p.batch.sign_authorized(items(n), authorization_id=a.id, **kw)


def written(w: World) -> tuple[int, int, int]:
    p = w.p
    return count(p, SignatureRecord), count(p, ArchivedDocument), count(p, SigningBatch)


def refused(w: World, fn, code: str, field: str = "authorization_id") -> YinxinError:
    before = written(w)
    with pytest.raises(YinxinError) as info:
        fn()
    e = info.value
    assert (e.code, e.field) == (code, field), e.to_dict()
    assert written(w) == before
    return e


def row(w: World, a: AuthorizationView) -> SigningAuthorization:
    with w.p.db.read() as s:
        return s.get(SigningAuthorization, a.id)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    clock = FrozenClock(START)
    p = new_platform(tmp_path_factory.mktemp("authorizations"), clock)
    w = build_world(p, clock)
    yield w
    p.close()


def test_grant_then_sign_within_limits(world):
    w = world
    f7, f8 = flow(w), flow(w, jia=False, owner=w.org.id)
    a = grant(w, flow_ids=[f7, f8])
    assert a.state == AuthorizationState.ACTIVE and a.key_held and a.remaining == 5
    assert a.holder_subscriber_id == w.org.id and a.granted_by_subscriber_id == w.member.id
    assert w.p.authorizations.verify_terms(a.id).ok
    res = use(w, a, 2, flow_id=f7, client_ip="198.51.100.4", context={"flow_id": f7})
    assert res.authorization_id == a.id and res.challenge_id is None
    assert w.p.authorizations.get(a.id).remaining == 3
    root = a_x509.Certificate.load(w.p.ca.certificate("root").public_bytes(DER))
    for doc in res.documents:
        assert doc.record.signer_subscriber_id == w.org.id
        assert doc.record.intent_challenge is None
        (emb,) = PdfFileReader(io.BytesIO(doc.pdf)).embedded_signatures
        st = validate_pdf_signature(
            emb, ValidationContext(trust_roots=[root], allow_fetching=False)
        )
        assert st.bottom_line and st.timestamp_validity.trusted, st.pretty_print_details()
    with w.p.db.read() as s:
        details = [
            json.loads(r.details)
            for r in s.execute(
                select(SignatureRecord).where(
                    SignatureRecord.id.in_([d.record.id for d in res.documents])
                )
            ).scalars()
        ]
        used = s.execute(
            select(AuditEvent).where(
                AuditEvent.action == "authorization.used", AuditEvent.subject_id == str(a.id)
            )
        ).scalar_one()
    assert all(d["authorization_id"] == a.id for d in details)
    assert all(d["client_ip"] == "198.51.100.4" and d["context"]["flow_id"] == f7 for d in details)
    data = json.loads(used.data)
    assert [x["sha256"] for x in data["documents"]] == [
        d.record.sha256_before for d in res.documents
    ]
    assert data["remaining"] == 3 and data["flow_id"] == f7


def test_scope_is_enforced(world):
    w = world
    f7, f8 = flow(w), flow(w)
    a = grant(w, flow_ids=[f7])
    refused(w, lambda: use(w, a, flow_id=f8), "authorization_scope", "flow_id")
    refused(w, lambda: use(w, a, flow_id=None), "authorization_scope", "flow_id")
    refused(
        w,
        lambda: use(w, a, flow_id=f7, counterparty_subscriber_id=w.member.id),
        "authorization_scope",
        "counterparty_subscriber_id",
    )
    assert w.p.authorizations.get(a.id).used_documents == 0
    assert len(use(w, a, flow_id=f7).documents) == 1


def test_grant_refuses_a_flow_not_there_or_not_the_organizations(world):
    """A flow id not yet used was accepted, so the authorization would have covered whichever
    flow later got it; so was a flow the organization has no part in."""
    w = world
    theirs = flow(w, jia=False)  # only 乙方 signs, and no owner: not the organization's
    missing = theirs + 1000
    for ids, error in (([missing], NotFound), ([flow(w), theirs], ValidationError)):
        before = count(w.p, SigningAuthorization)
        with pytest.raises(error) as e:
            grant(w, flow_ids=ids)
        assert e.value.field == "flow_ids"
        assert str(ids[-1]) in e.value.message
        assert count(w.p, SigningAuthorization) == before


def test_the_count_runs_out(world):
    w = world
    a = grant(w, max_documents=3)
    use(w, a, 2)
    refused(w, lambda: use(w, a, 2), "authorization_limit")
    use(w, a, 1)
    now = w.p.authorizations.get(a.id)
    assert now.state == AuthorizationState.EXHAUSTED and not now.key_held
    assert row(w, a).wrapped_key is None
    refused(w, lambda: use(w, a, 1), "authorization_exhausted")


def test_withdrawal_refuses_at_once_and_shreds_the_key(world):
    w = world
    a = grant(w)
    assert row(w, a).wrapped_key is not None
    use(w, a, 1)
    with pytest.raises(ValidationError) as e:  # the grantee reads it: nothing hidden
        w.p.authorizations.withdraw(a.id, actor="王五（管理员）", reason="合作\u202e结束")
    assert e.value.field == "reason"
    v = w.p.authorizations.withdraw(a.id, actor="王五（管理员）", reason="合作结束")
    assert v.state == AuthorizationState.WITHDRAWN and not v.key_held
    assert row(w, a).wrapped_key is None  # the only copy of its secret is gone
    refused(w, lambda: use(w, a, 1), "authorization_withdrawn")
    with pytest.raises(IllegalTransition):
        w.p.authorizations.withdraw(a.id, actor="王五（管理员）", reason="again")
    with w.p.db.read() as s:
        ev = s.execute(
            select(AuditEvent).where(
                AuditEvent.action == "authorization.withdrawn", AuditEvent.subject_id == str(a.id)
            )
        ).scalar_one()
    assert json.loads(ev.data)["reason"] == "合作结束" and ev.actor == "王五（管理员）"


def test_a_withdrawal_without_a_reason_is_told_so_in_both_languages(world):
    """Withdrawing an authorization (``authorization withdraw``, ``POST
    /authorizations/{id}/withdraw``) with a blank reason was told "give a reason (1–500
    characters)", English alone and in words of its own, where a flow's and an obligation's
    reason say 须写明原因（1–500 个字符） / give the reason (1–500 characters); over the API
    an empty one, or one over 500 characters, was pydantic's English besides. Each is that
    one refusal now, naming ``reason`` (exit 2 / 422), and the authorization stands, its key
    held."""
    from tests import dbdump
    from tests.conftest import cli_env, cli_refuses
    from tests.integration.api_world import keyed_client, problem_of
    from yinxin.errors import halves

    w = world
    a = grant(w)
    said = ("须写明原因（1–500 个字符）", "give the reason (1–500 characters)")
    secret = w.p.api_keys.create(name="oa", role="integration", actor="t").secret
    with keyed_client(w.p, secret) as api:
        before = dbdump.dump(w.p)
        for reason in ("", "\t \n", "停" * 501):
            r = api.post(f"/api/v1/authorizations/{a.id}/withdraw", json={"reason": reason})
            body = problem_of(r, 422, "reason", "invalid")
            assert halves(body["detail"]) == said, (reason[:3], body)
    for reason in ("", " "):
        args = ["authorization", "withdraw", str(a.id), "--reason", reason]
        cli_refuses(cli_env(w.p), args, "reason", said)
    assert dbdump.diff(before, dbdump.dump(w.p)) == []
    now = w.p.authorizations.get(a.id)
    assert now.state == AuthorizationState.ACTIVE and now.key_held


def test_expiry_by_the_clock(world):
    w = world
    assert w.clock is not None
    a = grant(w, valid_until=w.clock.now() + dt.timedelta(hours=2))
    use(w, a, 1)
    w.clock.advance(seconds=3 * 3600)
    refused(w, lambda: use(w, a, 1), "authorization_expired")
    v = w.p.authorizations.get(a.id)
    assert v.state == AuthorizationState.EXPIRED and not v.key_held


def test_a_frozen_seal_refuses(world):
    w = world
    a = grant(w)
    w.p.seals.freeze(w.jia.seal.es_id, actor="受理员 陈静")
    try:
        refused(w, lambda: use(w, a, 1), "seal_not_active", "seal")
    finally:
        w.p.seals.unfreeze(w.jia.seal.es_id, actor="受理员 陈静")
    assert len(use(w, a, 1).documents) == 1


def test_tampered_terms_are_detected(world):
    w = world
    a = grant(w, max_documents=2)
    # a raised limit written straight into the database
    with w.p.db.transaction() as s:
        s.execute(
            update(SigningAuthorization)
            .where(SigningAuthorization.id == a.id)
            .values(max_documents=500)
        )
    check = w.p.authorizations.verify_terms(a.id)
    assert not check.ok and "columns" in check.reason
    refused(w, lambda: use(w, a, 1), "authorization_tampered")
    # the same change made to the terms text as well: now the seal's signature fails
    r = row(w, a)
    forged = r.terms.replace('"max_documents":2', '"max_documents":500')
    assert forged != r.terms
    with w.p.db.transaction() as s:
        s.execute(
            update(SigningAuthorization).where(SigningAuthorization.id == a.id).values(terms=forged)
        )
    check = w.p.authorizations.verify_terms(a.id)
    assert not check.ok and "signature" in check.reason
    refused(w, lambda: use(w, a, 1), "authorization_tampered")


def test_grant_checks_pin_and_input(world):
    w = world
    with pytest.raises(Forbidden) as e:
        w.p.authorizations.grant(
            w.jia.seal.es_id,
            pin="000000",
            granted_by_subscriber_id=w.member.id,
            max_documents=1,
            valid_until=w.clock.now() + dt.timedelta(days=1),
        )
    assert e.value.code == "wrong_pin"
    # the person without a grant for the organization's seal may not authorize its use
    with pytest.raises(Forbidden) as e:
        w.p.authorizations.grant(
            w.jia.seal.es_id,
            pin=w.jia.pin,
            granted_by_subscriber_id=w.person.id,
            max_documents=1,
            valid_until=w.clock.now() + dt.timedelta(days=1),
        )
    assert e.value.code == "not_authorized"
    for bad, field in (
        ({"max_documents": 0}, "max_documents"),
        ({"valid_until": w.clock.now() - dt.timedelta(days=1)}, "valid_until"),
        ({"counterparties": [-1]}, "counterparties"),
    ):
        before = count(w.p, SigningAuthorization)
        with pytest.raises(ValidationError) as e:
            grant(w, **bad)
        assert e.value.field == field
        assert count(w.p, SigningAuthorization) == before
    # a personal seal is not authorized for automatic signing
    with pytest.raises(ValidationError) as e:
        w.p.authorizations.grant(
            w.yi.seal.es_id,
            pin=w.yi.pin,
            granted_by_subscriber_id=w.person.id,
            max_documents=1,
            valid_until=w.clock.now() + dt.timedelta(days=1),
        )
    assert e.value.field == "seal"


def test_no_pin_or_key_material_in_audit_rows(world):
    w = world
    a = grant(w)
    blob = row(w, a).wrapped_key
    use(w, a, 1)
    w.p.authorizations.withdraw(a.id, actor="王五（管理员）", reason="测试")
    with w.p.db.read() as s:
        data = "\n".join(s.execute(select(AuditEvent.data)).scalars())
    for secret in (blob.hex(), base64.b64encode(blob).decode(), blob[-48:].hex()):
        assert secret not in data
    events = [json.loads(x) for x in data.splitlines()]
    assert not any(in_clear(w.jia.pin, json.dumps(e, ensure_ascii=False)) for e in events)
    assert "wrapped_key" not in data and '"pin"' not in data


def test_listing(world):
    w = world
    mine = w.p.authorizations.list(holder_subscriber_id=w.org.id)
    assert mine and all(v.holder_subscriber_id == w.org.id for v in mine)
    assert w.p.authorizations.list(holder_subscriber_id=w.person.id) == []


def test_two_racing_for_the_last_use_one_wins(any_platform, clock):
    p = any_platform
    w = build_world(p, clock)
    a = grant(w, max_documents=1)
    real_store = p.batch._store
    gate = threading.Barrier(2, timeout=60)

    def store_then_wait(signed):
        # both have passed the first check and signed: now both go for the row
        out = real_store(signed)
        gate.wait()
        return out

    p.batch._store = store_then_wait
    results: list[object] = []

    def go():
        try:
            results.append(use(w, a, 1))
        except YinxinError as e:
            results.append(e)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    wins = [r for r in results if not isinstance(r, YinxinError)]
    losses = [r for r in results if isinstance(r, YinxinError)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert isinstance(losses[0], Forbidden)
    assert losses[0].code in ("authorization_exhausted", "authorization_limit")
    v = p.authorizations.get(a.id)
    assert v.used_documents == 1 and v.state == AuthorizationState.EXHAUSTED
    assert count(p, SignatureRecord) == 1 and count(p, SigningBatch) == 1


def test_the_cli_prints_the_end_of_an_authorization_as_every_time(world) -> None:
    """``authorization list`` printed ``until 2027-01-04 09:30Z``: a form of its own, where
    every other command prints ``2027-01-04 09:30 UTC``. It goes through the one formatter now;
    ``--json`` keeps ISO 8601 with the offset."""
    import re

    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from yinxin.adapters.cli import app as cli_app

    w = world
    a = grant(w)
    env = cli_env(w.p)
    res = CliRunner().invoke(cli_app, ["authorization", "list"], env=env)
    assert res.exit_code == 0, res.output
    [line] = [x for x in res.stdout.splitlines() if x.startswith(f"#{a.id} ")]
    until = a.valid_until.astimezone(dt.UTC)
    assert re.search(rf", until {until:%Y-%m-%d %H:%M} UTC; ", line), line
