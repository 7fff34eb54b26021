"""The web pages in a real browser: Debian's headless ``chromium`` driven by Playwright against
the real ``yinxin serve`` on a prepared home.

``site`` (one per module) builds the home in-process — the CA, the signing world of
``tests/integration/signing_flow.py`` (a person, an organization, their certificates and
seals), an RA officer's staff account, a contract signed by the organization's seal and the
same contract with a page added afterwards — then starts the server on it. ``browser`` is
Chromium launched from the system (``shutil.which("chromium")``: Playwright's own download
needs the internet; ``make setup`` installs the Debian package). Every test's ``page`` saves
screenshots with ``shot(page, name)`` under ``$YINXIN_TEST_OUTPUT/web/``.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

from tests.conftest import OUTPUT
from tests.fixtures.samples import contract_pdf
from tests.integration.pdf_factory import append_page
from tests.integration.server import running_server
from tests.integration.signing_flow import World, build_world, new_platform, sign_as

SHOTS = OUTPUT / "web"
STAFF_PASSWORD = "desk password 1"


@dataclass
class Site:
    base: str
    home: Path
    world: World
    totp: pyotp.TOTP  # the RA officer "desk1"
    signed: Path  # a contract signed with the organization's contract seal
    altered: Path  # the same, with a page appended after signing

    def url(self, path: str) -> str:
        return self.base + path


@dataclass
class Officer:
    """A staff account of one test's own, with its own TOTP secret (``new_officer``). A code
    is taken once per account, and never a step at or before the last one used
    (``access/staff.py``): the tests that all signed in as "desk1" took a new 30 s step each
    and waited for it (``fresh_totp``), ~9 minutes in test_web_desk.py alone. Each test's own
    officer signs in for real, at once."""

    username: str
    totp: pyotp.TOTP


_officers = itertools.count(1)


def new_officer(site: Site, role: str = "ra_officer") -> Officer:
    """A new staff account (``role``, password ``STAFF_PASSWORD``) on the site's platform."""
    n = next(_officers)
    new = site.world.p.staff.add(
        f"officer{n}", password=STAFF_PASSWORD, role=role, actor="test", display_name=f"受理{n}"
    )
    secret = re.search(r"secret=([A-Z2-7]+)", new.totp_uri)
    assert secret is not None
    return Officer(new.staff.username, pyotp.TOTP(secret.group(1)))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("web")
    p = new_platform(home)
    w = build_world(p)
    new = p.staff.add(
        "desk1", password=STAFF_PASSWORD, role="ra_officer", actor="test", display_name="李受理"
    )
    secret = re.search(r"secret=([A-Z2-7]+)", new.totp_uri)
    assert secret is not None
    signed = sign_as(w, w.jia, contract_pdf()).pdf
    files = home / "files"
    files.mkdir()
    (files / "技术服务合同-已签署.pdf").write_bytes(signed)
    (files / "技术服务合同-被改动.pdf").write_bytes(append_page(signed))
    with running_server(home, env={"YINXIN_API_RATE": "0"}) as srv:
        yield Site(
            srv.url(""),
            home,
            w,
            pyotp.TOTP(secret.group(1)),
            files / "技术服务合同-已签署.pdf",
            files / "技术服务合同-被改动.pdf",
        )
    p.close()


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module. Not per session: Playwright's sync API keeps its event
    loop running in the main thread while it lives, and every later test that calls
    ``asyncio.run`` (the PDF verifier, pyHanko) would then fail."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required (make setup installs it)")
        pytest.skip("chromium is not installed: run make setup")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--lang=zh-CN"]
        )
        yield b
        b.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 860}, locale="zh-CN", accept_downloads=True
    )
    yield ctx
    ctx.close()


@pytest.fixture
def phone(browser):
    """A phone-sized screen (390×844), for the pages a signer or a subscriber opens on a
    phone."""
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        accept_downloads=True,
    )
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    assert not errors, f"script errors on the page: {errors}"


def shot(page, name: str) -> Path:
    """A full-page screenshot, ``<output>/web/<name>.png``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def unlabeled(page) -> list[str]:
    """The page's form controls no label names (no ``<label for>``, no label around them, no
    ``aria-label``): a screen reader reads them out as a bare "edit text", and a click on the
    text beside them does nothing."""
    return page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea")]
            .filter((x) => !["hidden", "submit", "button"].includes(x.type))
            .filter((x) => !x.labels.length && !x.getAttribute("aria-label")
                && !x.getAttribute("aria-labelledby"))
            .map((x) => x.name || x.id)"""
    )


def one_key_two_holders(p, first_id: int, second_id: int) -> tuple:
    """Two certificates for one key (the second an organization's): a revocation for key
    compromise of one takes the other with it."""
    from tests.integration.test_ca_lifecycle import issue, make_csr, new_key

    key = new_key()
    first = issue(p, first_id, csr=make_csr(key))
    return first, issue(p, second_id, "organization-signing", csr=make_csr(key))


def decline_then_accept(page) -> list[str]:
    """Answer the page's questions (confirm dialogs): the first declined, the rest accepted;
    the questions asked, in order."""
    asked: list[str] = []

    def answer(dialog) -> None:
        asked.append(dialog.message)
        (dialog.dismiss if len(asked) == 1 else dialog.accept)()

    page.on("dialog", answer)
    return asked
