"""Fixtures the in-process API tests share: a signing world on a frozen clock, and a client
talking to the whole server app (status protocols, API, pages) without a socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.integration.signing_flow import World, build_world, new_platform
from yinxin.adapters.http.server import create_app
from yinxin.clock import FrozenClock


@pytest.fixture
def world(tmp_path, clock: FrozenClock) -> Iterator[World]:
    """``build_world`` on its own platform: an organization with a contract seal granted to a
    member, and a person with a personal seal. Modules with another notion of ``world``
    define their own."""
    p = new_platform(tmp_path, clock)
    w = build_world(p, clock)
    yield w
    p.close()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    """The app started as the server starts it: its start signs each CA's first CRL before it
    answers (``_refresh_crls_once``), so a test that compares the database before and after a
    refusal does not see the server's CRL land in between (it did, on a slow run, when that
    round ran beside the first requests)."""
    with TestClient(create_app(world.p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        yield c
