"""A document handed in over HTTP as base64 (a PDF for a sign flow or a batch, an OFD for the
GB/T 38540 signing): what is not base64, or a PDF that is not one, is a 422 problem naming the
field, before any service is asked and with nothing written."""

from __future__ import annotations

import base64

import pytest

from tests import dbdump
from tests.integration.api_world import keyed_client, problem_of


@pytest.fixture
def api(platform):
    key = platform.api_keys.create(name="oa", role="integration", actor="test").secret
    with keyed_client(platform, key) as c:
        yield platform, c


def _problem(r) -> tuple[int, str, str]:
    body = problem_of(r, 422)
    return r.status_code, body["detail"], body["field"]


def _flow(content_base64: str) -> dict:
    return {
        "title": "技术服务合同",
        "documents": [
            {"name": "a.pdf", "content_base64": base64.b64encode(b"%PDF-1.7\n").decode()},
            {"name": "b.pdf", "content_base64": content_base64},
        ],
        "signers": [{"subscriber_id": 1, "role": "甲方", "seal": 1}],
        "deadline": "2100-01-01T00:00:00+08:00",  # far ahead, whatever today is
    }


def test_a_pdf_that_is_not_base64_or_not_a_pdf_is_refused_naming_the_document(api) -> None:
    p, c = api
    before = dbdump.dump(p)
    r = c.post("/api/v1/flows", json=_flow("not base64!"))
    assert _problem(r) == (
        422,
        "content_base64 is not base64",
        "documents[1].content_base64",
    ), r.text
    r = c.post("/api/v1/flows", json=_flow(base64.b64encode(b"hello").decode()))
    assert _problem(r) == (422, "this is not a PDF document", "documents[1].content_base64")
    assert dbdump.dump(p) == before


def test_an_ofd_that_is_not_base64_is_refused_naming_the_document(api) -> None:
    p, c = api
    before = dbdump.dump(p)
    document = {"name": "x.ofd", "content_base64": "not base64!"}
    r = c.post("/api/v1/ofd/code", json={"signer_subscriber_id": 1, "document": document})
    # the field is named to the letter, as a flow's documents[i].content_base64 is
    assert _problem(r) == (422, "content_base64 is not base64", "document.content_base64"), r.text
    assert dbdump.dump(p) == before
