"""each certificate's key fingerprint: a key revoked as compromised or reported lost is found

certificates gain spki_sha256, the SHA-256 (hex) of the certified key's DER SubjectPublicKeyInfo
as ``cryptography`` writes it (an EC point uncompressed), indexed: issuance refuses a key
certified before and then revoked for key compromise or reported lost (``compromised_key``)
with one indexed look-up instead of parsing every certificate. Existing rows are filled here
from their DER.

Revision ID: 0027
Revises: 0026
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

BATCH = 500


def fingerprint(cert_der: bytes) -> str:
    """As ``registry.certificates.key_sha256`` of the certificate's key: the SPKI re-encoded by
    ``cryptography``, or as it stands for a key it cannot load (SM2, which the platform writes
    canonically already)."""
    from asn1crypto import x509 as a_x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_der_public_key,
    )

    spki = a_x509.Certificate.load(bytes(cert_der))["tbs_certificate"]["subject_public_key_info"]
    raw = spki.dump()
    try:
        raw = load_der_public_key(raw).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (UnsupportedAlgorithm, ValueError):
        pass
    return hashlib.sha256(raw).hexdigest()


# Plain ALTER TABLE, not a batch (see 0024): SQLite adds a nullable column in place.
def upgrade() -> None:
    op.add_column("certificates", sa.Column("spki_sha256", sa.String(64), nullable=True))
    op.create_index("ix_certificates_spki_sha256", "certificates", ["spki_sha256"])
    conn = op.get_bind()
    table = sa.table(
        "certificates",
        sa.column("id", sa.Integer),
        sa.column("der", sa.LargeBinary),
        sa.column("spki_sha256", sa.String),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, table.c.der)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        conn.execute(
            table.update()
            .where(table.c.id == sa.bindparam("row_id"))
            .values(spki_sha256=sa.bindparam("fp")),
            [{"row_id": r.id, "fp": fingerprint(r.der)} for r in rows],
        )
        last = rows[-1].id


def downgrade() -> None:
    # Going down forgets the fingerprints: the older code does not look keys up.
    op.drop_index("ix_certificates_spki_sha256", table_name="certificates")
    op.drop_column("certificates", "spki_sha256")
