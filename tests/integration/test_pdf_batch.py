"""Verifying an archive in one call (issue 10): ``yinxin.pdf.batch`` gives, file for file, the
report that verifying each file on its own gives — whatever order the files come in, whatever
was cached from the files before — and a file that is not a PDF is a result, not an exception.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import random
from io import BytesIO

import pytest

from tests.integration import pdf_factory as f
from tests.integration.test_pdf_verify import Docs
from yinxin.pdf import accel
from yinxin.pdf.batch import Verifier, verify_many
from yinxin.pdf.verify import verify_pdf

KINDS = (
    "bt",
    "blt",
    "blt_no_tsa_revinfo",
    "blta",
    "bb",
    "two",
    "tampered",
    "page_added",
    "comment_added",
    "untrusted",
    "revoked_dss",
    "revoked_cms",
)


@pytest.fixture(scope="module")
def docs() -> Docs:
    return Docs()


def _archive(docs: Docs) -> list[tuple[str, bytes]]:
    items = [(f"{k}.pdf", getattr(docs, k)) for k in KINDS]
    # more contracts from the same CA, so later files meet cached chains and signatures
    for i in range(4):
        signer = docs.pki.new_signer(f"签署人{i}")
        items.append((f"more-{i}.pdf", f.sign(docs.plain, signer, docs.pki, revinfo="dss")))
    items += _odd_responders(docs)
    return items


def _odd_responders(docs: Docs) -> list[tuple[str, bytes]]:
    """B-LT files whose OCSP responses are signed by a responder other than the usual one, met
    after the usual one was remembered as valid (verify.py ``_ocsp_provenance``): one from
    another CA, one of ours that had expired before the signature, one of ours not yet valid
    when the signature was made."""
    pki, now = docs.pki, docs.pki.now
    day = dt.timedelta(days=1)
    responders = {
        "foreign-responder": docs.rogue.ocsp,
        "expired-responder": pki.new_signer(
            "Yinxin OCSP old", profile="ocsp-responder", not_before=now - 30 * day, days=7
        ),
        "future-responder": pki.new_signer(
            "Yinxin OCSP next", profile="ocsp-responder", not_before=now + day
        ),
    }
    out = []
    for name, responder in responders.items():
        odd = dataclasses.replace(pki, ocsp=responder)
        signer = pki.new_signer(f"签署人-{name}")
        out.append((f"{name}.pdf", f.sign(docs.plain, signer, odd, revinfo="dss")))
    return out


@pytest.mark.parametrize("policy", ["last-known", "strict"])
@pytest.mark.parametrize("when", ["now", "in-ten-years"])
def test_a_batch_reports_exactly_what_each_file_alone_reports(docs, policy, when):
    at = docs.pki.now + (dt.timedelta(minutes=5) if when == "now" else dt.timedelta(days=3650))
    items = _archive(docs)
    random.Random(7).shuffle(items)
    # trusted roots: ours, and (for "wrong trust root") a batch trusting only the rogue root
    verdicts: list[dict[str, bool]] = []
    for roots in ([docs.pki.root], [docs.rogue.root]):
        alone = [
            verify_pdf(pdf, trust_roots=roots, file_name=name, at=at, policy=policy).to_dict()
            for name, pdf in items
        ]
        batch = Verifier(roots, at=at, policy=policy).verify_many(items)
        assert [r.error for r in batch] == [None] * len(items)
        assert [r.report.to_dict() for r in batch] == alone
        # twice through the same verifier: the second pass is served from warm caches
        again = Verifier(roots, at=at, policy=policy)
        again.verify_many(items)
        assert [r.report.to_dict() for r in again.verify_many(items)] == alone
        verdicts.append({name: r["valid"] for (name, _), r in zip(items, alone, strict=True)})
    ours, rogue = verdicts
    assert not any(rogue.values())  # a wrong trust root: nothing valid
    if when == "now":  # the set really is varied
        assert ours["blt.pdf"] and ours["two.pdf"] and ours["blta.pdf"]
        assert not ours["tampered.pdf"] and not ours["revoked_dss.pdf"]
        # status signed by a responder we do not accept proves nothing, cache or no cache
        assert not any(ours[f"{k}-responder.pdf"] for k in ("foreign", "expired", "future"))


def test_unreadable_items_are_results_not_exceptions(docs, tmp_path):
    at = docs.pki.now + dt.timedelta(minutes=5)
    good = tmp_path / "good.pdf"
    good.write_bytes(docs.blt)
    results = verify_many(
        [good, tmp_path / "missing.pdf", b"not a pdf", ("named.pdf", docs.bt)],
        trust_roots=[docs.pki.root],
        at=at,
    )
    assert [r.file_name for r in results] == [
        "good.pdf",
        "missing.pdf",
        "document.pdf",
        "named.pdf",
    ]
    assert results[0].report.valid and results[3].report.valid
    assert results[1].report is None and results[1].error.field == "in"
    assert results[2].report is None and results[2].error.field == "pdf"


def test_one_validation_time_for_the_whole_batch(docs):
    v = Verifier([docs.pki.root])
    a, b = v.verify_many([docs.bt, docs.blt])
    assert a.report.verified_at == b.report.verified_at == v.at


def test_the_accelerated_reader_reports_what_plain_pyhanko_code_reports(docs, monkeypatch):
    """``yinxin.pdf.accel`` replaces pyHanko/asn1crypto hot spots only while our verifier runs;
    with them switched off every report of the varied archive is the same."""
    at = docs.pki.now + dt.timedelta(minutes=5)
    items = _archive(docs)
    fast = [verify_pdf(pdf, trust_roots=[docs.pki.root], file_name=n, at=at) for n, pdf in items]
    monkeypatch.setattr(accel, "fast", contextlib.nullcontext)
    plain = [verify_pdf(pdf, trust_roots=[docs.pki.root], file_name=n, at=at) for n, pdf in items]
    assert [r.to_dict() for r in fast] == [r.to_dict() for r in plain]


_LEXEMES = [
    b" ",
    b"\n",
    b"\r",
    b"\t",
    b"\x0b",
    b"\x0c",
    b"\x00",
    b"%c\n",
    b"/",
    b"#",
    b"#4",
    b"#41",
    b"0",
    b"7",
    b"12",
    b"R",
    b"a",
    b"(",
    b">",
    b"[",
    b"<<",
    b"\xe4",
    b"-",
    b".",
]


def _outcome(fn, data: bytes):
    stream = BytesIO(data)
    try:
        value = fn(stream)
    except Exception as e:
        return ("error", type(e), str(e), stream.tell())
    if isinstance(value, tuple):
        return ("value", value, stream.tell())
    return ("value", type(value), repr(value), stream.tell())


@pytest.mark.parametrize("seed", range(4))
def test_accelerated_lexers_match_pyhanko_byte_for_byte(seed):
    """Random token soup through each replaced lexer function: same value (and type), same
    error, same stream position as pyHanko's own function."""
    rng = random.Random(seed)

    class _Ref:  # IndirectObject's container_ref: anything with this method
        def get_pdf_handler(self):
            return None

    delimiters = b" \n\r\t\f\x00()<>[]{}/%"

    def until(fn, chars, maxchars):
        return lambda stream: fn(chars, stream, maxchars)

    cases = [
        (
            until(accel._read_until_class, delimiters, None),
            until(accel._orig_until_class, delimiters, None),
        ),
        (
            until(accel._read_until_class, b" \n\r\t\f\x00", 5),
            until(accel._orig_until_class, b" \n\r\t\f\x00", 5),
        ),
        (
            lambda s: accel._read_non_whitespace(s, False, True),
            lambda s: accel._orig_non_ws(s, False, True),
        ),
        (
            lambda s: accel._read_non_whitespace(s, True, False),
            lambda s: accel._orig_non_ws(s, True, False),
        ),
        (lambda s: accel._read_indirect(s, _Ref()), lambda s: accel._orig_indirect(s, _Ref())),
    ]
    for _ in range(3000):
        data = b"".join(rng.choice(_LEXEMES) for _ in range(rng.randrange(0, 40)))
        if rng.random() < 0.05:
            data = b" " * rng.randrange(60, 140) + data  # longer than one peek
        for i, (fast_fn, orig_fn) in enumerate(cases):
            with accel.fast():
                got = _outcome(fast_fn, data)
            assert got == _outcome(orig_fn, data), (i, data)
        name = data.replace(b"/", b"")
        with accel.fast():
            got = _outcome(lambda s: accel._decode_name(s.read()), name)
        assert got == _outcome(lambda s: accel._orig_decode_name(s.read()), name), name
