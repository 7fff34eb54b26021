"""The applicant's identity documents handed in with a certificate application (申请材料).

001/004 ask an applicant for copies of their identity documents: a person's ID card (front and
back), an organization's business licence (营业执照) and the letter authorizing its agent
(授权委托书). The applicant (or the desk on their behalf) uploads them while the application
is pending; the RA officer looks at them before approving. Only PDF, JPEG and PNG are taken,
told apart by their magic bytes (the declared type must agree), each at most ``MAX_DOCUMENT``
bytes and ``MAX_DOCUMENTS`` per application. The bytes go to a file store under their SHA-256
before the row is committed: a crash leaves a spare file at most, never a row without its
file; a refusal is decided before anything is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select

from yinxin.clock import Clock
from yinxin.errors import Conflict, IllegalTransition, TooLarge, ValidationError
from yinxin.identity import refuse_hidden
from yinxin.registry.lifecycle import ApplicationState
from yinxin.store.audit import event
from yinxin.store.db import Database
from yinxin.store.files import FileStore
from yinxin.store.models import Application
from yinxin.store.models.applicant_documents import ApplicationDocument
from yinxin.store.queries import one_or_404

MAX_DOCUMENT = 10 * 2**20  # a phone photo of a licence is 2–5 MB
MAX_DOCUMENTS = 10


class DocumentKind(StrEnum):
    """What the document is (the list of 001 申请材料)."""

    ID_FRONT = "id_front"  # 身份证人像面
    ID_BACK = "id_back"  # 身份证国徽面
    BUSINESS_LICENCE = "business_licence"  # 营业执照
    AUTHORIZATION_LETTER = "authorization_letter"  # 授权委托书
    OTHER = "other"  # 其他证明材料


@dataclass(frozen=True, slots=True)
class DocumentView:
    id: int
    application_id: int
    kind: DocumentKind
    file_name: str | None
    media_type: str
    sha256: str
    size: int
    uploaded_at: dt.datetime
    uploaded_by: str


def sniff(data: bytes) -> str | None:
    """The media type the file's first bytes say, among those taken; None for anything else
    (a file's name or declared type is not evidence of what it is)."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


def _view(d: ApplicationDocument) -> DocumentView:
    return DocumentView(
        d.id,
        d.application_id,
        DocumentKind(d.kind),
        d.file_name,
        d.media_type,
        d.sha256,
        d.size,
        d.uploaded_at,
        d.uploaded_by,
    )


def _file_name(name: str | None, field: str) -> str | None:
    """The name the browser gave, for display only, without its folder (``C:\\fakepath\\``).
    A name with a control or invisible character (NUL, ESC, a line break, a bidi override such
    as U+202E that shows ``gpj.exe`` as ``exe.jpg``, a zero-width space) is refused naming
    ``field``, not cleaned: the desk must read the name the applicant sent or none."""
    if not name:
        return None
    refuse_hidden(name, field)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if len(name) > 200:
        raise ValidationError("a file name is at most 200 characters", field=field)
    return name or None


class ApplicationDocuments:
    def __init__(self, db: Database, clock: Clock, files: FileStore):
        self.db = db
        self.clock = clock
        self.files = files

    def upload(
        self,
        application_id: int,
        data: bytes,
        *,
        kind: str,
        actor: str,
        declared_type: str | None = None,
        file_name: str | None = None,
        name_field: str = "file_name",
    ) -> DocumentView:
        """Keep one document for a pending application; audited as
        ``application.document_added`` (its hash, type, size) in the row's transaction.
        ``name_field``: what a refusal of ``file_name`` names (the request's name for it)."""
        try:
            doc_kind = DocumentKind(kind)
        except ValueError:
            choices = ", ".join(k.value for k in DocumentKind)
            raise ValidationError(f"kind must be one of {choices}", field="kind") from None
        if not data:
            raise ValidationError("the document is empty", field="body", code="empty")
        if len(data) > MAX_DOCUMENT:
            raise TooLarge(f"a document may be at most {MAX_DOCUMENT // 2**20} MiB", field="body")
        media = sniff(data)
        if media is None:
            raise ValidationError(
                "only PDF, JPEG and PNG documents are taken", field="body", code="unsupported_type"
            )
        declared = (declared_type or "").split(";", 1)[0].strip().lower()
        if declared and declared != "application/octet-stream" and declared != media:
            raise ValidationError(
                f"the file is {media}, not {declared}", field="body", code="type_mismatch"
            )
        name = _file_name(file_name, name_field)
        self._check_open(application_id)  # refused before the file is written
        data = bytes(data)
        key = self.files.put(data)
        now = self.clock.now()
        with self.db.transaction() as s:
            app = self._check_open(application_id, s, lock=True)
            row = ApplicationDocument(
                application_id=app.id,
                kind=doc_kind.value,
                file_name=name,
                media_type=media,
                sha256=key,
                size=len(data),
                uploaded_at=now,
                uploaded_by=actor,
            )
            s.add(row)
            s.flush()
            event(
                s,
                now,
                actor,
                "application.document_added",
                app.id,
                {
                    "document_id": row.id,
                    "kind": doc_kind.value,
                    "media_type": media,
                    "sha256": key,
                    "size": len(data),
                },
            )
            return _view(row)

    def _check_open(self, application_id: int, s=None, *, lock: bool = False) -> Application:
        """The application, which must be pending and below the document limit (with ``s``:
        locked in that transaction, so the count cannot be passed by two uploads at once)."""
        if s is None:
            with self.db.read() as r:
                return self._check_open(application_id, r)
        q = select(Application).where(Application.id == application_id)
        missing = f"no application {application_id}"
        app = one_or_404(s, q, missing, field="application_id", lock=lock)
        if app.state != ApplicationState.PENDING:
            raise IllegalTransition(
                f"application {application_id} is {app.state}: documents are taken while it "
                "is pending",
                field="application_id",
            )
        count = s.execute(
            select(func.count(ApplicationDocument.id)).where(
                ApplicationDocument.application_id == application_id
            )
        ).scalar_one()
        if count >= MAX_DOCUMENTS:
            raise Conflict(
                f"an application takes at most {MAX_DOCUMENTS} documents",
                field="body",
                code="too_many_documents",
            )
        return app

    def list(self, application_id: int) -> list[DocumentView]:
        with self.db.read() as s:
            q = select(ApplicationDocument).where(
                ApplicationDocument.application_id == application_id
            )
            return [_view(d) for d in s.execute(q.order_by(ApplicationDocument.id)).scalars()]

    def get(self, application_id: int, document_id: int) -> tuple[DocumentView, bytes]:
        """The document and its bytes (checked against the hash by the file store)."""
        with self.db.read() as s:
            q = select(ApplicationDocument).where(
                ApplicationDocument.id == document_id,
                ApplicationDocument.application_id == application_id,
            )
            view = _view(one_or_404(s, q, f"no document {document_id}", field="document_id"))
        return view, self.files.get(view.sha256)
