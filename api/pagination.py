"""Keyset pagination, newest first: opaque cursors over a (timestamp, id) ordering.

A cursor names the last row of the page it ended, so rows added since do not shift the
next page (as an offset would), and a cursor made for one listing is refused by another.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Query
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from shared.errors import InvalidRequest

MAX_PAGE = 200
DEFAULT_PAGE = 50

CursorQuery = Annotated[str | None, Query(description="`next_cursor` of the previous page")]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows a page (at most 200)")]

Row = TypeVar("Row")


def encode_cursor(kind: str, moment: datetime, row_id: str) -> str:
    """An opaque cursor after the row (``moment``, ``row_id``) of a ``kind`` listing."""
    text = f"{kind}:{moment.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> tuple[datetime, str]:
    """The (moment, id) a cursor points after; 422 if it was not made for ``kind``."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, _, rest = text.partition(":")
        moment, _, row_id = rest.partition("|")
        if found != kind or not row_id:
            raise ValueError(text)
        return datetime.fromisoformat(moment), row_id
    except ValueError as e:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise InvalidRequest("invalid cursor") from e


def newest_first(
    session: Session,
    query: Select[Row],
    *,
    kind: str,
    moment: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[str],
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Row], str | None]:
    """One page of ``query``'s rows, newest first by ``moment`` then ``row_id``, and the
    cursor of the next page (None on the last)."""
    if cursor is not None:
        after, after_id = decode_cursor(kind, cursor)
        query = query.where(or_(moment < after, and_(moment == after, row_id < after_id)))
    rows = session.scalars(query.order_by(moment.desc(), row_id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    return page, encode_cursor(kind, getattr(last, moment.key), str(getattr(last, row_id.key)))
