"""Identity documents an applicant hands in with a certificate application (申请材料).

The bytes live in the file store under their SHA-256 (``yinxin.store.files``); a row names the
application, what the document is (ID card front/back, business licence, authorization letter),
its type as read from the file's magic bytes, its size and who uploaded it when. Rows are never
changed: the officer reads them at the desk before approving.
"""

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from yinxin.store.models import Base


class ApplicationDocument(Base):
    __tablename__ = "application_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    file_name: Mapped[str | None] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    uploaded_at: Mapped[dt.datetime]
    uploaded_by: Mapped[str] = mapped_column(String(100))
