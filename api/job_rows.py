"""Writing a submission's rows: its job, the first page of a one-page image, and the
idempotency key it came with.

The submit path is the API's hottest, and on PostgreSQL every statement is a round trip,
with BEGIN and COMMIT besides when there are several. Most submissions are a one-page image
without an idempotency key: on PostgreSQL their job and page go in one statement (a
data-modifying CTE), atomic by itself, so it needs neither BEGIN nor COMMIT. SQLite and the
other cases insert row by row in one transaction. The statements take their values as
parameters, so each is compiled once and then reused from SQLAlchemy's cache.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Engine, bindparam, insert, select

from api.idempotency import IdempotencyClaim
from shared.db.models import Base, IdempotencyKey, Job, Page, PageStatus, new_id
from shared.db.session import connection

JOBS, PAGES = Base.metadata.tables["jobs"], Base.metadata.tables["pages"]
# The columns of a first page given a value; the rest are NULL (and job_id is the job's).
FIRST_PAGE_COLUMNS = ("id", "index", "status", "image_key", "attempts", "created_at")


def _job_with_first_page() -> Any:
    new_job = (
        insert(JOBS)
        .values({c.name: bindparam(f"job_{c.name}", type_=c.type) for c in JOBS.columns})
        .returning(JOBS.c.id)
        .cte("new_job")
    )
    page: dict[str, ColumnElement[Any]] = {
        name: bindparam(f"page_{name}", type_=PAGES.c[name].type) for name in FIRST_PAGE_COLUMNS
    }
    page["job_id"] = new_job.c.id
    return (
        insert(PAGES)
        .from_select(list(page), select(*page.values()), include_defaults=False)
        .add_cte(new_job)
    )


# PostgreSQL: the job, and its page from the job the CTE inserted, in one statement.
JOB_WITH_FIRST_PAGE = _job_with_first_page()


def insert_job_rows(
    engine: Engine, job: Job, *, first_page: bool, claim: IdempotencyClaim | None
) -> None:
    """Insert ``job`` (every column set), its page 0 when ``first_page``, and ``claim``'s
    idempotency key, all or nothing."""
    job_values = row_values(job)
    page_values = first_page_values(job) if first_page else None
    if page_values is not None and claim is None and engine.dialect.name == "postgresql":
        params = {f"job_{name}": value for name, value in job_values.items()}
        params.update({f"page_{name}": page_values[name] for name in FIRST_PAGE_COLUMNS})
        with connection(engine, autocommit=True) as conn:
            conn.execute(JOB_WITH_FIRST_PAGE, params)
        return
    rows: list[tuple[type[Base], dict[str, Any]]] = [(Job, job_values)]
    if page_values is not None:
        rows.append((Page, page_values))
    if claim is not None:
        rows.append((IdempotencyKey, claim.values("job", job.id)))
    # One statement needs no BEGIN (on PostgreSQL).
    with connection(engine, autocommit=len(rows) == 1) as conn:
        for table, values in rows:
            conn.execute(insert(table), values)
        conn.commit()


def row_values(job: Job) -> dict[str, Any]:
    """A job's column values by column name, for a Core insert."""
    return {prop.columns[0].name: getattr(job, prop.key) for prop in Job.__mapper__.column_attrs}


def first_page_values(job: Job) -> dict[str, Any]:
    """The queued page of a one-page job: the source image itself, not yet tried."""
    return {
        "id": new_id(),
        "job_id": job.id,
        "index": 0,
        "status": PageStatus.QUEUED.value,
        "image_key": job.source_key,
        "attempts": 0,
        "created_at": job.created_at,
    }
