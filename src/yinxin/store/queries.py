"""Query shapes the services share: a listing narrowed by the filters a caller gave, and one
row that must exist (optionally locked for the transaction), found by a query or by its id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, or_, select, true
from sqlalchemy.orm import Session

from yinxin.errors import NotFound, ValidationError
from yinxin.store.models import Subscriber

Row = TypeVar("Row")


def select_where(model: type[Row], **equal: Any) -> Select[tuple[Row]]:
    """``select(model)`` narrowed to the rows whose columns equal the values given, in the order
    given; a filter left out (``None`` or an empty string) does not narrow."""
    q = select(model)
    for column, value in equal.items():
        if value is not None and value != "":
            q = q.where(getattr(model, column) == value)
    return q


def one_or_404(
    s: Session, q: Select[tuple[Row]], missing: str, *, field: str, lock: bool = False
) -> Row:
    """The one row ``q`` finds, locked for the transaction when ``lock``; none is
    ``NotFound(missing, field=field)``."""
    if lock:
        q = q.with_for_update()
    row = s.execute(q).scalar_one_or_none()
    if row is None:
        raise NotFound(missing, field=field)
    return row


def by_id(
    s: Session,
    model: type[Row],
    ident: int,
    *,
    field: str,
    not_number: str,
    missing: str,
    lock: bool = False,
    refresh: bool = False,
) -> Row:
    """The row of ``model`` whose ``id`` is ``ident``, locked for the transaction when ``lock``:
    an id that is not a whole number (``True`` is not one) is ``ValidationError(not_number)``
    before any query, none is ``NotFound(missing)``, both naming ``field``. ``refresh``: the
    row's columns as the query read them, even for an object the session already holds."""
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise ValidationError(not_number, field=field)
    q = select(model).where(model.id == ident)
    if refresh:
        q = q.execution_options(populate_existing=True)
    return one_or_404(s, q, missing, field=field, lock=lock)


def paged(
    q: Select[tuple[Row]],
    id_column: Any,
    *,
    after: int | None,
    limit: int | None,
    newest_first: bool = False,
):
    """``q`` in id order from the row after ``after`` (a cursor: the last id already seen),
    at most ``limit`` rows; ``newest_first``: in falling id order, from below ``after``."""
    if newest_first:
        if after is not None:
            q = q.where(id_column < after)
        q = q.order_by(id_column.desc())
    else:
        if after is not None:
            q = q.where(id_column > after)
        q = q.order_by(id_column)
    return q.limit(limit) if limit is not None else q


def cut(rows: Sequence[Row], limit: int) -> tuple[Sequence[Row], int | None]:
    """Rows fetched one more than a page (``limit + 1``, to know whether more come) as the
    page and the cursor for the next one: the id of the page's last row when more came, else
    ``None``."""
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit and page else None)


def of_organization(subscriber_column: Any, organization_id: int | None) -> Any:
    """The condition that ``subscriber_column`` is the organization or one of the persons and
    devices registered under it (``Subscriber.organization_id``); ``None``: no condition."""
    if organization_id is None:
        return true()
    members = select(Subscriber.id).where(
        or_(Subscriber.id == organization_id, Subscriber.organization_id == organization_id)
    )
    return subscriber_column.in_(members)


def holder_organization(holder: Subscriber) -> int:
    """The organization a row held by ``holder`` counts toward (``organization_id`` of a
    certificate or a seal): the one the holder is registered under, or the holder itself when
    under none (an organization, a person on their own). A holder's organization is set when
    it is registered and never changes, so the value is kept on the row, not looked up."""
    return holder.id if holder.organization_id is None else holder.organization_id


def of_organization_held(s: Session, model: Any, organization_id: int | None) -> Any:
    """The rows of ``model`` (certificates, seals: a ``subscriber_id`` and the
    ``organization_id`` ``holder_organization`` gave) that ``of_organization`` keeps, as one
    condition an index on ``(organization_id, id)`` serves in id order: an organization's own
    and its members' rows are a range of that index, where "the holder is one of these 2 000
    subscribers" made each page read and sort all of them.

    ``organization_id`` may name any subscriber (a person's own session lists through it). A
    member of an organization (registered under it) has no members of its own, so its rows
    are those it holds, while its ``organization_id`` column names its organization: for it
    the condition is the holder's. For anyone else — an organization, a person on their own,
    an id of nobody — the column is the holder's own id or an organization's: the two agree.
    ``None``: no condition."""
    if organization_id is None:
        return true()
    above = s.execute(
        select(Subscriber.organization_id).where(Subscriber.id == organization_id)
    ).first()
    if above is not None and above[0] is not None:
        return model.subscriber_id == organization_id
    return model.organization_id == organization_id
