"""The OCSP responder asked every way RFC 6960/5019 allow, each answer judged by tools we did
not write: ``openssl ocsp`` verifies it (``-respin`` with the root as trust anchor) and pkilint's
``lint_ocsp_response`` lints it.

Reuses the module server of ``test_status_http`` (one ``yinxin demo`` home, a real ``yinxin
serve`` on 127.0.0.1). The documented choices checked here (docs in ``yinxin.pki.ocsp``): a
CertID of another issuer, alone or beside one of ours, is ``unauthorized``; a nonce longer than
128 octets (RFC 9654 §2.1; 33 to 128 are echoed), or an extension that appears twice in one
list, is ``malformedRequest``; a POST declared as another type than application/ocsp-request
(none and application/octet-stream are taken as it) is 415, never an OCSP response.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from asn1crypto import ocsp as a_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integration.server import ocsp_request
from tests.integration.test_status_http import (  # noqa: F401  (fixtures)
    Env,
    _foreign_ca,
    _lint_all,
    cert_id,
    client,
    env,
    new_cert,
    ocsp_status_of,
    post_ocsp,
    raw_ocsp_request,
    revoke,
    run,
)
from yinxin.pki import der

DER = serialization.Encoding.DER


def verify_with_openssl(env: Env, der: bytes, path: Path, *certs: Path) -> str:
    """``openssl ocsp -respin`` on a response: its signature and responder checked against the
    root; with ``certs`` (and the issuing CA) their statuses printed too."""
    path.write_bytes(der)
    args: list[str | Path] = ["openssl", "ocsp", "-respin", path, "-CAfile", env.root_pem]
    args += ["-verify_other", env.issuing_pem]
    if certs:
        args += ["-issuer", env.issuing_pem]
        for c in certs:
            args += ["-cert", c]
    else:
        args += ["-resp_text"]
    proc = run(*args)
    return proc.stdout + proc.stderr


def _signed_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes) -> bytes:
    """An OCSPRequest with optionalSignature (RFC 6960 §4.1.2), signed by a throwaway key."""
    key = ec.generate_private_key(ec.SECP256R1())
    unsigned = a_ocsp.OCSPRequest.load(ocsp_request(cert, issuer, nonce=nonce))
    tbs = unsigned["tbs_request"]
    tbs_der = tbs.dump()
    sig = key.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    return a_ocsp.OCSPRequest(
        {
            "tbs_request": tbs,
            "optional_signature": {
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": sig,
            },
        }
    ).dump()


def _spliced_request(where: str, cid: dict, nonce: bytes) -> bytes:
    """An OCSPRequest for ``cid`` with a nonce and one element asn1crypto cannot place (a stray
    OCTET STRING, or a second requestExtensions with another nonce) ``where`` it is put:
    bytes asn1crypto's writer would not make, so spliced."""
    stray = der.octet_string(b"\x00")
    certid = a_ocsp.CertId(cid).dump()
    if where == "certid":
        certid = der.seq(certid[2:], stray)  # a CertID is short: one-octet length
    if where == "serial-of-no-octets":  # cid's serial is 0: 02 01 00 made 02 00
        certid = der.seq(certid[2:-3], b"\x02\x00")
    request = der.seq(certid, stray if where == "request" else b"")
    exts = a_ocsp.OCSPRequest.load(
        raw_ocsp_request([cid], [{"extn_id": "nonce", "critical": False, "extn_value": nonce}])
    )["tbs_request"]["request_extensions"].dump()
    tail = {"tbs": stray, "two-extension-lists": exts[:-16] + os.urandom(16)}.get(where, b"")
    return der.seq(der.seq(der.seq(request), exts, tail))


def test_ocsp_answers_judged_by_openssl_and_pkilint(
    env: Env, new_cert, client: httpx.Client, tmp_path: Path
) -> None:
    good, good_pem = new_cert()
    bad, bad_pem = new_cert()
    unspec, unspec_pem = new_cert()
    revoke(env, bad, "key_compromise")
    revoke(env, unspec, "unspecified")
    other = _foreign_ca()
    nonce = os.urandom(32)

    # (name, request DER, what each CertID should be answered: statuses, or an error status)
    cases: dict[str, tuple[bytes, object]] = {
        "good": (ocsp_request(good, env.issuing), ["good"]),
        "good-sha1": (ocsp_request(good, env.issuing, "sha1"), ["good"]),
        "good-nonce": (ocsp_request(good, env.issuing, nonce=nonce), ["good"]),
        "revoked": (ocsp_request(bad, env.issuing), ["revoked"]),
        "revoked-sha1-nonce": (ocsp_request(bad, env.issuing, "sha1", nonce), ["revoked"]),
        "revoked-unspecified": (ocsp_request(unspec, env.issuing), ["revoked"]),
        "unknown": (raw_ocsp_request([cert_id(env.issuing, 0x7AB1E5)]), ["unknown"]),
        "unknown-160-bit": (raw_ocsp_request([cert_id(env.issuing, 2**159 + 5)]), ["unknown"]),
        "unknown-zero": (raw_ocsp_request([cert_id(env.issuing, 0)]), ["unknown"]),
        "negative-serial": (raw_ocsp_request([cert_id(env.issuing, -5)]), "malformed_request"),
        "unknown-huge": (raw_ocsp_request([cert_id(env.issuing, 2**400 + 1)]), ["unknown"]),
        "two-ours": (
            raw_ocsp_request(
                [cert_id(env.issuing, good.serial_number), cert_id(env.issuing, bad.serial_number)]
            ),
            ["good", "revoked"],
        ),
        "two-ours-nonce": (
            raw_ocsp_request(
                [
                    cert_id(env.issuing, good.serial_number, "sha1"),
                    cert_id(env.issuing, 0x7AB1E5, "sha1"),
                ],
                [{"extn_id": "nonce", "critical": False, "extn_value": nonce}],
            ),
            ["good", "unknown"],
        ),
        "signed-request": (_signed_request(good, env.issuing, nonce), ["good"]),
        "root-responder": (ocsp_request(env.issuing, env.root), ["good"]),
        "root-responder-nonce": (ocsp_request(env.issuing, env.root, nonce=nonce), ["good"]),
        "extra-extensions": (
            raw_ocsp_request(
                [cert_id(env.issuing, good.serial_number, "sha384")],
                [
                    {"extn_id": "nonce", "critical": True, "extn_value": nonce},
                    {
                        "extn_id": "acceptable_responses",
                        "critical": False,
                        "extn_value": ["basic_ocsp_response"],
                    },
                ],
            ),
            ["good"],
        ),
        "other-issuer": (raw_ocsp_request([cert_id(other, 5)]), "unauthorized"),
        "ours-and-other": (
            raw_ocsp_request([cert_id(env.issuing, good.serial_number), cert_id(other, 5)]),
            "unauthorized",
        ),
        # RFC 9654 §2.1 (which obsoletes RFC 8954's 32): 1 to 128 octets are a nonce
        "nonce-33": (
            raw_ocsp_request(
                [cert_id(env.issuing, good.serial_number)],
                [{"extn_id": "nonce", "critical": False, "extn_value": os.urandom(33)}],
            ),
            ["good"],
        ),
        "nonce-128": (
            raw_ocsp_request(
                [cert_id(env.issuing, good.serial_number)],
                [{"extn_id": "nonce", "critical": False, "extn_value": os.urandom(128)}],
            ),
            ["good"],
        ),
        "nonce-129": (
            raw_ocsp_request(
                [cert_id(env.issuing, good.serial_number)],
                [{"extn_id": "nonce", "critical": False, "extn_value": os.urandom(129)}],
            ),
            "malformed_request",
        ),
        # RFC 5280 §4.2: an extension appears at most once in one list; which nonce to echo
        # would be a guess, so the request is malformed (it used to echo the last one)
        "nonce-twice": (
            raw_ocsp_request(
                [cert_id(env.issuing, good.serial_number)],
                [
                    {"extn_id": "nonce", "critical": False, "extn_value": nonce},
                    {"extn_id": "nonce", "critical": False, "extn_value": os.urandom(16)},
                ],
            ),
            "malformed_request",
        ),
        "acceptable-responses-twice": (
            raw_ocsp_request(
                [cert_id(env.issuing, good.serial_number)],
                [
                    {
                        "extn_id": "acceptable_responses",
                        "critical": False,
                        "extn_value": ["basic_ocsp_response"],
                    }
                ]
                * 2,
            ),
            "malformed_request",
        ),
        "empty": (b"", "malformed_request"),
        # an element out of place, or a list given twice: asn1crypto kept it as an unread
        # extra and the request was answered as if it were not there (the second nonce list
        # ignored, which nonce to echo a guess as with two nonces in one list)
        **{
            f"stray-in-{where}": (
                _spliced_request(where, cert_id(env.issuing, good.serial_number), nonce),
                "malformed_request",
            )
            for where in ("certid", "request", "tbs", "two-extension-lists")
        },
        # X.690 §8.3.1: an INTEGER has one octet at least; asn1crypto read 02 00 as serial 0
        # and the CertID echoed (02 01 00) was not the one asked about
        "serial-of-no-octets": (
            _spliced_request("serial-of-no-octets", cert_id(env.issuing, 0), nonce),
            "malformed_request",
        ),
        "spliced-without-stray": (
            _spliced_request("none", cert_id(env.issuing, good.serial_number), nonce),
            ["good"],
        ),
    }
    failures: list[str] = []
    jobs: dict[str, list[str | Path]] = {}
    b64_chars: set[str] = set()
    for name, (req, want) in cases.items():
        sent_nonce = next(
            (
                e["extn_value"].native
                for e in (
                    a_ocsp.OCSPRequest.load(req)["tbs_request"]["request_extensions"] if req else []
                )
                or []
                if e["extn_id"].native == "nonce"
            ),
            None,
        )
        answers = {"POST": post_ocsp(client, req)}
        if req:
            b64 = base64.b64encode(req).decode()
            b64_chars.update(b64)
            answers["GET escaped"] = client.get("/ocsp/" + quote(b64, safe=""))
            answers["GET raw"] = client.get("/ocsp/" + b64)
            answers["POST bare"] = client.post("/ocsp", content=req)
        for how, r in answers.items():
            label = f"{name} ({how})"
            if r.status_code != 200 or r.headers["content-type"] != "application/ocsp-response":
                failures.append(f"{label}: HTTP {r.status_code} {r.headers.get('content-type')}")
                continue
            status = ocsp_status_of(r.content)
            if isinstance(want, str):
                if status != want:
                    failures.append(f"{label}: {status}, wanted {want}")
                continue
            if status != "successful":
                failures.append(f"{label}: {status}")
                continue
            parsed = a_ocsp.OCSPResponse.load(r.content)["response_bytes"]["response"].parsed
            data = parsed["tbs_response_data"]
            got = [s["cert_status"].name for s in data["responses"]]
            if got != want:
                failures.append(f"{label}: statuses {got}, wanted {want}")
            asked = [
                i["req_cert"].native
                for i in a_ocsp.OCSPRequest.load(req)["tbs_request"]["request_list"]
            ]
            echoed = [s["cert_id"].native for s in data["responses"]]
            if asked != echoed:
                failures.append(f"{label}: CertIDs {echoed}, asked {asked}")
            ext = {
                e["extn_id"].native: e["extn_value"].native
                for e in data["response_extensions"] or []
            }
            if sent_nonce is not None and ext.get("nonce") != sent_nonce:
                failures.append(f"{label}: nonce {ext.get('nonce')!r} not echoed")
            if sent_nonce is None and "nonce" in ext:
                failures.append(f"{label}: a nonce nobody sent")
            if how != "POST":
                continue
            out = verify_with_openssl(env, r.content, tmp_path / f"{name}.der")
            if "Response verify OK" not in out:
                failures.append(f"{label}: openssl: {out[-300:]}")
            path = tmp_path / f"lint-{name}.ocsp"
            path.write_bytes(r.content)
            jobs[name] = ["lint_ocsp_response", "-s", "WARNING", path]
    findings = {k: v for k, v in _lint_all(jobs).items() if v}
    assert {"+", "/"} <= b64_chars  # the GETs did carry what must be escaped
    head = client.head("/ocsp/" + quote(base64.b64encode(cases["good"][0]).decode(), safe=""))
    assert head.status_code == 200 and head.content == b"", head
    assert head.headers["content-type"] == "application/ocsp-response"
    assert not failures, "\n".join(failures)
    assert not findings, findings


def test_openssl_asks_about_two_certificates_at_once(env: Env, new_cert) -> None:
    """``openssl ocsp`` with two ``-cert``: one request, both statuses, one signature."""
    good, good_pem = new_cert()
    bad, bad_pem = new_cert()
    revoke(env, bad, "superseded")
    proc = run(
        "openssl", "ocsp", "-issuer", env.issuing_pem, "-cert", good_pem, "-cert", bad_pem,
        "-url", env.server.url("/ocsp"), "-CAfile", env.root_pem,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "Response verify OK" in out, out
    assert f"{good_pem}: good" in out, out
    assert f"{bad_pem}: revoked" in out and "Reason: superseded" in out, out
    assert "WARNING" not in out, out


# What real clients send: ``openssl ocsp -url`` (checked above), Go, Java, NSS and Windows name
# application/ocsp-request; a bare body and application/octet-stream are read as one. A body
# declared as anything else (a form — ``curl --data-binary`` without -H —, text, JSON, a
# timestamp query) was answered as an OCSP request; it is 415 now, saying which type to send.
@pytest.mark.parametrize(
    "content_type",
    [None, "application/ocsp-request", "APPLICATION/OCSP-REQUEST; x=1", "application/octet-stream"],
    ids=str,
)
def test_ocsp_content_types_answered(
    env: Env, new_cert, client: httpx.Client, content_type: str | None
) -> None:
    cert, _ = new_cert()
    headers = {} if content_type is None else {"content-type": content_type}
    request = client.build_request(
        "POST", "/ocsp", content=ocsp_request(cert, env.issuing), headers=headers
    )
    assert request.headers.get("content-type") == content_type  # httpx adds none of its own
    r = client.send(request)
    assert r.status_code == 200 and r.headers["content-type"] == "application/ocsp-response"
    assert ocsp_status_of(r.content) == "successful"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/json",
        "application/timestamp-query",
        "",
    ],
    ids=repr,
)
def test_ocsp_other_content_types_refused(
    env: Env, new_cert, client: httpx.Client, content_type: str
) -> None:
    cert, _ = new_cert()
    r = client.post(
        "/ocsp", content=ocsp_request(cert, env.issuing), headers={"content-type": content_type}
    )
    assert r.status_code == 415, (r.status_code, r.headers, r.content[:80])
    body = r.json()
    assert body["error"] == "unsupported_media_type" and body["field"] == "Content-Type", body
    assert "Content-Type: application/ocsp-request" in body["message"], body
