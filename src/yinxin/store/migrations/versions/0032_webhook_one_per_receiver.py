"""one active webhook subscription per receiver

The same URL could be subscribed twice by one owner, each time with its own secret, and every
event was then delivered twice to the one receiver. webhook_subscriptions gains url_key (the
SHA-256 of the request the URL makes: scheme, host in lower case and IDNA, port, path and query
as sent; ``yinxin.notify.webhooks.url_key``) and two unique indexes over the active
subscriptions: one per url_key among an administrator's (owner NULL), one per owner and url_key
among an organization's.

A database that already holds such twins still upgrades: of an owner's active subscriptions
to one receiver the oldest stays active, each later one is paused, its reason naming the one
kept (its deliveries already due wait, as a pause's do). The operator deletes the one not
wanted; a paused twin cannot be resumed while the other is active.

Revision ID: 0032
Revises: 0031
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

INDEXES = [
    (
        "uq_webhook_subscriptions_active_url",
        ["url_key"],
        "state = 'active' AND owner_organization_id IS NULL",
    ),
    (
        "uq_webhook_subscriptions_active_organization_url",
        ["owner_organization_id", "url_key"],
        "state = 'active' AND owner_organization_id IS NOT NULL",
    ),
]


def _url_key(url: str) -> str:
    """``yinxin.notify.webhooks.url_key`` as of this revision (a migration does not follow
    later changes of the code). A URL the client cannot parse (stored before subscriptions
    were checked for it) keys as itself."""
    import httpx

    try:
        u = httpx.URL(url)
        port = u.port or (443 if u.scheme == "https" else 80)
        request = f"{u.scheme} {u.raw_host.decode('ascii')} {port} {u.raw_path.decode('ascii')}"
    except (httpx.InvalidURL, ValueError, UnicodeError):
        request = url
    return hashlib.sha256(request.encode()).hexdigest()


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch (see 0024): webhook_deliveries refers to this table.
    op.add_column("webhook_subscriptions", sa.Column("url_key", sa.String(64), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, url, owner_organization_id, state FROM webhook_subscriptions ORDER BY id"
        )
    ).all()
    kept: dict[tuple[int | None, str], int] = {}
    for id_, url, owner, state in rows:
        key = _url_key(url)
        conn.execute(
            sa.text("UPDATE webhook_subscriptions SET url_key = :key WHERE id = :id"),
            {"key": key, "id": id_},
        )
        if state != "active":
            continue
        first = kept.setdefault((owner, key), id_)
        if first != id_:
            conn.execute(
                sa.text(
                    "UPDATE webhook_subscriptions SET state = 'paused', state_reason = :why "
                    "WHERE id = :id"
                ),
                {
                    "id": id_,
                    "why": f"paused by the upgrade (0032): webhook subscription {first} "
                    "delivers to the same URL, so each event reached it twice; delete the "
                    "one not wanted",
                },
            )
    for name, columns, where in INDEXES:
        op.create_index(
            name,
            "webhook_subscriptions",
            columns,
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    # Going down lets a receiver be subscribed twice again; the twins paused going up stay
    # paused. Dropping the column needs SQLite 3.35+, as 0025's downgrade.
    for name, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name="webhook_subscriptions")
    op.drop_column("webhook_subscriptions", "url_key")
