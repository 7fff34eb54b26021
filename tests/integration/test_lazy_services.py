"""A listing builds only what it shows; a change still gets everything it needs, and its
refusals, as before (issue 10: ``yinxin cert list`` and ``seal list`` under 0.5 s).

``Platform`` hands the certificates service, its notices and the seal service the authority,
the key-encryption key and the notifier as callables, and the seal service builds its parts
on first use. These tests read what a platform and its seal service hold after a listing,
check that each facade verb is still its part's own method, and that a messaging
configuration that cannot be built still refuses every certificate change and leaves it
unwritten, now from inside the change's transaction.
"""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSPHRASE
from tests.integration.signing_flow import World
from yinxin.app import Platform
from yinxin.errors import ConfigurationError, ValidationError
from yinxin.registry.lifecycle import ACTIVE, ON_HOLD
from yinxin.seals import service
from yinxin.seals.service import Seals
from yinxin.settings import MessageSettings
from yinxin.store.models.notify import Notification


def _no_passphrase() -> str:
    raise AssertionError("the key store was opened")


def test_listings_build_no_authority_kek_notifier_nor_seal_key_parts(world: World) -> None:
    """A new platform on the world's home (as a new process has) lists the same certificates
    and seals as the platform that made them, and has built no authority, KEK, notifier or
    key store, and of the seal service no PIN, record or issuance part. A verb that needs
    them builds them then."""
    w = world
    q = Platform(w.p.settings, clock=w.clock, passphrase=_no_passphrase)
    try:
        certificates, seals = q.certificates.list(), q.seals.list()
        assert len(certificates) == 2 and certificates == w.p.certificates.list()
        assert len(seals) == 2 and seals == w.p.seals.list()
        assert q.seals.get(w.yi.seal.es_id) == w.p.seals.get(w.yi.seal.es_id)
        assert q.certificates.get(w.person_cert.serial) == w.person_cert
        assert not {"ca", "kek", "notifier", "status"} & set(vars(q))
        assert q._keystore is None
        assert not {"_pins", "_records", "_issuance"} & set(vars(q.seals))
        # the seal verbs that need them build them (and the KEK, not the key store)
        assert q.seals.usable(w.yi.seal.es_id).usable
        assert "_pins" in vars(q.seals) and "kek" in vars(q) and q._keystore is None
        assert q.seals.records(w.yi.seal.es_id)
        assert "_records" in vars(q.seals) and "ca" in vars(q)
    finally:
        q.close()


def test_every_seal_verb_is_its_parts_own_method(platform: Platform) -> None:
    """Each verb of the facade is the bound method of the part that owns it (its signature
    and docstring are the part's), read once and kept on the instance (replaceable)."""
    seals = platform.seals
    verbs = {n: v for n, v in vars(Seals).items() if isinstance(v, service._Verb)}
    assert len(verbs) == 27 and {
        "apply",
        "hold_usable",
        "check_usable",
        "usable_by",
        "grants",
    } <= set(verbs)
    for name, verb in verbs.items():
        method = getattr(seals, name)
        part = getattr(seals, verb.part)
        assert method == getattr(part, verb.verb) and method.__self__ is part, name
        assert inspect.signature(method) == inspect.signature(getattr(part, verb.verb))
        assert method.__doc__ == getattr(type(part), verb.verb).__doc__
        assert vars(seals)[name] is method  # kept: a plain attribute from now on
    assert seals._views is seals._issuance.views and seals._holds is seals._issuance.holds
    assert seals._files is seals._records.files and seals._pins.kek is platform.kek
    assert seals._records.ca is platform.ca and seals._issuance.ca is platform.ca


def test_the_seal_services_result_types_are_still_exported() -> None:
    """``from yinxin.seals.service import UnlockedSeal`` and the rest work as before, each the
    part's own class; an unknown name is an ``AttributeError``."""
    from yinxin.seals import pin, records

    for name in service.__all__:
        assert getattr(service, name) is not None, name
    assert service.UnlockedSeal is pin.UnlockedSeal and service.PinChecked is pin.PinChecked
    assert service.RecordCheck is records.RecordCheck
    with pytest.raises(AttributeError):
        service.NoSuchThing  # noqa: B018


def test_a_bad_region_code_is_refused_when_the_seal_service_is_built(platform: Platform) -> None:
    """The issuance part is built on first use; its region code is still checked at once."""
    with pytest.raises(ValidationError) as e:
        Seals(
            platform.db,
            platform.clock,
            _no_passphrase,
            home=platform.settings.home,
            region_code="11",
        )
    assert e.value.field == "region_code"


def _state(p: Platform, serial: str) -> tuple:
    with p.db.read() as s:
        notices = s.execute(select(func.count(Notification.id))).scalar_one()
    return p.certificates.get(serial), len(p.audit_events()), notices


def test_a_gateway_that_cannot_be_built_refuses_every_change_and_writes_nothing(
    world: World,
) -> None:
    """Aliyun SMS without its keys: the notifier cannot be built. A listing answers (it never
    needed the gateways); every certificate change is refused with the configuration error,
    also one that writes no notice (the release of a hold), and the certificate, the audit
    trail and the send log are as they were: the notifier is asked for inside the change's
    transaction, before anything else, and its refusal is not taken for a holder without
    contact details."""
    w = world
    serial = w.person_cert.serial
    broken = replace(w.p.settings, messages=MessageSettings(sms_provider="aliyun"))
    q = Platform(broken, clock=w.clock, passphrase=PASSPHRASE)
    try:
        assert q.certificates.list() == w.p.certificates.list()
        w.p.certificates.pay(serial=serial, years=1, reference="R-1")  # so renew gets that far
        for change in (
            lambda: q.certificates.freeze(serial, actor="张三"),
            lambda: q.certificates.revoke(serial, reason="key_compromise", actor="张三"),
            lambda: q.certificates.renew(serial, actor="ra"),
        ):
            before = _state(q, serial)
            with pytest.raises(ConfigurationError) as e:
                change()
            assert e.value.field == "YINXIN_ALIYUN_ACCESS_KEY_ID"
            assert _state(q, serial) == before and before[0].status == ACTIVE
        w.p.certificates.freeze(serial, actor="张三")  # a working platform holds it
        before = _state(q, serial)
        with pytest.raises(ConfigurationError):
            q.certificates.unfreeze(serial, actor="ra")  # no notice, still refused
        assert _state(q, serial) == before and before[0].status == ON_HOLD
        w.clock.advance(days=400)  # due for renewal notices, which cannot be sent
        with pytest.raises(ConfigurationError):
            q.notices.send_renewal_notices(30)
        assert _state(q, serial)[2] == before[2]
        assert q.verify_audit().ok
    finally:
        q.close()
