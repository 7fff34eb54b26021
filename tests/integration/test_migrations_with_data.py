"""Migrations run on databases that hold data, not only on empty ones.

SQLite cannot alter most of a table in place, so Alembic's batch mode copies the table, drops
the old one and renames the copy; with foreign keys on, the drop fails as soon as another row
refers to one in the table. Three migrations did that to a referenced table (0014's upgrade of
``sign_flow_signers``, 0013's downgrade of ``notifications``, and 0023 as first written, on
``service_requests``): every test passed, since each builds its database empty and migrates it
at once, while an operator's database with sign flows or desk requests would not upgrade. Here a
platform with a signed contract, a sign flow waiting for its signers, messages, and a desk
request with a pause and a breach goes down to 0012 and up again."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import text

from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import build_world, sign_as
from yinxin.clock import BEIJING
from yinxin.contracts.service import ContractSigner
from yinxin.contracts.templates import get_template
from yinxin.store.db import alembic_config

KEPT = (
    "subscribers",
    "certificates",
    "seals",
    "notifications",
    "audit_events",
    "sign_flow_signers",
    "sign_flow_links",
)


def test_down_to_0012_and_up_again_with_flows_messages_and_desk_requests(platform, clock) -> None:
    p = platform
    w = build_world(p, clock)
    sign_as(w, w.jia, contract_pdf())
    values = get_template("om-service").example_values()
    values |= {"client_name": w.org.name, "provider_name": w.person.name}  # the seals' owners
    drafted = p.contracts.draft("om-service", values, actor="运维经理")
    p.contracts.start_signing(
        drafted.id,
        [
            ContractSigner("乙方", w.yi.id, w.yi.seal.es_id),
            ContractSigner("甲方", w.jia.id, w.jia.seal.es_id),
        ],
        deadline=clock.now() + dt.timedelta(days=3),
        actor="运维经理",
    )
    start = clock.now().astimezone(BEIJING).date()
    p.desk.add_contract(
        "YW-1", title="运维服务合同", party_a="甲", party_b="乙", annual_fee="28000.00",
        starts_on=start - dt.timedelta(days=30), ends_on=start + dt.timedelta(days=30),
    )  # fmt: skip
    r = p.desk.open(
        "YW-1", channel="phone", description="数据同步失败", reported_by="甲方",
        notice_at=clock.now() - dt.timedelta(hours=6), on_site_requested=True,
    )  # fmt: skip
    p.desk.pause(r.id, reason="等待甲方")
    assert p.desk.get(r.id).breaches

    def counts() -> dict[str, int]:
        with p.db.engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in KEPT}

    before = counts()
    assert before["sign_flow_links"] and before["notifications"]
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012")
    p.db.migrate()  # what the platform does at start
    after = counts()
    assert {t: after[t] for t in KEPT} == {t: before[t] for t in KEPT}
    assert p.verify_audit().ok


def test_0024_down_and_up_with_a_certificate_lost_over_a_freeze(platform) -> None:
    """0024 adds certificates.previous_hold_kind in place (a batch copy would fail once a seal
    or payment refers to a certificate). Down to 0023 and up again with a certificate lost over
    a freeze and another frozen: rows kept; the remembered freeze is gone (the older schema has
    no place for it), so that one's restore makes it active, and a loss is then reported over
    the other's freeze and restored back to it."""
    from tests.integration.test_ca_lifecycle import enrol, issue

    p = platform
    lost = issue(p, enrol(p).person.id)
    frozen = issue(p, enrol(p, n=2).person.id)
    for serial in (lost.serial, frozen.serial):
        p.certificates.freeze(serial, actor="受理员")
    p.certificates.report_loss(lost.serial, actor="张三")
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0023")
    with p.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT hold_kind FROM certificates ORDER BY id")).scalars().all()
    assert rows == ["lost", "frozen"]
    p.db.migrate()
    assert p.certificates.restore(lost.serial, actor="受理员").status == "active"
    p.certificates.report_loss(frozen.serial, actor="张三")
    assert p.certificates.restore(frozen.serial, actor="受理员").hold_kind == "frozen"
    assert p.verify_audit().ok


def test_0025_counts_a_freeze_of_unrecorded_origin_as_the_cas(platform, clock) -> None:
    """0025 adds hold_by to certificates and seals. A freeze made before it has no record of
    who imposed it: it becomes the CA's (lifted by the desk), never the holder's — which would
    let a holder lift a freeze the desk imposed. A certificate lost over a freeze keeps the
    freeze's; rows not frozen stay empty."""
    from yinxin.registry.lifecycle import HoldBy

    p = platform
    w = build_world(p, clock)
    p.certificates.freeze(w.person_cert.serial, actor="张三", by=HoldBy.HOLDER)
    p.certificates.freeze(w.org_cert.serial, actor="王五", by=HoldBy.HOLDER)
    p.certificates.report_loss(w.org_cert.serial, actor="王五")
    p.seals.freeze(w.yi.seal.id, actor="张三", by=HoldBy.HOLDER)
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0024")
    p.db.migrate()
    with p.db.engine.connect() as conn:
        certs = conn.execute(text("SELECT hold_by FROM certificates ORDER BY id")).scalars()
        seals = conn.execute(text("SELECT hold_by FROM seals ORDER BY id")).scalars()
        certs, seals = list(certs), list(seals)
    assert sorted(certs, key=str) == sorted(["ca", "ca", *[None] * (len(certs) - 2)], key=str)
    assert seals.count("ca") == 1 and seals.count(None) == len(seals) - 1
    assert p.certificates.get(w.person_cert.serial).hold_by == "ca"
    p.certificates.restore(w.org_cert.serial, actor="王五")
    back = p.certificates.get(w.org_cert.serial)
    assert (back.hold_kind, back.hold_by) == ("frozen", "ca")
    assert p.seals.get(w.yi.seal.id).hold_by == "ca"


def test_0026_leaves_an_existing_grant_unlimited(platform, clock) -> None:
    """0026 adds a grant's end and number of signings: a grant made before it stays in force
    with neither (no end, no limit, no use counted), and a member signs under it as before."""
    p = platform
    w = build_world(p, clock)
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0025")
        cols = {r[1] for r in conn.execute(text("PRAGMA table_info(seal_grants)"))}
    assert not {"valid_until", "max_uses", "uses"} & cols
    p.db.migrate()
    (g,) = p.seals.grants(w.jia.seal.es_id)
    assert (g.valid_until, g.max_uses, g.uses, g.remaining_uses, g.state) == (
        None,
        None,
        0,
        None,
        "active",
    )
    sign_as(w, w.jia, contract_pdf())
    assert p.seals.grants(w.jia.seal.es_id)[0].uses == 1


def test_0032_upgrades_a_database_holding_a_receiver_subscribed_twice(any_platform) -> None:
    """0032 adds a unique index over an owner's active webhook subscriptions to one receiver.
    A database where the same URL was subscribed several times still upgrades: the oldest
    stays active, each later one is paused saying which one it doubled, a deleted one is left
    as it was; from then on a twin is refused, and a paused one resumes once the other is
    gone."""
    from yinxin.errors import Conflict

    p = any_platform
    hooks = p.webhooks
    urls = ["https://oa.example.com/hook", "https://oa.example.com/b", "https://oa.example.com/c"]
    a, b, c = (hooks.subscribe(u, ["*"], None, "op").subscription for u in urls)
    gone = hooks.subscribe("https://oa.example.com/d", ["*"], None, "op").subscription
    hooks.delete(gone.id, actor="op")
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0031")
        # what the platform allowed before 0032: the same receiver, written another way
        for id_, url in (
            (b.id, "HTTPS://OA.Example.com:443/hook"),
            (c.id, urls[0]),
            (gone.id, urls[0]),
        ):
            conn.execute(
                text("UPDATE webhook_subscriptions SET url = :u WHERE id = :i"),
                {"u": url, "i": id_},
            )
    p.db.migrate()
    states = {w.id: (w.state, w.state_reason or "") for w in hooks.list(include_deleted=True)}
    assert states[a.id] == ("active", "")
    assert states[gone.id][0] == "deleted"
    for twin in (b.id, c.id):
        assert states[twin][0] == "paused"
        assert f"webhook subscription {a.id} delivers to the same URL" in states[twin][1]
    with pytest.raises(Conflict):
        hooks.subscribe("https://OA.example.com/hook", ["*"], None, "op")
    with pytest.raises(Conflict):
        hooks.resume(b.id, actor="op")
    hooks.delete(a.id, actor="op")
    assert hooks.resume(b.id, actor="op").state == "active"
    assert p.verify_audit().ok
