"""The shapes of a request's identity numbers, phone numbers, amounts and dates: what the
OpenAPI document states of them, and what the server takes (the services' checks — check
digits, real dates — stay the authority; the document states the shape)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests import dbdump
from tests.integration.api_world import PROBLEM, api_world, keyed_client
from yinxin.errors import ValidationError
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


# --- the shapes the OpenAPI document states --------------------------------------------------
# (schema, property, the service's check of it)
SHAPED = [
    ("PersonIn", "id_number", "id_number"),
    ("PersonIn", "phone", "mobile"),
    ("OrganizationIn", "uscc", "uscc"),
    ("OrganizationIn", "contact_phone", "contact_phone"),
    ("OrganizationIn", "phone", "mobile"),
    ("ContactIn", "phone", "mobile"),
    ("ContactIn", "contact_phone", "contact_phone"),
    ("CertificateChangeIn", "phone", "mobile"),
    ("CertificateChangeIn", "contact_phone", "contact_phone"),
    ("CodeRequestIn", "phone", "mobile"),
    ("RegistrationCodeIn", "phone", "mobile"),
    ("PersonRegistrationIn", "id_number", "id_number"),
    ("PersonRegistrationIn", "phone", "mobile"),
    ("OrganizationRegistrationIn", "uscc", "uscc"),
    ("OrganizationRegistrationIn", "phone", "mobile"),
    ("SealApplicationIn", "id_number", "id_number"),
    ("ObligationPaymentIn", "amount", "amount"),
]


def checks() -> dict:
    from yinxin.contracts.money import parse_amount
    from yinxin.identity import validate_id_document, validate_mobile, validate_phone, validate_uscc

    def id_number(value: str) -> object:
        for id_type in ("id_card", "passport", "hk_macao_permit", "taiwan_permit"):
            try:
                return validate_id_document(id_type, value)
            except ValidationError:
                pass
        return validate_id_document("foreign_permanent_residence", value)

    return {
        "id_number": id_number,
        "mobile": validate_mobile,
        "contact_phone": validate_phone,
        "uscc": validate_uscc,
        "amount": parse_amount,
    }


def string_schema(prop: dict) -> dict:
    (string,) = [s for s in prop.get("anyOf", [prop]) if s.get("type") == "string"]
    return string


@pytest.mark.parametrize(("schema", "name", "check"), SHAPED)
def test_the_document_states_the_shape_of_each_number(world, schema, name, check) -> None:
    """A client generated from ``/openapi.json`` knew only "a string of at most 20
    characters" of a phone number, an ID number, a credit code or an amount."""
    _, _, doc = world
    string = string_schema(doc["components"]["schemas"][schema]["properties"][name])
    assert string["pattern"].startswith("^") and string["pattern"].endswith("$"), string
    assert string["examples"] and string["description"], string
    for example in string["examples"]:
        assert re.fullmatch(string["pattern"], example), (schema, name, example)
        checks()[check](example)  # the document's example is one the service takes


def test_dates_and_times_in_a_body_are_stated_with_an_example(world) -> None:
    _, _, doc = world
    schemas = doc["components"]["schemas"]
    on = schemas["ObligationPaymentIn"]["properties"]["on"]
    assert on["format"] == "date" and on["examples"] == ["2026-02-14"]
    deadline = schemas["FlowIn"]["properties"]["deadline"]
    assert deadline["format"] == "date-time" and deadline["examples"]
    expires = string_schema(schemas["KeyIn"]["properties"]["expires_at"])
    assert expires["format"] == "date-time" and expires["examples"]


ACCEPTED = {
    "mobile": [
        "13800138000",
        "+8613800138000",
        "008613800138000",
        "+86 138 0013 8000",
        "138-0013-8000",
        " 13800138000 ",
        "138\u300000138000",  # an ideographic space
        "138\x1c00138000",  # str.strip's and re's white space, not Rust's
        "+-86 1-3800138000",
    ],
    "contact_phone": [
        "010-62345678",
        "0591-87760022",
        "01062345678",
        "010 6234 5678",
        "010-62345678-123",
        "13800138000",
        "+86 138-0013-8000",
    ],
    "id_number": [
        "11010519491231002X",
        "11010519491231002x",
        " 11010519491231002X ",
        "E12345678",
        "e1234",
        "H12345678",
        "1234567890",
        "USA123456789012",
        "93010519491231002X",
    ],
    "uscc": ["91350100M000100Y43", "91350100m000100y43", "911100001000080343"],
    "amount": [
        "0",
        "305000",
        "305000.5",
        "305000.00",
        "305,000.00",
        "¥305000",
        " ￥ 1,740,000.5 ",
        "999999999999999.99",
    ],
}


@pytest.mark.parametrize("check", sorted(ACCEPTED))
def test_every_value_the_service_takes_fits_the_stated_shape(world, check) -> None:
    """The patterns state the shape and take nothing away: each value here, and each of many
    variants of it (a character inserted, dropped or changed), that the service's check takes
    fits the pattern the document states for it (within the field's ``maxLength``, which
    refused a longer one before)."""
    import random

    _, _, doc = world
    schema, name, _ = next(s for s in SHAPED if s[2] == check)
    string = string_schema(doc["components"]["schemas"][schema]["properties"][name])
    pattern, longest = string["pattern"], string["maxLength"]  # longer: refused as before
    service = checks()[check]
    alphabet = "0123456789+-,.¥ xXaAmMhHiIoOsSyY\t\u3000\x1c\x1f\u00df\u0663"
    rng = random.Random(7)
    tried = 0
    for value in ACCEPTED[check]:
        service(value)
        assert re.fullmatch(pattern, value), value
        for _ in range(1500):
            chars = list(value)
            i = rng.randrange(len(chars) + 1)
            how = rng.randrange(3)
            if how == 0:
                chars.insert(i, rng.choice(alphabet))
            elif chars and i < len(chars):
                chars[i : i + 1] = [] if how == 1 else [rng.choice(alphabet)]
            variant = "".join(chars)
            if len(variant) > longest:
                continue
            try:
                service(variant)
            except ValidationError:
                continue
            tried += 1
            assert re.fullmatch(pattern, variant), (check, variant)
    assert tried > 100


@pytest.mark.parametrize(
    ("path", "body", "field", "says"),
    [
        (
            "/api/v1/subscribers/persons",
            {"name": "张三", "id_number": "1101051949123100ZZ", "phone": "13800138000"},
            "id_number",
            "must be an ID document number",
        ),
        (
            "/api/v1/subscribers/persons",
            {"name": "张三", "id_number": "11010519491231002X", "phone": "12800138000"},
            "phone",
            "must be a mainland China mobile number",
        ),
        (
            "/api/v1/subscribers/organizations",
            {
                "name": "北京丙方科技有限公司",
                "uscc": "91350100O000100Y43",  # O is not in the code's alphabet
                "legal_representative": "李四",
                "contact_name": "王五",
                "contact_phone": "010-62345678",
            },
            "uscc",
            "must be a unified social credit code",
        ),
        (
            "/api/v1/subscribers/organizations",
            {
                "name": "北京丙方科技有限公司",
                "uscc": "91350100M000100Y43",
                "legal_representative": "李四",
                "contact_name": "王五",
                "contact_phone": "87654321",
            },
            "contact_phone",
            "landline with its area code",
        ),
        (
            "/api/v1/sessions/subscriber/codes",
            {"phone": "1390013900"},
            "phone",
            "must be a mainland China mobile number",
        ),
        (
            "/api/v1/contracts/1/obligations/payments",
            {"amount": "305000.001", "on": "2026-02-14"},
            "amount",
            "at most two decimals",
        ),
        (
            "/api/v1/contracts/1/obligations/payments",
            {"amount": "-5", "on": "2026-02-14"},
            "amount",
            "an amount in yuan",
        ),
    ],
)
def test_a_value_of_another_shape_is_refused_naming_its_field(world, path, body, field, says):
    """Refused as every malformed body is — ``422 invalid``, the field in ``field`` and in
    ``errors`` — saying the shape wanted, not the pattern, and without the value; nothing
    written."""
    w, c, _ = world
    before = dbdump.dump(w.platform)
    r = c.post(path, json=body)
    problem = refused_at(r, field)
    assert problem["detail"].startswith(f"{field}: ") and says in problem["detail"], problem
    assert "^" not in problem["detail"] and body[field] not in r.text
    assert dbdump.dump(w.platform) == before


DESK_CONTRACT = {
    "number": "YW-SHAPE-1",
    "title": "运维服务合同",
    "party_a": "北京甲方科技有限公司",
    "party_b": "印信运维服务有限公司",
    "starts_on": "2026-01-01",
    "ends_on": "2026-12-31",
}


@pytest.mark.parametrize("fee", ["1e3", "2.8E4", "+28000", "2_8000", "28,0,00", "０28000"])
def test_a_desk_contracts_annual_fee_is_an_amount_as_written(world, fee) -> None:
    """The service desk's annual fee was read as Python's ``Decimal`` reads text: ``1e3`` was
    1000.00, ``2_8000`` 28000.00, commas anywhere — figures no contract is written with, and
    which every other amount (``parse_amount``) refuses."""
    w, c, _ = world
    before = dbdump.dump(w.platform)
    r = c.post("/api/v1/desk/contracts", json=DESK_CONTRACT | {"annual_fee": fee})
    refused_at(r, "annual_fee")
    assert dbdump.dump(w.platform) == before


def test_a_desk_contracts_annual_fee_states_and_takes_an_amounts_shape(world) -> None:
    w, c, doc = world
    fee = doc["components"]["schemas"]["DeskContractIn"]["properties"]["annual_fee"]
    assert (
        fee["pattern"]
        == string_schema(
            doc["components"]["schemas"]["ObligationPaymentIn"]["properties"]["amount"]
        )["pattern"]
    )
    r = c.post("/api/v1/desk/contracts", json=DESK_CONTRACT | {"annual_fee": "¥28,000.5"})
    assert r.status_code == 201 and r.json()["annual_fee"] == "28000.50", r.text
    r = c.post(
        "/api/v1/desk/contracts",
        json=DESK_CONTRACT | {"number": "YW-SHAPE-2", "annual_fee": "0"},
    )
    refused_at(r, "annual_fee")  # positive, as before
