"""The API where the key store lacks the platform KEK the database's secrets are wrapped under
(a database imported, its ``keys/`` not copied yet): a refusal the operator can act on, not a
crash."""

from __future__ import annotations

from pathlib import Path

from tests.integration.api_world import ApiWorld, Client, api_world, problem_of
from tests.integration.server import running_server

KEK_FILE = "platform-kek.kek"


def home_with_a_webhook(home: Path) -> tuple[ApiWorld, str]:
    """An API world at ``home`` whose one webhook subscription's secret (returned, to be
    looked for in answers) is wrapped under its KEK, its platform closed: the database holds a
    secret the KEK in place must open."""
    w = api_world(home)
    secret = w.platform.webhooks.subscribe("https://hooks.example.com/a", ["*"], None, "test")
    w.platform.close()
    return w, secret.secret


def test_a_missing_kek_is_503_kek_missing_not_an_internal_error(tmp_path: Path) -> None:
    """``POST /webhooks`` (a new secret to seal) on a home whose ``keys/platform-kek.kek`` is
    missing while a webhook secret is wrapped under it was answered ``500`` like an unexpected
    crash, though the service refuses it ``kek_missing`` ("restore the keys directory"), as
    the CLI says (exit 7). Now it is ``503 Service Unavailable`` with that code, the
    ``keystore`` field and the message, nothing written and no KEK made; other requests are
    still answered, and once ``keys/`` is restored the same request goes through."""
    home = tmp_path / "home"
    w, kept_secret = home_with_a_webhook(home)
    kek = home / "keys" / KEK_FILE
    kept = kek.read_bytes()
    kek.unlink()
    body = {"url": "https://hooks.example.com/b", "events": ["*"]}
    with running_server(home) as srv:
        c = Client(srv.url(""), w.keys["admin"])
        try:
            r = c.post("/webhooks", json=body)
            problem = problem_of(r, 503, field="keystore", code="kek_missing")
            assert "restore the keys directory" in problem["detail"]
            assert problem["title"] == "Service Unavailable"
            assert kept_secret not in r.text
            assert not kek.exists()  # no new, unrelated KEK made
            listed = c.get("/webhooks")  # the rest of the API still answers
            assert listed.status_code == 200, listed.text
            assert [s["url"] for s in listed.json()["items"]] == ["https://hooks.example.com/a"]
            kek.write_bytes(kept)  # the keys directory restored: the same request goes through
            r = c.post("/webhooks", json=body)
            assert r.status_code == 201, r.text
        finally:
            c.close()
    assert kek.read_bytes() == kept
