"""An organization's certificates and seals are read through the rows' own
``organization_id`` (migration 0034, ``store.queries.of_organization_held``) where they were
read through the holders (``of_organization``: the holder is the organization or one of its
members), so that a page is one range of an index. The two must keep the same rows: on the same
data, for every subscriber named as the organization (an organization, a member of one — a
person's own session lists that way —, a person on their own, an id of nobody), page after
page, on SQLite and PostgreSQL; 0034 fills the column of the rows it finds and goes down and
up again; a certificate issued and a seal made after it carry it."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, select, text

from tests.integration.signing_flow import _form, _issue, build_world
from tests.integration.test_query_plans import BASE, seed_rows
from yinxin.store.db import alembic_config
from yinxin.store.models import Certificate
from yinxin.store.models.seals import Seal
from yinxin.store.queries import of_organization, of_organization_held

ORGS = (BASE, BASE + 1)  # two organizations
HOLDERS = 60  # subscribers seeded: the two organizations, their members, persons on their own


def _above(i: int) -> int | None:
    """The organization seeded subscriber ``BASE + i`` is registered under: every third of the
    rest under the first, every fifth under the second, the others under none."""
    if i < 2:
        return None
    return ORGS[0] if i % 3 == 0 else ORGS[1] if i % 5 == 0 else None


def _seed(p) -> None:
    """Subscribers, and certificates and seals spread over them, written with no
    ``organization_id``: 0034 fills it when the database goes down and up again."""
    with p.db.engine.begin() as conn:
        seed_rows(
            conn,
            "subscribers",
            HOLDERS,
            organization_id=_above,
            kind=lambda i: "organization" if i < 2 else "person",
        )
        holder = lambda i: BASE + (i * 7) % HOLDERS  # noqa: E731
        seed_rows(conn, "certificates", 300, subscriber_id=holder, organization_id=lambda i: None)
        seed_rows(
            conn,
            "seals",
            300,
            subscriber_id=holder,
            organization_id=lambda i: None,
            kind=lambda i: f"k{i}",  # one live seal of a kind per holder
        )


def _pages(p, model, condition) -> list[int]:
    """Every id ``condition`` keeps, walked 7 a page in id order as the lists page."""
    got: list[int] = []
    with p.db.read() as s:
        while True:
            q = select(model.id).where(condition(s), model.id > (got[-1] if got else 0))
            page = list(s.scalars(q.order_by(model.id).limit(7)))
            got += page
            if len(page) < 7:
                return got


def test_0034_fills_the_organization_and_lists_keep_the_same_rows(any_platform) -> None:
    p = any_platform
    _seed(p)
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0033")
    found = inspect(p.db.engine)
    for table in ("certificates", "seals"):
        assert "organization_id" not in {c["name"] for c in found.get_columns(table)}
    desk = {i["name"] for i in found.get_indexes("service_requests")}
    assert {"ix_service_requests_contract_id", "ix_service_requests_state"} <= desk
    p.db.migrate()
    found = inspect(p.db.engine)
    assert "ix_certificates_organization_id_id" in {
        i["name"] for i in found.get_indexes("certificates")
    }
    desk = {i["name"] for i in found.get_indexes("service_requests")}
    assert "ix_service_requests_state_notice_at_id" in desk
    assert "ix_service_requests_state" not in desk
    with p.db.read() as s:
        for table in ("certificates", "seals"):
            filled = s.execute(
                text(
                    f"SELECT COUNT(*) FROM {table} t JOIN subscribers s ON s.id = t.subscriber_id "
                    "WHERE t.organization_id = COALESCE(s.organization_id, s.id)"
                )
            ).scalar_one()
            assert filled == 300, table
    asked = [*range(BASE, BASE + HOLDERS), BASE + HOLDERS + 5, None]
    kept = 0
    for model in (Certificate, Seal):
        for org in asked:
            old = _pages(p, model, lambda s, m=model, o=org: of_organization(m.subscriber_id, o))
            new = _pages(p, model, lambda s, m=model, o=org: of_organization_held(s, m, o))
            assert new == old, (model.__tablename__, org)
            kept += len(new)
    assert kept > 4 * 300  # the organizations' lists are not empty: something was compared
    # an organization's lists hold its members' rows, a member's only its own
    with p.db.read() as s:
        first = _pages(p, Certificate, lambda s: of_organization_held(s, Certificate, ORGS[0]))
        holders = set(s.scalars(select(Certificate.subscriber_id).where(Certificate.id.in_(first))))
    assert ORGS[0] in holders and BASE + 3 in holders and BASE + 5 not in holders


def test_a_certificate_issued_and_a_seal_made_count_toward_the_holders_organization(
    any_platform, clock
) -> None:
    p = any_platform
    w = build_world(p, clock)
    staff = p.subscribers.add_person(
        name="赵六",
        id_number="11010519491231002X",
        phone="13600136000",
        organization_id=w.org.id,
    )
    p.subscribers.accept_agreement(staff.id, accepted_by="赵六")
    staff_cert = _issue(p, staff.id, "person-signing", pin="246810")
    staff_seal = p.seals.create(
        subscriber_id=staff.id,
        kind="personal",
        certificate_serial=staff_cert.serial,
        form=_form("赵六", "11010519491231002X"),
    )
    with p.db.read() as s:
        kept = dict(s.execute(select(Certificate.serial_hex, Certificate.organization_id)).all())
        seals = dict(s.execute(select(Seal.es_id, Seal.organization_id)).all())
    assert kept[staff_cert.serial] == w.org.id
    assert kept[w.org_cert.serial] == w.org.id
    assert kept[w.person_cert.serial] == w.person.id  # a person on their own counts as itself
    assert seals[staff_seal.es_id] == w.org.id
    assert seals[w.jia.seal.es_id] == w.org.id
    assert seals[w.yi.seal.es_id] == w.person.id
    listed = {c.serial for c in p.certificates.list(organization_id=w.org.id)}
    assert listed == {staff_cert.serial, w.org_cert.serial}
    assert {x.es_id for x in p.seals.list(organization_id=w.org.id)} == {
        staff_seal.es_id,
        w.jia.seal.es_id,
    }
    # a member named as the organization (a person's own session) lists its own only
    assert {c.serial for c in p.certificates.list(organization_id=staff.id)} == {staff_cert.serial}
    assert [x.es_id for x in p.seals.list(organization_id=staff.id)] == [staff_seal.es_id]
