"""the seal grant an automatic-signing authorization took its documents from

signing_authorizations gain seal_grant_id: the member's seal grant (用印授权) whose uses the
authorization's documents were taken from when it was made, so that the documents it did not
sign go back to that grant when it is withdrawn or expires. Existing authorizations stay empty:
nothing tells whether theirs were taken (before the grant's uses counted them, they were not),
so nothing is given back for them.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not a batch (see 0024): SQLite adds a nullable column in place; a foreign
# key would need the batch's table copy, which signing_batches' references make fail.
def upgrade() -> None:
    op.add_column("signing_authorizations", sa.Column("seal_grant_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Going down forgets the grant: a withdrawn authorization no longer gives its uses back.
    op.drop_column("signing_authorizations", "seal_grant_id")
