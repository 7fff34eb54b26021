"""the lists indexed for the order they page in

A page of a list (``limit`` rows after a keyset cursor) must read about ``limit`` rows, not the
table: with a CA's millions of audit events, notifications or job runs, a page whose filter had
no index matching its order read every row the filter kept and sorted them (SQLite: ``USE TEMP
B-TREE FOR ORDER BY``; PostgreSQL: a Sort over a scan), or walked the whole chain for a rare
action. Each index here holds a list's filter columns then its order, so a page is a range of
one index read in order:

- an organization's members (``subscribers.organization_id``): every list narrowed to an
  organization (its certificates, seals, applications, subscribers; an organization-bound API
  key's) asked for them and read the whole subscribers table to find them;
- the audit trail by action (``action, seq``) and by subject (``subject_type, subject_id, seq``);
- the notice log, newest first, by status (``status, id``);
- the job runs, newest first (``started_at, id``), of one job (``job, started_at, id``) and
  in one state (``state, started_at, id``);
- a webhook's deliveries in one state (``subscription_id, state, id``);
- the obligations overview, by due date, contract and id (``due_on, contract_id, id``), which
  replaces the index on ``due_on`` alone (its leading column serves what that one did);
- every list narrowed by one column and paged by id (a flow's owner or state, a contract's
  state, owner or template, a certificate's holder or status, a seal's, an application's, a
  kept document's state, an authorization's holder or state, a subscriber's notices, a
  subscription's deliveries): the index on that column alone becomes one on the column and
  ``id``. SQLite's index already ended in the row id, so it reads the same; PostgreSQL's did
  not, and it sorted every row the filter kept (an organization's 100 000 flows for each
  page) or walked the primary key testing each.

Nothing is rewritten; building the indexes reads each table once.

Revision ID: 0033
Revises: 0032
"""

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_subscribers_organization_id", "subscribers", ["organization_id"]),
    ("ix_audit_events_action_seq", "audit_events", ["action", "seq"]),
    ("ix_audit_events_subject_seq", "audit_events", ["subject_type", "subject_id", "seq"]),
    ("ix_notifications_status_id", "notifications", ["status", "id"]),
    ("ix_job_runs_started_at_id", "job_runs", ["started_at", "id"]),
    ("ix_job_runs_job_started_at_id", "job_runs", ["job", "started_at", "id"]),
    ("ix_job_runs_state_started_at_id", "job_runs", ["state", "started_at", "id"]),
    (
        "ix_webhook_deliveries_subscription_id_state_id",
        "webhook_deliveries",
        ["subscription_id", "state", "id"],
    ),
    ("ix_obligations_due_on_contract_id_id", "obligations", ["due_on", "contract_id", "id"]),
]


# (table, column): ix_<table>_<column> becomes ix_<table>_<column>_id on (column, id)
BY_ID = [
    ("sign_flows", "owner_subscriber_id"),
    ("sign_flows", "state"),
    ("contracts", "template_code"),
    ("contracts", "state"),
    ("contracts", "owner_subscriber_id"),
    ("certificates", "subscriber_id"),
    ("certificates", "status"),
    ("seals", "subscriber_id"),
    ("seals", "state"),
    ("applications", "state"),
    ("archived_documents", "state"),
    ("signing_authorizations", "holder_subscriber_id"),
    ("signing_authorizations", "state"),
    ("notifications", "subscriber_id"),
    ("webhook_deliveries", "subscription_id"),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    op.drop_index("ix_obligations_due_on", table_name="obligations")
    for table, column in BY_ID:
        op.create_index(f"ix_{table}_{column}_id", table, [column, "id"])
        op.drop_index(f"ix_{table}_{column}", table_name=table)


def downgrade() -> None:
    # nothing is lost going down: the lists read and sort what their filters keep again
    for table, column in reversed(BY_ID):
        op.create_index(f"ix_{table}_{column}", table, [column])
        op.drop_index(f"ix_{table}_{column}_id", table_name=table)
    op.create_index("ix_obligations_due_on", "obligations", ["due_on"])
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
