"""sealed secrets under SM4 (issue 15): no schema change

Every sealed blob names its own cipher (``yinxin.pki.ciphers``: the ``YXE1`` header under the
KEK, ``cipher`` in a PIN-sealed key's JSON header, ``YXAK2`` for authorization keys), and the
columns that hold them are binary of any length: SM4 blobs fit where AES ones were, and old
blobs need no rewriting to stay readable. Moving data between ciphers is ``yinxin keys
recrypt``, an operator's decision with the key store at hand, not a migration, which runs
without it. This revision stays, empty, so the numbering reserved for issue 15 holds.

Revision ID: 0019
Revises: 0018
"""

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # nothing: see the module docstring


def downgrade() -> None:
    pass
