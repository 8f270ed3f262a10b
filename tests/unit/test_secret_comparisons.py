"""Secrets are compared in constant time: no ``==`` on keys, signatures, tokens or digests."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "shared", "worker", "cli", "quire_client")
SECRETISH = re.compile(r"key|signature|token|secret|digest|hash|password|credential", re.I)
# (file, comparison) -> why it is not a secret compared in Python.
NOT_SECRETS = {
    ("api/deps.py", "ApiKey.key_hash == digest"): "SQL lookup by a keyed hash of the key",
    ("api/deps.py", "ApiKey.tenant_id == Tenant.id"): "SQL join on ids",
    ("shared/tenancy.py", "ApiKey.key_hash == hash_key(key, secret)"): "SQL lookup by hash",
    ("shared/webhook_events.py", "WebhookSecret.tenant_id == tenant_id"): "SQL filter on ids",
    ("worker/engines/model_source.py", "key == prefix"): "an S3 object key",
    ("quire_client/state.py", "self.signature == signature"): "size/mtime of an input file",
    ("shared/purge.py", "Batch.source_key == batch.source_key"): "SQL filter on object keys",
    ("shared/purge.py", "IdempotencyKey.resource_id == batch.id"): "SQL filter on ids",
    ("shared/purge.py", "Upload.key == batch.source_key"): "SQL filter on object keys",
    ("shared/storage/s3.py", 't["Key"] == full'): "an S3 object key",
    ("api/caller.py", "caller.key_id == key_id"): "ids of API key rows",
    ("api/key_usage.py", "ApiKey.id == key_id"): "SQL filter on ids",
    ("shared/key_lifecycle.py", "ApiKey.tenant_id == tenant_id"): "SQL filter on ids",
    ("api/idempotency.py", "IdempotencyKey.key == claim.key"): "SQL lookup; the client's key",
    ("api/idempotency.py", "IdempotencyKey.tenant_id == claim.tenant_id"): "SQL filter on ids",
    ("api/idempotency.py", "row.request_hash != claim.request_hash"): "SHA-256 of the request",
    ("worker/prepare.py", "image_key != job.source_key"): "object keys",
    ("api/listing_filters.py", "table.metadata_[key].as_string() == value"): "SQL filter on a "
    "metadata key's value",
}


def secret_comparisons(
    root: Path = REPO, packages: tuple[str, ...] = PACKAGES
) -> set[tuple[str, str]]:
    """Every ``==``/``!=`` in the packages whose source names something secret-like."""
    found = set()
    for package in packages:
        for path in (root / package).rglob("*.py"):
            source = path.read_text()
            for node in ast.walk(ast.parse(source)):
                if not isinstance(node, ast.Compare):
                    continue
                if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                    continue
                segment = ast.get_source_segment(source, node) or ""
                if SECRETISH.search(segment):
                    found.add((path.relative_to(root).as_posix(), segment))
    return found


def test_no_secret_is_compared_with_equals() -> None:
    unexplained = secret_comparisons() - NOT_SECRETS.keys()
    assert unexplained == set(), "compare secrets with hmac.compare_digest"


def test_the_allow_list_has_no_stale_entries() -> None:
    assert NOT_SECRETS.keys() - secret_comparisons() == set()


def test_the_scan_finds_a_plain_comparison(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    source = "def ok(given, expected_signature):\n    return given == expected_signature\n"
    (tmp_path / "pkg" / "verify.py").write_text(source)
    found = secret_comparisons(tmp_path, ("pkg",))
    assert found == {("pkg/verify.py", "given == expected_signature")}
