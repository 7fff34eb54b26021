"""What an operator watches, on the real server: liveness and readiness, request ids that tie
answers, log lines and audit events together, Prometheus metrics per endpoint and from the
platform's records, JSON logs with signing-link tokens masked."""

from __future__ import annotations

import json
import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.api_world import api_world, id_card
from tests.integration.server import running_server
from yinxin.adapters.http.ops import readiness


def metric_samples(text: str) -> dict[tuple, float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_health_request_ids_metrics_and_audit_link(tmp_path):
    home = tmp_path / "home"
    w = api_world(home)
    with running_server(home) as srv:  # the default configuration (rate limits on)
        assert httpx.get(srv.url("/healthz")).json()["ok"] is True
        r = httpx.get(srv.url("/readyz"))
        assert r.status_code == 200, r.text
        assert r.json() == {
            "ready": True,
            "checks": {"database": "ok", "migrations": "ok", "authority": "ok"},
        }
        # request ids: a sane one is kept, anything else replaced by a fresh one
        r = httpx.get(srv.url("/healthz"), headers={"X-Request-Id": "trace-0001-abcd"})
        assert r.headers["x-request-id"] == "trace-0001-abcd"
        r = httpx.get(srv.url("/healthz"), headers={"X-Request-Id": "bad id\twith tab"})
        assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])
        # an API change: its audit event names the request that made it
        h = {"Authorization": f"Bearer {w.keys['admin']}"}
        r = httpx.post(
            srv.url("/api/v1/subscribers/persons"),
            headers=h,
            json={
                "name": "审计",
                "id_number": id_card("11010119850505001"),
                "phone": "13500135000",
            },
        )
        assert r.status_code == 201, r.text
        rid = r.headers["x-request-id"]
        events = w.platform.audit_events(
            action="subscriber.registered", subject_id=str(r.json()["id"])
        )
        assert events[0].data["request_id"] == rid
        httpx.get(srv.url("/crl/issuing.crl"))
        httpx.get(srv.url("/api/v1/subscribers"), headers=h)
        httpx.get(srv.url("/api/v1/subscribers/999999"), headers=h)
        text = httpx.get(srv.url("/metrics")).text
    w.platform.close()
    m = metric_samples(text)
    key = ("yinxin_http_requests_total",)
    got = {labels: v for (name, labels), v in m.items() if (name,) == key}
    assert got[(("endpoint", "health"), ("method", "GET"), ("status", "200"))] >= 3
    assert got[(("endpoint", "crl"), ("method", "GET"), ("status", "200"))] == 1
    assert got[(("endpoint", "/api/v1/subscribers"), ("method", "GET"), ("status", "200"))] == 1
    found = (
        ("endpoint", "/api/v1/subscribers/{subscriber_id}"),
        ("method", "GET"),
        ("status", "404"),
    )
    assert got[found] == 1
    assert not any("999999" in str(labels) for labels in got)  # templates, not raw paths
    assert m[("yinxin_http_request_seconds_count", (("endpoint", "crl"),))] == 1
    ages = {
        dict(labels)["issuer"]: v
        for (name, labels), v in m.items()
        if name == "yinxin_crl_age_seconds"
    }
    assert set(ages) == {"issuing", "root"} and all(0 <= a < 3600 for a in ages.values())
    assert "# TYPE yinxin_outbox_messages gauge" in text  # read from the send log at scrape


def test_json_logs_carry_request_ids_and_mask_signing_links(tmp_path):
    home = tmp_path / "home"
    w = api_world(home)
    env = {
        "YINXIN_API_RATE": "0",
        "YINXIN_LOG_FORMAT": "json",
        "YINXIN_ACCESS_LOG": "1",
        "YINXIN_METRICS_TOKEN": "scrape-secret",
    }
    token = "S3cretLinkTokenValue_abcdefghijklmnop"
    with running_server(home, env=env) as srv:
        r = httpx.get(srv.url(f"/api/v1/sign/{token}"))
        assert r.status_code == 404
        rid = r.headers["x-request-id"]
        assert httpx.get(srv.url("/metrics")).status_code == 401
        ok = httpx.get(srv.url("/metrics"), headers={"Authorization": "Bearer scrape-secret"})
        assert ok.status_code == 200 and "yinxin_http_requests_total" in ok.text
        log = srv.log()
    w.platform.close()
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    assert lines, log[-2000:]
    access = [x for x in lines if x.get("logger") == "yinxin.access"]
    mine = [x for x in access if x.get("request_id") == rid]
    assert mine and mine[0]["path"] == "/api/v1/sign/***" and mine[0]["status"] == 404
    assert token not in log


def test_readiness_names_what_is_missing(make_platform):
    p = make_platform(init=False)
    ready, checks = readiness(p)
    assert ready is False
    assert checks["database"] == "ok" and checks["migrations"] == "ok"
    assert checks["authority"].startswith("not ready")
