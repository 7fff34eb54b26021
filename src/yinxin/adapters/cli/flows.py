"""``yinxin flow …``: sign flows (签署流程) from a shell, a thin adapter over ``platform.flows``.

A desk or a script creates a flow from PDFs and signer descriptions, starts it (each signer's
link is printed once), watches it (``show``, ``list``), urges, extends or cancels it, and gets
the signed files and the evidence report. ``flow sign`` is the signer's side: given their link
(``--link`` or ``YINXIN_SIGN_LINK``; a link is a secret, so not an argument that shows in
``ps``), without ``--challenge`` it sends the one code covering every document, with it it
signs them all with the seal PIN and that code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from yinxin.adapters.cli.common import (
    AFTER,
    CODE,
    DAYS,
    DEADLINE,
    HOME,
    JSON,
    LIMIT,
    OWNER,
    PIN_CODE_STDIN,
    SEAL_PIN,
    Platform,
    WrittenFile,
    as_options,
    as_signer_keys,
    console,
    deadline_at,
    decimal_real,
    moment,
    on_platform,
    parse_time,
    placement_option,
    platform,
    read_input,
    read_pin_and_code,
    refuse_for_signing,
    run,
    say,
    seal_in,
    show_page,
    show_written,
    signer_pairs,
    whole_number,
    writable,
    write_atomic,
    write_file,
)
from yinxin.adapters.cli.common import OPERATOR as ACTOR  # the operator's --actor
from yinxin.errors import ValidationError, YinxinError

if TYPE_CHECKING:
    from yinxin.signing.flows import SignerSpec


flow_app = typer.Typer(no_args_is_help=True, help="Sign flows (签署流程): many parties, in turn.")
FLOW = typer.Argument(..., help="The flow.")
LINK = typer.Option(
    None,
    "--link",
    envvar="YINXIN_SIGN_LINK",
    help="The signer's link (…/sign/TOKEN) or its token; default: YINXIN_SIGN_LINK.",
)
SIGNER_HELP = (
    "A signer as key=value pairs, comma-separated: subscriber=ID,role=甲方,seal=ESID "
    "[,order=N][,anchor=TEXT | page=N,x=MM,y=MM][,width=MM | field=NAME][,field.N=NAME…]"
    "[,anchor.N=TEXT | page.N=N,x.N=MM,y.N=MM][,width.N=MM]; "
    "x, y: the seal's lower-left corner, mm from the page's lower-left corner (as sign pdf's "
    "--x/--y); field: the empty signature field the contract was prepared with that this "
    "signer seals into, on every --doc (`yinxin sign fields` lists them; a contract certified "
    "with DocMDP P=2 needs one per signer); field.N: the field on the --doc at position N only, "
    "counted from 0 (field.0=甲方签章: the first --doc), the placement or field= on the "
    "others; anchor.N, page.N, x.N, y.N, width.N: a whole placement of its own for the --doc "
    "at position N (anchor.1=附件（签章） or page.1=2,x.1=120,y.1=150), in place of the "
    "keys without .N there. Spaces around a key or value are dropped. Repeat for each signer."
)


def _signer(text: str, i: int, docs: int) -> SignerSpec:
    """Signer ``i``'s ``--signer`` value as the service's ``SignerSpec``, ``docs`` the number
    of ``--doc`` given (what a ``field.N`` or ``anchor.N``… may name)."""
    from yinxin.signing.flows import SignerSpec

    field = f"signers[{i}]"
    keys = {"subscriber", "role", "seal", "order", "field", *PLACING}
    values = signer_pairs(text, field, keys, SIGNER_HELP, numbered=(FIELD_AT, *PLACING_AT))
    if "subscriber" not in values:
        raise ValidationError("subscriber=ID is needed", field=f"{field}.subscriber")
    order = values.get("order")
    named = _field_names(values, field, docs)
    placed = _placements(values, field, docs, named)
    return SignerSpec(
        subscriber_id=whole_number(values["subscriber"], f"{field}.subscriber", "subscriber"),
        role=values.get("role", ""),
        seal=seal_in(values["seal"], f"{field}.seal", "seal= of --signer")
        if values.get("seal")
        else None,
        placement=_placement(values, field),
        placements=placed or None,
        order=None if order is None else whole_number(order, f"{field}.order", "order"),
        field_name=values.get("field"),
        field_names=named or None,
    )


# a --signer's key naming the field on one --doc: field.0 (the first), field.1, …
FIELD_AT = "field."
_POSITION = re.compile(r"0|[1-9][0-9]{0,8}")
_VALUE = {"field.": "NAME", "anchor.": "TEXT", "page.": "PAGE"}  # else MM (x, y, width)


def _position(key: str, prefix: str, field: str, docs: int) -> int:
    """The --doc position N of a ``--signer`` key ``{prefix}N`` (``field.1``, ``anchor.1``),
    refused naming the key typed when N is not a --doc's position, or written another way
    (``x.01`` or ``x.+1`` is no second spelling of ``x.1``, so two keys never name one
    document's same thing)."""
    n = key.removeprefix(prefix)
    last = f"0–{docs - 1}" if docs > 1 else "0"
    if not _POSITION.fullmatch(n):
        raise ValidationError(
            f"{key}= is not {prefix}N={_VALUE.get(prefix, 'MM')}, N the --doc's position "
            f"counted from 0 ({last})",
            field=f"{field}.{key}",
        )
    if int(n) >= docs:
        raise ValidationError(
            f"{key}= names --doc {n}, but {docs} --doc {'was' if docs == 1 else 'were'} "
            f"given: N is the --doc's position counted from 0 ({last})",
            field=f"{field}.{key}",
        )
    return int(n)


def _field_names(values: dict[str, str], field: str, docs: int) -> dict[int, str]:
    """The service's ``field_names`` ({position: name}) from a ``--signer``'s ``field.N``
    keys, refused here naming the key typed (``signers[0].field.2``) where the service could
    only say ``field_names``: N not a --doc's position (``_position``). What they leave for
    no document is judged with the placements per document (``_placements``)."""
    return {
        _position(key, FIELD_AT, field, docs): name
        for key, name in values.items()
        if key.startswith(FIELD_AT)
    }


# the keys of a --signer that place the seal; with .N (anchor.1, x.1…) on one --doc only
PLACING = ("anchor", "page", "x", "y", "width")
PLACING_AT = tuple(f"{k}." for k in PLACING)


def _placements(
    values: dict[str, str], field: str, docs: int, named: dict[int, str]
) -> dict[int, Any]:
    """The service's ``placements`` ({position: Placement}) from a ``--signer``'s placing keys
    with ``.N`` (``anchor.1=附件（签章）``, ``page.1=2,x.1=120,y.1=150``): a whole placement for
    the --doc at position N, in place of the default one (the keys without ``.N``), as the
    API's ``placements`` is. Each is checked as the default is, naming the key typed
    (``signers[0].x.1``). Refused here too, naming the key typed where the service would say
    ``placements`` or ``field_name``: a ``field.N`` (or ``field=``, every --doc's) and a
    placing ``.N`` key for the same --doc (two places for one seal), and a ``field=`` or
    default placing key that the ``.N`` keys leave for no --doc (it said something the flow
    would ignore)."""
    at: dict[int, list[str]] = {}  # position → its placing keys, as typed
    for key in values:
        if key.startswith(PLACING_AT):
            base = key.partition(".")[0]
            at.setdefault(_position(key, f"{base}.", field, docs), []).append(key)
    placed = {}
    for pos, typed in sorted(at.items()):
        if pos in named or "field" in values:  # field= is a field on every --doc
            there = f"field.{pos}" if pos in named else "field"
            raise ValidationError(
                f"{there}= and {typed[0]}= both say where the seal goes on --doc {pos}; "
                "give the field or the placement, not both",
                field=f"{field}.{typed[0]}",
            )
        placed[pos] = _placement(values, field, f".{pos}")
    every = set(named) | set(placed)
    if every and len(every) == docs:
        left = ["field"] if "field" in values else [k for k in PLACING if k in values]
        if left:
            said = " and ".join(
                w for w, there in (("field.N=", named), ("anchor.N=…", placed)) if there
            )
            raise ValidationError(
                f"{said} place the seal on every --doc, so {left[0]}= is used on none; leave "
                "it out, or name no .N key for the documents it is for",
                field=f"{field}.{left[0]}",
            )
    return placed


def _placement(values: dict[str, str], field: str, at: str = ""):
    """The seal's place from a ``--signer``'s placing keys ending in ``at`` (``""``: the
    default for every --doc; ``".1"``: the --doc at position 1 only) — ``None`` for none: the
    service's default, the anchor ``{role}（签章）`` — checked as the service checks a
    placement but naming the key typed (``signers[0].x.1``), not the service's
    ``signers[0].placement`` or ``signers[0].placements``."""
    from yinxin.pdf.sign import Placement
    from yinxin.signing.flows import MAX_XY_MM, SEAL_WIDTH_MM

    given = [k + at for k in PLACING if k + at in values]
    if not given:
        return None

    def mm(key: str, low: float, high: float, what: str) -> float | None:
        key += at
        if key not in values:
            return None
        if not decimal_real(values[key]):  # float() took ７, ٥, 1_0, +7 and 1e1 too
            raise ValidationError(
                f"{key} must be a number written in decimal digits, not {values[key]!r}",
                field=f"{field}.{key}",
            )
        v = float(values[key])
        if not low <= v <= high:  # nan and inf too
            raise ValidationError(
                f"{key} must be {what}, not {values[key]!r}", field=f"{field}.{key}"
            )
        return v

    anchor = values.get("anchor" + at)
    if anchor is not None and not anchor:
        raise ValidationError("the anchor text is empty", field=f"{field}.anchor{at}")
    page = None
    if "page" + at in values:
        page = whole_number(values["page" + at], f"{field}.page{at}", "page" + at)
        if page == 0:
            raise ValidationError(
                "page is 1-based (negative counts from the end)", field=f"{field}.page{at}"
            )
    x = mm("x", 0, MAX_XY_MM, f"millimetres from 0 to {MAX_XY_MM}")
    y = mm("y", 0, MAX_XY_MM, f"millimetres from 0 to {MAX_XY_MM}")
    low, high = SEAL_WIDTH_MM
    width = mm("width", low, high, f"the seal's width, {low}–{high} mm")
    if anchor is None and (x is None or y is None):
        if (x is None) != (y is None):
            missing, there = ("y", "x") if y is None else ("x", "y")
            raise ValidationError(
                f"give {missing}{at}=MM with {there}{at}=MM, or anchor{at}=TEXT",
                field=f"{field}.{missing}{at}",
            )
        alone = " and ".join(f"{k}=" for k in given)
        raise ValidationError(
            f"{alone} {'needs' if len(given) == 1 else 'need'} anchor{at}=TEXT, or "
            f"x{at}=MM,y{at}=MM, to place the seal",
            field=f"{field}.{given[0]}",
        )
    kw = {"width_mm": width} if width is not None else {}
    return Placement(anchor=anchor, page=page, x_mm=x, y_mm=y, **kw)


_INDEXED = re.compile(r"\[(\d+)\]$")


def _placing_keys(specs: list[SignerSpec]):
    """The key a placement the service refused came from (``as_signer_keys``), once the keys
    are checked here: ``page`` for a page past a document's last, ``anchor`` for an anchor
    text (the one typed, or the default ``{role}（签章）``) not in a document, else ``x`` (a
    seal by page and x/y that would not fit the page; it was named ``anchor``, a key not
    typed). For ``placements[N]``, the refusal of the one for the --doc at position N, the
    key ends with that position (``x.1``)."""

    def key(p: Any, e: YinxinError) -> str:
        # the signing verbs' rule (placement_option); the flow's own refusals carry no code
        found = placement_option(e)
        if found is not None:
            return found
        return "anchor" if p is None or p.anchor is not None else "x"

    def default(i: int, e: YinxinError) -> str:
        return key(specs[i].placement, e)

    def one(i: int, e: YinxinError) -> str:
        # as_signer_keys puts the position the service named (placements[N]) for {n}
        n = int(_INDEXED.search(e.field or "")[1])
        return f"{key(dict(specs[i].placements or {}).get(n), e)}.{{n}}"

    return default, one


# the flow service's names for what ``flow sign`` takes as --link and --challenge (one sent for
# another document, another flow's, is refused naming the document's digest)
LINK_FIELDS = {"token": "link", "challenge_id": "challenge", "document_sha256": "challenge"}


def _token(link: str | None) -> str:
    if not link:
        raise ValidationError("give the signer's link: --link or YINXIN_SIGN_LINK", field="link")
    return link.rstrip("/").rsplit("/sign/", 1)[-1]


def _show(f) -> None:
    say(
        "[bold]flow {}[/]  {}  {}  《{}》  deadline {}",
        f.id,
        f.state,
        f.signing_order,
        f.title,
        moment(f.deadline),
    )
    for d in f.documents:
        console.print(f"  document {d.id}: {d.name}  {d.current_sha256}")
    for x in f.signers:
        when = f"  signed {moment(x.signed_at)}" if x.signed_at else ""
        console.print(
            f"  signer {x.id}: turn {x.order}  {x.role}  {x.subscriber_name}  "
            f"seal {x.es_id or x.seal_id}  {x.state}{when}"
        )
    if f.reason:
        console.print(f"  reason: {f.reason}")


def _docs_as_option(docs: list[Path], call):
    """``call()``, with a refusal of the service's ``documents`` (``documents[i]``,
    ``documents[i].pdf``) renamed to the option they came from, ``doc``, and one of a single
    document starting with its path, so the user sees which ``--doc`` it was."""
    try:
        return call()
    except YinxinError as e:
        m = re.match(r"documents(?:\[(\d+)\])?(?:\.|$)", e.field or "")
        if m is None:
            raise
        i = None if m[1] is None else int(m[1])
        where = f"{docs[i]}: " if i is not None and i < len(docs) else ""
        raise type(e)(where + e.message, field="doc", code=e.code) from None


@flow_app.command("create")
def flow_create(
    title: str = typer.Option(..., help="The flow's title, e.g. 技术服务合同."),
    doc: list[Path] = typer.Option(..., "--doc", help="A PDF to sign; repeat for several."),
    signer: list[str] = typer.Option(..., "--signer", help=SIGNER_HELP),
    order: str = typer.Option("sequential", help="sequential (in turn) or parallel."),
    deadline: str | None = DEADLINE,
    days: int | None = DAYS,
    owner: int | None = OWNER,
    actor: str = ACTOR,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Create a draft flow (nothing is sent until `flow start`)."""

    def go():
        docs = [(p.name, read_input(p, "doc")) for p in doc]
        specs = [_signer(t, i, len(doc)) for i, t in enumerate(signer)]
        p = platform(home)
        when = deadline_at(p, deadline, days)

        def create():
            return p.flows.create(
                title,
                documents=docs,
                signers=specs,
                order=order,
                deadline=when,
                owner_subscriber_id=owner,
                actor=actor,
            )

        # a refusal names the option (and the --signer key) typed, not the service's field
        default, one = _placing_keys(specs)
        signer_keys = {
            "subscriber_id": "subscriber",
            "placement": default,
            "placements[]": one,  # one document's: anchor.N, page.N or x.N, as typed
            "field_name": "field",
            "field_names": "field",
            "field_names[]": f"{FIELD_AT}{{n}}",  # one document's: field.N, as typed
        }
        return as_options(
            {"owner_subscriber_id": "owner", "signers": "signer"},
            lambda: as_signer_keys(signer_keys, lambda: _docs_as_option(doc, create)),
        )

    run(as_json, go, _show)


@flow_app.command("start")
def flow_start(
    flow_id: int = FLOW,
    actor: str = ACTOR,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Start the flow: each signer's link is printed ONCE (only its hash is kept)."""

    def render(r) -> None:
        _show(r.flow)
        say("[yellow]Signing links (shown once; hand each to its signer):[/]")
        for link in r.links:
            console.print(f"  signer {link.signer_id} ({link.role}): {link.url}")

    run(as_json, lambda: platform(home).flows.start(flow_id, actor=actor), render)


@flow_app.command("show")
@on_platform(_show)
def flow_show(
    flow_id: int = FLOW,
    p: Platform = HOME,
) -> object:
    """The flow, its documents and its signers as they stand."""
    return p.flows.get(flow_id)


@flow_app.command("list")
def flow_list(
    owner: int | None = typer.Option(None, help="Only this organization's flows."),
    state: str | None = typer.Option(None, help="draft started completed cancelled expired"),
    limit: int = LIMIT,
    after: int | None = AFTER,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Flows by id, a page at a time."""

    def line(f) -> str:
        done = sum(1 for x in f.signers if x.state == "signed")
        return (
            f"{f.id}  {f.state}  {done}/{len(f.signers)} signed  《{f.title}》  "
            f"deadline {moment(f.deadline)}"
        )

    run(
        as_json,
        lambda: platform(home).flows.list(
            owner_subscriber_id=owner, state=state, limit=limit, after=after
        ),
        lambda page: show_page(page, line),
    )


@flow_app.command("urge")
def flow_urge(
    flow_id: int = FLOW,
    signer_id: int = typer.Argument(..., help="The signer (see flow show)."),
    actor: str = ACTOR,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Remind a signer whose turn it is (催签), with a fresh link; at most once an hour."""
    run(
        as_json,
        lambda: platform(home).flows.urge(flow_id, signer_id, actor=actor),
        lambda r: say(
            "[green]Urged[/] signer {} ({}); next possible at {}",
            r.signer_id,
            r.sent_to or "no address",
            moment(r.next_urge_at),
        ),
    )


@flow_app.command("extend")
@on_platform(_show)
def flow_extend(
    flow_id: int = FLOW,
    deadline: str = typer.Option(..., help="The new deadline, ISO 8601 with offset."),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Move a started flow's deadline later (延期)."""
    return p.flows.extend(flow_id, parse_time(deadline, "deadline"), actor=actor)


@flow_app.command("cancel")
@on_platform(_show)
def flow_cancel(
    flow_id: int = FLOW,
    reason: str = typer.Option(..., help="Why (recorded and shown to the parties)."),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Withdraw a flow (撤回): every link stops working."""
    return p.flows.cancel(flow_id, reason, actor=actor)


@flow_app.command("sign")
def flow_sign(
    link: str | None = LINK,
    challenge: str | None = typer.Option(
        None, help="The challenge id printed when the code was sent; without it, a code is sent."
    ),
    code: str | None = CODE,
    pin: str | None = SEAL_PIN,
    pin_stdin: bool = PIN_CODE_STDIN,
    client_ip: str | None = typer.Option(None, help="The signer's address, for the evidence."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The signer's side: send the code (no --challenge), then sign every document with it
    (--challenge; --code, --pin, --pin-stdin and --client-ip only with it)."""
    token = None

    def go():
        nonlocal token
        if challenge is None:
            refuse_for_signing(
                {"code": code, "pin": pin, "pin_stdin": pin_stdin, "client_ip": client_ip}
            )
        token = _token(link)
        if challenge is None:
            return as_options(LINK_FIELDS, lambda: platform(home).flows.request_code(token))
        from yinxin.signing.flows import client_address

        # the command line's own checks before the platform is built (a bad --client-ip made
        # the home's database first), then the link (unknown, finished, not this signer's turn:
        # refused after the PIN and the code were typed), then the secrets
        client_address(client_ip)
        p = platform(home)
        as_options(LINK_FIELDS, lambda: p.flows.signer_for_link(token))
        the_pin, the_code = read_pin_and_code(pin, code, from_stdin=pin_stdin)
        return as_options(
            LINK_FIELDS,
            lambda: p.flows.sign(
                token, pin=the_pin, challenge_id=challenge, code=the_code, client_ip=client_ip
            ),
        )

    def render(r) -> None:
        if challenge is None:
            console.print(
                f"Code sent to {getattr(r, 'sent_to_masked', '')}; challenge "
                f"{getattr(r, 'challenge_id', r)}"
            )
        else:
            say(
                "[green]Signed[/] {} document(s) as {}; flow {} is {}",
                len(r.records),
                r.signer.role,
                r.flow.id,
                r.flow.state,
            )

    run(as_json, go, render)


@flow_app.command("evidence")
def flow_evidence(
    flow_id: int = FLOW,
    pdf: Path | None = typer.Option(None, "--pdf", help="Write the Chinese PDF report here."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The evidence report (出证): hashes before and after, parties, codes, IPs, audit hashes."""

    def go():
        p = platform(home)
        if pdf is None:
            return p.flows.evidence(flow_id)
        writable(pdf, "pdf")
        data = p.flows.evidence_pdf(flow_id)
        return write_file(pdf, data, "pdf")

    def render(r) -> None:
        if isinstance(r, WrittenFile):
            say("[green]Wrote[/] {} ({} bytes)", r.out, r.size)
            return
        say("[bold]Evidence for flow {}[/] 《{}》 {}", r.flow_id, r.title, r.state)
        for d in r.documents:
            console.print(f"  {d.name}: {d.sha256_original} → {d.sha256_final}")
        for x in r.parties:
            console.print(
                f"  {x.role} {x.name} ({x.identity})  {x.state}  "
                f"ip {x.client_ip or '—'}  certs {', '.join(x.certificate_serials) or '—'}"
            )
        console.print(f"  {len(r.events)} audit events; chain head #{r.audit_head_seq}")

    run(as_json, go, render)


@flow_app.command("download")
def flow_download(
    flow_id: int = FLOW,
    document_id: int = typer.Argument(..., help="The document (see flow show)."),
    out: Path = typer.Option(..., "--out", help="Where the file is written."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The document as signed so far."""

    def go():
        writable(out)
        f = platform(home).flows.download(flow_id, document_id)
        write_atomic(out, f.pdf)
        return WrittenFile(str(out), f.sha256, len(f.pdf))

    run(as_json, go, show_written)
