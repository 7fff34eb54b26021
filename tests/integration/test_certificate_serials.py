"""A certificate's serial number as a person pastes it: OpenSSL prints it colon-separated
(``7A:3F:01``, ``openssl x509 -text``), others with spaces. Before, the API refused either with
pydantic's raw "String should match pattern '^[0-9A-Fa-f]{1,40}$'" and the CLI answered "no
certificate". Now both forms are taken wherever a serial is (the path of ``/certificates``,
the ``same_key_as`` filter, a seal's ``certificate_serial``, the CLI's ``cert`` verbs) and
taken as the plain lower-case hex the platform stores; anything else is refused naming the
field and the form expected (API: 422 ``invalid``; CLI: exit 2). ``/certificates/0`` says
"no certificate with serial 0", not "(empty)"."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import cli_env
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import PERSON_PIN, World, _issue, sign_as
from tests.integration.test_certificate_change_api import desk, refused
from yinxin.adapters.cli import app as cli_app

FORM = "hex digits"


def colons(serial: str) -> str:
    """The serial as ``openssl x509 -text`` prints it: upper-case byte pairs, colon-separated
    (a leading 00: where the first byte's high bit is set)."""
    digits = serial.rjust(len(serial) + len(serial) % 2, "0").upper()
    pairs = [digits[i : i + 2] for i in range(0, len(digits), 2)]
    return ":".join((["00"] if int(digits[0], 16) >= 8 else []) + pairs)


def test_the_api_takes_a_serial_in_openssls_colon_form_or_with_spaces(
    world: World, client: TestClient
) -> None:
    serial, h = world.person_cert.serial, desk(world)
    for given in (colons(serial), colons(serial).lower(), " ".join(colons(serial).split(":"))):
        r = client.get(f"/api/v1/certificates/{given}", headers=h)
        assert r.status_code == 200, (given, r.text)
        assert r.json()["serial"] == serial
        r = client.get(f"/api/v1/certificates/{given}/pem", headers=h)
        assert r.status_code == 200 and r.text.startswith("-----BEGIN CERTIFICATE"), given
    r = client.get("/api/v1/certificates", params={"same_key_as": colons(serial)}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []  # the certificate itself is not one of "the others"


@pytest.mark.parametrize("bad", ["xyz", "7a::3f", "7a:", "g1", "a" * 41, "0x"])
def test_a_malformed_serial_is_refused_naming_the_field_and_the_form(
    world: World, client: TestClient, bad: str
) -> None:
    h = desk(world)
    body = refused(client.get(f"/api/v1/certificates/{bad}", headers=h), 422, "serial", "invalid")
    assert FORM in body["detail"] and "colon" in body["detail"], body
    assert "String should match" not in body["detail"]
    r = client.post(f"/api/v1/certificates/{bad}/freeze", json={}, headers=h)
    refused(r, 422, "serial", "invalid")
    r = client.get("/api/v1/certificates", params={"same_key_as": bad}, headers=h)
    body = refused(r, 422, "same_key_as", "invalid")
    assert FORM in body["detail"], body
    seal = world.yi.seal.id
    r = client.post(f"/api/v1/seals/{seal}/change", json={"certificate_serial": bad}, headers=h)
    body = refused(r, 422, "certificate_serial", "invalid")
    assert FORM in body["detail"] and "String should match" not in body["detail"], body


def test_the_openapi_document_states_the_form_taken(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    get = doc["paths"]["/api/v1/certificates/{serial}"]["get"]
    (serial,) = [p for p in get["parameters"] if p["name"] == "serial"]
    pattern = serial["schema"]["pattern"]
    assert "colon" in serial["description"]
    for taken in ("7a3f01", "7A:3F:01", "7a 3f 01", "0x7A3F01"):
        assert re.fullmatch(pattern, taken), taken
    for refusedform in ("xyz", "7a::3f", "7a:"):
        assert not re.fullmatch(pattern, refusedform), refusedform


def test_an_unknown_serial_zero_is_named_as_asked(world: World, client: TestClient) -> None:
    for asked in ("0", "00", "00:00"):
        body = refused(
            client.get(f"/api/v1/certificates/{asked}", headers=desk(world)), 404, "serial"
        )
        assert "serial 0" in body["detail"] and "(empty)" not in body["detail"], body


def _cli(world: World, *args: str):
    p = world.p
    env = cli_env(p)
    return CliRunner().invoke(cli_app, list(args), env=env)


def test_the_cli_takes_the_colon_form_and_refuses_a_malformed_serial_with_exit_2(
    world: World,
) -> None:
    serial = world.person_cert.serial
    r = _cli(world, "cert", "show", colons(serial), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["serial"] == serial
    r = _cli(world, "cert", "show", "7a::3f")
    assert r.exit_code == 2, r.output
    assert "serial" in r.output and FORM in r.output, r.output
    r = _cli(world, "cert", "show", "0")
    assert r.exit_code == 3 and "serial 0" in r.output, r.output


def r_pem(world: World, serial: str) -> str:
    return world.p.certificates.get(serial).pem


def test_cert_show_refuses_pem_with_json_naming_both(world: World) -> None:
    """``cert show SERIAL --pem --json`` printed the JSON record and dropped ``--pem`` without a
    word (a script asking for the PEM alone got an object). The pair is refused naming both
    options, exit 2; each alone answers as before."""
    from tests import dbdump

    serial = world.person_cert.serial
    before = dbdump.dump(world.p)
    for args in (["--pem", "--json"], ["--json", "--pem"]):
        r = _cli(world, "cert", "show", serial, *args)
        assert r.exit_code == 2, r.output
        err = json.loads(r.stdout)
        assert err["field"] == "pem", err
        assert "--pem" in err["message"] and "--json" in err["message"], err
    assert dbdump.dump(world.p) == before
    r = _cli(world, "cert", "show", serial, "--pem")
    assert r.exit_code == 0 and r.stdout.startswith("-----BEGIN CERTIFICATE-----"), r.output
    r = _cli(world, "cert", "show", serial, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["pem"] == r_pem(world, serial), r.output


def _openssl_serial(pem: str) -> str:
    """The serial as ``openssl x509 -noout -serial`` prints it, "serial=" taken off."""
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-serial"], input=pem, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().removeprefix("serial=")


def test_a_serial_with_a_leading_zero_is_one_number_in_the_report_and_cert_show(
    world: World, tmp_path
) -> None:
    """A serial whose hex starts with a zero (127 random bits: one certificate in eight; OpenSSL
    prints whole octets, ``serial=0A1B…``) was written two ways: ``yinxin cert show``, the
    audit trail and file names as ``a1b…``, the verification report (CLI, JSON, page, PDF) as
    ``0a1b…`` — a relying party comparing the report with the certificate record saw two
    numbers. Both now write the platform's form (one formatter, ``identity.serial_hex``), and
    OpenSSL's form is taken by every lookup."""
    p = world.p
    for _ in range(80):  # P(no leading zero in 80) = (7/8)^80 < 3e-5
        cert = _issue(p, world.person.id, "person-signing", pin=PERSON_PIN)
        printed = _openssl_serial(cert.pem)
        if printed.startswith("0"):
            break
    else:
        pytest.fail("no serial with a leading zero in 80 certificates")
    assert int(printed, 16) == int(cert.serial, 16)
    seal = p.seals.change(world.yi.seal.es_id, certificate_serial=printed)
    party = replace(world.yi, seal=seal)
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(sign_as(world, party, contract_pdf()).pdf)

    shown = json.loads(_cli(world, "cert", "show", printed, "--json").stdout)["serial"]
    r = _cli(world, "verify", str(signed), "--json")
    (sig,) = json.loads(r.stdout)["signatures"]
    assert sig["certificate_serial"] == shown == cert.serial, (sig["certificate_serial"], shown)
    assert shown == printed.lower().lstrip("0")
    # the text report's line says the same number
    text = _cli(world, "verify", str(signed)).stdout
    assert re.search(rf"Serial:\s+{shown}\n", text), text
    events = p.audit_events(subject_type="certificate", subject_id=shown)
    assert events, "the audit names the certificate by the same number"
