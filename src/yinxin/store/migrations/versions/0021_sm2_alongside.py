"""an SM2 hierarchy alongside the RSA/ECDSA one in the same instance (issue 15 §1)

No schema change was needed: the SM2 hierarchy's roles (``sm2-root``, ``sm2-issuing``, …) fit
the existing ``String(20)`` role columns, and ``certificates.issuer_role`` already records which
CA issued a certificate (docs/national-algorithms.md, "Side by side"). The revision stays, empty,
so the numbering reserved for it holds.

Revision ID: 0021
Revises: 0020
"""

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: filled in by the change that needs it


def downgrade() -> None:
    pass
