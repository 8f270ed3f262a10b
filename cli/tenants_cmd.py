"""``quire tenants``: list tenants and set how long their finished work is kept.

    quire tenants list
    quire tenants retention --tenant acme --days 30       # purged 30 days after it ends
    quire tenants retention --tenant acme --days none     # kept until deleted
    quire tenants retention --tenant acme --days default  # follow QUIRE_RETENTION_DAYS
    quire tenants retention --tenant acme                 # show it

The sweeper purges what is due (``QUIRE_PURGE_INTERVAL_SECONDS``) and writes a receipt for
each purge, listed at ``GET /v1/purges``. Errors (unknown tenant, bad days) exit 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from shared.db.models import Tenant
    from shared.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``tenants`` command and its actions to the ``quire`` parser's subcommands."""
    tenants = subparsers.add_parser("tenants", help="tenants: list, retention")
    actions = tenants.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="tenants with their retention")
    retention = actions.add_parser("retention", help="show or set a tenant's retention")
    retention.add_argument("--tenant", required=True, help="tenant name")
    retention.add_argument(
        "--days", help="N (days after a job or batch ends), none (forever) or default"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``tenants`` action in one transaction, then print its lines.

    Returns:
        0 on success; 1 when the tenant is unknown or ``--days`` is refused.
    """
    from shared.db.session import build_engine, build_sessionmaker, transaction
    from shared.errors import QuireError

    engine = build_engine(settings.effective_database_url)
    try:
        with transaction(build_sessionmaker(engine)) as session:
            if args.action == "list":
                lines = list_tenants(session, settings.retention_days)
            else:
                lines = [retention(session, args.tenant, args.days, settings.retention_days)]
    except QuireError as e:
        print(f"quire tenants {args.action}: {e.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    for line in lines:
        print(line)
    return 0


def retention(session: Session, name: str, days: str | None, default_days: int) -> str:
    """Set the tenant's retention when ``days`` is given; describe it either way.

    Raises:
        NotFound: No tenant has that name.
        InvalidRequest: ``days`` is not N, none or default.
    """
    from sqlalchemy import select

    from shared.db.models import Tenant
    from shared.errors import NotFound
    from shared.retention import parse_days, set_retention

    if days is not None:
        tenant = set_retention(session, name, parse_days(days))
    else:
        found = session.scalar(select(Tenant).where(Tenant.name == name))
        if found is None:
            raise NotFound(f"no tenant {name!r}")
        tenant = found
    return f"{tenant.name}: {describe(tenant, default_days)}"


def list_tenants(session: Session, default_days: int) -> list[str]:
    """One line per tenant, by name: name, id and retention."""
    from sqlalchemy import select

    from shared.db.models import Tenant

    tenants = session.scalars(select(Tenant).order_by(Tenant.name)).all()
    rows = [("NAME", "ID", "RETENTION")]
    rows += [(t.name, t.id, describe(t, default_days)) for t in tenants]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return [f"{n.ljust(widths[0])}  {i.ljust(widths[1])}  {r}" for n, i, r in rows]


def describe(tenant: Tenant, default_days: int) -> str:
    """``30 days``, ``forever``, with ``(default)`` when it follows QUIRE_RETENTION_DAYS."""
    from shared.retention import retention_of

    policy = retention_of(tenant, default_days)
    text = "forever" if policy.days is None else f"{policy.days} days"
    return f"{text} (default)" if policy.from_default else text
