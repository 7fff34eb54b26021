"""``yinxin contract …``: the contract template library and contracts, over ``platform.contracts``.

A desk lists the templates and their blanks, drafts a contract from a template with values
from a JSON file and/or ``--set name=value`` pairs (a payment schedule is a JSON list, so it
comes from the file), previews or downloads the PDF, sends it for signing (one ``--signer``
per party: ``role=甲方,subscriber=3,seal=ESID``; each signer's link is printed once), and
watches or cancels it. Refusals name the blank (``values.price``) and exit with the error's
code (2 invalid, 3 not found, 4 illegal transition, 6 conflict).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from yinxin.adapters.cli.common import (
    AFTER,
    DAYS,
    DEADLINE,
    HOME,
    JSON,
    LIMIT,
    OWNED_CONTRACTS,
    OWNER,
    PDF_OUT,
    Platform,
    WrittenFile,
    as_options,
    as_signer_keys,
    console,
    deadline_at,
    moment,
    not_the_input,
    on_platform,
    platform,
    read_input,
    run,
    say,
    seal_in,
    show_page,
    show_signing_links,
    signer_pairs,
    whole_number,
    writable,
    write_atomic,
    write_file,
)
from yinxin.adapters.cli.common import OPERATOR as ACTOR  # the operator's --actor
from yinxin.errors import ValidationError

if TYPE_CHECKING:
    from yinxin.contracts.service import BlankView

contract_app = typer.Typer(
    no_args_is_help=True, help="Contracts (合同): templates, drafts, signing."
)
CONTRACT = typer.Argument(..., help="The contract's id.")
VALUES = typer.Option(
    None, "--values", help="A JSON file: an object of blank name → value (schedules as lists)."
)
SET = typer.Option(None, "--set", help="name=value for one blank; repeat. Overrides --values.")
ATTACH = typer.Option(
    None,
    "--attach",
    help="name=file.pdf for a PDF blank (002's specification_pdf: 附件 1 as the customer's PDF).",
)
EXAMPLE = typer.Option(
    False, "--example", help="Start from the template's example values (a demo filling)."
)
SIGNER_HELP = (
    "One party's signer: role=甲方,subscriber=ID,seal=ESID[,video=yes]. Repeat for each party."
)


@dataclass(frozen=True)
class WrittenContract(WrittenFile):
    """A contract's PDF as written, and whether it is the file every party signed."""

    signed: bool


def _attach_only_to_pdf_blanks(attach: list[str] | None, blanks: tuple[BlankView, ...]) -> None:
    """Refuse ``--attach`` naming a blank that is not a ``pdf`` blank, naming ``attach``: the
    file's base64 text was put into it (``--attach modules=spec.pdf``: a contract whose module
    list read ``JVBERi0x…``, exit 0). A name the template lacks is left to ``fill``, which
    refuses it naming ``values.<name>``."""
    types = {b.name: b.type for b in blanks}
    pdf = [n for n, kind in types.items() if kind == "pdf"]
    for pair in attach or []:
        name = pair.partition("=")[0].strip()
        if types.get(name, "pdf") != "pdf":
            raise ValidationError(
                f"--attach 只给 PDF 填写项附上文件（{'、'.join(pdf) or '本模板没有'}），"
                f"{name} 是 {types[name]} 填写项，请用 --set / --attach gives a file to a pdf "
                f"blank ({', '.join(pdf) or 'this template has none'}); {name} is a "
                f"{types[name]} blank: give it with --set",
                field="attach",
            )


def _values(
    path: Path | None,
    pairs: list[str] | None,
    base: dict[str, Any],
    attach: list[str] | None = None,
) -> dict[str, Any]:
    """The values typed: ``base``, the ``--values`` file over it, each ``--set`` and
    ``--attach`` over that. Each refusal names its option and is said in Chinese first, then
    English, as the blanks' own refusals beside it (``fill``)."""
    values = dict(base)
    if path is not None:
        raw = read_input(path, "values")

        def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            # {"price": "1", "price": "2"} was the last, as Python's json reads it (the API
            # refuses a member given twice: json_body)
            out: dict[str, Any] = {}
            for name, value in pairs:
                if name in out:
                    raise ValidationError(
                        f"{path}：{name!r} 在一个对象中出现两次，只能给一次 / {path}: "
                        f"{name!r} is given twice in one object; give it once",
                        field="values",
                    )
                out[name] = value
            return out

        try:
            loaded = json.loads(raw.decode("utf-8"), object_pairs_hook=unique)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValidationError(
                f"{path} 不是 UTF-8 编码的 JSON / {path} is not UTF-8 JSON: {e}", field="values"
            ) from None
        except RecursionError:  # [[[[… a few hundred KB deep: the parser's traceback, exit 1
            raise ValidationError(
                f"{path} 嵌套层数过多 / {path} is nested too deeply", field="values"
            ) from None
        if not isinstance(loaded, dict):
            kinds = {
                list: ("列表", "a list"),
                str: ("字符串", "a string"),
                bool: ("true 或 false", "true or false"),
                type(None): ("null", "null"),
            }
            zh, en = kinds.get(type(loaded), ("数字", "a number"))
            raise ValidationError(
                f"{path} 应为填写项名称到值的 JSON 对象，而不是{zh} / {path} must hold a JSON "
                f"object of blank name → value, not {en}",
                field="values",
            )
        values.update(loaded)
    # a blank given twice on the command line (--set a=1 --set a=2, or --set and --attach)
    # was the last one given, the other dropped without a word; --set over --values stays
    given: set[str] = set()

    def once(name: str, option: str) -> None:
        if name in given:
            raise ValidationError(
                f"填写项 {name} 给了两次（--set 或 --attach），每项只能给一次 / {name} is given "
                "twice (by --set or --attach); give each blank once",
                field=option,
            )
        given.add(name)

    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValidationError(
                f"{pair!r} 应为 名称=值 / {pair!r} is not name=value", field="set"
            )
        once(name.strip(), "set")
        values[name.strip()] = value
    for pair in attach or []:  # a PDF blank takes the file as base64, as over HTTP
        name, sep, file = pair.partition("=")
        if not sep or not name.strip() or not file:
            raise ValidationError(
                f"{pair!r} 应为 名称=文件.pdf / {pair!r} is not name=file.pdf", field="attach"
            )
        once(name.strip(), "attach")
        data = read_input(Path(file), f"values.{name.strip()}")
        if not data:  # as base64 "" it read as no file: drafted without it, exit 0
            raise ValidationError(  # in Chinese first, as the blank's other refusals
                f"{file} 是空文件，不是 PDF / {file} is empty, not a PDF",
                field=f"values.{name.strip()}",
            )
        values[name.strip()] = base64.b64encode(data).decode("ascii")
    return values


def _signer(text: str, i: int):
    from yinxin.contracts.service import ContractSigner

    field = f"signers[{i}]"
    kv = signer_pairs(text, field, {"role", "subscriber", "seal", "video"}, SIGNER_HELP)
    for need in ("role", "subscriber", "seal"):
        if not kv.get(need):
            raise ValidationError(f"{need}=… is needed ({SIGNER_HELP})", field=f"{field}.{need}")
    return ContractSigner(
        role=kv["role"],
        subscriber_id=whole_number(kv["subscriber"], f"{field}.subscriber", "subscriber"),
        # an id or an esID, as ``yinxin flow`` takes it
        seal=seal_in(kv["seal"], f"{field}.seal", "seal= of --signer"),
        requires_video=_yes_or_no(kv.get("video", "no"), f"{field}.video"),
    )


def _yes_or_no(text: str, field: str) -> bool:
    """``video=``'s value: yes/true/1 or no/false/0 (any case); anything else (``maybe``, an
    empty ``video=$UNSET``) had read as no, and the contract was sent without the video."""
    word = text.strip().lower()
    if word in ("yes", "true", "1"):
        return True
    if word in ("no", "false", "0"):
        return False
    raise ValidationError(f"video must be yes or no, not {text!r}", field=field)


def _show(c) -> None:
    from yinxin.contracts.templates import party_label

    say("[bold]contract {}[/]  {}  {}  《{}》", c.id, c.number, c.state, c.title)
    console.print(f"  template {c.template_code} v{c.template_version}  pdf {c.pdf_sha256}")
    for p in c.parties:
        console.print(f"  {party_label(p.title, p.role)}：{p.name or '—'}")
    if c.flow_id:
        console.print(f"  sign flow {c.flow_id}")
    if c.signed_at:
        console.print(f"  signed {moment(c.signed_at)}  {c.signed_sha256}")
    if c.reason:
        console.print(f"  reason: {c.reason}")


def _written(r: WrittenContract) -> None:
    kind = "signed contract" if r.signed else "contract"
    say("[green]Wrote[/] {} {} ({} bytes, {})", kind, r.out, r.size, r.sha256)


@contract_app.command("templates")
def contract_templates(home: Path | None = HOME, as_json: bool = JSON) -> None:
    """The template library: code, version, title, parties, seed."""

    def render(items) -> None:
        for t in items:
            roles = "、".join(p.role for p in t.parties)
            console.print(f"{t.code}  v{t.version}  《{t.title}》  {roles}  (seed {t.source})")

    run(as_json, lambda: platform(home).contracts.templates(), render)


@contract_app.command("template")
def contract_template(
    code: str = typer.Argument(..., help="The template's code."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """One template: its parties and its blanks (type, required, example)."""

    def render(t) -> None:
        from yinxin.contracts.templates import party_label

        say("[bold]{}[/] v{}  《{}》 — {}", t.code, t.version, t.title, t.description)
        for p in t.parties:
            console.print(f"  party {party_label(p.title, p.role)}  anchor {p.anchor}")
        # the type column as wide as its longest (``price_lines`` pushed its line out of true)
        wide = max((len(b.type) for b in t.blanks), default=9)
        for b in t.blanks:
            need = "required" if b.required else "optional"
            extra = f"  one of: {' / '.join(b.choices)}" if b.choices else ""
            console.print(f"  {b.name:<28} {b.type:<{wide}} {need:<8} {b.label}{extra}")
        for a in t.appendices:
            src = f"from {a.blank}" if a.blank else "fixed text"
            if a.pdf_blank:  # given either way: the text, or the PDF --attach takes
                src += f" or the PDF {a.pdf_blank}"
            when = ", only when filled" if a.optional else ""
            console.print(f"  appendix 附件 {a.number}《{a.title}》 {a.kind} ({src}{when})")

    run(as_json, lambda: platform(home).contracts.template(code), render)


@contract_app.command("draft")
@on_platform(_show)
def contract_draft(
    code: str = typer.Argument(..., help="The template's code (see contract templates)."),
    values: Path | None = VALUES,
    set_: list[str] | None = SET,
    attach: list[str] | None = ATTACH,
    example: bool = EXAMPLE,
    title: str | None = typer.Option(None, help="A title other than the template's."),
    owner: int | None = OWNER,
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Fill a template: values checked, PDF rendered and kept, contract drafted."""
    base = p.contracts.template(code).blanks if example else ()
    filled = _values(
        values, set_, {b.name: b.example for b in base if b.example is not None}, attach
    )
    _attach_only_to_pdf_blanks(attach, p.contracts.template(code).blanks)
    return as_options(
        {"owner_subscriber_id": "owner"},
        lambda: p.contracts.draft(
            code, filled, title=title, owner_subscriber_id=owner, actor=actor
        ),
    )


@contract_app.command("revise")
@on_platform(_show)
def contract_revise(
    contract_id: int = CONTRACT,
    values: Path | None = VALUES,
    set_: list[str] | None = SET,
    attach: list[str] | None = ATTACH,
    title: str | None = typer.Option(None, help="A new title."),
    based_on: str | None = typer.Option(
        None,
        "--based-on",
        help="The draft's pdf_sha256 you edited (default: the one read now); a draft revised "
        "since is refused.",
    ),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Change a draft's values (`--set` changes single blanks of the current values). The
    change is made on the version read (or `--based-on`): one revised meanwhile is refused."""
    # what was typed (the --values and --attach files, each --set) judged before the draft is
    # read: a missing --values file on a new home made its database first
    changes = _values(values, set_, {}, attach)
    current = p.contracts.get(contract_id)
    own = p.contracts.template(current.template_code, current.template_version)
    _attach_only_to_pdf_blanks(attach, own.blanks)
    return p.contracts.revise(
        contract_id,
        {**current.values, **changes},
        title=title,
        based_on=based_on if based_on is not None else current.pdf_sha256,
        actor=actor,
    )


@contract_app.command("preview")
def contract_preview(
    code: str = typer.Argument(..., help="The template's code."),
    out: Path = PDF_OUT,
    values: Path | None = VALUES,
    set_: list[str] | None = SET,
    attach: list[str] | None = ATTACH,
    example: bool = EXAMPLE,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The PDF the values would make; nothing is stored."""

    def go():
        writable(out)
        # --values v.json --out v.json replaced the values file with the PDF (exit 0)
        if values is not None:
            not_the_input(out, values, "out", "the values file")
        for pair in attach or []:
            name, sep, file = pair.partition("=")
            if sep and file:
                not_the_input(out, Path(file), "out", f"the PDF attached as {name.strip()}")
        p = platform(home)
        base = p.contracts.template(code).blanks if example else ()
        filled = _values(
            values, set_, {b.name: b.example for b in base if b.example is not None}, attach
        )
        _attach_only_to_pdf_blanks(attach, p.contracts.template(code).blanks)
        data = p.contracts.preview(code, filled)
        w = write_file(out, data)
        return WrittenContract(w.out, w.sha256, w.size, False)

    run(as_json, go, _written)


@contract_app.command("show")
def contract_show(contract_id: int = CONTRACT, home: Path | None = HOME, as_json: bool = JSON):
    """The contract as it stands (its flow's outcome taken into account)."""
    run(as_json, lambda: platform(home).contracts.get(contract_id), _show)


@contract_app.command("list")
def contract_list(
    state: str | None = typer.Option(None, help="drafted out_for_signing signed cancelled"),
    owner: int | None = OWNED_CONTRACTS,
    template: str | None = typer.Option(None, help="Only contracts from this template."),
    limit: int = LIMIT,
    after: int | None = AFTER,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Contracts, newest first, a page at a time."""
    run(
        as_json,
        lambda: as_options(
            {"owner_subscriber_id": "owner"},
            lambda: platform(home).contracts.list(
                state=state, owner_subscriber_id=owner, template=template, limit=limit, after=after
            ),
        ),
        lambda page: show_page(
            page, lambda c: f"{c.id}  {c.number}  {c.state}  {c.template_code}  《{c.title}》"
        ),
    )


@contract_app.command("pdf")
def contract_pdf(
    contract_id: int = CONTRACT,
    out: Path = PDF_OUT,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The signed file once every party signed, else the drafted PDF."""

    def go():
        writable(out)
        f = platform(home).contracts.pdf(contract_id)
        write_atomic(out, f.pdf)
        return WrittenContract(str(out), f.sha256, len(f.pdf), f.signed)

    run(as_json, go, _written)


@contract_app.command("send")
def contract_send(
    contract_id: int = CONTRACT,
    signer: list[str] = typer.Option(..., "--signer", help=SIGNER_HELP),
    order: str = typer.Option(
        "sequential", help="sequential (the template's party order) or parallel."
    ),
    deadline: str | None = DEADLINE,
    days: int | None = DAYS,
    actor: str = ACTOR,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Start signing: a sign flow with each party's signer at its anchor; links shown ONCE."""

    def go():
        specs = [_signer(t, i) for i, t in enumerate(signer)]
        p = platform(home)
        when = deadline_at(p, deadline, days)

        def send():
            return p.contracts.start_signing(
                contract_id, specs, deadline=when, order=order, actor=actor
            )

        # a refusal names the --signer (and the key typed in it), not the service's field
        return as_options(
            {"signers": "signer"}, lambda: as_signer_keys({"subscriber_id": "subscriber"}, send)
        )

    def render(r) -> None:
        _show(r.contract)
        show_signing_links(r.links)

    run(as_json, go, render)


@contract_app.command("cancel")
@on_platform(_show)
def contract_cancel(
    contract_id: int = CONTRACT,
    reason: str = typer.Option(..., help="Why (recorded; shown to the signers' flow)."),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Withdraw a contract (its sign flow, if any, is cancelled and every link dies)."""
    return p.contracts.cancel(contract_id, reason, actor=actor)
