"""A home for API tests, served by the real ``yinxin serve``: two organizations, their staff,
and an API key for every role.

``api_world(home)`` builds it in-process (the services, as a desk would) and returns the keys;
the test then starts ``running_server(home)`` and talks HTTP only. ``Client`` is a thin httpx
wrapper that puts the bearer key on every request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.integration.signing_flow import new_platform
from yinxin.app import Platform

ORG_A_USCC = "91110108MA01YX0030"
ORG_B_USCC = "91310000MA1FL0000N"


@dataclass
class ApiWorld:
    platform: Platform
    org_a: int
    org_b: int
    staff_a: int  # a person registered under organization A
    staff_b: int
    keys: dict[str, str]  # admin, officer, integration, org_a, org_b → bearer secret


def api_world(home: Path) -> ApiWorld:
    p = new_platform(home)
    subs = p.subscribers
    org_a = subs.add_organization(
        name="北京甲方科技有限公司",
        uscc=ORG_A_USCC,
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        phone="13900139000",
    )
    org_b = subs.add_organization(
        name="上海乙方信息有限公司",
        uscc=ORG_B_USCC,
        legal_representative="赵六",
        contact_name="钱七",
        contact_phone="021-62345678",
        phone="13900139001",
    )
    staff_a = subs.add_person(
        name="王五", id_number="350102198511223455", phone="13700137000", organization_id=org_a.id
    )
    staff_b = subs.add_person(
        name="钱七", id_number="110105199003071239", phone="13700137001", organization_id=org_b.id
    )
    keys = {
        "admin": p.api_keys.create(name="admin", role="administrator", actor="test").secret,
        "officer": p.api_keys.create(name="desk", role="ra_officer", actor="test").secret,
        "integration": p.api_keys.create(name="oa", role="integration", actor="test").secret,
        "org_a": p.api_keys.create(
            name="a-admin", role="organization_admin", organization_id=org_a.id, actor="test"
        ).secret,
        "org_b": p.api_keys.create(
            name="b-admin", role="organization_admin", organization_id=org_b.id, actor="test"
        ).secret,
    }
    return ApiWorld(p, org_a.id, org_b.id, staff_a.id, staff_b.id, keys)


class Client:
    def __init__(self, base: str, secret: str | None):
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        self.http = httpx.Client(base_url=base + "/api/v1", headers=headers, timeout=60)

    def __getattr__(self, name):
        return getattr(self.http, name)

    def close(self) -> None:
        self.http.close()


@contextlib.contextmanager
def keyed_client(platform: Platform, secret: str) -> Iterator:
    """An in-process HTTP client of ``platform``'s app with the bearer key ``secret``, for a
    test that compares database dumps: the CRLs are signed before the app starts, so the
    server's refresher (which signs them at start-up on a fresh CA) has nothing to write."""
    from starlette.testclient import TestClient

    from yinxin.adapters.http.server import create_app

    for role in platform.status.crl_roles():
        platform.status.current_crl(role)
    with TestClient(
        create_app(platform, jobs=False),
        base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {secret}"},
    ) as c:
        yield c


def id_card(first17: str) -> str:
    """A well-formed resident ID number: ``first17`` and its GB 11643 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


PROBLEM = "application/problem+json"


def problem_of(r, status: int, field: str | None = None, code: str | None = None) -> dict:
    """The refusal ``r`` is: this status, a problem+json body naming its code (and the field
    and code asked for, if any)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body = r.json()
    assert body["status"] == status and body["detail"] and body["code"]
    if field is not None:
        assert body.get("field") == field, body
    if code is not None:
        assert body["code"] == code, body
    return body
