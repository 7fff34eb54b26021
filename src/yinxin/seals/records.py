"""The written record of a seal: its GB/T 38540 SESeal versions and its application forms.

Every create, renew and change makes a new SESeal record signed by the issuing CA (``make``)
and keeps the old ones, and every form handed in is kept with the hash of the declaration the
applicant accepted (``record_application``). ``verify`` checks the current record as a relying
party would and checks the seal's folder against the database.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from yinxin.errors import ValidationError
from yinxin.identity import ID_TYPES
from yinxin.pki.authority import Issuer
from yinxin.seals.catalogue import (
    BUSINESS_TYPES,
    DECLARATION,
    DECLARATION_SHA256,
    KINDS,
    BusinessType,
    SealForm,
)
from yinxin.seals.files import FileState, SealFiles, file_set
from yinxin.seals.rows import audit_seal, mask, seal_row, sha, whole
from yinxin.seals.seseal import SealInfo, build_seseal, verify_seseal
from yinxin.store.db import Database
from yinxin.store.models import Certificate
from yinxin.store.models.seals import Seal, SealApplication, SealRecord

if TYPE_CHECKING:
    from yinxin.registry.ca import CertificateAuthority

T = TypeVar("T", SealRecord, SealApplication)


def make_record(
    s: Session, seal: Seal, cert: Certificate, issuer: Issuer, verb: str, now: dt.datetime
) -> None:
    """Make, sign and keep the GB/T 38540 record for the seal's current data."""
    info = SealInfo(
        es_id=seal.es_id,
        seal_type=KINDS[seal.kind].seal_type,
        name=seal.name,
        cert_list=[cert.der],
        create_date=now,
        valid_start=seal.valid_start,
        valid_end=seal.valid_end,
        picture_type="png",
        picture_data=seal.png,
        width_mm=max(1, round(seal.width_mm)),
        height_mm=max(1, round(seal.height_mm)),
    )
    der = build_seseal(
        info, issuer.key, issuer.certificate.public_bytes(serialization.Encoding.DER)
    )
    seal.seseal, seal.version = der, seal.version + 1
    s.add(
        SealRecord(
            seal_id=seal.id,
            version=seal.version,
            verb=verb,
            certificate_id=cert.id,
            valid_start=seal.valid_start,
            valid_end=seal.valid_end,
            seseal=der,
            made_at=now,
        )
    )
    s.flush()


def record_application(
    s: Session, seal: Seal, form: SealForm, actor: str, now: dt.datetime
) -> SealApplication:
    """Keep the form handed in for ``seal`` and audit it (the ID number stays out of the
    audit trail)."""
    app = SealApplication(
        seal_id=seal.id,
        subscriber_id=seal.subscriber_id,
        business_type=form.business_type,
        **form.holder_columns(),
        declaration_accepted=True,
        declaration_sha256=DECLARATION_SHA256,
        submitted_by=actor,
        submitted_at=now,
    )
    s.add(app)
    s.flush()
    data = {
        "application_id": app.id,
        "business_type": form.business_type,
        "project": form.project,
        "holder_name": form.holder_name,
        "holder_id_type": form.id_type,
        "declaration_sha256": DECLARATION_SHA256,
    }
    audit_seal(s, seal.es_id, "application", actor, now, data)
    return app


@dataclass(frozen=True)
class SealRecordView:
    """One GB/T 38540 SESeal record the seal has had."""

    version: int
    verb: str  # create, renew or change
    certificate_serial: str
    valid_start: dt.datetime
    valid_end: dt.datetime
    made_at: dt.datetime
    seseal_sha256: str
    seseal_b64: str


@dataclass(frozen=True)
class SealApplicationView:
    """One application form handed in for the seal."""

    id: int
    business_type: BusinessType
    business_title: str
    project: str
    holder_name: str
    holder_id_type: str
    holder_id_type_title: str | None
    holder_id_number: str | None  # masked unless revealed
    declaration: str
    declaration_sha256: str
    submitted_by: str
    submitted_at: dt.datetime


@dataclass(frozen=True)
class RecordCheck:
    """A seal's current SESeal record and folder, checked as a relying party would.

    ``name`` … ``seseal_sha256`` are what the record says; None when it could not be read.
    """

    es_id: str
    ok: bool
    files: dict[str, FileState]
    problem: str | None
    name: str | None = None
    valid_start: dt.datetime | None = None
    valid_end: dt.datetime | None = None
    width_mm: int | None = None
    height_mm: int | None = None
    seseal_sha256: str | None = None


def _of_seal(s: Session, model: type[T], seal_id: int, order: InstrumentedAttribute) -> list[T]:
    """The rows of ``model`` that belong to the seal, in ``order``."""
    return list(s.execute(select(model).where(model.seal_id == seal_id).order_by(order)).scalars())


class SealRecords:
    """Reads and checks a seal's records: SESeal versions, application forms, folder."""

    def __init__(self, db: Database, ca: CertificateAuthority, files: SealFiles):
        self.db, self.ca, self.files = db, ca, files

    def history(self, seal: int | str) -> list[SealRecordView]:
        """Every SESeal record the seal has had, oldest first."""
        with self.db.read() as s:
            row = seal_row(s, seal)
            return [
                SealRecordView(
                    version=r.version,
                    verb=r.verb,
                    certificate_serial=s.get(Certificate, r.certificate_id).serial_hex,
                    valid_start=r.valid_start,
                    valid_end=r.valid_end,
                    made_at=r.made_at,
                    seseal_sha256=sha(r.seseal),
                    seseal_b64=base64.b64encode(r.seseal).decode("ascii"),
                )
                for r in _of_seal(s, SealRecord, row.id, SealRecord.version)
            ]

    def applications(self, seal: int | str, *, reveal: bool = False) -> list[SealApplicationView]:
        """Every application form handed in for the seal, oldest first."""
        with self.db.read() as s:
            row = seal_row(s, seal)
            return [
                SealApplicationView(
                    id=a.id,
                    business_type=BusinessType(a.business_type),
                    business_title=BUSINESS_TYPES[a.business_type],
                    project=a.project,
                    holder_name=a.holder_name,
                    holder_id_type=a.holder_id_type,
                    holder_id_type_title=ID_TYPES.get(a.holder_id_type),
                    holder_id_number=a.holder_id_number if reveal else mask(a.holder_id_number),
                    declaration=DECLARATION,
                    declaration_sha256=a.declaration_sha256,
                    submitted_by=a.submitted_by,
                    submitted_at=a.submitted_at,
                )
                for a in _of_seal(s, SealApplication, row.id, SealApplication.id)
            ]

    def artifacts(self, seal: int | str) -> dict[str, bytes]:
        """The seal's image (PNG, SVG, PDF) and SESeal record, straight from the database."""
        with self.db.read() as s:
            return dict(file_set(seal_row(s, seal))[1])

    def verify(self, seal: int | str) -> RecordCheck:
        """Check the stored SESeal as a relying party would: our CA made it, and it says what
        the database says (so a record swapped in the table is caught); and check that the
        files under ``<home>/seals/<esID>/`` exist and match the database's copies byte for
        byte (SHA-256), since those files are what gets handed out and archived."""
        with self.db.read() as s:
            row = seal_row(s, seal)
            cert = s.get(Certificate, row.certificate_id)
            cert_der = cert.der
            # the issuing CA that certified the seal's key made the record (the SM2 one for an
            # SM2 certificate beside a P-256 default)
            maker = self.ca.certificate(cert.issuer_role).public_bytes(serialization.Encoding.DER)
            der, es_id = row.seseal, row.es_id
            expected = (
                row.es_id,
                row.name,
                KINDS[row.kind].seal_type,
                [cert_der],
                row.png,
                whole(row.valid_start),
                whole(row.valid_end),
            )
            files = self.files.status(es_id, file_set(row)[1])
        bad_files = {k: v for k, v in files.items() if v != FileState.OK}
        files_problem = (
            f"files under {self.files.directory(es_id)} do not match the database ("
            + ", ".join(f"{k} {v}" for k, v in bad_files.items())
            + f"): run `yinxin seal write-files {es_id}` to write them again"
            if bad_files
            else None
        )
        try:
            info = verify_seseal(der, [maker]).info
        except ValidationError as e:
            return RecordCheck(es_id, False, files, e.message)
        got = (
            info.es_id,
            info.name,
            info.seal_type,
            info.cert_list,
            info.picture_data,
            info.valid_start,
            info.valid_end,
        )
        record_ok = got == expected
        ok = record_ok and not bad_files
        return RecordCheck(
            es_id=es_id,
            ok=ok,
            files=files,
            problem=(
                None
                if ok
                else files_problem
                if record_ok
                else "the record does not match the seal's data"
            ),
            name=info.name,
            valid_start=info.valid_start,
            valid_end=info.valid_end,
            width_mm=info.width_mm,
            height_mm=info.height_mm,
            seseal_sha256=sha(der),
        )
