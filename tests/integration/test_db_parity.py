"""SQLite and PostgreSQL answer a request alike. PostgreSQL refuses a NUL character ("\\x00")
anywhere in a text value, even in a query's parameter, where SQLite simply finds no row: a
value with one that is looked up (a username, a login challenge, a contract number) is answered
before the query, the same 4xx naming it on both, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.api_world import problem_of
from tests.integration.signing_flow import build_world
from tests.integration.test_api_big_ids import client  # noqa: F401  (fixture: an administrator's API)
from tests.integration.test_ca_lifecycle import enrol, issue
from yinxin.contracts.service import ContractSigner
from yinxin.contracts.templates import get_template
from yinxin.errors import ValidationError

NUL = "a\x00b"


def test_a_nul_in_a_staff_login_username_is_refused_naming_it(client) -> None:
    r = client.post(
        "/api/v1/sessions/staff", json={"username": NUL, "password": "pw", "code": "123456"}
    )
    problem_of(r, 422, field="username")


def test_a_nul_in_a_subscriber_login_challenge_is_refused_naming_it(client) -> None:
    r = client.post("/api/v1/sessions/subscriber", json={"challenge_id": NUL, "code": "123456"})
    problem_of(r, 422, field="challenge_id")


@pytest.mark.parametrize("tail", ["", "/inspections"])
def test_a_nul_in_a_desk_contract_number_names_no_contract(client, tail) -> None:
    r = client.get(f"/api/v1/desk/contracts/a%00b{tail}")
    problem_of(r, 404, field="contract")


def test_a_nul_in_a_signing_or_registration_challenge_is_refused_naming_it(any_platform) -> None:
    p = any_platform
    calls = {
        "confirm": lambda: p.intent.confirm(
            NUL, "123456", subscriber_id=1, document_sha256="0" * 64
        ),
        "check": lambda: p.intent.check_code(
            NUL, "123456", subscriber_id=1, document_sha256="0" * 64
        ),
        "register": lambda: p.sessions.registration_proof(NUL, "123456", "13800138000").__enter__(),
    }
    for what, call in calls.items():
        with pytest.raises(ValidationError) as e:
            call()
        assert e.value.field == "challenge_id", what


def test_certificates_expiring_together_are_listed_in_the_order_they_were_issued(
    any_platform,
) -> None:
    """Issued in the same second, certificates end together: ``cert expiring`` listed them in
    the order the database gave for equal ends (on PostgreSQL, a row changed since came last)."""
    p = any_platform
    person = enrol(p).person.id
    made = [issue(p, person).serial for _ in range(4)]
    p.certificates.freeze(made[0], actor="t")  # the row is written again
    p.certificates.unfreeze(made[0], actor="t")
    assert [c.serial for c in p.certificates.expiring(3650)] == made


def test_a_rate_blank_with_more_digits_than_its_column_holds_is_refused(any_platform) -> None:
    """A rate is kept as text (an obligation's penalty_rate: 20 characters): one of 28 digits
    was taken into the draft on both databases, and its obligations failed to be written on
    PostgreSQL only (SQLite stores an over-long VARCHAR). At most 15 decimals, as said."""
    p = any_platform
    values = get_template("om-service").example_values()
    values |= {"start_date": "2026-01-01", "end_date": "2027-12-31"}
    with pytest.raises(ValidationError) as e:
        p.contracts.draft("om-service", values | {"late_rate": "0.0012345678901234567890123"})
    assert e.value.field == "values.late_rate" and "15" in e.value.message
    for fine in ("0.001234567890123", "1.23456789012‰", "5‰"):
        p.contracts.draft("om-service", values | {"late_rate": fine})


def test_certificates_expired_together_are_named_in_the_order_they_were_issued(
    any_platform, clock
) -> None:
    """``cert expire-due`` ({"expired": [...]}) named them in the order the database read them
    (on PostgreSQL, a row changed since came last), where seals and flows are named by id."""
    p = any_platform
    person = enrol(p).person.id
    made = [issue(p, person).serial for _ in range(3)]
    p.certificates.freeze(made[0], actor="t")
    p.certificates.unfreeze(made[0], actor="t")
    clock.advance(days=800)
    assert p.certificates.expire_due() == made


def test_contracts_whose_flows_ended_together_are_settled_in_id_order(any_platform, clock) -> None:
    """Three contracts sent for signing last to first, their flows expiring together: settled
    (contract.expired audited and its webhook queued, the ids returned to the contracts.settle
    job) in the order the join gave, on PostgreSQL the order they were sent in (3, 2, 1) where
    SQLite gave 1, 2, 3."""
    p = any_platform
    w = build_world(p, clock)
    t = get_template("platform-integration")
    values = t.example_values()
    values[t.party("甲方").name], values[t.party("乙方").name] = w.org.name, w.person.name
    values |= {b.name: w.org.uscc for b in t.blanks if b.type == "uscc" and b.party == "甲方"}
    ids = [
        p.contracts.draft("platform-integration", values, owner_subscriber_id=w.org.id).id
        for _ in range(3)
    ]
    signers = [
        ContractSigner("甲方", w.jia.id, w.jia.seal.es_id),
        ContractSigner("乙方", w.yi.id, w.yi.seal.es_id),
    ]
    for cid in reversed(ids):
        p.contracts.start_signing(cid, signers, deadline=clock.now() + dt.timedelta(days=3))
    clock.advance(days=4)
    assert p.contracts.settle() == ids


def test_an_idempotent_post_to_a_path_with_a_nul_is_answered_and_replayed(client) -> None:
    """The idempotency record keeps the request's path: a decoded %00 in it failed the insert
    on PostgreSQL (500), where SQLite kept it and the route answered."""
    path = "/api/v1/desk/contracts/a%00b/inspections"
    first = client.post(path, json={}, headers={"Idempotency-Key": "k-nul"})
    problem_of(first, 422, field="inspector")
    again = client.post(path, json={}, headers={"Idempotency-Key": "k-nul"})
    assert again.headers.get("idempotent-replayed") == "true"
    assert (again.status_code, again.json()) == (first.status_code, first.json())
