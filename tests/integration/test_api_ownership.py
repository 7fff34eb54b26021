"""What an organization owns over HTTP (sign flows, contracts): a key bound to an organization
makes only its own (naming another owner is a 403 problem naming ``owner_subscriber_id``) and
sees another organization's as a thing that does not exist (404) — with nothing written."""

from __future__ import annotations

import base64

import pytest

from tests import dbdump
from tests.integration.api_world import keyed_client, problem_of
from yinxin.store.models.flows import SignFlow


def _organization(p, name: str, uscc: str):
    return p.subscribers.add_organization(
        name=name,
        uscc=uscc,
        legal_representative="张三",
        contact_name="李四",
        contact_phone="021-62345678",
    )


@pytest.fixture
def api(platform, clock):
    ours = _organization(platform, "甲公司", "91310000MA1FL0000N")
    theirs = _organization(platform, "丙公司", "91110108MA01YX0030")
    key = platform.api_keys.create(
        name="甲管理员", role="organization_admin", organization_id=ours.id, actor="test"
    ).secret
    with platform.db.transaction() as s:  # a flow of the other organization
        flow = SignFlow(
            title="t",
            owner_subscriber_id=theirs.id,
            created_by="test",
            state="draft",
            signing_order="parallel",
            deadline=clock.now(),
            created_at=clock.now(),
        )
        s.add(flow)
        s.flush()
        flow_id = flow.id
    with keyed_client(platform, key) as c:
        yield platform, c, theirs.id, flow_id


def test_a_key_makes_its_own_organizations_things_only(api) -> None:
    p, c, theirs, _ = api
    before = dbdump.dump(p)
    pdf = {"name": "a.pdf", "content_base64": base64.b64encode(b"%PDF-1.7\n").decode()}
    flow = {
        "title": "技术服务合同",
        "documents": [pdf],
        "signers": [{"subscriber_id": 1, "role": "甲方", "seal": 1}],
        "deadline": "2100-01-01T00:00:00+08:00",  # far ahead, whatever today is
        "owner_subscriber_id": theirs,
    }
    body = problem_of(c.post("/api/v1/flows", json=flow), 403, "owner_subscriber_id")
    assert body["detail"] == "this key sends flows for its own organization only"
    contract = {"template": "tech-service", "values": {}, "owner_subscriber_id": theirs}
    body = problem_of(c.post("/api/v1/contracts", json=contract), 403, "owner_subscriber_id")
    assert body["detail"] == "this key drafts contracts for its own organization only"
    assert dbdump.dump(p) == before


def test_another_organizations_flow_does_not_exist_for_the_key(api) -> None:
    p, c, _, flow_id = api
    assert p.flows.get(flow_id).id == flow_id  # it does exist
    body = problem_of(c.get(f"/api/v1/flows/{flow_id}"), 404, "flow_id")
    assert body["detail"] == f"no sign flow {flow_id}"
