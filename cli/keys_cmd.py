"""``quire keys``: create, list, revoke and rotate API keys, straight in the database.

    KEY=$(quire keys create --tenant acme --scope read --expires-in-days 90)
    quire keys list --tenant acme
    quire keys revoke 6f1c...        # API processes refuse it within QUIRE_API_KEY_CACHE_SECONDS
    NEW=$(quire keys rotate 6f1c...) # same tenant, name, scopes and expiry; the old one revoked

A new key is printed alone on stdout (everything else goes to stderr), and only once: the
database keeps its HMAC. Errors (unknown key, key already revoked, bad input) exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.key_scopes import KeyScope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from shared.db.models import ApiKey
    from shared.settings import Settings

# (heading, field of key_fields) of each column of ``keys list``.
TABLE_COLUMNS = (
    ("ID", "id"),
    ("TENANT", "tenant"),
    ("PREFIX", "prefix"),
    ("NAME", "name"),
    ("SCOPES", "scopes"),
    ("CREATED", "created_at"),
    ("EXPIRES", "expires_at"),
    ("LAST USED", "last_used_at"),
    ("REVOKED", "revoked_at"),
)


@dataclass
class Output:
    """What a command prints once its transaction has committed."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``keys`` command and its actions to the ``quire`` parser's subcommands."""
    keys = subparsers.add_parser("keys", help="API keys: create, list, revoke, rotate")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="issue a key (printed once, alone on stdout)")
    create.add_argument("--tenant", required=True, help="tenant name (created if new)")
    create.add_argument("--name", default="", help="a label for the key")
    create.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        choices=[scope.value for scope in KeyScope],
        help="what the key may do (repeatable; default: submit and read)",
    )
    _expiry_option(create, "days until the key stops working (default: never)")
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    rotate = actions.add_parser("rotate", help="replace a key; prints the new one on stdout")
    rotate.add_argument("key_id")
    _expiry_option(rotate, "days the new key lasts (default: the old key's expiry)")


def _expiry_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--expires-in-days", type=int, metavar="DAYS", help=text)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``keys`` action in one transaction, then print what it produced.

    Returns:
        0 on success; 1 when the key is unknown or already revoked or the input is refused.
    """
    from shared.db.session import build_engine, build_sessionmaker, transaction
    from shared.errors import QuireError

    action = ACTIONS[args.action]
    engine = build_engine(settings.effective_database_url)
    try:
        with transaction(build_sessionmaker(engine)) as session:
            output = action(session, args, settings)
    except QuireError as e:
        print(f"quire keys {args.action}: {e.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    for line in output.stdout:
        print(line)
    for line in output.stderr:
        print(line, file=sys.stderr)
    return 0


def create_key(session: Session, args: argparse.Namespace, settings: Settings) -> Output:
    """``keys create``: the key on stdout, its id and the tenant's webhook secret on stderr."""
    from shared.db.models import utcnow
    from shared.key_lifecycle import KeySpec, expiry_after, issue_key
    from shared.key_scopes import DEFAULT_SCOPES, to_scopes
    from shared.secret_box import SecretBox
    from shared.tenancy import ensure_tenant
    from shared.webhook_events import ensure_secret

    tenant = ensure_tenant(session, args.tenant)
    spec = KeySpec(
        name=args.name,
        scopes=to_scopes(args.scopes) if args.scopes else DEFAULT_SCOPES,
        expires_at=expiry_after(args.expires_in_days, utcnow()),
    )
    row, key = issue_key(session, tenant.id, settings.secret_key, spec)
    secret = ensure_secret(session, tenant.id, SecretBox(settings.secret_key))
    return Output(
        # Alone on stdout, so KEY=$(quire keys create ...) works.
        stdout=[key],
        stderr=[
            f"key {row.id} of {args.tenant!r}: {_describe(row)}",
            f"webhook signing secret of {args.tenant!r}: {secret}",
        ],
    )


def list_all(session: Session, args: argparse.Namespace, settings: Settings) -> Output:
    """``keys list``: a table (or JSON) of keys, newest first, secrets never shown."""
    from sqlalchemy import select

    from shared.db.models import Tenant
    from shared.errors import NotFound
    from shared.key_lifecycle import list_keys

    tenant_id = None
    if args.tenant is not None:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == args.tenant))
        if tenant_id is None:
            raise NotFound(f"no tenant {args.tenant!r}")
    rows = [key_fields(row) for row in list_keys(session, tenant_id)]
    if args.json:
        return Output(stdout=[json.dumps(rows, indent=2)])
    return Output(stdout=key_table(rows))


def revoke(session: Session, args: argparse.Namespace, settings: Settings) -> Output:
    """``keys revoke``: the key stops working within ``QUIRE_API_KEY_CACHE_SECONDS``."""
    from shared.key_lifecycle import revoke_key

    row = revoke_key(session, args.key_id)
    return Output(
        stderr=[
            f"revoked key {row.id} ({row.prefix}…) of {row.tenant.name!r}; API processes refuse "
            f"it within {settings.api_key_cache_seconds:g} s (QUIRE_API_KEY_CACHE_SECONDS)"
        ]
    )


def rotate(session: Session, args: argparse.Namespace, settings: Settings) -> Output:
    """``keys rotate``: the new key on stdout; the old one is revoked."""
    from shared.key_lifecycle import rotate_key

    row, key = rotate_key(
        session, args.key_id, settings.secret_key, expires_in_days=args.expires_in_days
    )
    return Output(
        stdout=[key],
        stderr=[
            f"key {row.id} of {row.tenant.name!r} replaces {args.key_id}, now revoked: "
            f"{_describe(row)}"
        ],
    )


ACTIONS: dict[str, Callable[[Session, argparse.Namespace, Settings], Output]] = {
    "create": create_key,
    "list": list_all,
    "revoke": revoke,
    "rotate": rotate,
}


def key_fields(row: ApiKey) -> dict[str, Any]:
    """A key as ``keys list --json`` shows it: the API's field names, the tenant's name,
    times in ISO 8601 UTC (null when unset)."""
    from shared.key_scopes import parse_scopes

    return {
        "id": row.id,
        "tenant": row.tenant.name,
        "prefix": row.prefix,
        "name": row.name,
        "scopes": sorted(parse_scopes(row.scopes)),
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
        "last_used_at": _iso(row.last_used_at),
        "revoked_at": _iso(row.revoked_at),
    }


def key_table(rows: list[dict[str, Any]]) -> list[str]:
    """Aligned text columns under a heading line, one key per line."""
    cells = [[heading for heading, _ in TABLE_COLUMNS]]
    cells += [[_cell(name, row[name]) for _, name in TABLE_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(TABLE_COLUMNS))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]


def _cell(name: str, value: Any) -> str:
    if name == "scopes":
        return ",".join(value)
    if name == "expires_at" and value is None:
        return "never"
    if value is None or value == "":
        return "-"
    if name.endswith("_at"):
        return str(value)[:16].replace("T", " ") + "Z"  # to the minute, UTC
    return str(value)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _describe(row: ApiKey) -> str:
    from shared.key_scopes import parse_scopes

    scopes = ", ".join(sorted(parse_scopes(row.scopes)))
    expiry = f"expires {row.expires_at.isoformat()}" if row.expires_at else "no expiry"
    return f"scopes {scopes}; {expiry}"
