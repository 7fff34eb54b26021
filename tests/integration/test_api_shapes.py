"""The shapes of a request's identity numbers, phone numbers, amounts and dates: what the
OpenAPI document states of them, and what the server takes (the services' checks — check
digits, real dates — stay the authority; the document states the shape)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import dbdump
from tests.integration.api_world import PROBLEM, api_world, keyed_client
from yinxin.identity import uscc_check_char


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator:
    w = api_world(tmp_path_factory.mktemp("shapes"))
    with keyed_client(w.platform, w.keys["admin"]) as c:
        yield w, c, c.get("/api/v1/openapi.json").json()
    w.platform.close()


def refused_at(r, field: str) -> dict:
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    body = r.json()
    assert body["code"] == "invalid" and body["field"] == field, body
    assert body.get("errors", [{"field": field}])[0]["field"] == field, body
    return body


FF = "\ufb00"  # ﬀ, the ligature: upper-cased, two letters F


@pytest.mark.parametrize(
    ("id_type", "number"),
    [
        ("passport", "E1234567\u00df"),  # ß: upper-cased, SS
        ("passport", "E12345\u0131"),  # dotless ı: upper-cased, I
        ("passport", "E1234" + FF),
        ("foreign_permanent_residence", "\u017fWE123456789012"),  # long s: upper-cased, S
    ],
)
def test_an_id_number_is_not_another_number_once_upper_cased(world, id_type, number) -> None:
    """A letter outside A–Z that upper-cases to Latin letters (ß → SS, ı → I, ﬀ → FF) was
    taken, and a number the holder never wrote stored (E1234567SS), in the certificate's
    subject too; now refused naming the field, nothing written."""
    w, c, _ = world
    before = dbdump.dump(w.platform)
    r = c.post(
        "/api/v1/subscribers/persons",
        json={"name": "张三", "id_type": id_type, "id_number": number, "phone": "13800138000"},
    )
    body = refused_at(r, "id_number")
    assert "letters A–Z and digits" in body["detail"]
    assert dbdump.dump(w.platform) == before


def test_a_credit_code_is_not_another_code_once_upper_cased(world) -> None:
    w, c, _ = world
    first17 = "91110108MA01FF003"
    code = first17[:12] + FF + first17[14:] + uscc_check_char(first17)  # 17 characters
    before = dbdump.dump(w.platform)
    r = c.post(
        "/api/v1/subscribers/organizations",
        json={
            "name": "北京丙方科技有限公司",
            "uscc": code,
            "legal_representative": "李四",
            "contact_name": "王五",
            "contact_phone": "010-62345678",
            "phone": "13900139002",
        },
    )
    refused_at(r, "uscc")
    assert dbdump.dump(w.platform) == before
