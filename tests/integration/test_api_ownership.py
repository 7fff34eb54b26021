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
        email="ops@example.cn",  # no mobile: notices go by e-mail
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


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/certificates", "subscriber_id"),  # was 200 with an empty list
        ("/api/v1/seals", "subscriber_id"),  # likewise
        ("/api/v1/authorizations", "holder_subscriber_id"),  # 404, but naming subscriber_id
    ],
)
def test_a_listing_filtered_on_another_organization_is_a_404_naming_the_filter(
    api, platform, path, param
) -> None:
    """A listing narrowed to a subscriber the key may not see answers as that subscriber's
    own page does (``GET /subscribers/{id}``: 404), naming the query parameter — not an empty
    list that reads as "none yet". A subscriber that does not exist answers the same; the
    key's own organization, and a staff key for any subscriber, still list."""
    _, c, theirs, _ = api
    for who in (theirs, 999_999):
        body = problem_of(c.get(path, params={param: who}), 404, param, "not_found")
        assert body["detail"] == f"no subscriber with id {who}"
    ours = c.get(path).status_code
    mine = platform.subscribers.list()[0].id
    assert c.get(path, params={param: mine}).status_code == ours == 200
    staff = platform.api_keys.create(name="ops", role="administrator", actor="test").secret
    with keyed_client(platform, staff) as s:
        assert s.get(path, params={param: theirs}).status_code == 200
        # a staff key naming no subscriber at all: the same 404, not an empty list
        body = problem_of(s.get(path, params={param: 999_999}), 404, param, "not_found")
        assert body["detail"] == "no subscriber with id 999999"
