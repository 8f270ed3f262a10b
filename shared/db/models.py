"""SQLAlchemy 2.0 models: the database is the system of record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.key_scopes import DEFAULT_SCOPES_TEXT
from shared.settings import DuplicatePolicy


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the models use."""
    return datetime.now(UTC)


def new_id() -> str:
    """A random UUID4 as text; ids never reveal counts or order."""
    return str(uuid.uuid4())


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use shared.db.models.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


# Statuses of a job not yet finished; a partial index keeps each tenant's such jobs at hand.
JOBS_IN_FLIGHT = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
IN_FLIGHT_SQL = "status IN ({})".format(", ".join(f"'{s}'" for s in JOBS_IN_FLIGHT))


class PageStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"  # dropped without running: its job was canceled while it waited

    @property
    def terminal(self) -> bool:
        return self in (PageStatus.SUCCEEDED, PageStatus.FAILED, PageStatus.CANCELED)


class Priority(StrEnum):
    INTERACTIVE = "interactive"
    BULK = "bulk"


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads it as a class attribute
        dict[str, Any]: JSON,
        list[dict[str, Any]]: JSON,
        datetime: UtcDateTime(),
    }


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Days finished work is kept (shared.retention): None follows QUIRE_RETENTION_DAYS, 0 forever.
    retention_days: Mapped[int | None] = mapped_column(Integer, default=None)
    # The models a job without a ``model`` uses (a trained model's id or a shipped model's
    # name, shared.model_registry); None: the worker's configured engine.
    default_detector: Mapped[str | None] = mapped_column(String(200), default=None)
    default_recognizer: Mapped[str | None] = mapped_column(String(200), default=None)

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="tenant")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # HMAC-SHA256 of the key under the server secret; the key itself is never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    # Space-separated scope names (shared.key_scopes); keys older than scopes: read submit.
    scopes: Mapped[str] = mapped_column(
        String(200), default=DEFAULT_SCOPES_TEXT, server_default=DEFAULT_SCOPES_TEXT
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # Written at most once a minute per key (api.key_usage), not on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    tenant: Mapped[Tenant] = relationship(back_populates="api_keys")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_tenant_created", "tenant_id", "created_at"),
        Index(
            "ix_jobs_tenant_in_flight",
            "tenant_id",
            postgresql_where=text(IN_FLIGHT_SQL),
            sqlite_where=text(IN_FLIGHT_SQL),
        ),
        # The sweeper's retention pass: a tenant's jobs finished before a cutoff.
        Index("ix_jobs_tenant_finished", "tenant_id", "finished_at"),
        # Duplicate uploads are looked up per tenant, never across tenants (shared/duplicates.py).
        Index("ix_jobs_tenant_content", "tenant_id", "content_sha256"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    priority: Mapped[str] = mapped_column(String(16), default=Priority.INTERACTIVE.value)
    source_key: Mapped[str] = mapped_column(String(512))
    media_type: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(512), default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    pages_total: Mapped[int] = mapped_column(Integer, default=0)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    pages_failed: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    callback_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    batch_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    # The models asked for at submit, resolved: {"detector": ref, "recognizer": ref}, each a
    # trained model's id or a shipped model's name, or None for the worker's own engine stage.
    model_choice: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The CPU worker splitting it into pages, and since when (worker/reclaim.py).
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    # SHA-256 (hex) of the uploaded file's bytes, as received, before any preprocessing.
    content_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    # The earlier job whose result this one copied (on_duplicate=reuse); it may since be gone.
    duplicate_of: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    pages: Mapped[list[Page]] = relationship(
        back_populates="job", order_by="Page.index", cascade="all, delete-orphan"
    )


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("job_id", "index", name="uq_pages_job_index"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PageStatus.QUEUED.value, index=True)
    image_key: Mapped[str] = mapped_column(String(512))
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    lines: Mapped[list[dict[str, Any]] | None] = mapped_column(default=None)
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The worker process running it (its heartbeat name); when the heartbeat stops, the
    # sweeper hands the page back (worker/reclaim.py). None: claimed by an unnamed process.
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # Marked reviewed by a person (the web UI or PATCH ... /review); None: not reviewed.
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    reviewed_by: Mapped[str | None] = mapped_column(String(200), default=None)

    job: Mapped[Job] = relationship(back_populates="pages")


class BatchStatus(StrEnum):
    INGESTING = "ingesting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self not in (BatchStatus.INGESTING, BatchStatus.RUNNING)


class Batch(Base):
    """Many documents submitted together: an archive read on the CPU queue, or files."""

    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.INGESTING.value)
    priority: Mapped[str] = mapped_column(String(16), default=Priority.BULK.value)
    # The archive in the store; None for a batch of files sent in one request.
    source_key: Mapped[str | None] = mapped_column(String(512), default=None)
    filename: Mapped[str] = mapped_column(String(512), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    callback_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    items_total: Mapped[int] = mapped_column(Integer, default=0)
    items_skipped: Mapped[int] = mapped_column(Integer, default=0)
    # Ingest resumes at this member sequence number after a crash or a time slice.
    next_seq: Mapped[int] = mapped_column(Integer, default=0)
    # What a member with the content of an earlier upload does (shared.settings.DuplicatePolicy).
    on_duplicate: Mapped[str] = mapped_column(
        String(16),
        default=DuplicatePolicy.PROCESS.value,
        server_default=DuplicatePolicy.PROCESS.value,
    )
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    # The models its jobs use (as Job.model_choice), resolved at submit.
    model_choice: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The CPU worker reading its archive, and since when (worker/reclaim.py).
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ingested_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class BatchItem(Base):
    """One member of a batch: the job made of it, or why it was skipped."""

    __tablename__ = "batch_items"
    __table_args__ = (UniqueConstraint("batch_id", "seq", name="uq_batch_items_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024))
    job_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    skip_code: Mapped[str | None] = mapped_column(String(64), default=None)
    skip_reason: Mapped[str | None] = mapped_column(Text, default=None)


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` and what its first request made; the unique
    (tenant, key) constraint decides between concurrent requests with the same key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key", name="uq_idempotency_tenant_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the route, the form fields or JSON body, and the files' bytes.
    request_hash: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(16))  # "job" or "batch"
    resource_id: Mapped[str] = mapped_column(String(36), index=True)
    status_code: Mapped[int] = mapped_column(Integer, default=202)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class UploadStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"


class Upload(Base):
    """A large file sent straight to the object store with presigned URLs."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=UploadStatus.PENDING.value)
    key: Mapped[str] = mapped_column(String(512))
    filename: Mapped[str] = mapped_column(String(512), default="")
    content_type: Mapped[str] = mapped_column(String(128), default="application/octet-stream")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(BigInteger)
    # The S3 multipart upload id; None for a single PUT or the local store.
    multipart_id: Mapped[str | None] = mapped_column(String(1024), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    DISABLED = "disabled"


class WebhookSecret(Base):
    """A tenant's signing secret; during a rotation the previous one stays valid until
    ``expires_at``, and deliveries carry a signature for each valid secret."""

    __tablename__ = "webhook_secrets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # Sealed under a key derived from QUIRE_SECRET_KEY (shared/secret_box.py).
    secret: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookDelivery(Base):
    """One event for one endpoint (the outbox row); its id is the stable ``webhook-id``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("job_id", "event_type", name="uq_delivery_job_event"),
        UniqueConstraint("batch_id", "event_type", name="uq_delivery_batch_event"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    batch_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)

    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        order_by="WebhookAttempt.number", cascade="all, delete-orphan"
    )


class WebhookAttempt(Base):
    """One try at sending a delivery, for the delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class DisabledEndpoint(Base):
    """A callback URL that answered 410 Gone: no more deliveries go to it."""

    __tablename__ = "disabled_endpoints"
    __table_args__ = (UniqueConstraint("tenant_id", "url", name="uq_disabled_endpoint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    reason: Mapped[str] = mapped_column(Text, default="")
    disabled_at: Mapped[datetime] = mapped_column(default=utcnow)


class PurgeReceipt(Base):
    """What one purge removed, kept after the data is gone: counts and hashes, no content.

    No foreign key to the tenant: the receipt certifies a deletion and outlives what it names.
    """

    __tablename__ = "purge_receipts"
    __table_args__ = (
        Index("ix_purge_receipts_tenant_requested", "tenant_id", "requested_at", "id"),
        Index("ix_purge_receipts_resource", "resource_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(36))
    resource: Mapped[str] = mapped_column(String(16))  # "job" or "batch"
    resource_id: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(16))  # shared.purge.PurgeReason
    # The policy that made it due (reason "retention"); None for a delete.
    retention_days: Mapped[int | None] = mapped_column(Integer, default=None)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the rows are gone; None while a big batch is purged chunk by chunk.
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    objects_deleted: Mapped[int] = mapped_column(Integer, default=0)
    jobs_deleted: Mapped[int] = mapped_column(Integer, default=0)
    pages_deleted: Mapped[int] = mapped_column(Integer, default=0)


class PurgedObject(Base):
    """One object a purge removed, named only by the SHA-256 of its key."""

    __tablename__ = "purged_objects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    receipt_id: Mapped[str] = mapped_column(
        ForeignKey("purge_receipts.id", ondelete="CASCADE"), index=True
    )
    key_sha256: Mapped[str] = mapped_column(String(64))


class LineCorrection(Base):
    """One edit of a recognized line's text: a new version, kept with who made it and when.
    The line's current text is the newest version's ``text_after``."""

    __tablename__ = "line_corrections"
    __table_args__ = (Index("ix_line_corrections_page_line", "page_id", "line_index", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    page_id: Mapped[str] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    line_index: Mapped[int] = mapped_column(Integer)
    text_before: Mapped[str] = mapped_column(Text)
    text_after: Mapped[str] = mapped_column(Text)
    # The engine's model that produced the line's original text (the page's model).
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    key_id: Mapped[str | None] = mapped_column(String(36), default=None)
    author: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UiSession(Base):
    """A web UI sign-in: the browser holds a random token in an HttpOnly cookie, the server
    only its SHA-256, with the API key it was made from and the CSRF token of its forms."""

    __tablename__ = "ui_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 (hex) of the token
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class DatasetStatus(StrEnum):
    IMPORTING = "importing"
    READY = "ready"
    FAILED = "failed"


class Dataset(Base):
    """Ground truth a tenant sent (an archive of page images with PAGE XML or ALTO, or a
    batch's corrected pages), imported on the CPU queue; ``stats`` once it is ready."""

    __tablename__ = "datasets"
    __table_args__ = (Index("ix_datasets_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=DatasetStatus.IMPORTING.value)
    source_key: Mapped[str | None] = mapped_column(String(512), default=None)
    filename: Mapped[str] = mapped_column(String(512), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    content_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    from_batch_id: Mapped[str | None] = mapped_column(String(36), default=None)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    problems: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)


class TrainingStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    DID_NOT_CONVERGE = "did_not_converge"

    @property
    def terminal(self) -> bool:
        return self not in (TrainingStatus.QUEUED, TrainingStatus.RUNNING)


class Training(Base):
    """One training run on the ``train`` queue: its options, its lease, every epoch's figures."""

    __tablename__ = "trainings"
    __table_args__ = (Index("ix_trainings_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # detector | recognizer
    family: Mapped[str] = mapped_column(String(16))  # yolo | crnn
    name: Mapped[str] = mapped_column(String(200))  # the model's name in the registry
    dataset_id: Mapped[str | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), default=None
    )
    validation_dataset_id: Mapped[str | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), default=None
    )
    validation_fraction: Mapped[float] = mapped_column(Float, default=0.1)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    base_model: Mapped[str | None] = mapped_column(String(200), default=None)
    max_epochs: Mapped[int] = mapped_column(Integer, default=30)
    max_minutes: Mapped[float | None] = mapped_column(Float, default=None)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=TrainingStatus.QUEUED.value, index=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    stopped: Mapped[str | None] = mapped_column(String(32), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The worker running it and until when; a lapsed lease hands it to the next worker.
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    checkpoint_key: Mapped[str | None] = mapped_column(String(512), default=None)
    model_id: Mapped[str | None] = mapped_column(String(36), default=None)
    callback_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class TrainedModel(Base):
    """A model version a tenant's training made: its weights in the store, figures, lineage."""

    __tablename__ = "trained_models"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", "version", name="uq_trained_models_version"),
        UniqueConstraint("training_id", name="uq_trained_models_training"),
        Index("ix_trained_models_tenant", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    family: Mapped[str] = mapped_column(String(16))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str] = mapped_column(String(512))
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    training_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
