"""Two set-ups of the same certificate authority at once: one wins, the other is refused, and the
winner keeps its keys.

Before the lock (``CertificateAuthority._create``), the second ``init`` passed the "not yet
initialised" check while the first was still making its keys, removed them as left-overs of an
interrupted run, wrote its own under the same labels, and the run that lost at commit removed
the key files on its way out: a CA with certificates and no keys. Here the first run is held
inside key generation while the second starts; the second must wait, then be refused without
touching a key, and every certificate the database holds must match the key the store holds.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest

from yinxin.app import Platform
from yinxin.errors import Conflict
from yinxin.pki.der import spki
from yinxin.pki.sm2_x509 import cert_spki
from yinxin.registry.ca import ROLES, key_label, role_of


def _hold_first_generation(p: Platform, inside: threading.Event, go_on: threading.Event) -> None:
    """Make ``p``'s (cached) key store stop in its first key generation until ``go_on`` is set."""
    store = p.keystore()
    real = store.generate
    held = [False]

    def generate(label: str, algorithm: str):  # type: ignore[no-untyped-def]
        if not held[0]:
            held[0] = True
            inside.set()
            assert go_on.wait(60)
        return real(label, algorithm)

    store.generate = generate  # type: ignore[method-assign]  # the CA asks p.keystore(): this one


def _keys_match_certificates(p: Platform, hierarchy: str = "") -> None:
    store = p.keystore()
    for base in ROLES:
        role = role_of(hierarchy, base)
        cert = p.ca.certificate(role)
        key = store.load(key_label(role))
        assert spki(key.public_key()) == cert_spki(cert), role


def _race(first: Callable[[], object], second: Callable[[], object], first_p: Platform) -> None:
    inside, go_on = threading.Event(), threading.Event()
    _hold_first_generation(first_p, inside, go_on)
    results: dict[str, object] = {}

    def run(name: str, fn: Callable[[], object]) -> None:
        try:
            results[name] = fn()
        except Exception as e:  # noqa: BLE001 - the test reads it
            results[name] = e

    a = threading.Thread(target=run, args=("first", first))
    a.start()
    assert inside.wait(60), "the first set-up never reached key generation"
    b = threading.Thread(target=run, args=("second", second))
    b.start()
    # polled, not b.join(1.5): under faketime a timed join waits until the thread ends
    until = time.monotonic() + 1.5
    while b.is_alive() and time.monotonic() < until:
        time.sleep(0.05)
    waited = b.is_alive()  # without the lock it ran through while the first was held
    go_on.set()
    a.join(120)
    b.join(120)
    assert not isinstance(results["first"], Exception), results["first"]
    assert isinstance(results["second"], Conflict), results["second"]
    assert waited, "the second set-up did not wait for the first"


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_inits_at_once_one_wins_and_keeps_its_keys(make_platform, db: str) -> None:
    p1 = make_platform(db, init=False)
    p2 = make_platform(db, init=False, home=p1.settings.home, url=p1.settings.database_url)
    _race(lambda: p1.ca.init("ec-p256"), lambda: p2.ca.init("ec-p256"), p1)
    _keys_match_certificates(p1)
    p3 = make_platform(db, init=False, home=p1.settings.home, url=p1.settings.database_url)
    _keys_match_certificates(p3)  # as a fresh process sees them


def test_two_sm2_hierarchies_added_at_once_one_wins(make_platform) -> None:
    p1 = make_platform("sqlite")
    p2 = make_platform("sqlite", init=False, home=p1.settings.home, url=p1.settings.database_url)
    _race(lambda: p1.ca.add_hierarchy("sm2"), lambda: p2.ca.add_hierarchy("sm2"), p1)
    p3 = make_platform("sqlite", init=False, home=p1.settings.home, url=p1.settings.database_url)
    _keys_match_certificates(p3, "sm2")
    _keys_match_certificates(p3)


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_tsa_rollovers_at_once_leave_the_active_certificate_its_key(
    make_platform, db: str
) -> None:
    """``archive renew`` rolls the TSA over when it is due; the scheduler's run and an
    operator's may do so together. Before the lock the second run, seeing the first's new key
    file (same label ``tsa-2``), removed it as a left-over and wrote its own; one committed, the
    other lost at commit and removed the key file on its way out: an active TSA certificate
    with no key, every timestamp refused. Now the second waits, finds the TSA rolled over and
    not due any more, and touches no key."""
    p1 = make_platform(db)
    p2 = make_platform(db, init=False, home=p1.settings.home, url=p1.settings.database_url)
    margin = dt.timedelta(days=36500)  # due: the TSA's certificate has less than this left
    inside, go_on = threading.Event(), threading.Event()
    _hold_first_generation(p1, inside, go_on)
    results: dict[str, object] = {}

    def run(name: str, p: Platform) -> None:
        try:
            results[name] = p.ca.ensure_current("tsa", margin)
        except Exception as e:  # noqa: BLE001 - the test reads it
            results[name] = e

    a = threading.Thread(target=run, args=("first", p1))
    a.start()
    assert inside.wait(60), "the first rollover never reached key generation"
    b = threading.Thread(target=run, args=("second", p2))
    b.start()
    until = time.monotonic() + 1.5  # polled, not a timed join (faketime)
    while b.is_alive() and time.monotonic() < until:
        time.sleep(0.05)
    go_on.set()
    a.join(120)
    b.join(120)
    assert not isinstance(results["first"], Exception), results["first"]
    assert not isinstance(results["second"], Exception), results["second"]
    p3 = make_platform(db, init=False, home=p1.settings.home, url=p1.settings.database_url)
    cert = p3.ca.certificate("tsa")
    assert spki(p3.ca.key("tsa").public_key()) == cert_spki(cert)
    rolled = [r for r in results.values() if r is not None]
    assert len(rolled) >= 1 and len(p3.ca.certificates("tsa")) == 1 + len(rolled)
