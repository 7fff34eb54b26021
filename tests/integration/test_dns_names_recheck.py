"""Host names stored before today's checks are checked again before they are certified again.

An older release stored an application's ``dns_names`` and certified them unchecked: a host
given twice (``gw.example.cn`` and ``GW.example.cn.``), more than ``MAX_DNS_NAMES`` hosts, an
emoji A-label IDNA 2008 refuses. Approving such an application, or renewing, rekeying or
reissuing such a certificate, copied them into a new certificate. Now (as a CA/Browser Forum
CA re-validates names at each issuance) repeats are folded, noted in the audit event, and a
now-refused name refuses the issuance naming ``dns_names`` and what to do; a reissue at the
desk takes a corrected list. The rows are seeded as the old release wrote them: the
application's JSON list, the certificate's DER signed by the CA with the names in it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text
from typer.testing import CliRunner

from tests.conftest import cli_env
from tests.dbdump import dump
from tests.integration.api_world import PROBLEM, api_world, keyed_client
from tests.integration.test_ca_lifecycle import enrol, issue, last_events, load, make_csr
from tests.integration.test_cert_differential import pkilint
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform
from yinxin.errors import Forbidden, ValidationError
from yinxin.pki.authority import build_certificate
from yinxin.pki.profiles import get_profile
from yinxin.registry.certificates import MAX_DNS_NAMES
from yinxin.registry.lifecycle import HoldBy

EMOJI = "xn--ls8h.example.cn"  # IDNA 2003 took it; IDNA 2008 does not
TOO_MANY = [f"gw{n}.example.cn" for n in range(MAX_DNS_NAMES + 1)]


def _legacy_application(p: Platform, device: int, names: list[str]) -> int:
    """A paid application whose stored names an older release took unchecked."""
    app = p.certificates.apply(
        subscriber_id=device, profile="device-tls", csr=make_csr(), dns_names=["gw.example.cn"]
    )
    with p.db.transaction() as s:
        s.execute(
            text("UPDATE applications SET dns_names = :v WHERE id = :id"),
            {"v": json.dumps(names), "id": app.id},
        )
    p.certificates.pay(application_id=app.id, years=1)
    return app.id


def _legacy_certificate(p: Platform, device: int, names: list[str]) -> str:
    """A device certificate as an older release issued it, naming ``names`` unchecked: the
    CA's signature over the same subject, key, serial and dates, the names in its SAN."""
    cert = issue(p, device, "device-tls", dns_names=["gw.example.cn"])
    old = load(cert)
    again = build_certificate(
        profile=get_profile("device-tls"),
        subject=old.subject,
        public_key=old.public_key(),
        issuer=p.certificates.ca.issuer("issuing"),
        not_before=old.not_valid_before_utc,
        not_after=old.not_valid_after_utc,
        serial=old.serial_number,
        dns_names=names,
    )
    with p.db.transaction() as s:
        s.execute(
            text("UPDATE certificates SET der = :der WHERE serial_hex = :serial"),
            {"der": again.public_bytes(serialization.Encoding.DER), "serial": cert.serial},
        )
    return cert.serial


def _names(cert) -> list[str]:
    san = load(cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return san.value.get_values_for_type(x509.DNSName)


@pytest.mark.parametrize("names", [["gw.example.cn", EMOJI], TOO_MANY], ids=["emoji", "21"])
def test_approval_refuses_stored_names_today_s_checks_refuse(platform: Platform, names) -> None:
    p = platform
    app = _legacy_application(p, enrol(p).device.id, names)
    before = dump(p)
    with pytest.raises(ValidationError) as info:
        p.certificates.approve(app, officer="受理员 陈静")
    assert info.value.field == "dns_names", info.value.message
    assert f"application {app}" in info.value.message
    assert f"reject application {app}" in info.value.message
    assert dump(p) == before  # the fee is not consumed, nothing issued


def test_approval_folds_a_stored_repeat_and_notes_it(platform: Platform) -> None:
    p = platform
    app = _legacy_application(p, enrol(p).device.id, ["gw.example.cn", "GW.example.cn."])
    cert = p.certificates.approve(app, officer="受理员 陈静")
    assert _names(cert) == ["gw.example.cn"]
    approved = [e for e in last_events(p, 3) if e[0] == "application.approved"]
    assert approved[0][3]["dns_names_folded"] == ["GW.example.cn."]


def _judged(tmp_path: Path, cert) -> None:
    """openssl reads the certificate; pkilint finds nothing of WARNING or worse."""
    path = tmp_path / f"{cert.serial}.pem"
    path.write_bytes(load(cert).public_bytes(serialization.Encoding.PEM))
    shown = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.count("DNS:gw.example.cn") == 1, shown
    assert pkilint(path) == (0, "")


def test_a_renewal_folds_the_old_certificate_s_repeats(platform: Platform, tmp_path) -> None:
    p = platform
    old = _legacy_certificate(
        p, enrol(p).device.id, ["gw.example.cn", "GW.example.cn.", "gw2.example.cn"]
    )
    p.certificates.pay(serial=old, years=1)
    new = p.certificates.renew(old, actor="张三").certificate
    assert _names(new) == ["gw.example.cn", "gw2.example.cn"]
    renewed = [e for e in last_events(p, 3) if e[0] == "certificate.renew"]
    assert renewed[0][3]["dns_names_folded"] == ["GW.example.cn."]
    _judged(tmp_path, new)


@pytest.mark.parametrize("names", [["gw.example.cn", EMOJI], TOO_MANY], ids=["emoji", "21"])
def test_a_now_refused_name_is_not_carried_over_and_a_reissue_corrects_it(
    platform: Platform, tmp_path, names
) -> None:
    p = platform
    old = _legacy_certificate(p, enrol(p).device.id, names)
    p.certificates.pay(serial=old, years=1)
    before = dump(p)
    for verb, call in (
        ("renew", lambda: p.certificates.renew(old, actor="张三")),
        ("rekey", lambda: p.certificates.rekey(old, actor="张三", csr=make_csr())),
        ("reissue", lambda: p.certificates.reissue(old, actor="张三", csr=make_csr())),
    ):
        with pytest.raises(ValidationError) as info:
            call()
        assert info.value.field == "dns_names", (verb, info.value.message)
        assert f"certificate {old}" in info.value.message
        assert f"yinxin cert reissue {old} --dns" in info.value.message
        assert dump(p) == before, verb
    # the holder may not choose new names; the CA's reissue with a corrected list replaces it
    with pytest.raises(Forbidden) as refused:
        p.certificates.reissue(
            old, actor="张三", csr=make_csr(), dns_names=["gw.example.cn"], by=HoldBy.HOLDER
        )
    assert refused.value.field == "dns_names"
    with pytest.raises(ValidationError) as info:
        p.certificates.reissue(old, actor="受理员", csr=make_csr(), dns_names=[EMOJI])
    assert info.value.field == "dns_names"
    assert dump(p) == before
    new = p.certificates.reissue(
        old, actor="受理员", csr=make_csr(), dns_names=["GW.example.cn.", "gw3.example.cn"]
    ).certificate
    assert _names(new) == ["gw.example.cn", "gw3.example.cn"]
    reissued = [e for e in last_events(p, 3) if e[0] == "certificate.reissue"]
    assert reissued[0][3]["dns_names"] == ["gw.example.cn", "gw3.example.cn"]
    _judged(tmp_path, new)


def test_new_names_on_a_reissue_are_a_device_certificate_s(platform: Platform) -> None:
    p = platform
    person = issue(p, enrol(p).person.id)
    before = dump(p)
    with pytest.raises(ValidationError) as info:
        p.certificates.reissue(
            person.serial, actor="受理员", csr=make_csr(), dns_names=["gw.example.cn"]
        )
    assert info.value.field == "dns_names"
    assert dump(p) == before


def test_cli_reissue_takes_a_corrected_list(platform: Platform, tmp_path) -> None:
    p = platform
    old = _legacy_certificate(p, enrol(p).device.id, ["gw.example.cn", EMOJI])
    csr = tmp_path / "new.csr"
    csr.write_bytes(make_csr())
    env = cli_env(p, YINXIN_PIN=None)
    before = dump(p)
    res = CliRunner().invoke(
        cli_app, ["cert", "reissue", old, "--csr", str(csr), "--json"], env=env
    )
    assert res.exit_code == 2, res.output
    assert json.loads(res.stdout)["field"] == "dns"
    assert dump(p) == before
    args = ["cert", "reissue", old, "--csr", str(csr), "--dns", "gw.example.cn", "--json"]
    res = CliRunner().invoke(cli_app, args, env=env)
    assert res.exit_code == 0, res.output
    new = p.certificates.get(json.loads(res.stdout)["certificate"]["serial"])
    assert _names(new) == ["gw.example.cn"]


def test_api_reissue_takes_a_corrected_list(tmp_path) -> None:
    w = api_world(tmp_path)
    p = w.platform
    device = p.subscribers.add_device(device_name="门禁网关", organization_id=w.org_a)
    p.subscribers.accept_agreement(device.id, accepted_by="王五")
    old = _legacy_certificate(p, device.id, ["gw.example.cn", EMOJI])
    body = {"csr": make_csr().decode(), "dns_names": ["gw.example.cn"]}
    with keyed_client(p, w.keys["org_a"]) as c:  # the holder: refused before a code is sent
        before = dump(p)
        r = c.post(f"/api/v1/certificates/{old}/reissue", json=body)
        assert r.status_code == 403 and r.json()["field"] == "dns_names", r.text
        # without new names: the old ones are refused before a code is sent for the reissue
        r = c.post(f"/api/v1/certificates/{old}/reissue", json={"csr": body["csr"]})
        assert r.status_code == 422 and r.json()["field"] == "dns_names", r.text
        assert dump(p) == before
    with keyed_client(p, w.keys["admin"]) as c:
        url = f"/api/v1/certificates/{old}/reissue"
        r = c.post(url, json={"csr": make_csr().decode()})
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
        assert r.json()["field"] == "dns_names"
        r = c.post(url, json={"csr": make_csr().decode(), "dns_names": TOO_MANY})
        assert r.status_code == 422, r.text
        # an empty list names no host: the old names are not carried over for it
        r = c.post(url, json={"csr": make_csr().decode(), "dns_names": []})
        assert r.status_code == 200, r.text
        none = load(p.certificates.get(r.json()["certificate"]["serial"]))
        with pytest.raises(x509.ExtensionNotFound):
            none.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        old = _legacy_certificate(p, device.id, ["gw.example.cn", EMOJI])
        body = {"csr": make_csr().decode(), "dns_names": ["gw.example.cn", "gw4.example.cn"]}
        r = c.post(f"/api/v1/certificates/{old}/reissue", json=body)
        assert r.status_code == 200, r.text
        new = p.certificates.get(r.json()["certificate"]["serial"])
        assert _names(new) == ["gw.example.cn", "gw4.example.cn"]
    p.close()


def test_approval_of_stored_names_refused_anyway_is_refused_before_the_prompt(
    platform: Platform,
) -> None:
    """``cert approve`` refused an old application whose stored names today's checks refuse
    only after opening the CA key: at a terminal it asked for the CA passphrase first, typed
    for nothing, as it did for an unknown or unpaid application. It refuses before the prompt
    now (exit 2, ``dns_names``), nothing written."""
    from tests.integration.server import yinxin_env
    from tests.integration.terminal import refused_at_a_terminal

    p = platform
    app = _legacy_application(p, enrol(p).device.id, ["gw.example.cn", EMOJI])
    before = dump(p)
    env = yinxin_env(p.settings.home, None, {"YINXIN_DATABASE_URL": p.settings.database_url})
    code, text = refused_at_a_terminal(
        ["cert", "approve", str(app), "--officer", "受理员"], env, Path.cwd()
    )
    assert "CA passphrase" not in text, text
    assert code == 2 and "[dns_names]" in text and f"reject application {app}" in text, text
    assert dump(p) == before
