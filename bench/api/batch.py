#!/usr/bin/env python3
"""Batch signing: 100 one-page contracts through ``platform.batch.sign`` next to pyHanko's
default signing path over the same 100 files, in one run.

Run as ``.venv/bin/python bench/api/batch.py`` (it re-executes itself with the repo's
virtualenv). A fresh platform (SQLite home, CA, the test world: 王五 with the organization's
contract seal) signs ``--n`` one-page contracts per round, for ``--rounds`` rounds, interleaved:

  * "ours": ``platform.batch.sign(items, seal, pin, signer, challenge_id, code)`` — the whole
    service call: the PIN unlock (scrypt), the code check and its use, every document signed
    and timestamped by the platform TSA, one set of OCSP evidence added to each (B-LT), every
    file fsynced into the archive, the records, archive rows and audit events in one
    transaction. The code is asked for before the clock starts (an SMS is not signing).
  * "pyHanko": ``signers.PdfSigner`` with a ``SimpleSigner`` holding the same key and
    certificate (and chain), the same seal image as stamp background and the same TSA
    (``pyhanko_timestamper`` over the platform's ``TimestampService``), one document after
    another: pyHanko's documented default (PAdES B-T; no revocation data, no database, no
    archive).

Figures are documents per second from the median round (wall time) and their ratio. One output
of each side is checked with pyHanko's validator and poppler's ``pdfsig``. ``--profile``
prints where our batch's time goes (cProfile, cumulative).
"""

from __future__ import annotations

# first: runs this under the repo's .venv, with src/ and tests.… importable
import _repo  # noqa: F401

# isort: split
import argparse
import io
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from asn1crypto import keys as a_keys
from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives import serialization
from tests.clock import real_now
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import (
    CODE_SPACING,
    build_world,
    new_platform,
    outbox_lines,
    read_code,
)

from yinxin.clock import FrozenClock
from yinxin.pdf.sign import Placement
from yinxin.pdf.timestamps import pyhanko_timestamper
from yinxin.signing.batch import BatchItem

DER = serialization.Encoding.DER


def pyhanko_signer(key, cert, chain, png: bytes, tsa):
    """pyHanko's default path: PdfSigner + SimpleSigner, the seal as stamp background."""
    from PIL import Image
    from pyhanko.pdf_utils.images import PdfImage
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    simple = signers.SimpleSigner(
        signing_cert=a_x509.Certificate.load(cert.public_bytes(DER)),
        signing_key=a_keys.PrivateKeyInfo.load(
            key.private_bytes(DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        ),
        cert_registry=SimpleCertificateStore.from_certs(
            [a_x509.Certificate.load(c.public_bytes(DER)) for c in chain]
        ),
    )
    timestamper = pyhanko_timestamper(tsa)
    image = Image.open(io.BytesIO(png))
    side = 40 * 72 / 25.4

    def sign(pdf: bytes) -> bytes:
        style = TextStampStyle(
            stamp_text="", background=PdfImage(image), background_opacity=1.0, border_width=0
        )
        meta = signers.PdfSignatureMetadata(
            field_name="Seal", subfilter=fields.SigSeedSubFilter.PADES
        )
        pdf_signer = signers.PdfSigner(
            meta,
            signer=simple,
            timestamper=timestamper,
            stamp_style=style,
            new_field_spec=fields.SigFieldSpec("Seal", box=(340, 170, 340 + side, 170 + side)),
        )
        return pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf))).getvalue()

    return sign


def check(pdf: bytes, root) -> str:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    trust = a_x509.Certificate.load(root.public_bytes(DER))
    (emb,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    st = validate_pdf_signature(emb, ValidationContext(trust_roots=[trust], allow_fetching=False))
    ts = st.timestamp_validity
    verdict = (
        f"pyHanko intact={st.intact} valid={st.valid} trusted={st.trusted} "
        f"timestamp={'valid+trusted' if ts and ts.valid and ts.trusted else ts}"
    )
    if shutil.which("pdfsig"):
        with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
            fh.write(pdf)
            fh.flush()
            out = subprocess.run(["pdfsig", fh.name], capture_output=True, text=True).stdout
        verdict += f"; pdfsig: {out.count('Signature is Valid.')} × 'Signature is Valid.'"
    return verdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="documents per batch (1–100)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="profile one more batch of ours")
    ap.add_argument(
        "--anchor",
        action="store_true",
        help="place our seal on the anchor text 甲方（签章） (PDFium reads each page) instead of "
        "at coordinates",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clock = FrozenClock(real_now())
        p = new_platform(Path(tmp) / "home", clock)
        w = build_world(p, clock)
        pdfs = [contract_pdf(1, title=f"技术服务合同{i + 1:03d}") for i in range(args.n)]
        placement = (
            Placement(anchor="甲方（签章）")
            if args.anchor
            else Placement(page=-1, x_mm=120, y_mm=60)
        )
        items = [
            BatchItem(pdf, f"合同{i + 1:03d}.pdf", placement, "甲方") for i, pdf in enumerate(pdfs)
        ]
        unlocked = p.seals.unlock_for_signing(
            w.jia.seal.es_id, w.jia.pin, member_subscriber_id=w.jia.id
        )
        theirs = pyhanko_signer(
            unlocked.key.native,
            unlocked.certificate,
            p.ca.chain(),
            unlocked.stamp.png,
            p.tsa.respond,
        )

        def code() -> tuple[str, str]:
            clock.advance(seconds=CODE_SPACING.total_seconds())
            before = outbox_lines(w.outbox)
            ch = p.batch.request_code(signer_subscriber_id=w.jia.id, items=items)
            return ch.challenge_id, read_code(w.outbox, w.jia.phone, after=before)

        def sign(cid: str, c: str):
            return p.batch.sign(
                items,
                seal=w.jia.seal.es_id,
                pin=w.jia.pin,
                signer_subscriber_id=w.jia.id,
                challenge_id=cid,
                code=c,
            )

        def ours_once():
            cid, c = code()
            start = time.perf_counter()
            result = sign(cid, c)
            return time.perf_counter() - start, result.documents[0].pdf

        def theirs_once():
            start = time.perf_counter()
            out = [theirs(pdf) for pdf in pdfs]
            return time.perf_counter() - start, out[0]

        ours_once(), theirs_once()  # warm caches and imports on both sides
        ours_t, theirs_t = [], []
        for _ in range(args.rounds):
            ours_t.append(ours_once()[0])
            theirs_t.append(theirs_once()[0])
        a = args.n / statistics.median(ours_t)
        b = args.n / statistics.median(theirs_t)
        where = "on the anchor text" if args.anchor else "at coordinates"
        print(
            f"{args.n} one-page contracts per batch, seal {where}, {args.rounds} rounds, medians:"
        )
        print(f"  {'':<28} {'docs/s':>8} {'s/batch':>8}")
        print(f"  {'ours (batch.sign, B-LT)':<28} {a:>8.1f} {statistics.median(ours_t):>8.3f}")
        print(f"  {'pyHanko (PdfSigner, B-T)':<28} {b:>8.1f} {statistics.median(theirs_t):>8.3f}")
        print(f"  ours ÷ pyHanko: {a / b:.1f}×   (rounds, s: ours {[round(t, 3) for t in ours_t]}")
        print(f"                              pyHanko {[round(t, 3) for t in theirs_t]})")
        root = p.ca.certificate("root")
        print(f"  check ours:    {check(ours_once()[1], root)}")
        print(f"  check pyHanko: {check(theirs_once()[1], root)}")

        if args.profile:
            import cProfile
            import pstats

            cid, c = code()
            prof = cProfile.Profile()
            prof.enable()
            sign(cid, c)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        p.close()


if __name__ == "__main__":
    main()
