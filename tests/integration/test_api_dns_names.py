"""A device certificate's host names sent to ``POST /api/v1/applications``: a name given twice
is refused naming ``dns_names`` (422), nothing written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import dbdump
from tests.integration.api_world import PROBLEM, api_world, keyed_client
from tests.integration.test_ca_lifecycle import make_csr
from yinxin.registry.certificates import MAX_DNS_NAMES


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator:
    w = api_world(tmp_path_factory.mktemp("dns"))
    device = w.platform.subscribers.add_device(device_name="门禁网关", organization_id=w.org_a)
    w.platform.subscribers.accept_agreement(device.id, accepted_by="王五")
    with keyed_client(w.platform, w.keys["admin"]) as c:
        yield w, c, device.id
    w.platform.close()


def _apply(c, device: int, names: list[str]):
    body = {
        "subscriber_id": device,
        "profile": "device-tls",
        "csr": make_csr().decode(),
        "dns_names": names,
    }
    return c.post("/api/v1/applications", json=body)


@pytest.mark.parametrize(
    "names",
    [
        ["gw.example.cn", "GW.example.cn.", "gw.example.cn"],
        ["gw.example.cn", "gw-2.example.cn", "Gw-2.Example.CN"],
    ],
)
def test_a_host_name_given_twice_is_refused_naming_dns_names(world, names) -> None:
    w, c, device = world
    before = dbdump.dump(w.platform)
    r = _apply(c, device, names)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    problem = r.json()
    assert problem["field"] == "dns_names" and "again" in problem["detail"], problem
    assert dbdump.dump(w.platform) == before


def test_distinct_host_names_are_taken_as_given(world) -> None:
    _, c, device = world
    r = _apply(c, device, ["gw.example.cn", "GW-2.example.cn."])
    assert r.status_code == 201, r.text
    assert r.json()["dns_names"] == ["gw.example.cn", "gw-2.example.cn"]


def test_more_host_names_than_a_certificate_carries_are_refused_naming_dns_names(world) -> None:
    w, c, device = world
    before = dbdump.dump(w.platform)
    r = _apply(c, device, [f"gw{n}.example.cn" for n in range(MAX_DNS_NAMES + 1)])
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    assert r.json()["field"] == "dns_names", r.json()
    assert dbdump.dump(w.platform) == before
    r = _apply(c, device, [f"gw{n}.example.cn" for n in range(MAX_DNS_NAMES)])
    assert r.status_code == 201 and len(r.json()["dns_names"]) == MAX_DNS_NAMES, r.text


@pytest.mark.parametrize(
    "name, detail",
    [
        # IDNA 2003 (Python's codec) decodes it to an emoji; IDNA 2008 refuses it
        ("xn--ls8h.example.cn", "IDNA 2008"),
        ("gw.XN--LS8H.cn", "IDNA 2008"),
        # U-labels are refused, the A-labels to give instead named
        ("网关.例子.中国", "xn--d6q013i.xn--fsqu00a.xn--fiqs8s"),
        ("\U0001f4a9.example.cn", "IDNA 2008 gives this one none"),
    ],
)
def test_a_host_name_idna_2008_refuses_is_refused_naming_dns_names(world, name, detail) -> None:
    w, c, device = world
    before = dbdump.dump(w.platform)
    r = _apply(c, device, ["gw.example.cn", name])
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    problem = r.json()
    assert problem["field"] == "dns_names" and detail in problem["detail"], problem
    assert dbdump.dump(w.platform) == before
