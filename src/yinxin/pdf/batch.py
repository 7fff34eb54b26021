"""Verify many PDFs against the same trust roots, reusing what does not depend on the document.

A relying party checking an archive verifies hundreds of contracts signed under one CA: the
same root, issuing CA, TSA and OCSP responder certificates, the same root CRL, in every file.
:class:`Verifier` runs :func:`yinxin.pdf.verify.averify_pdf` on each file — the same code, the
same verdict and report as verifying that file on its own — with caches that live as long as
the verifier:

* the trust roots, parsed once (``_trust_manager``);
* whether each DSS / revocation-archival item (OCSP response, CRL, certificate) is usable, by
  its DER bytes: deciding it builds a throwaway pyHanko validation context per item;
* every cryptographic signature that verified (certificate, CRL, OCSP response, timestamp),
  by signature, digest of the signed bytes, key and algorithm — the issuing CA's signature on
  the TSA certificate is checked once per archive, not once per file;
* X.509 name comparisons and parsed certificate extensions, by the DER (``yinxin.pdf.accel``,
  also used for single files);
* DSS items parsed once by their DER, so the CA, TSA and responder certificates of every file
  are the same parsed objects;
* delegated OCSP responders (id-pkix-ocsp-nocheck) that passed pyHanko's check, reused only at
  moments within the responder's validity (``verify._ocsp_provenance`` says why that is all
  the moment can change);
* the (trust anchor, issuing CA) pairs whose paths pyHanko validated: later paths through
  them are checked directly (``yinxin.pdf.direct``: the moment-dependent checks and the whole
  leaf step again, pyHanko on any doubt; ``shortcut=False`` switches it off);
* parsed PDF objects by their bytes, each file getting its own copy (``accel._read_object``).

Nothing else time-dependent is cached: each certificate path is still validated at the moment its
own document's timestamps prove, with that document's revocation data, so a batch never
carries a verdict from one file to another. One validation time is fixed for the whole batch
(``at``, or the moment the verifier was made) so that every report of one run says the same.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from yinxin.errors import ValidationError
from yinxin.pdf import accel, direct
from yinxin.pdf import verify as _v
from yinxin.pdf.verify import POLICIES, VerificationReport


@dataclass
class BatchResult:
    """One file of a batch: its report, or why it could not be verified (not a PDF…)."""

    file_name: str
    report: VerificationReport | None
    error: ValidationError | None = None


class Verifier:
    """Holds the trust roots, the options and the caches for any number of files."""

    def __init__(
        self,
        trust_roots: list[x509.Certificate],
        *,
        at: dt.datetime | None = None,
        policy: str = "last-known",
        allow_fetching: bool = False,
        ocsp_urls_allowed: bool = False,
        shortcut: bool = True,
    ) -> None:
        """``shortcut=False`` leaves every certificate path to pyHanko (``yinxin.pdf.direct``);
        the reports are the same either way, which is what the tests check with it."""
        if policy not in POLICIES:
            raise ValidationError(f"policy must be one of {', '.join(POLICIES)}", field="policy")
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        self.trust_roots = list(trust_roots)
        self.at = (at or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        self.policy = policy
        self.allow_fetching = allow_fetching
        self.ocsp_urls_allowed = ocsp_urls_allowed
        self._caches = _v._Caches()
        self._paths = direct.Learned() if shortcut else None
        self._objects = accel.ObjectStore()

    async def averify(self, pdf: bytes, *, file_name: str = "document.pdf") -> VerificationReport:
        """Exactly :func:`yinxin.pdf.verify.averify_pdf` with this verifier's options."""
        token = _v._CACHES.set(self._caches)
        try:
            with direct.learning(self._paths), accel.objects(self._objects):
                return await _v.averify_pdf(
                    pdf,
                    trust_roots=self.trust_roots,
                    file_name=file_name,
                    allow_fetching=self.allow_fetching,
                    at=self.at,
                    ocsp_urls_allowed=self.ocsp_urls_allowed,
                    policy=self.policy,
                )
        finally:
            _v._CACHES.reset(token)

    def verify(self, pdf: bytes, *, file_name: str = "document.pdf") -> VerificationReport:
        return asyncio.run(self.averify(pdf, file_name=file_name))

    async def averify_many(
        self,
        items: Iterable[bytes | str | Path | tuple[str, bytes]],
        *,
        progress: Callable[[int, BatchResult], None] | None = None,
    ) -> list[BatchResult]:
        """One result per item, in order. An item is a path, PDF bytes, or ``(name, bytes)``.

        A file that cannot be read or is not a PDF gives a result with ``error`` set, never an
        exception, so one bad file does not stop an archive check. ``progress(i, result)`` is
        called after each file.
        """
        out: list[BatchResult] = []
        for i, item in enumerate(items):
            name, data, error = _load(item, i)
            if error is None:
                try:
                    result = BatchResult(name, await self.averify(data, file_name=name))
                except ValidationError as e:
                    result = BatchResult(name, None, e)
            else:
                result = BatchResult(name, None, error)
            out.append(result)
            if progress is not None:
                progress(i, result)
        return out

    def verify_many(
        self,
        items: Iterable[bytes | str | Path | tuple[str, bytes]],
        *,
        progress: Callable[[int, BatchResult], None] | None = None,
    ) -> list[BatchResult]:
        return asyncio.run(self.averify_many(items, progress=progress))


def verify_many(
    items: Iterable[bytes | str | Path | tuple[str, bytes]],
    *,
    trust_roots: list[x509.Certificate],
    at: dt.datetime | None = None,
    policy: str = "last-known",
    allow_fetching: bool = False,
    ocsp_urls_allowed: bool = False,
    progress: Callable[[int, BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Verify every item with one :class:`Verifier`; see :meth:`Verifier.averify_many`."""
    verifier = Verifier(
        trust_roots,
        at=at,
        policy=policy,
        allow_fetching=allow_fetching,
        ocsp_urls_allowed=ocsp_urls_allowed,
    )
    return verifier.verify_many(items, progress=progress)


def _load(
    item: bytes | str | Path | tuple[str, bytes], i: int
) -> tuple[str, bytes, ValidationError | None]:
    if isinstance(item, tuple):
        name, data = item
        return str(name), bytes(data), None
    if isinstance(item, bytes | bytearray | memoryview):
        return "document.pdf", bytes(item), None
    path = Path(item)
    try:
        return path.name, path.read_bytes(), None
    except OSError as e:
        return path.name, b"", ValidationError(f"cannot read {path}: {e.strerror}", field="in")


__all__ = ["BatchResult", "Verifier", "verify_many"]
