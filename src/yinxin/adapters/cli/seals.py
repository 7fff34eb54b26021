"""``yinxin seal …``: the electronic seal service on the command line.

Thin like the rest of the CLI: parse, call ``platform.seals``, render text or ``--json``. PINs
come from ``YINXIN_SEAL_PIN`` (new PIN: ``YINXIN_SEAL_NEW_PIN``), standard input (``--pin-stdin``,
or whenever it is not a terminal: one PIN a line, current then new) or a hidden prompt, and are
never printed. ``--pin``/``--new-pin`` still work but are discouraged: ``ps`` shows them.
"""

from __future__ import annotations

import functools
import inspect
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
    PIN_STDIN,
    SEAL_PIN,
    ListPage,
    Platform,
    as_options,
    console,
    more,
    on_platform,
    page_of,
    parse_time,
    platform,
    read_input,
    read_secret,
    refuse_given,
    run,
    say,
    seal_ref,
    secret_help,
    styled,
    writable,
    write_atomic,
)
from yinxin.clock import beijing_date, beijing_day
from yinxin.errors import ValidationError

if TYPE_CHECKING:
    from yinxin.seals.service import RecordCheck, SealUsability, SealView

seal_app = typer.Typer(
    no_args_is_help=True,
    help="Electronic seals (电子印章): application, "
    "lifecycle, use grants (用印授权) and the seal PIN (印章密码).",
)
SEAL = typer.Argument(..., help="Seal id or esID.", callback=seal_ref)


def _seals(home: Path | None):
    return platform(home).seals


def _line(v: SealView) -> None:
    hold = f" ({v.hold_kind})" if v.hold_kind else ""
    line = styled("[bold]{}[/] #{}  {}{}", v.es_id, v.id, v.state, hold)
    if v.locked:
        line.append_text(styled(" [red]locked[/]"))
    line.append_text(
        styled(
            "  {}  {}  cert {}… ({})  valid to {}  ",
            v.kind_title,
            v.name,
            v.certificate_serial[:16],
            v.certificate_status,
            beijing_date(v.valid_end),
        )
    )
    if v.usable:
        line.append("usable")
    else:
        line.append_text(styled("[yellow]unusable[/]: {}", v.unusable_reason))
    console.print(line)


def _page(page: ListPage) -> None:
    """A page of ``seal list``: a line a seal, then how to ask for the next page."""
    for v in page.items:
        _line(v)
    more(page)


def _seal_pin(what: str, pin: str | None, pin_stdin: bool) -> str:
    return read_secret(what, env="YINXIN_SEAL_PIN", field="pin", option=pin, from_stdin=pin_stdin)


def _with_options(base: Callable[..., Any], doc: str, fixed: dict, required: dict) -> Callable:
    """A command that is ``base`` with the options in ``fixed`` set (and not offered) and those
    in ``required`` given new defaults (``typer.Option(..., …)``): so one command's option list
    serves another that is a special case of it, without being declared twice."""
    sig = inspect.signature(base)
    params = [
        p.replace(default=required.get(name, p.default))
        for name, p in sig.parameters.items()
        if name not in fixed
    ]

    def command(**kw: Any) -> Any:
        return base(**fixed, **kw)

    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {k: v for k, v in base.__annotations__.items() if k not in fixed}
    command.__doc__ = doc
    return command


# --- application form -----------------------------------------------------------------------------
PROJECT = typer.Option(..., help="运用项目, e.g. 百城e采平台项目.")
HOLDER = typer.Option(..., "--holder", help="印章使用人姓名 (personal: the certificate holder).")
ID_NUMBER = typer.Option(..., help="证件号码 (checked, e.g. GB 11643 check digit).")
DECLARATION = typer.Option(
    False,
    "--declaration-accepted",
    help="The applicant accepts the "
    "declaration (申请人声明) that the data given is true. Required.",
)
SCAN = typer.Option(
    None, "--scan", help="Uploaded seal scan (PNG/JPEG) instead of a software-made image."
)
CENTER = typer.Option(None, help="Organization seals: text under the star (default per kind).")
CODE = typer.Option(None, help="Organization seals: seal code along the bottom.")
KIND_HELP = "organization (公章), contract (合同专用章), finance (财务专用章), personal (个人名章)."
YEARS = typer.Option(1, help="Years of validity (never past the certificate's end).")


# a scan that is no usable image is the services' ``image`` (the API's ``scan_base64``)
SCAN_FIELD = {"image": "scan"}
# the services' (and the API's) names for --certificate, --holder and --member
CERTIFICATE_FIELD = {"certificate_serial": "certificate"}
FORM_FIELDS = {**SCAN_FIELD, **CERTIFICATE_FIELD, "holder_name": "holder"}
MEMBER_FIELD = {"member_subscriber_id": "member"}


@seal_app.command("apply")
@on_platform(_line)
def seal_apply(
    business_type: str = typer.Option(
        "new", help="new (新申请), renew (续费), change (变更) or cancel (注销)."
    ),
    seal: str | None = typer.Option(
        None, help="The seal (renew, change, cancel).", callback=seal_ref
    ),
    subscriber_id: int | None = typer.Option(None, help="The holder (new)."),
    kind: str | None = typer.Option(None, help=KIND_HELP),
    certificate: str | None = typer.Option(
        None, help="Serial of the holder's valid signing certificate."
    ),
    project: str = PROJECT,
    holder: str = HOLDER,
    id_type: str = ID_TYPE,
    id_number: str = ID_NUMBER,
    declaration_accepted: bool = DECLARATION,
    scan: Path | None = SCAN,
    center_text: str | None = CENTER,
    code: str | None = CODE,
    years: int = YEARS,
    p: Platform = HOME,
    actor: str = APPLICANT,
) -> object:
    """Submit the seal application form (电子印章申请表) for any of its four business types."""
    return as_options(
        FORM_FIELDS,
        lambda: p.seals.apply(
            business_type=business_type,
            seal=seal,
            subscriber_id=subscriber_id,
            kind=kind,
            certificate_serial=certificate,
            project=project,
            holder_name=holder,
            id_type=id_type,
            id_number=id_number,
            declaration_accepted=declaration_accepted,
            scan=read_input(scan, "scan"),
            center_text=center_text,
            code=code,
            years=years,
            actor=actor,
        ),
    )


seal_app.command("create")(
    _with_options(
        seal_apply,
        """新申请: make a new seal (the application form with business type "new").""",
        fixed={"business_type": "new", "seal": None},
        required={
            "subscriber_id": typer.Option(
                ..., help="The holder (person or organization subscriber)."
            ),
            "kind": typer.Option(..., help=KIND_HELP),
            "certificate": typer.Option(
                ..., help="Serial of the holder's valid signing certificate."
            ),
        },
    )
)


# --- queries --------------------------------------------------------------------------------------
# `seal show`'s export options, in the order of its files (seal.png, .svg, .pdf, .ses): the
# field a refusal names
EXPORT_OPTIONS = ("png", "svg", "pdf", "seseal")


@seal_app.command("show")
def seal_show(
    seal: str = SEAL,
    reveal: bool = typer.Option(False, help="Show the full ID number (entitled staff only)."),
    png: Path | None = typer.Option(None, "--png", help="Export the PNG image here."),
    svg: Path | None = typer.Option(None, "--svg", help="Export the SVG image here."),
    pdf: Path | None = typer.Option(None, "--pdf", help="Export the PDF image here."),
    seseal: Path | None = typer.Option(
        None, "--seseal", help="Export the GB/T 38540 SESeal record (DER) here."
    ),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Show a seal; changes nothing (exports only the files you ask for)."""

    def go() -> SealView:
        from yinxin.seals.service import ExportedSealView
        from yinxin.seals.view import extend

        seals = _seals(home)
        out = seals.get(seal, reveal=reveal)
        wanted = {"seal.png": png, "seal.svg": svg, "seal.pdf": pdf, "seal.ses": seseal}
        if not any(wanted.values()):
            return out
        # every file asked for, named by its option; all checked before any is written, so a
        # bad --svg after a good --png no longer leaves seal.png behind on a refusal
        targets = {
            name: (option, target)
            for (name, target), option in zip(wanted.items(), EXPORT_OPTIONS, strict=True)
            if target is not None
        }
        named: dict[Path, str] = {}
        for option, target in targets.values():
            writable(target, field=option)
            # --png x --svg x: the SVG replaced the PNG, and both were reported exported
            other = named.setdefault(target.resolve(), option)
            if other != option:
                raise ValidationError(
                    f"--{other} and --{option} both name {target}: give each its own file",
                    field=option,
                )
        data = seals.artifacts(seal)
        written: dict[str, str] = {}
        try:
            for name, (option, target) in targets.items():
                write_atomic(target, data[name], field=option)
                written[name] = str(target)
        except ValidationError:
            for done in written.values():  # all or nothing: what was written goes again
                Path(done).unlink(missing_ok=True)
            raise
        return extend(out, ExportedSealView, exported=written)

    run(as_json, go, _line)


@seal_app.command("list")
@on_platform(_page)
def seal_list(
    subscriber_id: int | None = typer.Option(None, min=1, help="Only this subscriber's seals."),
    state: str | None = typer.Option(None, help="active, frozen, cancelled, revoked or expired."),
    kind: str | None = typer.Option(None, help=KIND_HELP),
    limit: int = LIMIT,
    after: int | None = AFTER,
    p: Platform = HOME,
) -> object:
    """List seals by id, a page at a time (optionally of one subscriber, state or kind)."""
    if subscriber_id is not None:  # no such subscriber: exit 3 (the API's 404), not "(none)"
        p.subscribers.get(subscriber_id)
    listing = functools.partial(p.seals.list, subscriber_id=subscriber_id, state=state, kind=kind)
    return page_of(listing, limit, after)


@seal_app.command("check")
def seal_check(
    seal: str = SEAL,
    member: int | None = typer.Option(None, help="The person acting for the organization."),
    with_pin: bool = typer.Option(
        False, "--with-pin", help="Also check the PIN (a wrong PIN counts towards the lock)."
    ),
    pin: str | None = SEAL_PIN,
    pin_stdin: bool = PIN_STDIN,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Could the seal sign now (state, certificate, authorization, lock, optionally the PIN)?

    With --with-pin the PIN comes from YINXIN_SEAL_PIN, standard input or a hidden prompt;
    --pin or --pin-stdin without --with-pin is refused (no PIN would be checked).

    Exit 0: usable; 1: unusable (the answer, with its reason, printed as for 0); a refusal
    (no such seal, a wrong PIN, bad input) its own exit code.
    """
    answer: list[SealUsability] = []

    def go() -> SealUsability:
        # a PIN given without --with-pin was not checked, and the seal answered "usable"
        if not with_pin:
            refuse_given(
                {"pin": pin is not None, "pin_stdin": pin_stdin},
                "{option} gives the PIN to check: add --with-pin, or leave {option} out",
            )
        answer.append(as_options(MEMBER_FIELD, check))
        return answer[0]

    def check() -> SealUsability:
        from yinxin.seals.service import PinChecked
        from yinxin.seals.view import extend

        seals = _seals(home)
        out = seals.usable(seal, member)
        if not (out.usable and with_pin):
            return out
        unlocked = seals.unlock_for_signing(seal, _seal_pin("seal PIN", pin, pin_stdin), member)
        serial = unlocked.stamp.certificate_serial
        return extend(out, PinChecked, pin_ok=True, certificate_serial=serial)

    def render(r: SealUsability) -> None:
        if r.usable:
            say("[green]usable[/]{}", " (PIN ok)" if getattr(r, "pin_ok", False) else "")
        else:
            say("[yellow]unusable[/] {}: {}", f"[{r.code}]", r.reason)

    run(as_json, go, render)
    # it exited 0 for an unusable seal, unlike `seal verify` of a bad record and `verify` of
    # an INVALID file: `seal check X && yinxin sign …` went on to a signing sure to be refused
    if not (answer and answer[0].usable):
        raise typer.Exit(1)


@seal_app.command("verify")
def seal_verify(seal: str = SEAL, home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Check the seal's GB/T 38540 record (made by our CA, matching the seal's data) and its
    files under <home>/seals/<esID>/ (present, same bytes as the database). Exit 1 if not."""
    verdict: list[RecordCheck] = []

    def go() -> RecordCheck:
        verdict.append(_seals(home).verify_record(seal))
        return verdict[0]

    def render(r: RecordCheck) -> None:
        if r.ok:
            say(
                "[green]OK[/]: {} {} valid {} to {}; files intact",
                r.es_id,
                r.name,
                beijing_day(r.valid_start).isoformat(),
                beijing_date(r.valid_end),
            )
        else:
            say("[bold red]BAD[/]: {}: {}", r.es_id, r.problem or "")

    run(as_json, go, render)
    if not (verdict and verdict[0].ok):
        raise typer.Exit(1)


@seal_app.command("records")
@on_platform()
def seal_records(seal: str = SEAL, p: Platform = HOME) -> object:
    """Every SESeal record the seal has had (create, renew, change)."""
    return p.seals.records(seal)


@seal_app.command("applications")
@on_platform()
def seal_applications(seal: str = SEAL, p: Platform = HOME) -> object:
    """The application forms submitted for the seal."""
    return p.seals.applications(seal)


# --- authorization --------------------------------------------------------------------------------
MEMBER = typer.Option(..., help="Person subscriber id.")
NOTE = typer.Option(None, help="Why (kept with the change, in the audit trail).")
HOLDER_ACTOR = typer.Option("holder", "--actor", help="Who acts (recorded in the audit trail).")


def _verb(
    verb: str, doc: str, *, to_member: bool = False, note: bool = True, actor: Any = ACTOR
) -> Callable[..., None]:
    """The command ``yinxin seal <verb> SEAL [--member ID] [--note TEXT] [--actor NAME]``: calls
    ``platform.seals.<verb>`` and shows the seal (a grant: its record as text). One definition
    for the verbs that take nothing else, each offering only the options it has."""

    def command(
        seal: str = SEAL,
        member: int = MEMBER,
        note: str | None = NOTE,
        home: Path | None = HOME,
        actor: str = actor,
        as_json: bool = JSON,
    ) -> None:
        args = (seal, member) if to_member else (seal,)
        extra = {} if note is None else {"note": note}
        render = None if to_member else _line
        run(
            as_json,
            lambda: as_options(
                MEMBER_FIELD, lambda: getattr(_seals(home), verb)(*args, actor=actor, **extra)
            ),
            render,
        )

    fixed = {**({} if to_member else {"member": None}), **({} if note else {"note": None})}
    return _with_options(command, doc, fixed=fixed, required={})


@seal_app.command("grant")
@on_platform()
def seal_grant(
    seal: str = SEAL,
    member: int = MEMBER,
    valid_until: str | None = typer.Option(
        None,
        "--valid-until",
        help="授权期限: the grant ends then (ISO 8601 with offset; not after the seal's end). "
        "Default: until withdrawn.",
    ),
    max_uses: int | None = typer.Option(
        None, "--max-uses", min=1, help="用印次数: the signings it allows. Default: no limit."
    ),
    note: str | None = NOTE,
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """用印授权: let one of the organization's people use this seal."""
    return as_options(
        MEMBER_FIELD,
        lambda: p.seals.grant(
            seal,
            member,
            actor=actor,
            note=note,
            valid_until=parse_time(valid_until, "valid_until"),
            max_uses=max_uses,
        ),
    )


seal_app.command("withdraw")(
    _verb("withdraw", "Withdraw a person's right to use this seal, at once.", to_member=True)
)


@seal_app.command("grants")
@on_platform()
def seal_grants(
    seal: str = SEAL,
    all_: bool = typer.Option(False, "--all", help="Include withdrawn grants."),
    p: Platform = HOME,
) -> object:
    """Who may use this seal."""
    return p.seals.grants(seal, include_withdrawn=all_)


# --- lifecycle ------------------------------------------------------------------------------------
@seal_app.command("renew")
@on_platform(_line)
def seal_renew(
    seal: str = SEAL,
    years: int = YEARS,
    certificate: str | None = typer.Option(None, help="Move onto this (renewed) certificate."),
    p: Platform = HOME,
    actor: str = ACTOR,
) -> object:
    """续费: extend the validity (never past the certificate's end)."""
    return as_options(
        CERTIFICATE_FIELD,
        lambda: p.seals.renew(seal, years=years, certificate_serial=certificate, actor=actor),
    )


@seal_app.command("change")
@on_platform(_line)
def seal_change(
    seal: str = SEAL,
    scan: Path | None = SCAN,
    software: bool = typer.Option(False, "--software", help="Redraw by software."),
    center_text: str | None = CENTER,
    code: str | None = CODE,
    certificate: str | None = typer.Option(None, help="Bind to this certificate."),
    p: Platform = HOME,
    actor: str = ACTOR,
) -> object:
    """变更: new image or data; makes a new SESeal record."""
    return as_options(
        {**SCAN_FIELD, **CERTIFICATE_FIELD},
        lambda: p.seals.change(
            seal,
            scan=read_input(scan, "scan"),
            software=software,
            center_text=center_text,
            code=code,
            certificate_serial=certificate,
            actor=actor,
        ),
    )


seal_app.command("cancel")(
    _verb("cancel", "注销: end the seal for good at the holder's request.", note=False)
)
AT_HOLDER_REQUEST = typer.Option(
    False,
    "--at-holder-request",
    help="The holder asked for it (e.g. by phone): the holder may lift it. Without it the "
    "freeze is the certification authority's, lifted by the desk only.",
)


@seal_app.command("freeze")
@on_platform(_line)
def seal_freeze(
    seal: str = SEAL,
    note: str | None = NOTE,
    at_holder_request: bool = AT_HOLDER_REQUEST,
    p: Platform = HOME,
    actor: str = ACTOR,
) -> object:
    """冻结: put the seal on hold (by the CA unless --at-holder-request)."""
    from yinxin.registry.lifecycle import HoldBy  # here: the CLI starts without the services

    by = HoldBy.HOLDER if at_holder_request else HoldBy.CA
    return p.seals.freeze(seal, actor=actor, note=note, by=by)


seal_app.command("unfreeze")(
    _verb("unfreeze", "解冻 (after a PIN leak, only once the PIN has been changed).", note=False)
)


@seal_app.command("revoke")
@on_platform(_line)
def seal_revoke(
    seal: str = SEAL,
    reason: str = typer.Option(
        ...,
        help="false_data, "
        "unpaid_fees, breach_of_agreement, holder_request, holder_ceased_to_exist, "
        "unreported_change, other (004 §十一).",
    ),
    note: str | None = typer.Option(None, help="Required for reason 'other'."),
    p: Platform = HOME,
    actor: str = ACTOR,
) -> object:
    """废止: revoke the seal for good."""
    return p.seals.revoke(seal, reason=reason, actor=actor, note=note)


seal_app.command("report-pin-leak")(
    _verb(
        "report_pin_leak",
        "印章密码泄漏/丢失: freeze at once every seal that PIN opens.",
        actor=HOLDER_ACTOR,
    )
)


@seal_app.command("change-pin")
def seal_change_pin(
    seal: str = SEAL,
    pin: str | None = SEAL_PIN,
    new_pin: str | None = typer.Option(
        None, "--new-pin", help=secret_help("New seal PIN", "YINXIN_SEAL_NEW_PIN")
    ),
    pin_stdin: bool = typer.Option(
        False,
        "--pin-stdin",
        help="Read both PINs from standard input: current, then new, one a line.",
    ),
    home: Path | None = HOME,
    actor: str = HOLDER_ACTOR,
    as_json: bool = JSON,
) -> None:
    """Change the seal PIN (re-encrypts the seal's key; a wrong current PIN counts).

    The PINs come from YINXIN_SEAL_PIN and YINXIN_SEAL_NEW_PIN, standard input (--pin-stdin,
    or when it is not a terminal: current then new, one a line) or hidden prompts.
    """

    def go():
        old = _seal_pin("current seal PIN", pin, pin_stdin)
        new = read_secret(
            "new seal PIN",
            env="YINXIN_SEAL_NEW_PIN",
            field="new_pin",
            option=new_pin,
            option_name="--new-pin",
            from_stdin=pin_stdin,
            confirm=True,
        )
        return _seals(home).change_pin(seal, old_pin=old, new_pin=new, actor=actor)

    run(as_json, go, lambda r: say("[green]PIN changed[/] for {}", ", ".join(r.seals)))


@seal_app.command("unlock")
@on_platform(_line)
def seal_unlock(
    seal: str = SEAL,
    officer: str = typer.Option(..., help="RA officer."),
    note: str | None = NOTE,
    p: Platform = HOME,
) -> object:
    """Release the lock after too many wrong PINs (RA officer, after checking identity)."""
    return p.seals.unlock(seal, officer=officer, note=note)


@seal_app.command("expire")
@on_platform()
def seal_expire(p: Platform = HOME) -> object:
    """Mark seals past their end of validity as expired."""
    return {"expired": p.seals.expire_due()}


@seal_app.command("repair-files")
@on_platform()
def seal_repair_files(
    # never below 0: --grace -300 (meant 300) was taken and, every folder being older than
    # that, removed the folder of a seal being made at that moment, exit 0
    grace: float = typer.Option(
        300,
        min=0,
        help="Seconds a folder of no committed seal is left alone (a creation in progress).",
    ),
    p: Platform = HOME,
) -> object:
    """After a crash: remove leftover temporary folders and folders of seals that never
    committed, and rewrite every seal's missing or changed files from the database."""
    return p.seals.repair_files(grace_seconds=grace)


@seal_app.command("write-files")
@on_platform()
def seal_write_files(seal: str = SEAL, p: Platform = HOME) -> object:
    """Write the seal's files under <home>/seals/<esID>/ again from the database."""
    return p.seals.write_files(seal)
