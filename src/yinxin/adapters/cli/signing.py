"""``yinxin sign …`` and ``yinxin verify``: thin adapters over the signing service.

Platform signing (a platform-held key) takes three steps a person can follow at a desk or in a
script: ``sign code`` sends the one-time code to the signer's registered phone, ``sign pdf``
takes the code and the seal PIN and signs. ``sign batch`` does both for many files with one
code and one PIN entry; ``authorization …`` manages automatic signing under an organization's
signed authorization. ``sign local`` is for subscribers who hold their own
key: it runs on their machine, reads their key file, and the platform never sees it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from yinxin.adapters.cli.common import (
    ACTOR,
    AFTER,
    CHALLENGE_FIELDS,
    CODE,
    HOME,
    JSON,
    LIMIT,
    MAX_PEM_INPUT,
    PDF_ANCHOR_HELP,
    PDF_X_HELP,
    PDF_Y_HELP,
    PIN_CODE_STDIN,
    PIN_STDIN,
    SEAL_PIN,
    SIGNER,
    OptionGroup,
    Platform,
    as_options,
    as_placement,
    extended,
    grouped,
    moment,
    more,
    not_the_input,
    on_platform,
    page_of,
    parse_time,
    pdf_placement,
    placement_option,
    platform,
    read_in_check_out,
    read_input,
    read_pin_and_code,
    read_secret,
    refuse_for_signing,
    refuse_given,
    run,
    same_file,
    say,
    seal_ref,
    usable_before_pin,
    writable,
    write_atomic,
)
from yinxin.adapters.cli.sign_ofd import request_code, sign_ofd_cmd, sign_ofd_code
from yinxin.adapters.cli.sign_ses_pdf import sign_ses_pdf_cmd, sign_ses_pdf_code
from yinxin.errors import Forbidden, ValidationError, YinxinError

if TYPE_CHECKING:
    from collections.abc import Callable

    from yinxin.pdf.sign import EmptySignatureField, Placement

sign_app = typer.Typer(no_args_is_help=True, help="Sign PDF contracts with seals.")
IN = typer.Option(..., "--in", help="The PDF to be signed.")
OUT = typer.Option(..., "--out", help="Where the signed PDF is written.")
ANCHOR = typer.Option(None, help=PDF_ANCHOR_HELP)
PAGE = typer.Option(None, help="Page (1 = first, -1 = last); default: the anchor's, or the last.")
WIDTH = typer.Option(None, help="Seal width in mm.")
X = typer.Option(None, help=PDF_X_HELP)
Y = typer.Option(None, help=PDF_Y_HELP)
SEAL = typer.Option(..., help="Seal id or esID.", callback=seal_ref)
ROLE = typer.Option(None, help="甲方 乙方 丙方 中介方 鉴证单位 公证单位")
LEVEL = typer.Option("B-LT", help="B-B, B-T, B-LT or B-LTA")
FIELD = typer.Option(
    None,
    "--field",
    help="Seal into this empty signature field the PDF was prepared with (see `sign fields`),"
    " at its place and size; no --anchor/--page/--x/--y/--width then.",
)


def _field_placement(field: str | None, placement: Callable[[], Placement]) -> Placement | None:
    """The placement to seal at: none with --field (the field's rectangle is where the seal
    goes; a placement option given too is refused naming it), else the options' own."""
    if field is None:
        return placement()
    if not field:
        raise ValidationError("the field name is empty", field="field")
    given = [k for k, v in getattr(placement, "keywords", {}).items() if v is not None]
    if given:
        raise ValidationError(
            f"--{given[0]} places the seal, and --field {field!r} is where it goes: give one",
            field=given[0],
        )
    return None


@sign_app.command("fields")
def sign_fields(input: Path = IN, as_json: bool = JSON) -> None:
    """List the empty signature fields the PDF was prepared with (甲方签章 …): the names
    `sign pdf --field` and `sign local --field` seal into. A contract certified to permit
    form filling (DocMDP P=2, P=3) is sealed only into one of these."""

    signed: list[str] = []

    def go():
        from yinxin.pdf.sign import empty_signature_fields, signed_field_names

        data = _pdf(input)
        found = as_options({"pdf": "in"}, lambda: empty_signature_fields(data))
        if not found:
            signed.extend(as_options({"pdf": "in"}, lambda: signed_field_names(data)))
        return [f.listed() for f in found]

    def render(fields: list[EmptySignatureField]) -> None:
        for f in fields:
            where = f"page {f.page}" if f.page else "on no page"
            rect = " ".join(f"{v:g}" for v in f.rect) if f.rect else "-"
            notes = ("locked" if f.locked else "") + (" seed-values" if f.seed_values else "")
            if f.locked_by is not None:  # what `sign pdf --field` would refuse it with
                how = "ended the document" if f.locked_code == "locked" else "locks it"
                notes += f" not-signable: signature {f.locked_by!r} {how}"
            # what the field's own lock will forbid of the seals after it (--json's forbids
            # and forbids_placement): the text listing left it out
            after = [f"{n!r} ({code})" for n, code in f.forbids.items()]
            if f.forbids_placement is not None:
                after.append(f"a seal placed beside ({f.forbids_placement})")
            if after:
                notes += " once-sealed-forbids: " + ", ".join(after)
            say("{}  ({}, [{}]) {}", f.name, where, rect, notes.strip())

    def none() -> str:
        if not signed:
            return (
                "(no empty signature field: the document has no signature field; `sign pdf` "
                "without --field makes one where the seal is placed)"
            )
        return "(no empty signature field: every signature field is signed: {})".format(
            ", ".join(repr(n) for n in signed)
        )

    run(as_json, go, render, empty=none)


@dataclass(frozen=True)
class LocalSignature:
    """What ``sign local`` did: the file it wrote and the level it signed at."""

    out: str
    level: str


def _pdf(path: Path) -> bytes:
    return read_input(path, "in")


# Where the seal goes on the page, the same five options for `sign pdf` and `sign batch`.
PLACEMENT = OptionGroup(
    pdf_placement,
    (
        ("anchor", str | None, ANCHOR),
        ("page", int | None, PAGE),
        ("x", float | None, X),
        ("y", float | None, Y),
        ("width", float | None, WIDTH),
    ),
)


@sign_app.command("code")
def sign_code(
    input: Path = IN,
    signer: int = SIGNER,
    field: str | None = typer.Option(
        None,
        "--field",
        help="The empty signature field `sign pdf --field` will seal into: a field it would"
        " refuse, or whose seed values the seal cannot meet, gets no code.",
    ),
    seal: str | None = typer.Option(
        None,
        help="The seal `sign pdf` will use (id or esID): one it would refuse gets no code;"
        " not given, --field is judged with the signer's only seal, if there is one.",
        callback=seal_ref,
    ),
    role: str | None = typer.Option(None, help="With --field: the --role `sign pdf` will get."),
    level: str | None = typer.Option(
        None, help="With --field: the --level `sign pdf` will get (default B-LT)."
    ),
    lock: bool = typer.Option(False, help="With --field: `sign pdf` will be given --lock."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Send the signer a one-time code for this document (intent confirmation).

    With --field, the field is judged now as `sign pdf --field` will judge it — its seed
    values (/SV) with --seal (or the signer's only seal), --role, --level and --lock — so a
    seal that could never be made costs no SMS."""
    if field is None and not (role or level or lock):
        # a certified (P=2/3) document none of whose empty fields takes the seal is refused
        # naming the field the seal would have to go into
        request_code(
            "signing", input, signer, home, as_json, seal=seal, options={"field_name": "field"}
        )
        return
    request_code(
        "signing",
        input,
        signer,
        home,
        as_json,
        seal=seal,
        # they only say how the field is sealed: without it they were dropped without a word
        check=lambda: refuse_given(
            {"role": role, "level": level, "lock": lock} if field is None else {},
            "{option} says how `sign pdf --field` will seal: give --field too",
        ),
        options={"field_name": "field"},
        field_name=field,
        role=role,
        level=level,
        lock=lock,
    )


def _sealable(data: bytes, where: Placement | None, field: str | None = None) -> None:
    """``SigningService.sign``'s own checks of the document that need neither the seal nor
    the database (the seal's size and seed values are left to it), run before the secrets."""
    from yinxin.pdf.sign import Placement, check_field, check_new_field, check_placement

    if field:
        check_field(data, field, where)
        return
    check_placement(data, where or Placement(page=-1))
    check_new_field(data)


@sign_app.command("pdf")
@grouped
def sign_pdf_cmd(
    input: Path = IN,
    output: Path = OUT,
    seal: str = SEAL,
    signer: int = SIGNER,
    challenge: str = typer.Option(..., help="Challenge id from `sign code`."),
    code: str | None = CODE,
    pin: str | None = SEAL_PIN,
    pin_stdin: bool = PIN_CODE_STDIN,
    placement: Callable[[], Placement] = PLACEMENT,
    role: str | None = ROLE,
    level: str = LEVEL,
    lock: bool = typer.Option(False, help="Last signer: lock the document."),
    cross_page: bool = typer.Option(False, "--cross-page", help="骑缝章."),
    field: str | None = FIELD,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Confirm the code and sign with a platform-held seal key.

    The seal PIN and the one-time code come from YINXIN_SEAL_PIN and YINXIN_CODE, standard
    input (--pin-stdin, or when it is not a terminal: PIN, then code, one a line) or hidden
    prompts; --pin and --code still work but show in `ps` (discouraged).
    """

    def go():
        from yinxin.signing.service import SigningService

        # the command line's own checks, then the PIN and the code (one line each on standard
        # input): a bad --out, --in, --level or --role is refused before either is asked for
        where = _field_placement(field, placement)
        data = read_in_check_out(input, output, "the PDF signed")
        SigningService.check_options(level, role)
        # the document as the service judges it before the code (no PDF, no such page or
        # anchor, a field or a new one it would refuse): found there, the PIN and the code
        # had been typed for nothing
        fields = {**CHALLENGE_FIELDS, "field_name": "field"}
        as_placement(where, lambda: as_options(fields, lambda: _sealable(data, where, field)))
        p = platform(home)
        if where is not None:
            # the seal at its size (its row's, read without the PIN) on the page: a seal off
            # the page was refused by the service before the code, but after both were typed
            as_placement(where, lambda: p.signing.check_fits(data, seal, where))
        p.signing.check_pdf_seal(seal)  # an SM2 seal: before the PIN and the code are asked
        usable_before_pin(p, seal, signer, fields)  # frozen, no grant in force, …
        the_pin, the_code = read_pin_and_code(pin, code, from_stdin=pin_stdin)
        signed = as_placement(
            where,
            lambda: as_options(
                fields,
                lambda: p.signing.sign(
                    data,
                    seal=seal,
                    pin=the_pin,
                    signer_subscriber_id=signer,
                    challenge_id=challenge,
                    code=the_code,
                    placement=where,
                    role=role,
                    level=level,
                    lock=lock,
                    cross_page=cross_page,
                    document_name=input.name,
                    field_name=field,
                ),
            ),
        )
        write_atomic(output, signed.pdf)
        return extended(signed.record, replayed=signed.replayed, out=str(output))

    run(
        as_json,
        go,
        lambda r: say(
            "[green]{}[/] {} as {} with seal {} ({})",
            "Already signed" if r.replayed else "Signed",
            r.out,
            r.role or "signer",
            r.es_id,
            r.level,
        ),
    )


def _image_ratio(data: bytes, path: Path) -> float:
    """``--seal-image``'s height over its width; a file that is no image is invalid input
    naming ``seal_image`` (it was a traceback from PIL, before the PDF was even read)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.height / im.width
    except (OSError, ValueError, ZeroDivisionError, Image.DecompressionBombError):
        # UnidentifiedImageError is an OSError
        raise ValidationError(f"{path} is not a readable image (PNG)", field="seal_image") from None


def _pem_certificate(path: Path, field: str):
    """A certificate (PEM) from ``path``, read to a PEM file's bound; refused naming ``field``."""
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(read_input(path, field, MAX_PEM_INPUT))
    except ValueError:
        raise ValidationError(f"{path} is not a certificate (PEM)", field=field) from None


@sign_app.command("local")
def sign_local(
    input: Path = IN,
    output: Path = OUT,
    key: Path = typer.Option(..., help="Your private key (PEM, PKCS#8)."),
    cert: Path = typer.Option(..., help="Your certificate (PEM)."),
    chain: list[Path] = typer.Option([], help="Issuing CA, root (PEM)."),
    seal_image: Path | None = typer.Option(None, help="Seal PNG (transparent)."),
    anchor: str | None = ANCHOR,
    page: int | None = PAGE,
    x: float | None = X,
    y: float | None = Y,
    width: float | None = typer.Option(None, help="Seal width in mm (default 40)."),
    role: str | None = ROLE,
    field: str | None = FIELD,
    tsa_url: str | None = typer.Option(
        None, help="RFC 3161 TSA, e.g. http://127.0.0.1:8000/tsa (B-T)."
    ),
    key_password: str | None = typer.Option(
        None,
        envvar="YINXIN_KEY_PASSWORD",
        help="The private key's password, if it has one (better from the environment).",
    ),
    as_json: bool = JSON,
) -> None:
    """Sign on your own machine with your own key: nothing but the timestamp request (a hash)
    leaves it. Without --seal-image the signature is invisible: --anchor, --page, --x, --y and
    --width place the seal's image, and are refused without one."""

    def go():
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization

        # they placed nothing without an image: `--page 99` signed, exit 0, with no seal shown
        placed = {"anchor": anchor, "page": page, "x": x, "y": y, "width": width}
        given = [name for name, value in placed.items() if value is not None]
        if field is not None and given:
            raise ValidationError(
                f"--{given[0]} places the seal, and --field {field!r} is where it goes: give one",
                field=given[0],
            )
        if field is not None and not field:
            raise ValidationError("the field name is empty", field="field")
        if seal_image is None and given:
            raise ValidationError(
                f"--{given[0]} places the seal's image: give --seal-image too, or leave "
                f"--{given[0]} out for an invisible signature",
                field=given[0],
            )
        # --out key.pem replaced the private key with the signed PDF (exit 0), --out a.pdf
        # the document given
        read = [(input, "the PDF signed"), (key, "the private key"), (cert, "the certificate")]
        read += [(c, "a --chain certificate") for c in chain]
        read += [(seal_image, "the seal image")] if seal_image is not None else []
        # a missing folder or a folder as --out was said only after the signing and the TSA
        writable(output)
        for path, what in read:
            not_the_input(output, path, "out", what)

        from yinxin.pdf.sign import SealStamp, SignRequest, sign_pdf
        from yinxin.pdf.timestamps import HttpTimestamper
        from yinxin.pki.keys import SoftwareKey, encrypted_pkcs8

        # each read to a PEM file's bound (``--key /dev/zero`` read on until memory ran out)
        # and refused naming its own option (a bad --chain file was blamed on --cert)
        pem = read_input(key, "key", MAX_PEM_INPUT)
        password = key_password.encode() if key_password else None
        # a wrong or missing password was `invalid` on `key`, exit 2, as a damaged file: it is
        # refused on key_password, exit 5, as `ofd sign` and the CA's passphrase are, when the
        # file is an encrypted key that parses (cryptography says both with one ValueError)
        locked = encrypted_pkcs8(pem)
        if locked and password is None:
            raise Forbidden(
                "the private key is encrypted: a password is needed", field="key_password"
            )
        try:
            k = serialization.load_pem_private_key(pem, password)
        except UnsupportedAlgorithm:  # an SM2 key (ofd sign's) ended in a traceback, exit 1
            raise ValidationError(
                "the private key is of an algorithm a PDF is not signed with here (an SM2 key "
                "signs an OFD: yinxin ofd sign)",
                field="key",
            ) from None
        except (ValueError, TypeError) as e:
            if password is not None and isinstance(e, TypeError):
                # cryptography: "Password was given but private key is not encrypted"; it was
                # said as a file that cannot be read, on `key`
                raise ValidationError(
                    "the private key is not encrypted: give no --key-password for it (and "
                    "leave YINXIN_KEY_PASSWORD unset)",
                    field="key_password",
                ) from None
            if locked:
                raise Forbidden(
                    "wrong password for the private key",
                    field="key_password",
                    code="bad_passphrase",
                ) from None
            raise ValidationError(
                "cannot read the private key (wrong file or password)", field="key"
            ) from None
        c = _pem_certificate(cert, "cert")
        ch = [_pem_certificate(p, "chain") for p in chain]
        stamp = None
        if seal_image is not None:
            png = read_input(seal_image, "seal_image")
            ratio = _image_ratio(png, seal_image)
            stamp = SealStamp(
                png=png,
                width_mm=40.0 if width is None else width,
                height_mm=(40.0 if width is None else width) * ratio,
                name=c.subject.rfc4514_string(),
                kind="personal",
            )
        req = SignRequest(
            pdf=_pdf(input),
            key=SoftwareKey("local", k),
            certificate=c,
            chain=ch,
            stamp=stamp,
            placement=(
                pdf_placement(anchor, page, x, y, stamp.width_mm)
                if stamp and field is None
                else None
            ),
            field_name=field,
            timestamper=HttpTimestamper(tsa_url) if tsa_url else None,
            level="B-T" if tsa_url else "B-B",
            role=role,
        )
        # the signer's names for --in and --tsa-url: a file that is no PDF was refused on
        # `pdf`, a TSA that could not be reached on `timestamper`, no option of this command
        signed = as_options(
            {"pdf": "in", "timestamper": "tsa_url", "field_name": "field"}, lambda: sign_pdf(req)
        )
        write_atomic(output, signed)
        return LocalSignature(str(output), req.level)

    run(as_json, go, lambda r: say("[green]Signed[/] {} ({})", r.out, r.level))


# --- batch signing ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchSigned:
    """What ``sign batch`` did: the files it wrote, in the order given, and their records."""

    challenge_id: str | None
    replayed: bool
    out: list[str]
    records: list


# `sign batch` has no --in: its files' refusals name them (files[i]); the signer is --signer,
# and a challenge refused (challenge_id, or document_sha256: sent for other files) --challenge
BATCH_FIELDS = {k: v for k, v in CHALLENGE_FIELDS.items() if v in ("signer", "challenge")}


def _batch_out(path: Path, out_dir: Path | None) -> Path:
    return (out_dir or path.parent) / f"{path.stem}-signed.pdf"


def _batch_outs(files: list[Path], out_dir: Path | None) -> list[Path]:
    """Where each signed file goes, each refused (naming ``--out-dir``, or the input beside
    which it would go) if it cannot be written. Both runs check: the first before a code is
    sent — a missing --out-dir cost an SMS and the 60 s wait before the second run said so —,
    the second before the code is used up."""
    outs = [_batch_out(f, out_dir) for f in files]
    first: dict[Path, int] = {}
    for i, o in enumerate(outs):
        # x.pdf x-signed.pdf: the first's signed file would replace the second input (the
        # rule of `not_the_input`: a hard link to it, by another name, too)
        k = next((k for k, f in enumerate(files) if same_file(o, f)), None)
        if k is not None:
            raise ValidationError(
                f"files[{i}]'s signed file {o} would be written over files[{k}], an input",
                field=f"files[{i}]",
            )
        writable(o, "out_dir" if out_dir is not None else f"files[{i}]")
        # two inputs of one name (a/x.pdf, b/x.pdf into --out-dir; a file named twice) went
        # to one output, the second signed file replacing the first once both were signed
        j = first.setdefault(o.resolve(), i)
        if j != i:
            raise ValidationError(
                f"files[{j}] and files[{i}] would both be written to {o}", field=f"files[{i}]"
            )
    return outs


_ITEM = re.compile(r"items\[(\d+)\]\.(\w+)")


def _batch_sealable(batch: list, fits: Callable[[bytes, Any], None] | None = None) -> None:
    """``BatchSigning.check_documents`` (the service's own checks of every file that need
    neither the seal nor the database), then ``fits`` of each file's bytes and placement when
    given (the seal at its size on the page), run before the secrets, their refusals named as
    typed: a file's (``items[i].pdf``) as ``files[i]``, a placement as the option it was about
    (``anchor``, ``page``, ``x``, ``y``: ``placement_option``; else ``placement``), a field as
    ``field``."""
    from yinxin.signing.batch import BatchSigning

    def check() -> None:
        BatchSigning.check_documents(batch)
        for i, item in enumerate(batch):
            if fits is not None and item.placement is not None:
                try:
                    fits(item.pdf, item.placement)
                except YinxinError as e:
                    # renamed in place, as the batch service names an item's refusal: a new
                    # one of its type lost what it carries besides (OutsidePage's axis)
                    e.field = f"items[{i}].{e.field}"
                    raise

    try:
        check()
    except YinxinError as e:
        m = _ITEM.fullmatch(e.field or "")
        if m is None:
            raise
        i, part = m[1], m[2]
        placed = (placement_option(e) or "placement") if batch[int(i)].placement else "placement"
        field = {"placement": placed, "field_name": "field", "role": "role"}.get(
            part, f"files[{i}]"
        )
        message = e.message.replace(f"items[{i}]", f"files[{i}]")
        raise type(e)(message, field=field, code=e.code) from None


@sign_app.command("batch")
@grouped
def sign_batch(
    files: list[Path] = typer.Argument(..., help="The PDFs to sign (1 to 100), in this order."),
    seal: str = SEAL,
    signer: int = SIGNER,
    challenge: str | None = typer.Option(
        None, help="Challenge id from the first run; without it a code is sent."
    ),
    code: str | None = CODE,
    pin: str | None = SEAL_PIN,
    pin_stdin: bool = PIN_CODE_STDIN,
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="Where the signed files go (default: beside each input)."
    ),
    placement: Callable[[], Placement] = PLACEMENT,
    role: str | None = ROLE,
    level: str = LEVEL,
    field: str | None = FIELD,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Sign many PDFs with one seal PIN and one one-time code (批量签署).

    Run it once without --challenge: one code for the whole list is sent to the signer's phone
    and the challenge id is printed. Run it again with the same files and --challenge: the code
    (YINXIN_CODE, standard input or a prompt) and the seal PIN sign every file, or none. Each
    signed file is written as NAME-signed.pdf beside its input (or into --out-dir). The
    options --code, --pin and --pin-stdin are for the second run: without --challenge they are
    refused. The placement, --role and --level are those of the second run, which signs; the
    first only checks them, before a code is sent. --field seals every file into its empty
    signature field of that name (each file must have one) instead of a placement.
    """
    from yinxin.signing.batch import BatchItem

    def items():
        where = _field_placement(field, placement)
        return [
            BatchItem(read_input(f, f"files[{i}]"), f.name, where, role, field)
            for i, f in enumerate(files)
        ]

    if challenge is None:

        def send():
            refuse_for_signing({"code": code, "pin": pin, "pin_stdin": pin_stdin})
            from yinxin.signing.service import SigningService

            # the second run signs at its --level: a bad one is refused before an SMS is spent
            SigningService.check_options(level, None)
            batch = items()
            _batch_outs(files, out_dir)
            # a batch the seal cannot sign (e.g. a grant with too few uses left) gets no code
            return as_options(
                BATCH_FIELDS,
                lambda: platform(home).batch.request_code(
                    signer_subscriber_id=signer, items=batch, seal=seal, level=level
                ),
            )

        run(
            as_json,
            send,
            lambda r: say(
                "[green]Code sent[/] to {} for {} document(s); run again with --challenge {}",
                r.sent_to_masked,
                len(files),
                r.challenge_id,
            ),
        )
        return

    def go():
        from yinxin.signing.service import SigningService

        # the files, the outputs and the options before the PIN and the code are asked for
        batch = items()
        outs = _batch_outs(files, out_dir)
        SigningService.check_options(level, role)
        # each file as the service judges it before the code (not a whole PDF, no such page
        # or anchor, a field it would refuse): found there, the secrets were typed for nothing
        # and the seal at its size (its row's, without the PIN) on each file's page; the
        # platform is built once a file is known to be sealable
        here = functools.cache(lambda: platform(home))
        _batch_sealable(batch, lambda pdf, where: here().signing.check_fits(pdf, seal, where))
        usable_before_pin(here(), seal, signer, BATCH_FIELDS)  # frozen, no grant in force, …
        the_pin, the_code = read_pin_and_code(pin, code, from_stdin=pin_stdin)
        result = as_options(
            BATCH_FIELDS,
            lambda: here().batch.sign(
                batch,
                seal=seal,
                pin=the_pin,
                signer_subscriber_id=signer,
                challenge_id=challenge,
                code=the_code,
                level=level,
                actor=f"cli:subscriber:{signer}",
            ),
        )
        for o, doc in zip(outs, result.documents, strict=True):
            write_atomic(o, doc.pdf)
        return BatchSigned(
            challenge_id=result.challenge_id,
            replayed=all(d.replayed for d in result.documents),
            out=[str(o) for o in outs],
            records=[d.record for d in result.documents],
        )

    run(
        as_json,
        go,
        lambda r: say(
            "[green]{}[/] {} document(s): {}",
            "Already signed" if r.replayed else "Signed",
            len(r.out),
            ", ".join(r.out),
        ),
    )


# --- signing authorizations ------------------------------------------------------------------
def _show_authorization(a) -> None:
    scope = []
    if a.counterparties:
        scope.append("counterparties " + ", ".join(map(str, a.counterparties)))
    if a.flow_ids:
        scope.append("flows " + ", ".join(map(str, a.flow_ids)))
    say(
        "#{} seal {} [bold]{}[/] {}/{} used, until {}; {}",
        a.id,
        a.es_id,
        a.state,
        a.used_documents,
        a.max_documents,
        moment(a.valid_until),
        "; ".join(scope) or "any counterparty and flow",
    )
    if a.state == "active" and a.grant_state not in (None, "active"):
        # made by a member whose grant has ended: still listed active, to be withdrawn
        say(
            "  [red]its grant is {}: it signs nothing (用印授权不生效); withdraw it[/]",
            a.grant_state,
        )


authorization_app = typer.Typer(
    no_args_is_help=True,
    help="Authorize automatic signing with an organization seal (自动签署授权), within limits.",
)


@authorization_app.command("grant")
def authorization_grant(
    seal: str = typer.Option(
        ..., help="Seal id or esID (an organization seal).", callback=seal_ref
    ),
    by: int = typer.Option(
        ..., "--by", help="Subscriber id of the administrator (holder, or member with a grant)."
    ),
    max_documents: int = typer.Option(..., "--max", help="How many documents, at most."),
    until: str = typer.Option(..., help="Valid until (ISO 8601 with offset)."),
    counterparty: list[int] = typer.Option(
        [], "--counterparty", help="A counterparty's subscriber id (repeat; none = any)."
    ),
    flow: list[int] = typer.Option([], "--flow", help="A sign flow id (repeat; none = any)."),
    pin: str | None = SEAL_PIN,
    pin_stdin: bool = PIN_STDIN,
    actor: str | None = typer.Option(None, help="Who grants (recorded in the audit trail)."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Grant an authorization; the seal PIN is given once, here, and never again."""

    def go():
        valid_until = parse_time(until, "until")  # a malformed --until before the PIN
        the_pin = read_secret(
            "seal PIN", env="YINXIN_SEAL_PIN", field="pin", option=pin, from_stdin=pin_stdin
        )
        p = platform(home)
        return as_options(
            GRANT_FIELDS,
            lambda: p.authorizations.grant(
                seal,
                pin=the_pin,
                granted_by_subscriber_id=by,
                max_documents=max_documents,
                valid_until=valid_until,
                counterparties=counterparty,
                flow_ids=flow,
                actor=actor,
            ),
        )

    run(as_json, go, _show_authorization)


# the service's (and the API's) names for what `authorization grant` takes as --by, --max,
# --until, --counterparty and --flow: a refusal named the field, no option of the command
GRANT_FIELDS = {
    "granted_by_subscriber_id": "by",
    "max_documents": "max",
    "valid_until": "until",
    "counterparties": "counterparty",
    "flow_ids": "flow",
}


@authorization_app.command("withdraw")
@on_platform(_show_authorization)
def authorization_withdraw(
    authorization_id: int = typer.Argument(..., help="The authorization's id."),
    reason: str = typer.Option(..., help="Why (recorded in the audit trail)."),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Withdraw at once; the platform's copy of the seal key for it is deleted."""
    return p.authorizations.withdraw(authorization_id, actor=actor, reason=reason)


@authorization_app.command("list")
def authorization_list(
    holder: int | None = typer.Option(None, help="Only this organization's (subscriber id)."),
    limit: int = LIMIT,
    after: int | None = AFTER,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Authorizations, oldest first, a page at a time."""

    def render(page):
        for r in page.items:
            _show_authorization(r)
        more(page)

    def go():
        listing = platform(home).authorizations.list
        return page_of(functools.partial(listing, holder_subscriber_id=holder), limit, after)

    run(as_json, go, render)


@authorization_app.command("show")
def authorization_show(
    authorization_id: int = typer.Argument(..., help="The authorization's id."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """One authorization, and whether its signed terms check out."""

    def go():
        p = platform(home)
        view = p.authorizations.get(authorization_id)
        check = p.authorizations.verify_terms(authorization_id)
        return extended(view, terms_ok=check.ok, terms_problem=check.reason, terms=check.terms)

    def render(r):
        _show_authorization(r)
        if r.terms_ok:
            say("  [green]signed terms verify[/]")
        else:
            say("  [red]{}[/]", r.terms_problem)

    run(as_json, go, render)


# OFD signing with a platform seal, and a PDF sealed the GB/T 38540 way (SES_Signature in the
# PDF signature), live in their own modules; attached here so `yinxin sign …` (also when the
# CLI loads the `sign` group alone) lists them beside `sign pdf`.
sign_app.command("ofd-code")(sign_ofd_code)
sign_app.command("ofd")(sign_ofd_cmd)
sign_app.command("ses-pdf-code")(sign_ses_pdf_code)
sign_app.command("ses-pdf")(sign_ses_pdf_cmd)
