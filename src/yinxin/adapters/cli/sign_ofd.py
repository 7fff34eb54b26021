"""``yinxin sign ofd-code`` and ``yinxin sign ofd``: an OFD signed with a platform-held seal.

The same two steps as ``sign code`` / ``sign pdf`` (a one-time code for this file, then the
code and the seal PIN), over ``yinxin.signing.ofd.OfdSigning``. The commands are attached to
``sign_app`` by ``adapters/cli/signing.py``; services are imported inside them only, so
``yinxin --help`` loads none of this. The result verifies with ``yinxin ofd verify FILE``
where the platform is (its root and issuing CA are the trust) or with ``--trust`` elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from yinxin.adapters.cli.common import (
    CHALLENGE_FIELDS,
    CODE,
    HOME,
    JSON,
    OFD_ANCHOR_HELP,
    OFD_X_HELP,
    OFD_Y_HELP,
    PIN_CODE_STDIN,
    SEAL_PIN,
    SIGN_FIELDS,
    SIGNER,
    as_options,
    as_placement,
    extended,
    platform,
    read_in_check_out,
    read_input,
    read_pin_and_code,
    run,
    say,
    seal_ref,
    usable_before_pin,
    write_atomic,
)
from yinxin.errors import ValidationError


def _placement(anchor: str | None, page: int | None, x: float | None, y: float | None):
    """Where the seal goes: centred on the anchor text, or at x/y (mm from the page's top
    left) on the page (default last)."""
    from yinxin.ofd.sign import Placement

    if anchor is None and (x is None or y is None):
        raise ValidationError("give --anchor TEXT or --page N --x MM --y MM", field="placement")
    if anchor is not None and (x is not None or y is not None):
        raise ValidationError("give --anchor or --x/--y, not both", field="placement")
    return Placement(anchor=anchor, page=page, x=x, y=y)


def check_ofd(data: bytes, where: Any, role: str | None) -> None:
    """``OfdSigning.check_document``: the OFD, the placement and the role as ``sign ofd``'s
    service judges them without the seal, run before the PIN and the code are asked for."""
    from yinxin.signing.ofd import OfdSigning

    OfdSigning.check_document(data, where, role)


def code_command(service: str, what: str, input_help: str) -> Callable[..., None]:
    """The first step's command on ``platform(home).<service>`` (``sign ofd-code``, ``sign
    ses-pdf-code``): the same options, the file named ``what`` in the help."""

    def command(
        input: Path = typer.Option(..., "--in", help=input_help),
        signer: int = SIGNER,
        seal: str | None = typer.Option(
            None,
            help="The seal it will be signed with (id or esID): a seal the second step would "
            "refuse before the PIN (not usable by the signer, not SM2, its certificate list "
            "not naming its certificate) gets no code.",
            callback=seal_ref,
        ),
        home: Path | None = HOME,
        as_json: bool = JSON,
    ) -> None:
        request_code(service, input, signer, home, as_json, seal=seal)

    command.__doc__ = f"Send the signer a one-time code for this {what} (intent confirmation)."
    return command


def sign_command(
    service: str,
    *,
    doc: str,
    label: str,
    texts: dict[str, str],
    placement: Callable[..., Any],
    check: Callable[[bytes, Any, str | None], Any],
    more: Callable[[Any], dict[str, Any]],
) -> Callable[..., None]:
    """The second step's command on ``platform(home).<service>`` (``sign ofd``, ``sign
    ses-pdf``): one set of options (``texts`` holds the help that differs: ``in``, ``out``,
    ``code_from``, ``x``, ``y``), the format's ``placement`` parser, its service's ``check``
    of the document (``check_document``: the file, the placement, the role), ``more`` fields
    of the result after ``replayed`` and before ``out``, and ``label`` in the line printed."""

    def command(
        input: Path = typer.Option(..., "--in", help=texts["in"]),
        output: Path = typer.Option(..., "--out", help=texts["out"]),
        seal: str = typer.Option(..., help="Seal id or esID (an SM2 seal).", callback=seal_ref),
        signer: int = SIGNER,
        challenge: str = typer.Option(..., help=f"Challenge id from `{texts['code_from']}`."),
        code: str | None = CODE,
        pin: str | None = SEAL_PIN,
        pin_stdin: bool = PIN_CODE_STDIN,
        anchor: str | None = typer.Option(None, help=texts["anchor"]),
        page: int | None = typer.Option(None, help="Page (1 = first, -1 = last)."),
        x: float | None = typer.Option(None, help=texts["x"]),
        y: float | None = typer.Option(None, help=texts["y"]),
        role: str | None = typer.Option(None, help="甲方 乙方 丙方 中介方 鉴证单位 公证单位"),
        home: Path | None = HOME,
        as_json: bool = JSON,
    ) -> None:
        def go():
            signed = sign_file(
                service,
                input,
                output,
                pin=pin,
                code=code,
                pin_stdin=pin_stdin,
                placement=lambda: placement(anchor, page, x, y),
                check=lambda data, where: check(data, where, role),
                home=home,
                seal=seal,
                signer_subscriber_id=signer,
                challenge_id=challenge,
                role=role,
            )
            return extended(
                signed.record, replayed=signed.replayed, **more(signed), out=str(output)
            )

        run(
            as_json,
            go,
            lambda r: say(
                "[green]{}[/] {} as {} with seal {} ({}, {})",
                "Already signed" if r.replayed else "Signed",
                r.out,
                r.role or "signer",
                r.es_id,
                label,
                r.level,
            ),
        )

    command.__doc__ = doc
    return command


sign_ofd_code = code_command("ofd_signing", "OFD", "The OFD to be signed.")
sign_ofd_cmd = sign_command(
    "ofd_signing",
    doc="""Confirm the code and sign the OFD with a platform-held SM2 seal key (GB/T 38540
    SES_Signature, timestamped by the platform's TSA).

    The seal PIN and the one-time code come as for `sign pdf`: YINXIN_SEAL_PIN and YINXIN_CODE,
    standard input (--pin-stdin: PIN, then code, one a line) or hidden prompts.
    """,
    label="OFD",
    texts={
        "in": "The OFD to be signed.",
        "out": "Where the signed OFD is written.",
        "code_from": "sign ofd-code",
        "x": OFD_X_HELP,
        "y": OFD_Y_HELP,
        "anchor": OFD_ANCHOR_HELP,
    },
    placement=_placement,
    check=check_ofd,
    more=lambda s: {"signature_id": s.signature_id, "page": s.page, "boundary": s.boundary},
)


# --- the two steps, shared with ``sign ses-pdf-code`` / ``sign ses-pdf`` (``sign_ses_pdf``) ---


def request_code(
    service: str,
    input: Path,
    signer: int,
    home: Path | None,
    as_json: bool,
    *,
    seal: str | None = None,
    check: Callable[[], None] | None = None,
    options: dict[str, str] | None = None,
    **more: Any,
) -> None:
    """The first step on ``platform(home).<service>`` (``ofd_signing``, ``ses_pdf_signing``,
    and ``signing`` for ``sign code``); ``seal`` (the first two's ``--seal``) when given.
    ``check`` refuses options before anything is read; ``more`` goes to the service as it is,
    its refusals named by ``options`` (the service's name → the option typed)."""
    with_seal = {"seal": seal} if seal is not None else {}

    def ask():
        if check is not None:
            check()
        return as_options(
            {**SIGN_FIELDS, **(options or {})},
            lambda: getattr(platform(home), service).request_confirmation(
                signer_subscriber_id=signer,
                document=read_input(input, "in"),
                document_name=input.name,
                **with_seal,
                **more,
            ),
        )

    run(as_json, ask)


def sign_file(
    service: str,
    input: Path,
    output: Path,
    *,
    pin: str | None,
    code: str | None,
    pin_stdin: bool,
    placement: Callable[[], Any],
    check: Callable[[bytes, Any], Any],
    home: Path | None,
    **options: Any,
):
    """The second step on ``platform(home).<service>``: the file, a writable ``--out`` that is
    not the file, the format's ``placement``, the service's own ``check`` of the document (not
    this format, closed, no such anchor or page, a bad role), each refused in that order before
    the platform is built, then the seal as the service judges it without its PIN (not found,
    not SM2, off the page at its size), then the PIN and the code: no secret asked for on a
    bad command line, nor on a document or a seal the service refuses without the PIN. A
    placement refused names the option typed (``anchor``, ``page``, ``x``: ``as_placement``).
    The signed file is written to ``output`` and the service's result returned."""
    data = read_in_check_out(input, output, "the document signed")
    where = placement()
    as_placement(where, lambda: as_options(CHALLENGE_FIELDS, lambda: check(data, where)))
    # the seal as the service judges it without its PIN (found, SM2, and for a PDF its size,
    # kept in the database, on the page): a seal off the page was refused after both secrets
    p = platform(home)
    signing = getattr(p, service)
    as_placement(where, lambda: signing.check_seal(data, options["seal"], where))
    # nor on a seal this signer may not use now (frozen, no grant in force, …)
    usable_before_pin(p, options["seal"], options["signer_subscriber_id"], CHALLENGE_FIELDS)
    the_pin, the_code = read_pin_and_code(pin, code, from_stdin=pin_stdin)
    signed = as_placement(
        where,
        lambda: as_options(
            CHALLENGE_FIELDS,
            lambda: signing.sign(
                data,
                pin=the_pin,
                code=the_code,
                placement=where,
                document_name=input.name,
                **options,
            ),
        ),
    )
    write_atomic(output, signed.data)
    return signed
