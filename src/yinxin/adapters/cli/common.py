"""What every ``yinxin`` sub-command shares: options, the platform, output, errors, secrets, files.

The command modules (``yinxin.adapters.cli`` and its ``seals``, ``signing``, ``archive``) import
from here and from nowhere else in this package, so none of them imports another. Only Typer,
rich and ``yinxin.errors`` are imported at module level: ``yinxin --help`` must not load the
services (pyHanko, SQLAlchemy, cryptography…); a command imports what it needs when it runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import inspect
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import typer
from rich.console import Console
from rich.text import Text

from yinxin.errors import ValidationError, YinxinError
from yinxin.identity import ID_TYPES

if TYPE_CHECKING:
    from yinxin.app import Platform
else:
    # Commands name the platform (`p: Platform = HOME`, see on_platform) and import the name
    # from here; nothing evaluates it at run time, so the app and its services stay unloaded.
    Platform = Any

# What a command prints is the user's text: titles, names, reasons, error messages. So the
# consoles read no rich markup and no emoji codes in what they are given (a contract titled
# "…[/]…" crashed every listing showing it; "[link=…]" in a party's name made a link in the
# officer's terminal; ":red_circle:" became a picture) and wrap no line (piped output is the
# text itself, one record a line). Colour and weight come only from :func:`say`'s template.
console = Console(markup=False, emoji=False, soft_wrap=True)
err_console = Console(stderr=True, markup=False, emoji=False, soft_wrap=True)

JSON = typer.Option(False, "--json", help="Print the result as JSON.")


def _home(value: str) -> Path:
    """``--home``'s value as a path; an empty one is refused rather than read as ``.``.

    ``--home "$DIR"`` with ``DIR`` unset made the current folder the data directory (``init``
    set up a new CA there), while an empty ``YINXIN_HOME`` means the default, ``./var``."""
    if not value.strip():
        raise typer.BadParameter("give a folder (or leave --home out for ./var)")
    return Path(value)


HOME = typer.Option(
    None,
    "--home",
    envvar="YINXIN_HOME",
    parser=_home,
    metavar="PATH",
    help="Data directory (default ./var).",
)
ACTOR = typer.Option("ra-officer", "--actor", help="Who performs the action (recorded in audit).")
# Options more than one group takes, declared once so their help reads the same everywhere.
OPERATOR = typer.Option("operator", "--actor", help="Who acts (recorded in the audit trail).")
# the kinds of identity document, for a person subscriber and a seal's holder alike
ID_TYPE = typer.Option("id_card", help=f"One of: {', '.join(ID_TYPES)}.")
APPLICANT = typer.Option("applicant", "--actor", help="Who applies (recorded in the audit trail).")
SIGNER = typer.Option(..., help="Subscriber id of the person signing.")
# Where --x/--y put the seal, in the same words on every command that takes them. A PDF
# position is the seal's lower-left corner from the page's lower-left corner (PDF's own
# coordinates, as the page is displayed); an OFD position is the seal's centre from the page's
# top-left corner (OFD's own coordinates): the same numbers are different places, so each help
# says which. The API's placement fields (adapters/http/api/routes) say the same.
PDF_X_HELP = (
    "Seal's lower-left corner: mm from the page's left edge to the seal's left edge "
    "(with --anchor: a shift)."
)
PDF_Y_HELP = (
    "Seal's lower-left corner: mm from the page's bottom edge to the seal's bottom edge "
    "(with --anchor: a shift)."
)
OFD_X_HELP = (
    "Seal's centre: mm from the page's left edge to the seal's centre "
    "(OFD: from the page's top-left corner)."
)
OFD_Y_HELP = (
    "Seal's centre: mm from the page's top edge to the seal's centre "
    "(OFD: from the page's top-left corner, not the bottom as in a PDF)."
)
# and where --anchor puts it: a PDF seal goes over the end of the text, as a paper seal is
# stamped over "签章）" and the blank after it; an OFD seal on the text's middle
PDF_ANCHOR_HELP = (
    'Put the seal over the end of this text (its last occurrence), e.g. "甲方（签章）"; '
    "--x/--y then shift it."
)
OFD_ANCHOR_HELP = (
    'Centre the seal on this text (its last occurrence), e.g. "甲方（签章）"; not with --x/--y.'
)
PDF_OUT = typer.Option(..., "--out", help="Where the PDF is written.")
# a listing's page, as the API's lists take it: at most MAX_PAGE rows, after the last id seen
MAX_PAGE = 200
LIMIT = typer.Option(50, help=f"At most this many (1–{MAX_PAGE}).")
# an id, never below 0 (the API's after=-1 is a 422; here it listed nothing, exit 0)
AFTER = typer.Option(None, min=0, help="Continue after this id (next_after).")
# a log read newest first (the send log, job runs)
LOG_LIMIT = typer.Option(50, min=1, max=1000, help="At most this many entries (1–1000).")
OWNED_CONTRACTS = typer.Option(None, help="Only this organization's contracts.")
# a sign flow's, and so a contract's, which is signed through one
OWNER = typer.Option(None, help="Owner organization's subscriber id.")
DEADLINE = typer.Option(None, help="ISO 8601 time with offset.")
DAYS = typer.Option(None, help="Deadline in this many days (default 7); not with --deadline.")


# --- the platform -----------------------------------------------------------------------------
def passphrase() -> str:
    """The CA passphrase: ``YINXIN_CA_PASSPHRASE``, else a hidden prompt at a terminal."""
    p = os.environ.get("YINXIN_CA_PASSPHRASE")
    if p:
        return p
    if sys.stdin.isatty():
        return typer.prompt("CA passphrase", hide_input=True, err=True)
    return ""


def new_passphrase() -> str:
    """The passphrase ``yinxin init`` encrypts the new CA keys under: ``YINXIN_CA_PASSPHRASE``,
    else at a terminal a hidden prompt asked twice, again until the two agree. It was asked
    once, so a slip of the finger made a CA whose keys (the root's lasts twenty years) open
    under a passphrase nobody knows; ``staff add`` asks its new password twice the same way."""
    p = os.environ.get("YINXIN_CA_PASSPHRASE")
    if p:
        return p
    if sys.stdin.isatty():
        return typer.prompt(
            "New CA passphrase", hide_input=True, confirmation_prompt=True, err=True
        )
    return ""


# The platforms the command built, kept from ``track_platforms()`` (which ``main()`` calls) to
# ``close_platforms()``. A ``Platform`` often dies by reference count as soon as a command's
# lambda returns while its database engine, linked in cycles, lives on with an open
# connection until the garbage collector reaches it: holding the platform lets ``main()``
# close it. Off outside ``main()`` (in-process runs, CliRunner), so nothing is kept there.
_built: list[Platform] | None = None


def no_database_yet(home: Path | None) -> None:
    """Refuse, before anything is made, to serve or run the jobs on a SQLite database that
    does not exist yet: there the CA cannot be initialised, so ``serve`` and ``worker`` would
    refuse it anyway (``not_found``, "run `yinxin init`") — but only after opening the database
    had made the folder and an empty ``yinxin.db``, a data directory (at a mistyped
    YINXIN_HOME, say) the next ``yinxin init`` had not made."""
    from yinxin.errors import NotFound
    from yinxin.settings import Settings
    from yinxin.store.db import sqlite_path

    settings = Settings.from_env(home=home)
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        raise NotFound(
            f"no database at {path}: the certificate authority is not initialised "
            "(run `yinxin init`)",
            field="home",
        )


def platform(
    home: Path | None, *, migrate: bool = True, ask: Callable[[], str] | None = None
) -> Platform:
    """The platform of ``--home``, its database opened on first use: a command judges what was
    typed — in its body, or in the service before its first query — before anything is read,
    so one refused for it (exit 2) makes no data directory and no database on a new home
    (``on_platform`` builds the platform before the body runs). ``ask``: where the CA
    passphrase comes from when first needed (default :func:`passphrase`)."""
    from yinxin.app import build_platform
    from yinxin.settings import Settings

    built = build_platform(
        Settings.from_env(home=home),
        passphrase=ask or passphrase,
        migrate=migrate,
        database_on_first_use=True,
    )
    if _built is not None:
        _built.append(built)
    if _asked is not None:
        _asked.append(built)
    return built


def ca_key_first(p: Platform, serial: str) -> Platform:
    """At a terminal with no ``YINXIN_CA_PASSPHRASE``, ask for the CA passphrase now and check
    it (the key that will sign ``serial``'s CRL opened with it: its issuing CA's, the SM2
    issuing CA's for a certificate of the SM2 hierarchy), before a status change is made —
    once the serial is known to be a certificate of ours (an unknown one is refused before the
    passphrase is typed for nothing); ``p`` as given.

    The passphrase was asked for only when the CRL was signed, after the change was committed:
    ``cert revoke`` with a typo at the prompt left the certificate revoked, the CRL unsigned
    and a warning, a change the operator could no longer take back. Now a wrong one is refused
    (``bad_passphrase``, exit 5) with nothing written. Without a terminal nothing is asked
    here: a process given a wrong or no passphrase makes the change and warns (``run``), as
    docs/operator-guide.md says; a PKCS#11 store asks nothing either.

    It opened the default issuing CA's key whatever the certificate: revoking one the SM2
    issuing CA signed, with SM2 keys sealed under another passphrase (a data directory whose
    ``ca add-hierarchy`` ran with another, refused since), took the default key's
    passphrase, revoked, and left the SM2 CRL unsigned — and refused the SM2 key's own
    passphrase. The serial as stored (``certificates.get``): typed as openssl prints it, the
    issuer's lookup found no row and checked no key at all."""
    if not _asks_for_the_passphrase(p):
        return p
    return ca_keys_first(p, [p.certificates.get(serial).serial])


def _asks_for_the_passphrase(p: Platform) -> bool:
    """Would signing a CRL ask for the CA passphrase at a prompt (a file key store, a terminal,
    no ``YINXIN_CA_PASSPHRASE``)?"""
    asks = not os.environ.get("YINXIN_CA_PASSPHRASE") and sys.stdin.isatty()
    return asks and p.settings.keystore == "file"


def ca_keys_first(p: Platform, serials: Sequence[str]) -> Platform:
    """:func:`ca_key_first` for the certificates a sweep is about to change (``cert expire``,
    ``cert suspend-unpaid``): at a terminal with no ``YINXIN_CA_PASSPHRASE``, the passphrase is
    asked for and checked (the key of each CA that issued one of ``serials`` opened with it)
    before the first change; with nothing to change, nothing is asked. ``p`` as given.

    The sweeps asked only when the first CRL was signed, after the first certificate's status
    was committed: a typo left it (and every one after it) expired or stopped, the CRLs
    unsigned, exit 0 with a warning. Now a wrong passphrase is refused (``bad_passphrase``,
    exit 5) with nothing changed."""
    if serials and _asks_for_the_passphrase(p):
        for role in p.certificates.issuer_roles(serials):
            p.ca.key(role)
    return p


# The platforms built while ``run`` calls its service (None otherwise, so nothing is kept past
# it; see ``_built``): where it finds the CRLs the call's status changes tried to sign
# (``Platform.crl_attempts``).
_asked: list[Platform] | None = None


def track_platforms() -> None:
    """From now on keep every platform ``platform()`` builds, for ``close_platforms()``."""
    global _built
    _built = []


def close_platforms() -> None:
    """Close the platforms built since ``track_platforms()`` (database connections, key store,
    publishers) now, rather than whenever the garbage collector reaches them: a SQLite database
    is closed and checkpointed before the process exits, however its objects are linked.
    A failure to close is logged, not raised: the command has answered, its exit code stands."""
    while _built:
        try:
            _built.pop().close()
        except Exception:
            logging.getLogger(__name__).warning("closing the platform failed", exc_info=True)


# --- output and errors ------------------------------------------------------------------------
def emit(
    result: Any,
    as_json: bool,
    render: Callable[[Any], None] | None = None,
    empty: str | Callable[[], str] = "(none)",
) -> None:
    """Print a service's result: ``render`` gets the typed result, JSON gets ``plain`` data,
    and a verb without a renderer prints :func:`as_text` of that data. An empty listing says
    so — ``empty``, or what it returns when it says why only once the result is known — on
    standard error, whichever prints it (standard output stays empty for a pipe)."""
    if not as_json and _nothing(result):
        err_console.print(empty() if callable(empty) else empty, markup=False)
        return
    if render and not as_json:
        render(result)
        return
    from yinxin.results import plain

    if as_json:
        data = plain(result)
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    # times as every renderer prints them (moment), not ISO with seconds and offset
    sys.stdout.write("".join(line + "\n" for line in as_text(plain(result, moment))))


def _nothing(result: Any) -> bool:
    """An empty list, or a page of a listing with no item and no next page."""
    if isinstance(result, list | tuple):
        return not result
    if not hasattr(result, "next_after"):
        return False
    items = getattr(result, "items", None)
    return isinstance(items, list | tuple) and not items and result.next_after is None


def as_text(data: Any) -> list[str]:
    """Plain data (``results.plain``) for a person to read, with no renderer of its own: a
    record as aligned ``field  value`` lines, a list (or a page: ``items``, ``next_after``) one
    record a line — ``#id`` first, then ``field=value`` for each field that has one —, nested
    values as one-line JSON. Text exactly as stored (control characters shown as escapes,
    nothing read as markup, nothing wrapped), except an encoded blob (a long value without a
    space: base64 of a seal record, a certificate), shown by its ends and length; ``--json``
    is the form for scripts, and has it all."""
    if isinstance(data, dict) and set(data) == {"items", "next_after"}:
        lines = [_one_line(item) for item in data["items"]]
        if data["next_after"] is not None:
            lines.append(f"more: --after {data['next_after']}")
        return lines
    if isinstance(data, list):
        return [_one_line(item) for item in data]
    if isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        return [f"{k:<{width}}  {_value(v)}" for k, v in data.items()]
    return [] if data is None else [_value(data)]


def _one_line(item: Any) -> str:
    if not isinstance(item, dict):
        return _value(item)
    head = [f"#{item['id']}"] if "id" in item else []
    rest = [f"{k}={_value(v)}" for k, v in item.items() if k != "id" and v not in (None, "", [])]
    return "  ".join(head + rest)


BLOB = 96  # a value this long with no space in it is an encoding, not words


def _value(v: Any) -> str:
    from yinxin.identity import shown

    if v is None:
        return "-"
    if isinstance(v, dict | list):
        return shown(json.dumps(v, ensure_ascii=False, default=str))
    text = shown(str(v))
    if len(text) > BLOB and not any(c.isspace() for c in text):
        return f"{text[:16]}…{text[-8:]} ({len(text)} characters; --json for all)"
    return text


def extended(result: Any, **more: Any) -> Any:
    """A service's typed result (a dataclass) with more fields for a command's output, such as
    ``out``, the file it wrote: a copy whose class adds them after its own fields, so JSON
    shows them last and a renderer reads them as attributes like the rest."""
    import dataclasses

    cls = _extended_class(type(result), tuple(more))
    return cls(**{f.name: getattr(result, f.name) for f in dataclasses.fields(result)}, **more)


@functools.cache
def _extended_class(base: type, names: tuple[str, ...]) -> type:
    import dataclasses

    fields = [(n, Any) for n in names]
    return dataclasses.make_dataclass(
        base.__name__, fields, bases=(base,), frozen=True, kw_only=True
    )


_TAG_IN_VALUE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")  # what rich's parser reads as a tag
_TAG_NEXT = re.compile(r"\[[a-z#/@]")


def styled(markup: str, *values: object) -> Text:
    """``markup`` — a literal with rich's colour and weight tags — with each ``{}`` filled by
    a value as plain text on one line: a value is never read as a tag or an emoji code, and
    its control characters are shown as escapes (:func:`yinxin.identity.shown`: an error
    message can quote a document).

    Escaped here rather than by ``rich.markup.escape``, which doubles a trailing backslash
    whether or not a tag follows (``a\\`` then printed as ``a\\\\``): backslashes are
    special only right before a tag, so only there are they doubled."""
    from yinxin.identity import shown

    pieces = markup.split("{}")
    if len(pieces) != len(values) + 1:
        raise ValueError(f"{len(pieces) - 1} places for {len(values)} values in {markup!r}")
    out = [pieces[0]]
    for value, after in zip(values, pieces[1:], strict=True):
        text = _TAG_IN_VALUE.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", shown(str(value)))
        if _TAG_NEXT.match(after):
            text += "\\" * (len(text) - len(text.rstrip("\\")))
        out += [text, after]
    return Text.from_markup("".join(out), emoji=False)


def say(markup: str, *values: object, err: bool = False) -> None:
    """Print :func:`styled` ``(markup, *values)`` on standard output (standard error with
    ``err``)."""
    (err_console if err else console).print(styled(markup, *values))


def moment(t: dt.datetime | None, zone: dt.tzinfo = dt.UTC) -> str:
    """A moment as every command's human output shows it: date, hour and minute, and the zone
    it is read in — ``2026-12-05 19:13 UTC`` (``zone`` another offset: ``2026-12-06 03:13
    UTC+8``), ``—`` for none. Never an hour without its zone (read as Beijing time, a UTC hour
    is eight hours off), nor ISO with seconds and microseconds in one verb and minutes in the
    next; ``--json`` keeps ISO 8601 with the offset. A naive time (none should reach here) is
    the stored convention's, UTC."""
    if t is None:
        return "—"
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    local = t.astimezone(zone)
    offset = local.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    label = "UTC" if not minutes else f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
    return f"{local:%Y-%m-%d %H:%M} {label}"


@dataclass(frozen=True)
class ListPage:
    """A page of a listing whose service pages as the API's lists do (:func:`page_of`)."""

    items: tuple[Any, ...]
    next_after: int | None  # pass as --after for the next page; None: this was the last


def page_of(listing: Callable[..., Sequence[Any]], limit: int, after: int | None) -> ListPage:
    """A page of ``listing`` (a service's ``list``, its filters given, that takes ``after`` and
    ``limit`` as the API's ``Page`` lists call it): one row more than ``limit``, to know whether
    more come, cut to the page and the cursor for the next (``store.queries.cut``)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be 1–{MAX_PAGE}", field="limit")
    from yinxin.store.queries import cut

    items, next_after = cut(list(listing(after=after, limit=limit + 1)), limit)
    return ListPage(tuple(items), next_after)


def more(page: Any) -> None:
    """How to ask for the page after ``page`` (``items``, ``next_after``), if one comes: the
    last line of every ``… list`` command that pages."""
    if page.next_after is not None:
        console.print(f"more: --after {page.next_after}")


def show_page(page: Any, line: Callable[[Any], str]) -> None:
    """A service's page of a listing (``items``, ``next_after``): one line an item, then how to
    ask for the next page, the same in every ``… list`` command."""
    for item in page.items:
        console.print(line(item))
    more(page)


def show_once(summary: str, secret: str, advice: str = "Store the secret now") -> None:
    """A credential made now and never shown again: a line naming it, the secret alone on the
    next line (for a script to read) and, on standard error, the advice to keep it now."""
    typer.echo(summary)
    typer.echo(secret)
    typer.echo(f"{advice}: it is not shown again.", err=True)


def show_signing_links(links: Any) -> None:
    """The signing links of a sign flow just started, each under its party's role: printed
    this once (only their hashes are kept), for the operator to hand each to its signer."""
    say("[yellow]Signing links (shown once; hand each to its signer):[/]")
    for link in links:
        console.print(f"  {link.role}: {link.url}")


def show_error(e: YinxinError, as_json: bool) -> None:
    """A refusal as JSON on standard output, or as one line on standard error naming the
    field and, last, the refusal's code (the JSON answer's ``error``, the API's):
    ``error [field]: message (code: not_in_subject)``. The message is one line (control
    characters shown as escapes), so the code is what the last ``(code: …)`` names."""
    if as_json:
        sys.stdout.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
    else:
        where = f" [{e.field}]" if e.field else ""
        say("[bold red]error{}:[/] {} [dim](code: {})[/]", where, e.message, e.code, err=True)


def run(
    as_json: bool,
    fn: Callable[[], Any],
    render: Callable[[Any], None] | None = None,
    empty: str | Callable[[], str] = "(none)",
) -> None:
    """Call a service; turn refusals into a message (or JSON error) and the right exit code.

    A status change (revoke, freeze, report-loss, rekey…) whose CRL could not be signed here
    is done all the same — and exits 0 — but says so (:func:`crl_warning`)."""
    global _asked
    asked: list[Platform] = []
    _asked = asked
    try:
        try:
            result = fn()
        except YinxinError as e:
            show_error(e, as_json)
            raise typer.Exit(e.exit_code) from None
        attempts = [a for p in asked for a in p.crl_attempts]
    finally:
        _asked = None
    if not attempts:
        emit(result, as_json, render, empty)
        return
    failed = [a for a in attempts if not a.published]
    if as_json:
        from yinxin.results import plain

        data = plain(result)
        if isinstance(data, dict):
            data["crl_published"] = not failed
            data["crl_error"] = failed[0].cause if failed else None
        result = data
    emit(result, as_json, render, empty)
    if failed:
        keystore = asked[0].settings.keystore if asked else "file"
        crl_warning(failed[0].cause or "the CA key could not sign", keystore)


def crl_warning(cause: str, keystore: str = "file") -> None:
    """On standard error: the change is recorded, the CRL was not re-signed now (``cause``,
    never the passphrase or PIN itself), OCSP says it already, and what re-signs the CRL when
    — with what ``keystore`` (``YINXIN_KEYSTORE``) needs to sign.

    ``cert revoke`` with a wrong YINXIN_CA_PASSPHRASE exited 0 without a word: an operator
    revoking a compromised certificate believed the published CRL listed it, when relying
    parties reading the CRL would not see it until a server or worker re-signed it. With the
    CA keys in a PKCS#11 token the warning ended "with the right CA passphrase", which that
    store never reads: the operator was sent after a secret that is not the cause; it names
    the token's settings now."""
    needs = (
        "with the token reachable (YINXIN_PKCS11_MODULE, YINXIN_PKCS11_TOKEN, YINXIN_PKCS11_PIN)"
        if keystore == "pkcs11"
        else "with the right CA passphrase"
    )
    say(
        "[bold yellow]warning:[/] the change is recorded, but the CRL was not re-signed now: "
        "{}. OCSP (`yinxin serve`) answers the new status at once; the CRL lists it when a "
        "running `yinxin serve` next re-signs it (on the next CRL fetch, and within 5 minutes "
        "anyway) or `yinxin worker` runs the crl.issuing job (hourly) — or now: "
        "`yinxin jobs run crl.issuing` (crl.side for the SM2 hierarchy) {}.",
        cause,
        needs,
        err=True,
    )


# the signing services' (and the API's) names for what ``sign …`` takes as --in and --signer:
# the document, and the person signing (who, for an organization's seal, is its grant's member)
SIGN_FIELDS = {
    "pdf": "in",
    "ofd": "in",
    "subscriber_id": "signer",
    "signer_subscriber_id": "signer",
    "member_subscriber_id": "signer",
}
# ``sign pdf|ofd|ses-pdf``'s second step also takes --challenge: the service refuses one that
# is no code request, or another signer's, naming challenge_id, and one sent for another
# document naming document_sha256 (the digest of the --in it was sent for)
CHALLENGE_FIELDS = {**SIGN_FIELDS, "challenge_id": "challenge", "document_sha256": "challenge"}


def refuse_given(given: dict[str, Any], why: str) -> None:
    """Refuse the first option in ``given`` (parameter name: whether it was given) that was
    given where it does not belong, naming it: the refusal's field is the parameter and its
    message ``why`` with ``{option}`` standing for the option as typed (``--pin-stdin``).

    An option that only counts beside another (a PIN with ``--with-pin``, ``--code`` with
    ``--challenge``, ``--algorithm`` with ``--platform-key``) would otherwise be dropped
    without a word and the command go on to do something else than was asked."""
    for name, value in given.items():
        if value:
            raise ValidationError(why.format(option=f"--{name.replace('_', '-')}"), field=name)


def refuse_for_signing(given: dict[str, Any]) -> None:
    """Refuse, naming it, an option of the signing run (``--code``, ``--pin``…) given on the
    run without ``--challenge``, which sends a code: it was dropped and a new code sent
    (``--code`` given, ``--challenge`` forgotten: a code and an SMS spent on nothing).
    ``flow sign`` and ``sign batch`` have that two-run shape."""
    refuse_given(given, "{option} is for signing: give --challenge too (without it a code is sent)")


def as_options(
    names: dict[str, str], call: Callable[[], Any], *, said: dict[str, str] | None = None
) -> Any:
    """``call()``, with a refusal naming a service's field that the command takes under another
    option's name (``expires_at`` as ``--expires``, a scan's ``image`` as ``--scan``) renamed
    to the option; its kind, code and exit code unchanged. Its message is too where ``said``
    gives the words for the field (``arrived_at`` → ``--arrived``: "a notice sent by email
    needs arrived_at" named what no option is called)."""
    try:
        return call()
    except YinxinError as e:
        if e.field not in names:
            raise
        message = e.message
        if said and e.field in said:
            message = re.sub(rf"\b{re.escape(e.field)}\b", said[e.field], message)
        raise type(e)(message, field=names[e.field], code=e.code) from None


# what sealing's refusals of a placement (``field="placement"``) were about, by code: the
# option of the placement group that was typed wrongly
_PLACEMENT_CODES = {"page_out_of_range": "page", "anchor_not_found": "anchor", "outside_page": "x"}


def placement_option(e: YinxinError) -> str | None:
    """The placement option (``page``, ``anchor``, ``x``, ``y``) a refusal of a seal's
    placement was about: a page the document has not (``page_out_of_range``, or a flow's "has
    no page"), an anchor text it does not hold (``anchor_not_found``), a seal by page and x/y
    off its page (``outside_page``: the coordinate that runs it off, ``OutsidePage.axis`` —
    ``x`` was named even when only ``--y`` was wrong); None when the refusal does not say (the
    caller knows its placement).

    The services name them all ``placement``, which no command takes: the signer who typed
    ``--page 9`` read ``error [placement]``. The signing verbs (:func:`as_placement`) and
    ``flow create``'s ``--signer`` keys (``anchor``, ``page``, ``x``, per document ``.N``) each
    rename by this one rule."""
    from yinxin.pdf.sign import OutsidePage  # loaded by the signing that refused already

    if isinstance(e, OutsidePage):
        return e.axis
    if e.code in _PLACEMENT_CODES:
        return _PLACEMENT_CODES[e.code]
    return "page" if " has no page " in e.message else None


def as_placement(where: Any, call: Callable[[], Any]) -> Any:
    """``call()``, with a refusal naming ``placement`` renamed to the option typed
    (:func:`placement_option`: ``page``, ``anchor``, ``x`` or ``y``); kind, code, message and exit
    code unchanged. ``where`` None (``--field``: no placement option given) renames nothing,
    nor does a refusal that does not say which option it was about."""
    try:
        return call()
    except YinxinError as e:
        option = placement_option(e) if where is not None and e.field == "placement" else None
        if option is None:
            raise
        raise type(e)(e.message, field=option, code=e.code) from None


_SIGNER_FIELD = re.compile(r"(signers\[(\d+)\])\.(\w+)(\[(\d+)\])?")


def as_signer_keys(
    names: dict[str, str | Callable[[int, YinxinError], str]], call: Callable[[], Any]
) -> Any:
    """``call()``, with a refusal of one ``--signer``'s part under the service's name
    (``signers[1].subscriber_id``) renamed to the key typed in the value
    (``signers[1].subscriber``): ``names`` maps the service's name to the key, or to a function
    of the signer's index and the refusal that tells which key it was; its kind, code, message
    and exit code unchanged. A name with an index (``field_names[1]``) is looked up as
    ``field_names[]``, and its key may place the index (``field.{n}``: ``field.1``)."""
    try:
        return call()
    except YinxinError as e:
        m = _SIGNER_FIELD.fullmatch(e.field or "")
        name = None if m is None else m[3] if m[4] is None else f"{m[3]}[]"
        if m is None or name not in names:
            raise
        key = names[name]
        if not isinstance(key, str):
            key = key(int(m[2]), e)
        if m[5] is not None:
            key = key.format(n=m[5])
        raise type(e)(e.message, field=f"{m[1]}.{key}", code=e.code) from None


def on_platform(
    render: Callable[[Any], None] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., None]]:
    """A command that asks the platform once and prints the answer, written as a function that
    takes the platform (``p: Platform = HOME``) and returns the service's result.

    Nearly every command ended the same way: ``home: Path | None = HOME``, ``as_json: bool =
    JSON`` and ``run(as_json, lambda: platform(home)....)``. That pair and the call joining them
    live here once. The command Typer sees has ``--home`` where ``p`` stands and ``--json``
    last, so its options, their order and its help are as before; it builds the platform from
    ``--home`` (first, as the lambda did) and prints the result through ``run``: ``render`` for
    text (a function of the result alone), JSON with ``--json``, a refusal as an error line and
    its exit code. The platform opens its database on first use (:func:`platform`): judge what
    was typed before the first query — the options the body reads, then the service's — and a
    command line refused for it leaves no data directory behind on a new home."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., None]:
        signature = inspect.signature(fn)
        if "p" not in signature.parameters:
            raise TypeError(f"{fn.__name__} takes no platform p (p: Platform = HOME)")
        params = [
            q.replace(name="home", annotation=Path | None) if q.name == "p" else q
            for q in signature.parameters.values()
        ]
        as_json = inspect.Parameter(
            "as_json", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=JSON, annotation=bool
        )

        @functools.wraps(fn)
        def command(**values: Any) -> None:
            home = values.pop("home")
            as_json = values.pop("as_json")
            run(as_json, lambda: fn(p=platform(home), **values), render)

        # Typer reads the parameters from __signature__ and their types from __annotations__
        # (strings resolved in fn's module); the platform's own type is not one it can parse.
        command.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*params, as_json], return_annotation=None
        )
        kept = {k: v for k, v in fn.__annotations__.items() if k not in ("p", "return")}
        command.__annotations__ = {**kept, "home": Path | None, "as_json": bool}
        return command

    return wrap


@dataclass(frozen=True)
class OptionGroup:
    """Options that always travel together into one value (a seal's placement: anchor, page,
    x, y, width), declared once for every command that takes them.

    A command names the value as one parameter with the group as its default (``placement:
    Callable[[], Placement] = PLACEMENT``) and is decorated with :func:`grouped`. ``options``
    are ``(name, type, Typer default)`` in the order ``--help`` lists them; ``make`` turns
    their values (by name) into the value."""

    make: Callable[..., Any]
    options: tuple[tuple[str, Any, Any], ...]


def grouped(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Typer sees each :class:`OptionGroup` parameter of ``fn`` as the group's options, in its
    place; ``fn`` gets a function of no arguments that makes the group's value from them.
    The command calls it where it needs the value, so a refusal (no anchor and no x/y) comes
    at the point it came when the options were written out in the command."""
    signature = inspect.signature(fn)
    groups = {
        q.name: q.default
        for q in signature.parameters.values()
        if isinstance(q.default, OptionGroup)
    }
    params: list[inspect.Parameter] = []
    annotations = {k: v for k, v in fn.__annotations__.items() if k not in groups}
    for q in signature.parameters.values():
        if q.name not in groups:
            params.append(q)
            continue
        for name, kind, default in groups[q.name].options:
            params.append(
                inspect.Parameter(
                    name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=kind
                )
            )
            annotations[name] = kind

    @functools.wraps(fn)
    def command(**values: Any) -> Any:
        for name, group in groups.items():
            given = {option: values.pop(option) for option, _, _ in group.options}
            values[name] = functools.partial(group.make, **given)
        return fn(**values)

    command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = annotations
    return command


# --- input ------------------------------------------------------------------------------------
# What the database holds in an integer column (SQLite and PostgreSQL BIGINT alike).
WHOLE_NUMBER_LIMIT = 2**63 - 1
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def whole_number(text: str, field: str, name: str) -> int:
    """A whole number written inside an option's value (``subscriber=3`` of ``--signer``,
    ``3:ESID`` of ``--party-a``), which the parser's ranges do not see: ASCII digits, within
    what a database integer holds, or refused naming ``field``.

    ``subscriber=99999999999999999999`` reached SQLite, which cannot bind it (a traceback), as
    did ``²``, which ``str.isdigit`` takes and ``int`` refuses. ``+3`` and `` 3 `` were taken,
    where every number the parser reads (:class:`DecimalIntRange`) refuses them."""
    if not _WHOLE_NUMBER.fullmatch(text):
        raise ValidationError(
            f"{name} must be a whole number written in decimal digits (no sign but -, no "
            f"spaces), not {text!r}",
            field=field,
        )
    n = int(text)
    if abs(n) > WHOLE_NUMBER_LIMIT:
        raise ValidationError(
            f"{name} must be a whole number of at most 19 digits, not {text!r}", field=field
        )
    return n


# A seal as typed: its id or its esID, both ASCII decimal digits, at most 32 (the API's path
# pattern for a seal, SEAL_PATTERN, and what its bodies take).
_SEAL_REF = re.compile(r"[0-9]{1,32}")
_SEAL_RULE = "decimal digits 0-9 (at most 32, no sign, spaces or separators)"


def seal_ref(value: str | None) -> str | None:
    """The parser's check of a seal typed as an argument or option (every ``seal`` command's
    ``SEAL``, ``seal apply --seal``, ``--seal`` of ``sign pdf``/``batch``/``ofd``/``ses-pdf``
    and ``authorization grant``): its id or its esID in ASCII digits. ``sign pdf --seal １``
    went to the service, which looked for an esID "１" and exited 3, not found, where the API
    answers 422; full-width or Arabic-Indic digits, a sign, a space or a letter are refused by
    the parser, naming the argument, exit 2."""
    if value is not None and not _SEAL_REF.fullmatch(value):
        raise typer.BadParameter(
            f"{_typed(value)} is not a seal's id or esID: give it in {_SEAL_RULE}"
        )
    return value


def seal_in(text: str, field: str, name: str) -> str:
    """A seal written inside an option's value (the SEAL of ``--party-a N:SEAL``, ``seal=`` of
    ``--signer``), which the parser does not see: checked as :func:`seal_ref` checks one, and
    refused naming ``field``, ``name`` saying which part of which option is wrong."""
    if not _SEAL_REF.fullmatch(text):
        raise ValidationError(
            f"{name} must be a seal's id or esID in {_SEAL_RULE}, not {_typed(text)}",
            field=field,
        )
    return text


_DECIMAL_WHOLE = re.compile(r"-?[0-9]+")
_DECIMAL_REAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _typed(value: str) -> str:
    """A value typed, quoted for a message: its start only when it is long."""
    return repr(value if len(value) <= 40 else value[:40] + "…")


def decimal_real(text: str) -> bool:
    """Whether ``text`` is a number written in ASCII decimal digits: a ``-`` before them, a
    ``.`` among them, nothing else. Python's ``float`` also reads full-width ``７``,
    Arabic-Indic ``٥``, ``1_000``, ``+7``, `` 7 ``, ``1e3``, ``nan`` and ``inf``."""
    return _DECIMAL_REAL.fullmatch(text) is not None


# The click whose types Typer builds its parameters with: click itself up to Typer 0.27, a copy
# of it (``typer._click``) from 0.28 on. A type of the other one is not recognised as a type.
_click_types: Any = importlib.import_module(
    typer.BadParameter.__module__.rpartition(".")[0] + ".types"
)


_click_parser: Any = importlib.import_module(
    typer.BadParameter.__module__.rpartition(".")[0] + ".parser"
)
_click_exceptions: Any = importlib.import_module(typer.BadParameter.__module__)
_OptionParser: Any = getattr(_click_parser, "_OptionParser", None) or _click_parser.OptionParser


def _as_typed(arg: str, param: Any) -> str:
    """The name by which ``arg`` (``--out``, ``--out=b.pdf``, ``-o``, ``-ob.pdf``, ``-jo``)
    gave ``param``."""
    if arg.startswith("--") or "=" in arg:
        return arg.split("=", 1)[0]
    names = [*param.opts, *param.secondary_opts]
    if arg in names:
        return arg
    for ch in arg[1:]:  # a cluster of short options: the one of this parameter
        if f"{arg[0]}{ch}" in names:
            return f"{arg[0]}{ch}"
    return param.opts[0]


def _flag_value(typed: str, param: Any) -> bool:
    """Which value a flag's name ``typed`` gives: ``--local`` one, ``--other`` the other."""
    return typed not in param.secondary_opts


class _OnceParser(_OptionParser):  # type: ignore[misc,valid-type]
    """click's option parser, refusing an option that takes one value given a second time.

    click keeps the last of them: ``cert expiring --days 5 --days 30`` ran as 30, ``sign pdf
    … --out a.pdf --out b.pdf`` wrote b.pdf, where the API refuses a repeated query parameter
    or JSON member. An option given more than once is now refused before any command runs,
    naming it as typed ("--days was given twice"), exit 2, whichever of its names and forms
    (``--out a``, ``--out=a``, ``-o a``) each time. A flag given both ways is refused too
    (``--local --other``, ``--lock --no-lock``); the same flag twice (``--json --json``) says
    one thing and is taken. An option declared to take many (``multiple``: ``--signer``,
    ``--set``, ``--attach``…) or to count keeps its repeats."""

    def _process_opts(self, arg: str, state: Any) -> None:
        before = len(state.order)
        super()._process_opts(arg, state)
        seen: dict[Any, str] = state.__dict__.setdefault("_yinxin_given", {})
        for param in state.order[before:]:
            if getattr(param, "multiple", True) or getattr(param, "count", False):
                continue  # an argument (no ``multiple``), or an option that takes many
            typed = _as_typed(arg, param)
            if param in seen:
                first = seen[param]
                if getattr(param, "is_flag", False) and _flag_value(first, param) == _flag_value(
                    typed, param
                ):
                    continue  # the same flag again: it says the same thing twice
                if getattr(param, "is_flag", False):
                    message = f"{typed} was given with {first}; give one of them"
                else:
                    also = "" if first == typed else f" (first as {first})"
                    message = f"{typed} was given twice{also}; give it once"
                e = _click_exceptions.BadOptionUsage(typed, message, ctx=self.ctx)
                e.param = param  # --json names the parameter, as for a bad value
                raise e
            seen[param] = typed


class OnceCommand(typer.core.TyperCommand):
    """Every ``yinxin`` command: its options are parsed by :class:`_OnceParser`."""

    def make_parser(self, ctx: Any) -> Any:
        parser = _OnceParser(ctx)
        for param in self.get_params(ctx):
            param.add_to_parser(parser, ctx)
        return parser


class DecimalIntRange(_click_types.IntRange):  # type: ignore[misc]
    """A whole-number option's type: its decimal digits (``-`` before them where its range
    lets a number below zero), as the API reads a number in a query.

    click reads an ``int`` option with Python's ``int``, which also takes full-width ``７``,
    Arabic-Indic ``٥`` (any script's decimal digits), ``1_000``, ``+7`` and `` 7 ``:
    ``yinxin subscriber show ７`` showed subscriber 7 and ``--days ١٥`` counted 15 days. Such
    a value is refused by the parser naming the option, exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self._describe_range():
            self.name = "int"  # help shows <int>, not <int range> with no range

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and not _DECIMAL_WHOLE.fullmatch(value):
            self.fail(
                f"{_typed(value)} is not a whole number written in decimal digits "
                "(no sign but -, no point, spaces or separators)",
                param,
                ctx,
            )
        if isinstance(value, str) and abs(int(value)) > WHOLE_NUMBER_LIMIT and not self.clamp:
            self.fail(
                f"{value} is not in the range {super()._describe_range()} (the largest whole "
                "number the platform stores)",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)

    def _describe_range(self) -> str:
        """The range help and refusals show. Every whole number without a range of its own is
        bounded by what the database holds (:data:`WHOLE_NUMBER_LIMIT`), which no one types
        against: shown, it put ``[-9223372036854775807<=x<=9223372036854775807]`` beside every
        such option in the help; only the bounds a command sets are shown."""
        lo = None if self.min is None or self.min <= -WHOLE_NUMBER_LIMIT else self.min
        hi = None if self.max is None or self.max >= WHOLE_NUMBER_LIMIT else self.max
        if lo is None and hi is None:
            return ""
        if lo is None:
            return f"x{'<' if self.max_open else '<='}{hi}"
        if hi is None:
            return f"x{'>' if self.min_open else '>='}{lo}"
        return super()._describe_range()


class _DecimalReal:
    """What :class:`DecimalFloat` and :class:`DecimalFloatRange` share."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and not decimal_real(value):
            self.fail(  # type: ignore[attr-defined]
                f"{_typed(value)} is not a number written in decimal digits (0-9 with a . "
                "and a - before them at most: no +, spaces, separators or exponent)",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)  # type: ignore[misc]


class DecimalFloat(_DecimalReal, _click_types.FloatParamType):  # type: ignore[misc]
    """A real-number option's type without a range: :func:`decimal_real`'s digits only."""


class DecimalFloatRange(_DecimalReal, _click_types.FloatRange):  # type: ignore[misc]
    """A real-number option's type with a range: :func:`decimal_real`'s digits only."""


# How much an input file option reads at most. Read whole, ``--csr /dev/zero`` (or a FIFO, or a
# disk image named by mistake) read on until memory ran out. A document is what the services take
# (``MAX_PDF`` of ``yinxin.signing.service``, ``MAX_OFD`` of ``yinxin.signing.ofd``: not imported
# here, ``yinxin --help`` loads no services; a test keeps them equal); a CSR, key or certificate is
# a few KB, PEM or DER, so a few hundred KB is plenty.
MAX_DOCUMENT_INPUT = 50 * 1024 * 1024
MAX_PEM_INPUT = 256 * 1024


@overload
def read_input(path: Path, field: str, limit: int = MAX_DOCUMENT_INPUT) -> bytes: ...
@overload
def read_input(path: Path | None, field: str, limit: int = MAX_DOCUMENT_INPUT) -> bytes | None: ...
def read_input(path: Path | None, field: str, limit: int = MAX_DOCUMENT_INPUT) -> bytes | None:
    """The bytes of an input file (``None`` for no file), at most ``limit`` of them; an
    unreadable one, or one larger (only ``limit`` + 1 bytes are read to tell), is invalid
    input naming ``field``."""
    if path is None:
        return None
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}", field=field) from None
    if len(data) > limit:
        raise ValidationError(
            f"{path} is larger than {_size(limit)}, the most {field} takes", field=field
        )
    return data


def _size(n: int) -> str:
    """``n`` bytes in the largest whole unit (MB, KB) that it is a multiple of."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def parse_time(value: str | None, field: str) -> dt.datetime | None:
    """An ISO 8601 time with its offset (``None`` for no value)."""
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            "not an ISO 8601 time (e.g. 2026-11-21T10:00:00+08:00)", field=field
        ) from None
    if t.tzinfo is None:
        raise ValidationError("give the time with its offset, e.g. +08:00", field=field)
    from yinxin.clock import reachable

    return reachable(t, field)


def deadline_at(p: Platform, deadline: str | None, days: int | None) -> dt.datetime:
    """A signing deadline from the ``DEADLINE``/``DAYS`` pair: the time ``--deadline`` gives,
    else ``--days`` (default 7) from now on the platform's clock. ``yinxin flow create`` and
    ``yinxin contract send`` both take it so. Both given is refused: ``--days`` was dropped
    without a word (even ``--days 0``, refused alone)."""
    # said in Chinese first, as the flow's own deadline refusals (``signing.flows.PAST`` …)
    if deadline is not None and days is not None:
        raise ValidationError(
            "--days 与 --deadline 只能给一个 / give --days or --deadline, not both", field="days"
        )
    try:
        when = parse_time(deadline, "deadline")
    except ValidationError as e:  # parse_time's English, the example of a time said first
        raise ValidationError(
            f"截止时间应为带时区的 ISO 8601 时间，如 2026-11-21T10:00:00+08:00 / {e.message}",
            field="deadline",
            code=e.code,
        ) from None
    if when is None:
        from yinxin.signing.flows import MAX_DEADLINE  # the command loads it anyway

        days = 7 if days is None else days
        if not 1 <= days <= MAX_DEADLINE.days:  # checked before a date past 9999 is made
            raise ValidationError(
                f"天数应为 1 到 {MAX_DEADLINE.days} 的整数 / days must be a whole number "
                f"from 1 to {MAX_DEADLINE.days}",
                field="days",
            )
        when = p.clock.now() + dt.timedelta(days=days)
    return when


def signer_pairs(
    text: str, field: str, keys: set[str], hint: str, *, numbered: tuple[str, ...] = ()
) -> dict[str, str]:
    """One ``--signer`` value, ``key=value`` pairs separated by commas, as a dict; refuses a
    part without ``=`` (naming ``hint``, the option's own help), any key not in ``keys`` and a
    key given twice (the last one was taken: ``seal=A,seal=B`` signed with B, where a person
    reading the command saw A). A key starting with one of ``numbered`` (``field.``) is taken
    too, whatever follows, for the caller to read its number. ``yinxin contract`` and
    ``yinxin flow`` take their signers this way, each its own keys.

    Spaces (any Unicode white space, the full-width one too) around a key and around its value
    are dropped, deliberately: ``subscriber=3, role=甲方`` and ``field= 甲方签章`` are how
    people type a list, and a role, an anchor or a field whose name starts or ends with a space
    is a typo, not a name meant (the API, given JSON, takes a name as it is given)."""
    values: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationError(f"{part!r} is not key=value ({hint})", field=field)
        if key in values and (key in keys or key.startswith(numbered)):
            raise ValidationError(f"{key}= is given twice; give it once", field=f"{field}.{key}")
        values[key] = value.strip()
    unknown = {k for k in values if k not in keys and not k.startswith(numbered)}
    if unknown:
        raise ValidationError(f"unknown signer key(s): {', '.join(sorted(unknown))}", field=field)
    return values


# --- output files -----------------------------------------------------------------------------
def writable(path: Path, field: str = "out") -> None:
    """Refuse an output path that cannot be written *before* any work is done (for signing:
    before a code is used up): the folder must exist and take a new file."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValidationError(f"{path} is a folder, not a file name", field=field)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ValidationError(f"cannot write into {folder}", field=field)


def same_file(out: Path, given: Path) -> bool:
    """Whether the output ``out`` is the input file ``given``: the same name, another
    spelling of it, a symbolic or hard link to it."""
    try:
        return out.exists() and os.path.samefile(out, given)
    except OSError:
        return False


def not_the_input(out: Path, given: Path, field: str, what: str) -> None:
    """Refuse, naming ``field``, an output that is the input file ``given`` (the same name,
    another spelling of it, a link to it): what is written would replace ``what``."""
    if same_file(out, given):
        raise ValidationError(
            f"--{field.replace('_', '-')} {out} is {what} ({given}): give the output another name",
            field=field,
        )


def read_in_check_out(input: Path, output: Path, what: str) -> bytes:
    """``--in``'s bytes, once ``--out`` is known to be writable and not ``--in`` itself — the
    command line's own checks, made before any secret is asked for or a code used up.

    The signing verbs asked for the seal PIN and the one-time code first: ``sign pdf --out``
    the same file as ``--in`` (or into a missing folder) was refused only after both were
    typed in. Every verb that reads secrets calls this before :func:`read_pin_and_code`."""
    data = read_input(input, "in")
    writable(output)
    not_the_input(output, input, "out", what)  # it was replaced by the signed file
    return data


def write_atomic(path: Path, data: bytes, field: str = "out") -> None:
    """Write the output atomically: a refused or failed run leaves no partial file."""
    if not path.name or path.is_dir():  # --out "" (read as "."), ".", "/", a folder
        raise ValidationError(f"{path} is a folder, not a file name", field=field)
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ValidationError(f"cannot write {path}: {e.strerror}", field=field) from None


@dataclass(frozen=True)
class WrittenFile:
    """What a command wrote: the file and the SHA-256 of its bytes (the JSON of every command
    that writes a file, so scripts read one shape)."""

    out: str
    sha256: str
    size: int


def write_file(path: Path, data: bytes, field: str = "out") -> WrittenFile:
    """``write_atomic``, and what was written."""
    import hashlib

    write_atomic(path, data, field)
    return WrittenFile(str(path), hashlib.sha256(data).hexdigest(), len(data))


def show_written(r: WrittenFile) -> None:
    say("[green]Wrote[/] {} ({} bytes, {})", r.out, r.size, r.sha256)


# --- secrets: PINs and one-time codes ---------------------------------------------------------
# A value on the command line shows in `ps` and in shell history, so secrets come from the
# environment, standard input or a hidden prompt; --pin/--code remain for old scripts only.
SECRET_SOURCES = (
    "Default: ${env}; else standard input, one line (with --pin-stdin, or whenever "
    "it is not a terminal); else a hidden prompt."
)
DISCOURAGED = (
    "Discouraged: the value shows in `ps` and shell history; use ${env}, --pin-stdin or the prompt."
)
PIN_STDIN = typer.Option(
    False,
    "--pin-stdin",
    help="Read the PIN from the first line of "
    "standard input (a pipe or a file), not from the environment.",
)


def secret_help(what: str, env: str) -> str:
    """Help text for a discouraged ``--pin``/``--code`` option: where the secret comes from."""
    return f"{what}. {DISCOURAGED.replace('${env}', env)} {SECRET_SOURCES.replace('${env}', env)}"


SEAL_PIN = typer.Option(None, "--pin", help=secret_help("Seal PIN", "YINXIN_SEAL_PIN"))
CODE = typer.Option(
    None, "--code", help=secret_help("The one-time code received by SMS", "YINXIN_CODE")
)
PIN_CODE_STDIN = typer.Option(
    False,
    "--pin-stdin",
    help="Read the seal PIN (first line) and the code (second line, unless YINXIN_CODE is "
    "set) from standard input.",
)


# The longest line of standard input a secret is read from (a PIN, a code, a password is far
# shorter). Read to its end, `--pin-stdin < /dev/zero` read on until memory ran out.
MAX_SECRET_LINE = 1024


def _stdin_line(what: str, field: str) -> str:
    line = sys.stdin.readline(MAX_SECRET_LINE + 2) if sys.stdin is not None else ""
    value = line.rstrip("\r\n")
    if len(value) > MAX_SECRET_LINE:
        raise ValidationError(
            f"the {what}'s line of standard input is longer than {MAX_SECRET_LINE} characters",
            field=field,
        )
    return value


def read_secret(
    what: str,
    *,
    env: str,
    field: str,
    option: str | None = None,
    option_name: str = "--pin",
    from_stdin: bool = False,
    confirm: bool = False,
    stdin_flag: str | None = "--pin-stdin",
) -> str:
    """One secret, from (in this order) the discouraged option, standard input when asked for
    (``--pin-stdin``), the environment variable ``env``, a hidden prompt at a terminal, or the
    next line of standard input when it is not a terminal. Several secrets read from standard
    input take one line each, in the order the command asks for them."""
    if option:
        say(
            "[yellow]warning:[/] {} is discouraged: {}",
            option_name,
            DISCOURAGED.split(": ", 1)[1].replace("${env}", env),
            err=True,
        )
        return option
    value = _stdin_line(what, field) if from_stdin else os.environ.get(env, "")
    if not value and not from_stdin:
        if sys.stdin is not None and sys.stdin.isatty():
            value = typer.prompt(
                what[:1].upper() + what[1:],
                hide_input=True,
                confirmation_prompt=confirm,
                err=True,  # stdout is the answer: `--json > file` must stay JSON
            )
        else:
            value = _stdin_line(what, field)
    if not value:
        raise ValidationError(
            f"the {what} is needed: set {env}, give it on standard input"
            f"{f' ({stdin_flag})' if stdin_flag else ''}, or run in a terminal to be asked",
            field=field,
        )
    return value


def read_pin_and_code(pin: str | None, code: str | None, *, from_stdin: bool) -> tuple[str, str]:
    """The seal PIN and the one-time code a platform signature takes, read with
    :func:`read_secret`. The PIN is asked for first: on standard input the PIN is the first line
    and the code the second, the order every signing command documents."""
    return (
        read_secret(
            "seal PIN",
            env="YINXIN_SEAL_PIN",
            field="pin",
            option=pin,
            option_name="--pin",
            from_stdin=from_stdin,
        ),
        read_secret(
            "one-time code",
            env="YINXIN_CODE",
            field="code",
            option=code,
            option_name="--code",
            from_stdin=from_stdin,
        ),
    )


def platform_here(home: Path | None) -> bool:
    """Is there a platform database to verify with, without creating one?

    A relying party runs ``yinxin verify --trust root.pem`` on a bare machine: building a
    Platform there would create ``./var/yinxin.db`` (and a data folder) as a side effect of
    reading a PDF. Only an existing SQLite file, or a configured server database, counts.
    """
    from yinxin.settings import Settings

    url = Settings.from_env(home=home).database_url
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///").split("?", 1)[0]).exists()
    return True


def read_crl(path: Path) -> bytes:
    """``--crl``: a CRL file, PEM or DER, parsed whole now; DER out, or refused naming ``crl``."""
    from asn1crypto import crl as a_crl
    from asn1crypto import pem

    raw = read_input(path, "crl")
    try:
        der = pem.unarmor(raw)[2] if pem.detect(raw) else raw
        a_crl.CertificateList.load(der, strict=True).native  # noqa: B018 - parse it all now
    except (ValueError, TypeError):
        raise ValidationError(f"{path} is not a CRL (PEM or DER)", field="crl") from None
    return der


def pdf_placement(
    anchor: str | None,
    page: int | None,
    x: float | None,
    y: float | None,
    width: float | None = None,
):
    """``sign pdf``'s placement options as a ``Placement``: an anchor text, or a page and
    the seal's position in mm; without ``--width`` (``sign ses-pdf`` has none) the seal's own
    size."""
    from yinxin.pdf.sign import Placement

    if anchor is not None and not anchor:
        # `--anchor "$BLOCK"` with BLOCK unset: an empty anchor is no anchor to the signer, and
        # the seal went to the default corner of the last page (the signature made, the code
        # used up); `ofd sign` and a flow's `anchor=` refuse it too
        raise ValidationError("the anchor text is empty", field="anchor")
    if anchor is None and (x is None or y is None):
        raise ValidationError("give --anchor TEXT or --page N --x MM --y MM", field="placement")
    kw = {"width_mm": width} if width else {}
    return Placement(page=page, x_mm=x, y_mm=y, anchor=anchor, **kw)


def usable_before_pin(p: Any, seal: str, signer: int, fields: dict[str, str]) -> None:
    """Refuse, before the PIN and the code are asked for, a seal the signer may not use now
    (frozen, its certificate held, no grant in force — e.g. one to another organization's
    person): the refusal the service gives only after reading both. Judged for one signature
    (a batch's uses, and a retry of a signing made, are the service's to judge), and only for
    a signer that exists: an unknown one is the service's ``no subscriber`` refusal, as before."""
    if p.subscribers.exists(signer):
        as_options(fields, lambda: p.seals.check_usable(seal, signer))
