"""Too much is a 413 wherever it is found: the request-body guard refused a body over the
server's limit with ``413 too_large`` on ``body``, but a file over a route's own, smaller limit
— counted after the body was parsed — was a ``422`` (a seal scan's base64 too long, a verified
or previewed PDF, a flow's document, a recording, an applicant's document). An integrator
telling "fix the input" from "send less" by the status had two answers for one excess. Each is
now ``413 too_large`` naming the field that carries the file, with nothing written."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests import dbdump
from tests.integration.api_world import api_world, keyed_client, problem_of
from yinxin.adapters.http.api.routes import documents as document_routes
from yinxin.adapters.http.api.routes import verify as verify_routes
from yinxin.adapters.http.api.routes.seals import MAX_SCAN_BASE64
from yinxin.seals import render

PDF = b"%PDF-1.7\n" + bytes(3000)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator:
    w = api_world(tmp_path_factory.mktemp("oversize"))
    with keyed_client(w.platform, w.keys["admin"]) as c:
        yield w, c
    w.platform.close()


def too_large(r, field: str) -> dict:
    return problem_of(r, 413, field, "too_large")


def test_a_seal_scan_over_its_base64_limit_is_413_on_scan_base64(world) -> None:
    w, c = world
    before = dbdump.dump(w.platform)
    scan = "A" * (MAX_SCAN_BASE64 + 4)
    form = {"subscriber_id": w.org_a, "kind": "contract", "scan_base64": scan}
    too_large(c.post("/api/v1/seal-previews", json=form), "scan_base64")
    # the same excess with another field wrong too: the size is the answer
    too_large(c.post("/api/v1/seal-previews", json={**form, "kind": "nope"}), "scan_base64")
    assert dbdump.dump(w.platform) == before


def test_a_decoded_seal_scan_over_its_limit_is_413_on_scan_base64(world, monkeypatch) -> None:
    w, c = world
    monkeypatch.setattr(render, "MAX_SCAN_BYTES", 1000)
    scan = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(2000)).decode()
    form = {"subscriber_id": w.org_a, "kind": "contract", "scan_base64": scan}
    too_large(c.post("/api/v1/seal-previews", json=form), "scan_base64")


def test_a_pdf_body_over_the_routes_limit_is_413_on_body(world, monkeypatch) -> None:
    _, c = world
    monkeypatch.setattr(verify_routes, "MAX_PDF", 1000)
    headers = {"Content-Type": "application/pdf"}
    too_large(c.post("/api/v1/verifications", content=PDF, headers=headers), "body")


def test_a_flow_document_over_the_limit_is_413_naming_the_document(world, monkeypatch) -> None:
    w, c = world
    before = dbdump.dump(w.platform)
    monkeypatch.setattr(document_routes, "MAX_PDF", 1000)
    pdf = {"name": "a.pdf", "content_base64": base64.b64encode(PDF).decode()}
    flow = {
        "title": "技术服务合同",
        "documents": [pdf],
        "signers": [{"subscriber_id": w.staff_a, "role": "甲方", "seal": 1}],
        "deadline": "2100-01-01T00:00:00+08:00",
    }
    too_large(c.post("/api/v1/flows", json=flow), "documents[0].content_base64")
    assert dbdump.dump(w.platform) == before
