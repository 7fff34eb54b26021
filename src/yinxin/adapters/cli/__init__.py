"""The ``yinxin`` command line (Typer). Thin: parse, call a service, render text or ``--json``.

This module is the root command with the registry's verbs (subscribers, certificates, fees,
notices, audit) and ``init``, ``demo``, ``serve``; ``seals``, ``signing`` and ``archive`` hold the
other groups. All of them share ``common`` and import services only inside their commands, so
``yinxin --help`` loads none of them.

Exit codes: 0 ok; 2 invalid input; 3 not found; 4 illegal transition; 5 forbidden (wrong PIN,
wrong passphrase, unpaid, no agreement); 6 conflict; 7 configuration; 1 anything else refused.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import inspect
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from yinxin.adapters.cli.common import (
    ACTOR,
    AFTER,
    APPLICANT,
    HOME,
    ID_TYPE,
    JSON,
    LIMIT,
    MAX_PEM_INPUT,
    OPERATOR,
    PIN_STDIN,
    WHOLE_NUMBER_LIMIT,
    DecimalFloat,
    DecimalFloatRange,
    DecimalIntRange,
    OnceCommand,
    Platform,
    as_options,
    ca_key_first,
    ca_keys_first,
    close_platforms,
    console,
    emit,
    err_console,
    more,
    new_passphrase,
    no_database_yet,
    on_platform,
    page_of,
    parse_time,
    passphrase,
    platform,
    read_input,
    read_secret,
    refuse_given,
    run,
    say,
    secret_help,
    show_error,
    track_platforms,
)
from yinxin.clock import beijing_date
from yinxin.errors import ValidationError, YinxinError

if TYPE_CHECKING:
    from yinxin.registry.views import (
        AuthorityInit,
        CertificateView,
        LostCertificate,
        RestoredCertificate,
        RevokedCertificate,
        Successor,
    )

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Yinxin (印信): certificate authority, electronic seals, contract signing.",
)
subscriber_app = typer.Typer(no_args_is_help=True, help="Subscribers (证书订户).")
cert_app = typer.Typer(no_args_is_help=True, help="Certificate applications and lifecycle.")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit trail.")
plan_app = typer.Typer(no_args_is_help=True, help="Fee plans (收费标准).")
app.add_typer(subscriber_app, name="subscriber")
app.add_typer(cert_app, name="cert")
app.add_typer(audit_app, name="audit")
app.add_typer(plan_app, name="plan")


def _cert_line(c: CertificateView, label: str = "") -> None:
    hold = f" ({c.hold_kind})" if c.hold_kind else ""
    say(
        "{}[bold]{}[/]  {}{}  {}  {}  valid to {}",
        label,
        c.serial,
        c.status,
        hold,
        c.profile,
        c.subject,
        beijing_date(c.not_after),
    )


def _cert_lines(rows: list[CertificateView]) -> None:
    """Certificates one line each, as ``cert list`` prints them (``cert expiring`` printed
    every field, the whole PEM among them with literal \\n, on one line a certificate)."""
    for c in rows:
        _cert_line(c)


def _revoked(c: RevokedCertificate) -> None:
    """The certificate revoked, then each other certificate of its key revoked with it."""
    _cert_line(c)
    for serial in c.same_key_revoked:
        say("also revoked (same key, key_compromise): [bold]{}[/]", serial)


def _lost(c: LostCertificate) -> None:
    """The certificate reported lost, then each other certificate of the holder's for its key
    put on hold with it."""
    _cert_line(c)
    for serial in c.same_key_held:
        say("also on hold (same key, lost): [bold]{}[/]", serial)


def _restored(c: RestoredCertificate) -> None:
    """The certificate restored after a loss report, then each other certificate of the
    holder's for its key released from the loss with it."""
    _cert_line(c)
    for serial in c.same_key_released:
        say("also restored (same key): [bold]{}[/]", serial)


def _successor(s: Successor) -> None:
    """A renewal, rekey, reissue or change: the certificate issued, then the one it replaces
    as it now stands (revoked, or still valid beside a renewal), then each other certificate
    of the old key revoked with it."""
    _cert_line(s.certificate, "new  ")
    _cert_line(s.previous, "was  ")
    for serial in s.same_key_revoked:
        say("also revoked (same key): [bold]{}[/]", serial)


# options the certificate verbs share
CSR = typer.Option(None, "--csr", help="PKCS#10 CSR (PEM or DER): you hold the key.")
PLATFORM_KEY = typer.Option(
    False, "--platform-key", help="The platform holds the key, sealed under your PIN."
)
PIN = typer.Option(None, "--pin", help=secret_help("PIN for a platform-held key", "YINXIN_PIN"))
OFFICER = typer.Option(..., help="RA officer.")
SUBSCRIBER = typer.Argument(..., help="The subscriber's id (subscriber list).")
APPLICATION = typer.Argument(..., help="The application's id.")


class _Leftovers:
    """What ``yinxin init`` would leave behind if refused: the data directory and the SQLite
    database file (with its journal files) as they stood before the call, to remove only what
    the call created."""

    def __init__(self, home: Path, had_home: bool, in_home: set[str], db: list[Path]) -> None:
        self.home, self.had_home, self.in_home, self.db = home, had_home, in_home, db
        # a SQLite database made by this call: nothing in the directory was a platform's yet
        self.fresh = bool(db) and not db[0].name.endswith(_SQLITE_SIDE)

    @classmethod
    def before(cls, home: Path, database_url: str) -> _Leftovers:
        db: list[Path] = []
        if database_url.startswith("sqlite:///"):
            path = Path(database_url.removeprefix("sqlite:///").split("?", 1)[0])
            db = [p for p in (path, *(Path(f"{path}{x}") for x in _SQLITE_SIDE)) if not p.exists()]
        had = home.is_dir()
        return cls(home, had, {c.name for c in home.iterdir()} if had else set(), db)

    def remove(self) -> None:
        import shutil

        if self.fresh:  # another process may be using a database that was there: never touched
            for path in self.db:
                path.unlink(missing_ok=True)
        if not self.home.is_dir():
            return
        if not self.had_home:
            shutil.rmtree(self.home, ignore_errors=True)
            return
        for child in self.home.iterdir():
            if child.name in self.in_home:
                continue
            if not self.fresh:
                # a platform's database was there already (a server's, or a SQLite file): of
                # what this call added only an empty folder goes, the key store's, whose keys
                # the CA removed when it failed
                if child.is_dir() and not child.is_symlink():
                    with contextlib.suppress(OSError):
                        child.rmdir()
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


_SQLITE_SIDE = ("-journal", "-wal", "-shm")


# --- top level ------------------------------------------------------------------------------------
@app.command()
def init(
    home: Path | None = HOME,
    algorithm: str = typer.Option(
        "ec-p256", help="ec-p256, ec-p384, rsa-2048, rsa-3072 or sm2 (SM2/SM3, file key store)"
    ),
    actor: str = OPERATOR,
    as_json: bool = JSON,
) -> None:
    """Create the data directory, database, root and issuing CA, OCSP and TSA certificates."""

    def go():
        from yinxin.settings import Settings

        settings = Settings.from_env(home=home)
        left = _Leftovers.before(settings.home, settings.database_url)
        p = None
        try:
            # the database is migrated only once the algorithm and the passphrase are taken
            # the new keys' passphrase, asked twice at a terminal: a slip is not a CA
            p = platform(home, migrate=False, ask=new_passphrase)
            return p.init_authority(algorithm, actor)
        except BaseException:
            # a refused init (unknown --algorithm, no passphrase…) left an empty yinxin.db, and
            # the data directory, for the next init to trip over: what this call made goes
            if p is not None:
                p.close()
            left.remove()
            raise

    def show(r: AuthorityInit):
        say("[green]Initialised[/] ({}, keys in {} store)", r.algorithm, r.keystore)
        width = max(map(len, r.certificates), default=0)
        for role, c in r.certificates.items():
            console.print(f"  {role:{width}}  {c.serial}  {c.subject}")

    run(as_json, go, show)


@plan_app.command("list")
def plan_list(as_json: bool = JSON) -> None:
    """Show the fee plans (amounts in yuan; --json gives them in fen, as kept)."""
    from yinxin.registry.fees import PLANS, Plan, yuan

    def show(plans: list[Plan]) -> None:
        for p in plans:
            medium = f"  medium ¥{yuan(p.medium_fen)}" if p.medium_fen else ""
            hardware = "  hardware included" if p.includes_hardware else ""
            console.print(
                f"{p.code}  {p.title}  ¥{yuan(p.annual_fen)}/year{medium}  "
                f"renewal ¥{yuan(p.renewal_fen)}/year{hardware}"
            )

    run(as_json, lambda: list(PLANS.values()), show)


# registry.certificates.NOTICE_DAYS_MAX, written out: the CLI imports no service to start
DAYS = typer.Option(30, min=0, max=3650, help="Expiring within this many days.")


# --- subscribers ----------------------------------------------------------------------------------
@subscriber_app.command("add-person")
@on_platform()
def add_person(
    name: str = typer.Option(..., help="Legal name, as on the ID document."),
    id_number: str = typer.Option(..., help="ID document number (checked for its type)."),
    phone: str = typer.Option(..., help="Mobile number (11 digits) for one-time codes."),
    id_type: str = ID_TYPE,
    email: str | None = typer.Option(None, help="For notices (optional)."),
    p: Platform = HOME,
    actor: str = ACTOR,
) -> object:
    """Register a person (name, ID type and number, mobile phone)."""
    return p.subscribers.add_person(
        name=name, id_number=id_number, phone=phone, id_type=id_type, email=email, actor=actor
    )


@subscriber_app.command("add-organization")
@on_platform()
def add_organization(
    name: str = typer.Option(..., help="Registered name, as on the business licence."),
    uscc: str = typer.Option(..., help="Unified social credit code (18 characters, checked)."),
    legal_representative: str = typer.Option(..., help="Legal representative's name."),
    contact_name: str = typer.Option(..., help="Contact person's name."),
    contact_phone: str = typer.Option(
        ..., help="Contact person's phone: a mobile number, or a landline with its area code."
    ),
    phone: str | None = typer.Option(
        None, help="Mobile for one-time codes (default: --contact-phone if it is a mobile)."
    ),
    email: str | None = typer.Option(
        None, help="For notices; needed when there is no mobile number (a landline alone)."
    ),
    p: Platform = HOME,
    actor: str = ACTOR,
) -> object:
    """Register an organization (name, unified social credit code, legal representative…)."""
    return p.subscribers.add_organization(
        name=name,
        uscc=uscc,
        legal_representative=legal_representative,
        contact_name=contact_name,
        contact_phone=contact_phone,
        phone=phone,
        email=email,
        actor=actor,
    )


@subscriber_app.command("add-device")
@on_platform()
def add_device(
    device_name: str = typer.Option(..., help="The device's name (e.g. its host name)."),
    organization_id: int = typer.Option(..., help="Subscriber id of the owning organization."),
    p: Platform = HOME,
    actor: str = ACTOR,
) -> object:
    """Register a device owned by an organization subscriber."""
    return p.subscribers.add_device(
        device_name=device_name, organization_id=organization_id, actor=actor
    )


@subscriber_app.command("agreement")
def agreement(as_json: bool = JSON) -> None:
    """Print the current subscriber agreement (read it before accepting)."""
    from yinxin.agreements import current_agreement

    # the text as it is, byte for byte: its SHA-256 is what an acceptance records
    run(as_json, current_agreement, lambda r: sys.stdout.write(r.text))


@subscriber_app.command("accept-agreement")
@on_platform()
def accept_agreement(
    subscriber_id: int = SUBSCRIBER,
    accepted_by: str = typer.Option(..., help="Name of the person who accepted it."),
    version: str | None = typer.Option(
        None, help="The agreement version accepted (default: the current one)."
    ),
    p: Platform = HOME,
) -> object:
    """Record that the subscriber accepted the current agreement (which text, when, by whom)."""
    return p.subscribers.accept_agreement(subscriber_id, accepted_by=accepted_by, version=version)


@subscriber_app.command("show")
@on_platform()
def subscriber_show(
    subscriber_id: int = SUBSCRIBER,
    reveal: bool = typer.Option(
        False, help="Show full ID and phone numbers (entitled staff only)."
    ),
    p: Platform = HOME,
) -> object:
    """One subscriber, ID and phone numbers masked unless --reveal."""
    return p.subscribers.get(subscriber_id, reveal=reveal)


# the certificate subject's fields: taken by ``subscriber update`` only to be refused with the
# way to change them (``cert change``), rather than Typer's bare "No such option"
_IN_SUBJECT = "In the certificate subject: refused here; use `yinxin cert change`."


@subscriber_app.command("update")
@on_platform()
def subscriber_update(
    subscriber_id: int = SUBSCRIBER,
    phone: str | None = typer.Option(
        None,
        help="New mobile number (codes and notices), at once: the desk has checked the "
        "holder's identity. The old number is told.",
    ),
    email: str | None = typer.Option(
        None, help='New e-mail address for notices; "" removes it (the old address is told).'
    ),
    legal_representative: str | None = typer.Option(
        None, help="New legal representative, 法定代表人 (organization)."
    ),
    contact_name: str | None = typer.Option(None, help="New contact person (organization)."),
    contact_phone: str | None = typer.Option(
        None, help="New contact's phone: mobile, or landline with area code (organization)."
    ),
    name: str | None = typer.Option(None, hidden=True, help=_IN_SUBJECT),
    id_number: str | None = typer.Option(None, hidden=True, help=_IN_SUBJECT),
    uscc: str | None = typer.Option(None, hidden=True, help=_IN_SUBJECT),
    device_name: str | None = typer.Option(None, hidden=True, help=_IN_SUBJECT),
    p: Platform = HOME,
    actor: str = ACTOR,
) -> object:
    """Change a subscriber's contact details (phone, e-mail, legal representative, contact
    person) without touching its certificates; subject data (name, ID number, credit code) goes
    through `cert change`.

    A desk change, made at once (the officer checked the holder's identity in person); a
    holder's own phone change through the API waits for a code sent to the new number. The
    old phone and e-mail are told, codes still pending and the holder's sessions end."""
    changes = {
        "phone": phone,
        "email": email,
        "legal_representative": legal_representative,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "name": name,
        "id_number": id_number,
        "uscc": uscc,
        "device_name": device_name,
    }
    if all(v is None for v in changes.values()):
        # the service says "give the new phone, email, …" (the API's fields); here the options
        raise ValidationError(
            "nothing to change: give --phone, --email, --legal-representative, --contact-name "
            "or --contact-phone",
            field="phone",
        )
    return p.subscribers.update(subscriber_id, changes, actor=actor)


@subscriber_app.command("list")
@on_platform()
def subscriber_list(
    kind: str | None = typer.Option(None, help="person, organization or device."),
    unreachable: bool = typer.Option(
        False,
        "--unreachable",
        help="Only those no notice can reach: no mobile number and no e-mail on record "
        "(a device: none on its organization's).",
    ),
    limit: int = LIMIT,
    after: int | None = AFTER,
    p: Platform = HOME,
) -> object:
    """Subscribers in registration order (or those of one --kind), a page at a time, ID and
    phone numbers masked; `reachable` says whether its notices reach anyone (a mobile number or
    an e-mail on record)."""
    listing = functools.partial(p.subscribers.list, kind, reachable=False if unreachable else None)
    return page_of(listing, limit, after)


# --- certificates ---------------------------------------------------------------------------------
@cert_app.command("apply")
def cert_apply(
    subscriber_id: int = typer.Option(..., help="Who the certificate is for."),
    profile: str = typer.Option(
        ..., help="person-signing, organization-signing or device-tls (by subscriber kind)."
    ),
    csr: Path | None = CSR,
    platform_key: bool = PLATFORM_KEY,
    pin: str | None = PIN,
    pin_stdin: bool = PIN_STDIN,
    plan: str = typer.Option("standard", help="Fee plan: standard or premium (yinxin plan list)."),
    years: int = typer.Option(1, help="Years paid for, and of validity."),
    acceptance_point: str = typer.Option("总部受理点", help="受理点: where it was received."),
    dns: list[str] = typer.Option([], "--dns", help="DNS names (device-tls)."),
    algorithm: str | None = typer.Option(
        None,
        help="Platform-held key's algorithm: ec-p256 (the default), ec-p384, rsa-2048, "
        "rsa-3072 or sm2.",
    ),
    home: Path | None = HOME,
    actor: str = APPLICANT,
    as_json: bool = JSON,
) -> None:
    """Apply for a certificate with your CSR, or with a platform-held key under a PIN.

    The PIN comes from YINXIN_PIN, standard input (--pin-stdin, or when it is not a terminal)
    or a hidden prompt, never from the command line unless you insist (--pin, discouraged).
    """

    def go() -> object:
        # the key's options (and the PIN) before the platform is built: on_platform built it
        # first, so a bad --algorithm or --csr on a fresh home left a database behind
        key = _key_args(csr, platform_key, pin, pin_stdin, algorithm)
        p = platform(home)
        # a refused --dns named the service's dns_names, which no option is called
        return as_options(
            {"dns_names": "dns"},
            lambda: p.certificates.apply(
                subscriber_id=subscriber_id,
                profile=profile,
                **key,
                plan=plan,
                years=years,
                acceptance_point=acceptance_point,
                dns_names=dns or None,
                actor=actor,
            ),
        )

    run(as_json, go)


@cert_app.command("pay")
@on_platform()
def cert_pay(
    application: int | None = typer.Option(
        None, "--application", help="Application id (first payment)."
    ),
    serial: str | None = typer.Option(None, "--serial", help="Certificate serial (renewal)."),
    years: int = typer.Option(1, help="Years paid for."),
    reference: str | None = typer.Option(None, help="Receipt or transfer reference."),
    p: Platform = HOME,
    actor: str = typer.Option("cashier", "--actor", help="Who took the payment (audit trail)."),
) -> object:
    """Record a fee: the first year(s) for an application, or a renewal for a certificate."""
    # a refusal of --application (none given, no such application, paid already) named the
    # service's application_id, which no option is called
    return as_options(
        {"application_id": "application"},
        lambda: p.certificates.pay(
            application_id=application,
            serial=serial,
            years=years,
            reference=reference,
            actor=actor,
        ),
    )


@cert_app.command("applications")
@on_platform()
def cert_applications(
    state: str | None = typer.Option("pending", help="pending, approved or rejected."),
    p: Platform = HOME,
) -> object:
    """The review queue."""
    return p.certificates.applications(state)


@cert_app.command("approve")
@on_platform(_cert_line)
def cert_approve(
    application_id: int = APPLICATION,
    officer: str = OFFICER,
    p: Platform = HOME,
) -> object:
    """Approve an application: the certificate is issued."""
    return p.certificates.approve(application_id, officer=officer)


@cert_app.command("reject")
@on_platform()
def cert_reject(
    application_id: int = APPLICATION,
    officer: str = OFFICER,
    reason: str = typer.Option(..., help="Why; kept on the application and in the audit trail."),
    p: Platform = HOME,
) -> object:
    """Reject an application: no certificate is issued; the reason is recorded."""
    return p.certificates.reject(application_id, officer=officer, reason=reason)


@cert_app.command("revoke")
@on_platform(_revoked)
def cert_revoke(
    serial: str,
    reason: str = typer.Option(
        ...,
        help="key_compromise, "
        "no_longer_needed, fees_unpaid, false_application_data, stolen_or_forged, "
        "harm_to_relying_parties, superseded, subject_changed, unspecified",
    ),
    requested_at: str | None = typer.Option(
        None, help="When the written request was received (ISO 8601)."
    ),
    p: Platform = HOME,
    actor: str = ACTOR,
) -> object:
    """Revoke at once; records request time and effective time. For key compromise
    (key_compromise, stolen_or_forged) every other certificate in force for the same key,
    anyone's, is revoked with it as key_compromise, each listed."""
    from yinxin.registry.lifecycle import check_revocation_reason  # the CLI starts without it

    # the command line's own checks before the passphrase is asked for
    check_revocation_reason(reason)
    requested = parse_time(requested_at, "requested_at")
    return ca_key_first(p, serial).certificates.revoke(
        serial, reason=reason, actor=actor, requested_at=requested
    )


def _changing(home: Path | None, verb: str, serial: str) -> Platform:
    """The platform for ``verb``: one that changes a status without issuing (unfreeze,
    report-loss, restore) asks for the CA passphrase first at a terminal (``ca_key_first``);
    renew issues, and so needs the CA key before it writes anyway."""
    p = platform(home)
    return p if verb == "renew" else ca_key_first(p, serial)


def _simple_verb(verb: str, doc: str) -> None:
    def cmd(
        serial: str, home: Path | None = HOME, actor: str = ACTOR, as_json: bool = JSON
    ) -> None:
        run(
            as_json,
            lambda: getattr(_changing(home, verb, serial).certificates, verb)(serial, actor=actor),
            {"renew": _successor, "report_loss": _lost, "restore": _restored}.get(verb, _cert_line),
        )

    cmd.__doc__ = doc
    cert_app.command(verb.replace("_", "-"))(cmd)


@cert_app.command("freeze")
def cert_freeze(
    serial: str,
    at_holder_request: bool = typer.Option(
        False,
        "--at-holder-request",
        help="The holder asked for it (e.g. by phone): the holder may lift it. Without it the "
        "freeze is the certification authority's, lifted by the desk only.",
    ),
    home: Path | None = HOME,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Freeze (certificate hold): by the CA unless --at-holder-request."""
    from yinxin.registry.lifecycle import HoldBy  # here: the CLI starts without the services

    by = HoldBy.HOLDER if at_holder_request else HoldBy.CA
    run(
        as_json,
        lambda: ca_key_first(platform(home), serial).certificates.freeze(
            serial, actor=actor, by=by
        ),
        _cert_line,
    )


for _verb, _doc in [
    ("unfreeze", "Release a freeze."),
    (
        "report_loss",
        "Report a lost key or medium: immediate hold, with the holder's other certificates "
        "of the key (each listed); another subscriber's certificate of the key stays in force, "
        "but the key gets no new certificate, and a key_compromise revocation or a reissue "
        "revokes every certificate of it.",
    ),
    (
        "restore",
        "Restore after a loss report (the medium was found), with the holder's other "
        "certificates of the key held by the loss (each listed).",
    ),
    ("renew", "Renew (same key) up to the paid date."),
]:
    _simple_verb(_verb, _doc)


def _key_args(
    csr: Path | None,
    platform_key: bool,
    pin: str | None,
    pin_stdin: bool,
    algorithm: str | None = None,
) -> dict:
    """The new key of an application, rekey or reissue: the subscriber's CSR, or a PIN to seal
    a platform-held key under (from YINXIN_PIN, standard input or a prompt) and, for an
    application, the key's ``algorithm``.

    ``--pin``, ``--pin-stdin`` and ``--algorithm`` are the platform-held key's: beside a
    ``--csr`` they were dropped without a word (``--csr req.pem --algorithm sm2`` applied for
    the CSR's P-256 key, exit 0), now each is refused naming it."""
    data = read_input(csr, "csr", MAX_PEM_INPUT)
    if platform_key and data is not None:
        raise ValidationError("give --csr or --platform-key, not both", field="csr")
    if data is not None:
        refuse_given(
            {"pin": pin is not None, "pin_stdin": pin_stdin, "algorithm": algorithm},
            "{option} is for a platform-held key (--platform-key); "
            "a CSR's key is your own, of the algorithm it was made with",
        )
    if platform_key:
        more = {} if algorithm is None else {"algorithm": algorithm}
        if algorithm is not None:  # an unknown one before the PIN is asked for, twice
            from yinxin.pki.algorithms import get_algorithm

            get_algorithm(algorithm)
        return {
            **more,
            "pin": read_secret(
                "PIN for the new platform-held key",
                env="YINXIN_PIN",
                field="pin",
                option=pin,
                from_stdin=pin_stdin,
                confirm=True,
            ),
        }
    if data is None:
        raise ValidationError("give --csr FILE or --platform-key", field="csr")
    return {"csr": data}


def _new_key_verb(verb: str, doc: str) -> None:
    def cmd(
        serial: str,
        csr: Path | None = CSR,
        platform_key: bool = PLATFORM_KEY,
        pin: str | None = PIN,
        pin_stdin: bool = PIN_STDIN,
        home: Path | None = HOME,
        actor: str = ACTOR,
        as_json: bool = JSON,
    ) -> None:
        run(
            as_json,
            lambda: getattr(platform(home).certificates, verb)(
                serial, actor=actor, **_key_args(csr, platform_key, pin, pin_stdin)
            ),
            _successor,
        )

    cmd.__doc__ = doc
    cert_app.command(verb)(cmd)


_new_key_verb(
    "rekey", "Replace the key pair: a new certificate for a new key; the old one is revoked."
)


@cert_app.command("reissue")
def cert_reissue(
    serial: str,
    csr: Path | None = CSR,
    platform_key: bool = PLATFORM_KEY,
    pin: str | None = PIN,
    pin_stdin: bool = PIN_STDIN,
    dns: list[str] = typer.Option(
        [],
        "--dns",
        help="A device certificate's new host names, once per name (default: the old "
        "certificate's, checked again).",
    ),
    home: Path | None = HOME,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Reissue with a new key (e.g. after a loss report); the old certificate is revoked."""
    # a refused --dns named the service's dns_names, which no option is called
    run(
        as_json,
        lambda: as_options(
            {"dns_names": "dns"},
            lambda: platform(home).certificates.reissue(
                serial,
                actor=actor,
                **_key_args(csr, platform_key, pin, pin_stdin),
                dns_names=dns or None,
            ),
        ),
        _successor,
    )


@cert_app.command("change")
def cert_change(
    serial: str,
    name: str | None = typer.Option(None, help="New name (person or organization)."),
    phone: str | None = typer.Option(
        None, help="New mobile number, with subject data (alone: subscriber update)."
    ),
    legal_representative: str | None = typer.Option(
        None, help="New legal representative, with subject data (alone: subscriber update)."
    ),
    contact_name: str | None = typer.Option(
        None, help="New contact person, with subject data (alone: subscriber update)."
    ),
    contact_phone: str | None = typer.Option(
        None, help="New contact's phone, with subject data (alone: subscriber update)."
    ),
    device_name: str | None = typer.Option(None, help="New device name."),
    home: Path | None = HOME,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Change subject data: a new certificate with the new data; the old one is revoked."""
    updates = {
        "name": name,
        "phone": phone,
        "legal_representative": legal_representative,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "device_name": device_name,
    }
    run(
        as_json,
        lambda: platform(home).certificates.change(serial, actor=actor, updates=updates),
        _successor,
    )


@cert_app.command("expire")
@on_platform()
def cert_expire(p: Platform = HOME) -> object:
    """Mark certificates past their end date as expired.

    At a terminal with no YINXIN_CA_PASSPHRASE the CA passphrase is asked for before the first
    change, and only when there is one to make (a wrong one changes nothing, exit 5)."""
    ca_keys_first(p, p.certificates.due_to_expire())
    return {"expired": p.certificates.expire_due()}


@cert_app.command("suspend-unpaid")
@on_platform()
def cert_suspend_unpaid(p: Platform = HOME) -> object:
    """Stop (hold) certificates whose paid service period has run out.

    The CA passphrase is asked for as by `cert expire`: first, and only when one is due."""
    ca_keys_first(p, p.certificates.due_unpaid())
    return {"suspended": p.certificates.suspend_unpaid()}


@cert_app.command("expiring")
@on_platform(_cert_lines)
def cert_expiring(days: int = DAYS, p: Platform = HOME) -> object:
    """Certificates that need a renewal notice."""
    return p.certificates.expiring(days)


@cert_app.command("notify-expiring")
@on_platform()
def cert_notify_expiring(
    days: int = DAYS,
    repeat_after: int = typer.Option(
        7, min=0, max=3650, help="Days before the same certificate is reminded again."
    ),
    p: Platform = HOME,
) -> object:
    """Send renewal notices to holders of certificates expiring within DAYS (run daily)."""
    return {"sent": p.notices.send_renewal_notices(days, repeat_after)}


@cert_app.command("remind-payment")
@on_platform()
def cert_remind_payment(
    days: int | None = typer.Option(
        None,
        min=0,
        max=3650,
        help="Days before the paid service ends (default: YINXIN_PAYMENT_REMINDER_DAYS, 7).",
    ),
    p: Platform = HOME,
) -> object:
    """Remind holders to pay before their certificate is stopped for unpaid fees (once per
    certificate and paid period; the notices.payment job runs it daily)."""
    before = p.settings.payment_reminder_days if days is None else days
    return {"sent": p.notices.send_payment_reminders(before)}


@cert_app.command("show")
def cert_show(
    serial: str,
    pem: bool = typer.Option(False, "--pem", help="Print only the PEM (not with --json)."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """One certificate by serial (hex): status, profile, subject, validity; --pem: the PEM alone
    (not with --json, whose record holds it as "pem")."""

    def render(c: CertificateView):
        if pem:
            sys.stdout.write(c.pem)
        else:
            _cert_line(c)

    def get() -> CertificateView:
        # --json printed the whole record and --pem was dropped without a word
        if pem and as_json:
            raise ValidationError(
                '--pem prints the PEM alone and --json the whole record (its PEM as "pem"): '
                "give one of them",
                field="pem",
            )
        return platform(home).certificates.get(serial)

    run(as_json, get, render)


@cert_app.command("list")
def cert_list(
    status: str | None = typer.Option(None, help="active, on_hold, revoked or expired."),
    subscriber_id: int | None = typer.Option(None, min=1, help="Only this subscriber's."),
    limit: int = LIMIT,
    after: int | None = AFTER,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Certificates in issue order, filtered by --status or --subscriber-id, a page at a
    time."""

    def render(page):
        _cert_lines(page.items)
        more(page)

    def rows():
        p = platform(home)
        if subscriber_id is not None:  # no such subscriber: exit 3 (the API's 404), not "(none)"
            p.subscribers.get(subscriber_id)
        return page_of(
            functools.partial(p.certificates.list, subscriber_id=subscriber_id, status=status),
            limit,
            after,
        )

    run(as_json, rows, render)


@cert_app.command("wrap-keys")
@on_platform()
def cert_wrap_keys(p: Platform = HOME, actor: str = OPERATOR) -> object:
    """Encrypt platform-held keys made before the platform key-encryption key under it too
    (once, after upgrading; needs the key store, not the PINs). New keys are wrapped anyway."""
    return p.certificates.wrap_legacy_keys(actor=actor)


# --- audit ----------------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify(home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Check the hash chain; name the first broken event."""
    p = platform(home)
    v = p.verify_audit()
    if as_json:
        emit(v, True)
    elif v.ok:
        say("[green]OK[/]: {} audit events, chain intact", v.events)
    else:
        say(
            "[bold red]BROKEN[/] at event {}: {} ({} events verified before it)",
            v.first_broken,
            v.problem,
            v.events,
            err=True,
        )
    raise typer.Exit(0 if v.ok else 8)


# --- demo -----------------------------------------------------------------------------------------
@app.command()
def demo(home: Path | None = HOME, as_json: bool = JSON) -> None:
    """A demonstration: initialise if needed, then walk sample subscribers through getting
    certificates. Each run adds demo subscribers and certificates to the data directory: not
    for a production one. On a CA yinxin init made, its passphrase is asked for at a
    terminal (or taken from YINXIN_CA_PASSPHRASE) and checked first."""
    from yinxin.demo import run_demo

    run(
        as_json,
        lambda: run_demo(home, console=None if as_json else console, ask=passphrase),
        lambda r: say("\n[bold green]Demo finished.[/] Data directory: {}", r["home"]),
    )


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address; use :: for IPv6 (and IPv4)."),
    port: int = typer.Option(8000, min=0, max=65535, help="TCP port (0: any free one)."),
    home: Path | None = HOME,
    workers: int = typer.Option(1, min=1, max=256, help="Worker processes (each loads the keys)."),
    header_timeout: float = typer.Option(
        5.0,
        min=0.1,
        help="Seconds a client has to send a request's headers (from "
        "connecting, or from the request's first byte); then 408 and closed.",
    ),
    body_timeout: float = typer.Option(
        10.0,
        min=0.1,
        help="Seconds a client has to send a request's body after its "
        "headers; then 408 and closed.",
    ),
    keep_alive_timeout: float = typer.Option(
        5.0, min=0.1, help="Seconds an idle keep-alive connection is kept open."
    ),
    max_connections: int = typer.Option(
        1000, min=1, max=1_000_000, help="Connections per worker process; beyond, 503 and closed."
    ),
    no_jobs: bool = typer.Option(
        False,
        "--no-jobs",
        help="Do not run the time-driven jobs here (run `yinxin worker` instead).",
    ),
) -> None:
    """Serve the JSON API (/api/v1, OpenAPI at /api/v1/openapi.json), signing links, CRLs,
    OCSP, timestamps and CA certificates over HTTP.

    Slow or half-sent requests are cut off (header and body timeouts) and each worker serves a
    bounded number of connections, so slow clients cannot hold the responder. It also runs the
    time-driven jobs (expiry, outbox, CRLs, notices; docs/jobs.md) unless --no-jobs."""
    from yinxin.adapters.http.server import Limits, create_app, listening_socket, serve_http
    from yinxin.app import build_platform
    from yinxin.settings import Settings

    try:
        no_database_yet(home)  # refused below anyway; a new home is not made for it
        secret = passphrase()  # asked once; workers get it through the environment
        p = build_platform(Settings.from_env(home=home), passphrase=secret)
        json_logs = p.settings.log_format == "json"
        if json_logs:
            from yinxin.adapters.http.ops import json_logging

            json_logging()
        app_ = create_app(p, jobs=not no_jobs)
        # load the signing keys now, so a wrong passphrase fails at start, not on first request
        p.ca.key("ocsp")
        sock = listening_socket(host, port)  # a port in use fails here, before "Serving on"
    except YinxinError as e:
        show_error(e, as_json=False)
        raise typer.Exit(e.exit_code) from None
    limits = Limits(
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        keep_alive_timeout=keep_alive_timeout,
        max_connections=max_connections,
    )
    port = sock.getsockname()[1]
    err_console.print(
        f"Serving on http://{'[' + host + ']' if ':' in host else host}:{port}"
        f" ({workers} worker{'s' if workers > 1 else ''})"
    )
    if workers > 1:
        # each worker process builds its own platform from the environment
        os.environ["YINXIN_HOME"] = str(p.settings.home)
        if secret:
            os.environ["YINXIN_CA_PASSPHRASE"] = secret
        os.environ["YINXIN_SERVE_JOBS"] = "0" if no_jobs else "1"
        p.close()
        serve_http(
            "yinxin.adapters.http.server:app_from_env",
            host=host,
            port=port,
            workers=workers,
            limits=limits,
            json_logs=json_logs,
            sock=sock,
        )
    else:
        serve_http(app_, host=host, port=port, limits=limits, json_logs=json_logs, sock=sock)


# The groups and commands the other command modules hold, in the order `yinxin --help` lists
# them after this module's own: name -> (module in this package, its Typer or command function).
# A command imports only the module of the group it names (`_only_group`); the whole tree, for
# `--help` and everything else, mounts them all (`full_tree`). Add a new group here, not with
# `app.add_typer` (`app` is the whole tree, built on first use: see `__getattr__` below).
MOUNTED: dict[str, tuple[str, str]] = {
    "notify": ("notify", "notify_app"),
    "seal": ("seals", "seal_app"),
    "sign": ("signing", "sign_app"),
    "authorization": ("signing", "authorization_app"),
    "flow": ("flows", "flow_app"),
    "desk": ("desk", "desk_app"),
    "obligation": ("obligations", "obligation_app"),
    "contract": ("contracts", "contract_app"),
    "verify": ("verify", "verify_cmd"),
    "ofd": ("ofd", "ofd_app"),
    "archive": ("archive", "archive_app"),
    "calc": ("calc", "calc_app"),
    "apikey": ("access", "apikey_app"),
    "staff": ("access", "staff_app"),
    "webhook": ("webhooks", "webhook_app"),
    "keys": ("recrypt", "keys_app"),
    "ca": ("ca", "ca_app"),
    "worker": ("jobs", "worker_cmd"),
    "jobs": ("jobs", "jobs_app"),
    "export": ("handover", "export_cmd"),
    "import": ("handover", "import_cmd"),
}


def _mounted(name: str) -> typer.Typer | Callable[..., Any]:
    module, attribute = MOUNTED[name]
    # the import statement's own path (not importlib.import_module): -X importtime shows it
    return getattr(__import__(f"{__name__}.{module}", fromlist=[attribute]), attribute)


_root = app  # this module's own groups and commands; `app` below is the whole tree
del app


@functools.cache
def full_tree() -> typer.Typer:
    """The root command with every group and command of ``MOUNTED`` mounted (once)."""
    for name in MOUNTED:
        found = _mounted(name)
        if isinstance(found, typer.Typer):
            _root.add_typer(found, name=name)
        else:
            _root.command(name)(found)
    return _summarised(_root)


def _summarised(tree: typer.Typer) -> typer.Typer:
    """Give every command of ``tree`` a one-line summary for the command lists of ``--help``.

    In its default (rich) mode Typer lists a command by the first paragraph of its docstring
    with the docstring's own line breaks, while the command's own ``--help`` joins them: a
    summary that runs over two source lines came out as ragged half-lines in ``yinxin
    --help``. The first paragraph, joined, is set as the command's ``short_help`` (a command
    that sets one keeps it). The rest of a command's own ``--help`` kept the source's line
    breaks too, each wrapped again at the terminal's width ("… and YINXIN_CODE, standard" /
    "input (…"): its help is set to the docstring :func:`_reflowed`. Its whole-number
    parameters get their bounds (:func:`_bounded`), and its options are parsed refusing one
    given twice (:class:`OnceCommand`)."""
    for info in tree.registered_commands:
        if info.callback is None:
            continue
        _bounded(info.callback)
        _actor_named(info.callback)
        if info.cls in (None, typer.core.TyperCommand):  # an option given twice: refused
            info.cls = OnceCommand
        elif not issubclass(info.cls, OnceCommand):
            raise TypeError(f"{info.name}: a command class of its own")
        doc = info.help or inspect.getdoc(info.callback) or ""
        if info.short_help is None:
            first = doc.split("\n\n", 1)[0]
            if first.strip():
                info.short_help = " ".join(first.split())
        if doc:
            info.help = _reflowed(doc)
    for group in tree.registered_groups:
        if group.typer_instance is not None:
            _summarised(group.typer_instance)
    return tree


_WHOLE = frozenset({"int", "int | None", "Optional[int]", "list[int]", int, int | None})
_REAL = frozenset({"float", "float | None", "Optional[float]", float, float | None})


def _finite(value: float | None) -> float | None:
    """A real-number option's check: Python's ``float`` reads "nan", "inf" and "-inf", and a
    range (``min=0.1``) lets NaN through, since it compares false with everything.

    ``yinxin sign local --x nan`` wrote a PDF whose seal rectangle was NaN (our own ``verify``
    could not read its signature fields), ``yinxin worker --tick nan`` died in a traceback on
    its first sleep and ``yinxin seal repair-files --grace nan`` treated a seal still being
    created as a crashed one. A non-finite value is refused by the parser, exit 2."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def _bounded(callback: Callable[..., Any]) -> None:
    """Give each whole-number option and argument of a command the range a database integer
    holds, at whichever end it declares none (``min=0`` keeps its 0), and each real-number one
    a finite value (:func:`_finite`; its declared range stays).

    An id of twenty digits (``yinxin subscriber show 99999999999999999999``) reached SQLite,
    which cannot bind it, and ended in a traceback; with the bound, the parser refuses it
    before any service runs: "Invalid value for 'subscriber_id': … is not in the range …",
    exit 2, as any other malformed argument. Parameters are declared once and shared between
    commands (``FLOW``, ``CONTRACT``), so setting the bound twice changes nothing.

    Each gets a type reading its value in ASCII decimal digits only (:class:`DecimalIntRange`,
    :class:`DecimalFloat`): click's ``int``/``float`` took ``７``, ``٥``, ``1_000`` and `` 7``."""
    for name, param in inspect.signature(callback).parameters.items():
        info = param.default
        if not isinstance(info, typer.models.ParameterInfo):
            continue
        annotation = callback.__annotations__.get(name)
        if annotation not in _REAL and annotation not in _WHOLE:
            continue
        if info.parser is not None or not isinstance(
            info.click_type, (type(None), DecimalIntRange, DecimalFloat, DecimalFloatRange)
        ):
            raise TypeError(f"{name}: a number option with a type of its own")
        if annotation in _REAL:
            if info.callback not in (None, _finite):
                raise TypeError(f"{name}: a real-number option with a callback of its own")
            info.callback = _finite
            if info.min is None and info.max is None:
                info.click_type = DecimalFloat()
            else:
                info.click_type = DecimalFloatRange(min=info.min, max=info.max, clamp=info.clamp)
            continue
        if info.min is None:
            info.min = -WHOLE_NUMBER_LIMIT
        if info.max is None:
            info.max = WHOLE_NUMBER_LIMIT
        info.click_type = DecimalIntRange(min=int(info.min), max=int(info.max), clamp=info.clamp)


ACTOR_MAX = 100  # what the audit trail records of who acts


def _actor(value: str) -> str:
    """``--actor``'s value: who acts, as the audit trail records it. A blank one is refused,
    and one with a control or invisible character:
    ``cert freeze``, ``ca add-hierarchy``, ``keys recrypt``, ``export``, ``flow start`` and
    ``subscriber add-…`` wrote audit events naming nobody (the seal, contract and desk
    services refused it, each in its own words)."""
    # each refusal in Chinese and English ("中文 / English"), as its hidden-character one and
    # every service's: the blank and over-long ones were said in English alone
    if not value.strip():
        raise typer.BadParameter(
            "须写明操作人（记入审计日志） / name who acts (it is recorded in the audit trail)"
        )
    # the audit trail's actor (and created_by…) columns hold 100: a longer name ended in a
    # database error on PostgreSQL (SQLite, which does not enforce the length, kept it whole)
    if len(value) > ACTOR_MAX:
        raise typer.BadParameter(
            f"操作人最多 {ACTOR_MAX} 个字符（审计日志所记），此处 {len(value)} 个 / "
            f"name who acts in at most {ACTOR_MAX} characters (the audit trail's), not {len(value)}"
        )
    # nor one that hides or forges what the trail shows: a bidi override reversing the name,
    # a line break writing a second line, a zero-width character — said as every other field's
    # hidden character is, in Chinese and English (it had its own English words alone)
    from yinxin.identity import refuse_hidden

    try:
        return refuse_hidden(value, "actor")
    except ValidationError as e:
        raise typer.BadParameter(e.message) from None


def _actor_named(callback: Callable[..., Any]) -> None:
    """Give a command's ``--actor`` option the check :func:`_actor` (every group declares its
    own, with its own default: ``ra-officer``, ``operator``, ``cashier``, ``holder``…)."""
    param = inspect.signature(callback).parameters.get("actor")
    info = param.default if param is not None else None
    if isinstance(info, typer.models.OptionInfo) and info.parser in (None, _actor):
        info.parser = _actor
        info.metavar = info.metavar or "TEXT"


def _reflowed(doc: str) -> str:
    """``doc`` with each paragraph's lines joined into one (the terminal wraps it), except a
    paragraph marked ``\\b`` or holding a list or an indented block, whose lines stand."""
    out = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        lines = para.split("\n")
        if para.startswith("\b") or any(line.startswith((" ", "-", "*", "•")) for line in lines):
            out.append(para)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def __getattr__(name: str) -> Any:
    """``yinxin.adapters.cli.app``: the whole tree, mounted when first asked for."""
    if name == "app":
        return full_tree()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _only_group(argv: list[str]) -> typer.Typer | None:
    """The root command cut down to the one sub-group ``argv`` names, or ``None``.

    Typer turns every command of the tree into a click command (its parameters read from the
    signature) before it parses a word, and mounting the whole tree imports every command
    module; for ``yinxin subscriber list`` that was ~10 % of the start-up, spent on ~150
    commands and ~20 modules the call never reaches. The copy keeps the root's settings and
    only the named group, imported alone when another module holds it, so parsing, help,
    errors and exit codes are those of the full tree. Anything else (a top-level command, an
    option first, an unknown name) gets the full tree: a single command would turn Typer's
    root into that command, and an unknown name must be answered from the full list."""
    if not argv or argv[0].startswith("-"):
        return None
    name = argv[0]
    if name in MOUNTED:
        group = _mounted(name)
        if not isinstance(group, typer.Typer):
            return None
    else:
        own = [g.typer_instance for g in _root.registered_groups if g.name == name]
        if len(own) != 1 or own[0] is None:
            return None
        group = own[0]
    light = copy.copy(_root)
    light.registered_groups = []
    light.registered_commands = []
    light.add_typer(_summarised(group), name=name)
    return light


def _open_files() -> dict[str, str] | None:
    """This process's file descriptors and what each is open on (``None`` without /proc)."""
    found = {}
    try:
        for fd in os.listdir("/proc/self/fd"):
            try:
                found[fd] = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:  # the listing's own descriptor, closed by now
                pass
    except OSError:
        return None
    return found


def _skip_teardown(inherited: dict[str, str] | None) -> None:
    """Let the interpreter exit without tearing down every module and class one by one.

    Python's exit frees everything the command imported (SQLAlchemy, the mapped classes,
    Typer…) through the garbage collector: ~20 % of a simple verb's CPU. If the process holds
    no file it did not inherit (no database, file or socket still open, whose finaliser could
    matter), the live objects are frozen out of the collector's reach and the OS reclaims them
    at exit. ``main()`` has closed the platforms the command built, so normally none is open;
    if one is (a file or connection the command dropped into a reference cycle), everything
    is collected first (a full collection, ~25 ms), so it is finalized as before — a SQLite
    connection closed and checkpointed — and the teardown is skipped only if that closed it.
    ``atexit`` handlers (``weakref.finalize`` among them) and the flushing of standard streams
    run as always."""
    if inherited is None:
        return
    if _open_files() != inherited:
        gc.collect()
        if _open_files() != inherited:
            return
    gc.freeze()


# Commands that serve until stopped keep the interpreter's collector thresholds.
LONG_RUNNING = frozenset({"serve", "worker"})
# A one-shot command's young generation: collected every 10,000 new objects instead of 700.
# Start-up makes ~70,000 container objects it keeps to the end (classes, functions,
# SQLAlchemy's tables); with 700 the collector ran ~160 young, ~15 middle and a full
# collection over them while they were made (~40-50 ms of a simple verb).
ONE_SHOT_GC_THRESHOLD = 10_000


def _wants_json(argv: list[str]) -> bool:
    """``--json`` among the options (not after ``--``, where it would be a value)."""
    return "--json" in (argv[: argv.index("--")] if "--" in argv else argv)


def _answer_in_json(tree: typer.Typer, argv: list[str]) -> int | None:
    """Run ``tree`` for a caller that asked for JSON, so that a refusal by the parser is JSON
    too.

    Click answers a usage error (an unknown option, a missing argument, a value out of range)
    with a usage block on standard error; a script that passed ``--json`` then had to parse
    that text, unlike every refusal made by a service. In click's non-standalone mode the error
    reaches here, and is printed as the services' refusals are (``{"error": "invalid",
    "message": …, "field": …}`` on standard output) with the same exit code, 2. Help, normal
    ends and ``typer.Exit`` codes are unchanged."""
    try:
        code = typer.main.get_command(tree).main(args=argv, standalone_mode=False)
    except typer.Abort:
        err_console.print("Aborted!")
        return 1
    except typer.TyperException as e:  # click's usage errors (Typer vendors click)
        show_error(_usage_error(e), as_json=True)
        return getattr(e, "exit_code", 2)
    return code if isinstance(code, int) else None


def _usage_error(e: Exception) -> ValidationError:
    """A click usage error as the refusal the services would raise, naming the option or
    argument where click knows it (a bad or missing value's parameter, an unknown option)."""
    format_message = getattr(e, "format_message", None)
    message = format_message() if callable(format_message) else str(e)
    param = getattr(e, "param", None)
    if param is not None:
        return ValidationError(message, field=param.name)
    option = getattr(e, "option_name", None)  # NoSuchOption
    return ValidationError(message, field=option.lstrip("-") if option else None)


def main() -> None:
    inherited = _open_files()
    track_platforms()
    argv = sys.argv[1:]
    if not argv or argv[0] not in LONG_RUNNING:
        gc.set_threshold(ONE_SHOT_GC_THRESHOLD, *gc.get_threshold()[1:])
    code = None
    try:
        tree = _only_group(argv) or full_tree()
        code = _answer_in_json(tree, argv) if _wants_json(argv) else tree()
    except SystemExit as e:  # click ends every command so; its traceback holds the frames
        code = e.code  # (and the platform in them) until the handler ends
    close_platforms()
    _skip_teardown(inherited)
    if code is not None:
        raise SystemExit(code)
