"""A server's start signs each CA's first CRL before it answers.

The round that re-signs CRLs nobody fetches ran beside the first requests from the start: on a
new home the first CRLs were signed at some moment after ``/healthz`` said ready, so whoever read
the database then — an operator's backup right after a start, a test comparing the database
before and after a refusal — saw rows land in between (a full run under faketime failed so:
``crls: [] != [issuing, root]``). The first round is awaited by the start now."""

from __future__ import annotations

import sqlite3

from fastapi.testclient import TestClient

from tests.integration.server import running_server
from tests.integration.signing_flow import new_platform
from yinxin.adapters.http.server import create_app


def _stored_roles(db) -> set[str]:
    with sqlite3.connect(db) as c:
        return {r for (r,) in c.execute("SELECT issuer_role FROM crls")}


def test_the_first_crls_are_signed_before_the_app_answers(tmp_path) -> None:
    p = new_platform(tmp_path / "home")
    db = p.settings.home / "yinxin.db"
    roles = set(p.status.crl_roles())
    assert roles >= {"issuing", "root"} and _stored_roles(db) == set()
    try:
        with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
            assert _stored_roles(db) == roles  # the start's round done, not under way
            assert c.get("/crl/issuing.crl").status_code == 200
            assert _stored_roles(db) == roles  # the fetch served that CRL, signed no other
    finally:
        p.close()


def test_a_served_home_holds_its_crls_when_healthz_first_answers(tmp_path) -> None:
    home = tmp_path / "home"
    new_platform(home).close()
    with running_server(home, args=["--no-jobs"]):
        assert _stored_roles(home / "yinxin.db") == {"issuing", "root"}
