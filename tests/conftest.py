"""Shared fixtures: real platforms on a real SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.clock import real_now
from tests.pg import PgCluster, pg_bin
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.settings import Settings

PASSPHRASE = "correct horse battery staple"
# YINXIN_TEST_OUTPUT lets two suites run side by side in one checkout
OUTPUT = Path(os.environ.get("YINXIN_TEST_OUTPUT") or Path(__file__).parent / "output")


def cli_env(where: Platform | Path, **extra: str | None) -> dict[str, str | None]:
    """The ``env=`` for ``CliRunner().invoke(cli_app, ...)`` to run ``yinxin`` on a platform:
    its home and database (``where`` a Platform) or only its home (``where`` a folder), and
    the CA passphrase. ``extra`` adds variables or overrides these; None unsets one (as
    ``YINXIN_PIN=None`` does, so that a PIN in the outer environment is not read).

    For a ``yinxin`` subprocess use ``tests.integration.server.yinxin_env``."""
    if isinstance(where, Platform):
        home = {
            "YINXIN_HOME": str(where.settings.home),
            "YINXIN_DATABASE_URL": where.settings.database_url,
        }
    else:
        home = {"YINXIN_HOME": str(where)}
    return {**home, "YINXIN_CA_PASSPHRASE": PASSPHRASE, **extra}


def cli_refuses(
    env: dict[str, str | None], args: list[str], field: str, said: tuple[str, ...]
) -> None:
    """Assert ``yinxin <args>`` (in process, ``env`` from :func:`cli_env`) is refused as a bad
    value, exit 2 naming ``field``, in both forms: ``--json`` (``error`` invalid, the message's
    halves exactly ``said``, "中文 / English") and plain text (``error [field]: `` on stderr,
    each half in it)."""
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app
    from yinxin.errors import halves

    r = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
    err = json.loads(r.stdout)
    assert (r.exit_code, err["field"], err["error"]) == (2, field, "invalid"), err
    assert halves(err["message"]) == said, err
    r = CliRunner().invoke(cli_app, args, env=env)
    assert r.exit_code == 2 and r.stderr.startswith(f"error [{field}]: "), r.stderr
    assert all(half in r.stderr for half in said), r.stderr


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    if pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are required in CI")
        pytest.skip("PostgreSQL server binaries not installed")
    cluster = PgCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(real_now())


def _settings(home: Path, url: str) -> Settings:
    return Settings(home=home, database_url=url, base_url="http://127.0.0.1:8000")


@pytest.fixture
def make_platform(tmp_path, clock, request) -> Iterator[Callable[..., Platform]]:
    """Build platforms; ``db="sqlite"`` (a file in tmp_path) or ``db="postgres"``."""
    made: list[Platform] = []

    def make(
        db: str = "sqlite",
        *,
        init: bool = True,
        home: Path | None = None,
        passphrase: str = PASSPHRASE,
        url: str | None = None,
    ) -> Platform:
        h = home or tmp_path / f"home-{len(made)}"
        if url is None:
            url = (
                request.getfixturevalue("pg_cluster").new_database()
                if db == "postgres"
                else f"sqlite:///{h / 'yinxin.db'}"
            )
        p = Platform(_settings(h, url), clock=clock, passphrase=passphrase)
        made.append(p)
        if init and not p.ca.is_initialised():
            p.ca.init("ec-p256")
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_platform(request, make_platform) -> Platform:
    """The same test on SQLite and on PostgreSQL."""
    return make_platform(request.param)


@pytest.fixture
def platform(make_platform) -> Platform:
    return make_platform("sqlite")
