"""One typed settings object per process, read from ``QUIRE_*`` environment variables."""

from __future__ import annotations

import hmac
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
MIN_SECRET_KEY_LENGTH = 32
# Redis visibility timeout must outlast the longest task, or a slow page is handed to a
# second worker while the first still runs it.
VISIBILITY_TIMEOUT_FACTOR = 3


class Mode(StrEnum):
    """Where the process runs; ``local`` allows embedded, insecure defaults."""

    LOCAL = "local"
    PRODUCTION = "production"


class StoreBackend(StrEnum):
    """Object store implementation, chosen by name."""

    LOCAL = "local"
    S3 = "s3"


class DuplicatePolicy(StrEnum):
    """What a submission does with a file the tenant uploaded before (same SHA-256)."""

    PROCESS = "process"  # run OCR again, as for any new file
    REUSE = "reuse"  # a new job, at once succeeded, with the earlier job's result copied
    REJECT = "reject"  # 409 duplicate_upload; an archive member is skipped (duplicate_content)


class Settings(BaseSettings):
    """Settings shared by the API, the workers and the CLI.

    Build it once at process start (``Settings()``) and pass it down; nothing reads the
    environment at import time.
    """

    # An empty variable (``QUIRE_VISIBILITY_TIMEOUT=`` as .env.example writes it) means unset.
    model_config = SettingsConfigDict(
        env_prefix="QUIRE_", env_file=None, extra="ignore", env_ignore_empty=True
    )

    mode: Mode = Mode.LOCAL
    data_dir: Path = Field(Path(".quire"), description="Local state: SQLite file, objects, keys.")
    secret_key: str = Field(
        DEV_SECRET_KEY, description="Pepper for API key hashes; seals webhook secrets."
    )

    database_url: str | None = Field(None, description="SQLAlchemy URL; SQLite under data_dir.")
    redis_url: str | None = Field(None, description="Celery broker; `quire run` embeds one.")

    store_backend: StoreBackend = StoreBackend.LOCAL
    store_dir: Path | None = Field(None, description="Local store root; data_dir/objects.")
    s3_bucket: str = "quire"
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_multipart_threshold_mb: int = Field(16, ge=5)

    max_upload_mb: int = Field(50, ge=1)
    max_image_pixels: int = Field(100_000_000, ge=1_000_000)
    pdf_dpi: int = Field(200, ge=36, le=600, description="PDF pages are rendered at this DPI.")
    max_document_pages: int = Field(1000, ge=1, description="Pages per PDF or TIFF.")

    max_batch_upload_mb: int = Field(1024, ge=1, description="Archive sent through the API.")
    max_presigned_upload_gb: int = Field(100, ge=1, description="Presigned upload size cap.")
    upload_part_mb: int = Field(64, ge=5, description="Part size of presigned uploads.")
    upload_url_expiry_seconds: int = Field(3600, ge=60)
    ui_presigned_above_mb: int = Field(
        32, ge=0, description="The web UI sends a single file larger than this presigned."
    )
    archive_max_members: int = Field(100_000, ge=1, description="Members read per archive.")
    archive_max_member_mb: int = Field(200, ge=1, description="Uncompressed, per member.")
    archive_max_total_gb: int = Field(50, ge=1, description="Uncompressed, whole archive.")
    archive_max_ratio: float = Field(200.0, gt=1.0, description="Member compression ratio cap.")
    ingest_slice_seconds: float = Field(60.0, gt=0, description="Ingest hands over after this.")

    engine: str = Field(
        "mixed", description="mixed, ppocr, quire, ppocr-crnn, yolo-trocr or ppocr-trocr."
    )
    detector_model: str | None = Field(
        None, description="YOLO .pt: a shipped model's name, path, s3://, or hub id."
    )
    recognizer_model: str | None = Field(
        None, description="CRNN .pt or TrOCR folder: shipped name, path, s3://, hub id."
    )
    model_cache_dir: Path | None = Field(None, description="S3 model cache; data_dir/models.")
    builtin_models_dir: Path | None = Field(
        None, description="The models quire ships; default: the checkout's models/."
    )
    device: str = Field("auto", description="auto (cuda when present), cpu or cuda.")
    detector_confidence: float = Field(0.25, ge=0.0, le=1.0)
    detector_iou: float = Field(0.45, gt=0.0, le=1.0)
    detector_image_size: int = Field(640, ge=32)
    detector_batch_size: int = Field(8, ge=1)
    recognizer_batch_size: int = Field(32, ge=1)
    recognizer_decoding: str = Field("greedy", pattern="^(greedy|beam)$")
    recognizer_num_beams: int = Field(4, ge=1)
    recognizer_max_new_tokens: int = Field(64, ge=1)
    recognizer_min_new_tokens: int = Field(0, ge=0, description="Benchmarks fix the length.")
    batch_max_wait_ms: int = Field(20, ge=0, description="Longest wait to fill a batch.")
    gpu_concurrency: int = Field(4, ge=1, description="Pages in flight per GPU worker.")
    crnn_lm_weight: float = Field(
        0.5, ge=0.0, le=5.0, description="CRNN: weight of its character LM; 0 = greedy decoding."
    )
    crnn_lm_length_bonus: float = Field(
        2.0, ge=0.0, le=10.0, description="CRNN: score bonus per character in the beam search."
    )
    crnn_beam_width: int = Field(8, ge=1, le=64, description="CRNN: prefixes kept per frame.")
    ppocr_unclip_ratio: float = Field(
        1.6, gt=1.0, le=4.0, description="PP-OCR detector: how far a text region is grown."
    )
    ppocr_box_threshold: float = Field(
        0.4, gt=0.0, lt=1.0, description="PP-OCR detector: mean probability to keep a line."
    )
    ppocr_dilation: bool = Field(
        True, description="PP-OCR detector: dilate the probability map (joins cursive)."
    )
    ppocr_min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    ppocr_threads: int = Field(
        1, ge=0, le=256, description="PP-OCR: ONNX Runtime threads per model; 0 = one per core."
    )
    ppocr_recognizer: Literal["ppocrv6-small", "ppocrv5-mobile"] = Field(
        "ppocrv6-small",
        description="PP-OCR's recognizer: PP-OCRv6 small (rapidocr wheel) or PP-OCRv5 mobile.",
    )
    ppocr_word_list: bool = Field(
        True, description="PP-OCR: repair printed words against quire's English word list."
    )
    printed_min_confidence: float = Field(
        0.9, ge=0.0, le=1.0, description="mixed: below this PP-OCR line, the CRNN reads it."
    )
    mixed_min_confidence: float = Field(
        0.0, ge=0.0, le=1.0, description="mixed: lines read less surely than this are dropped."
    )

    task_soft_time_limit: int = Field(240, ge=1)
    task_time_limit: int = Field(300, ge=2)
    visibility_timeout: int | None = Field(None, description="Defaults to 3x task_time_limit.")
    max_attempts: int = Field(3, ge=1)
    retry_backoff_seconds: float = Field(2.0, gt=0)
    worker_soft_shutdown_seconds: float = Field(60.0, ge=0)
    worker_stall_seconds: float = Field(
        120.0, ge=0, description="No message taken this long while work waits: restart; 0: off."
    )

    poll_retry_after_seconds: int = Field(2, ge=1)
    api_workers: int = Field(1, ge=1, description="Processes of `quire api` sharing its port.")
    api_key_cache_seconds: float = Field(
        5.0, ge=0, description="A verified key is trusted this long per API process; 0: never."
    )
    ui_session_hours: float = Field(
        12.0, gt=0, description="A web UI sign-in lasts this long (the key's expiry cuts it short)."
    )
    rate_limit_per_minute: int = Field(600, ge=0, description="Requests per API key; 0: off.")
    rate_limit_burst: int = Field(60, ge=1, description="Requests a key may send at once.")
    tenant_max_jobs_in_flight: int = Field(10_000, ge=0, description="Queued+running; 0: off.")
    tenant_max_pages_in_flight: int = Field(100_000, ge=0, description="Queued+running; 0: off.")
    idempotency_ttl_hours: float = Field(24.0, gt=0, description="Idempotency-Key lifetime.")
    on_duplicate: DuplicatePolicy = Field(
        DuplicatePolicy.PROCESS, description="A file the tenant sent before: process|reuse|reject."
    )
    public_base_url: str = Field("http://127.0.0.1:8000", description="Links in webhooks.")

    webhook_retry_schedule: str = Field(
        "5,300,1800,7200,18000,36000,36000,86400,86400",
        description="Seconds before each retry (about three days in all).",
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_allow_http: bool = False
    webhook_allow_loopback: bool = False
    webhook_allow_private: bool = False
    webhook_secret_rotation_hours: float = Field(24.0, ge=0)
    sweep_interval_seconds: float = Field(1.0, gt=0)
    reconcile_interval_seconds: float = Field(30.0, gt=0, description="Broker vs DB check.")
    stale_after_seconds: float = Field(60.0, gt=0, description="Queued this long: check it.")
    page_lease_seconds: int | None = Field(None, description="Running this long: 2x time limit.")
    worker_dead_after_seconds: float = Field(
        20.0, ge=3, description="A worker silent this long is dead: its work goes back."
    )
    reclaim_interval_seconds: float = Field(3.0, gt=0, description="Sweeper's dead-worker check.")
    training_lease_seconds: int = Field(
        120, ge=10, description="A training's lease; its worker renews it every third of it."
    )
    training_max_attempts: int = Field(3, ge=1, description="Worker losses before it fails.")
    training_device: str = Field("cpu", description="Where trainings run: cpu, cuda, cuda:N.")
    training_threads: int | None = Field(None, ge=1, description="torch CPU threads.")
    loaded_models_max_mb: int = Field(
        2048, ge=1, description="Weights a GPU worker keeps loaded for jobs' chosen models."
    )
    retention_days: int = Field(
        0, ge=0, description="Finished work is purged this long after it ends; 0: kept forever."
    )
    purge_interval_seconds: float = Field(300.0, gt=0, description="Sweeper's retention check.")
    purge_chunk_jobs: int = Field(100, ge=1, description="Jobs purged per transaction.")

    scaler_interval_seconds: float = Field(15.0, gt=0)
    scaler_publish: bool = Field(False, description="Send the metrics to CloudWatch.")
    cloudwatch_namespace: str = "Quire"
    cloudwatch_endpoint_url: str | None = None
    scaler_service_name: str = Field("worker-gpu", description="Metric dimension Service.")
    scaler_metrics_port: int = Field(9102, ge=0, le=65535, description="Scaler; 0: off.")
    log_level: str = "INFO"
    log_format: str = Field("text", pattern="^(text|json)$", description="json in production.")
    worker_metrics_port: int = Field(9101, ge=0, le=65535, description="GPU worker; 0: off.")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError("QUIRE_TASK_SOFT_TIME_LIMIT must be below QUIRE_TASK_TIME_LIMIT")
        minimum = VISIBILITY_TIMEOUT_FACTOR * self.task_time_limit
        if self.visibility_timeout is not None and self.visibility_timeout < minimum:
            raise ValueError(f"QUIRE_VISIBILITY_TIMEOUT must be >= {minimum} (3x time limit)")
        try:
            if any(d < 0 for d in self.retry_schedule):
                raise ValueError
        except ValueError:
            raise ValueError(
                "QUIRE_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds"
            ) from None
        if self.mode is Mode.PRODUCTION:
            self._refuse_unsafe_defaults()
        return self

    def _refuse_unsafe_defaults(self) -> None:
        problems = []
        is_dev_secret = hmac.compare_digest(self.secret_key.encode(), DEV_SECRET_KEY.encode())
        if is_dev_secret or len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            problems.append(f"QUIRE_SECRET_KEY must be set to {MIN_SECRET_KEY_LENGTH}+ chars")
        if not self.database_url or self.database_url.startswith("sqlite"):
            problems.append("QUIRE_DATABASE_URL must point at PostgreSQL")
        if not self.redis_url:
            problems.append("QUIRE_REDIS_URL must be set (no embedded Redis)")
        if self.store_backend is not StoreBackend.S3:
            problems.append("QUIRE_STORE_BACKEND must be s3")
        if self.webhook_allow_loopback:
            problems.append("QUIRE_WEBHOOK_ALLOW_LOOPBACK is for local runs and tests only")
        if problems:
            raise ValueError("unsafe settings for production mode: " + "; ".join(problems))

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or a SQLite file under ``data_dir``."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'quire.db').resolve()}"

    @property
    def effective_store_dir(self) -> Path:
        """Root folder of the local object store."""
        return (self.store_dir or self.data_dir / "objects").resolve()

    @property
    def effective_model_cache_dir(self) -> Path:
        """Where models fetched from S3 are kept."""
        return (self.model_cache_dir or self.data_dir / "models").resolve()

    @property
    def effective_visibility_timeout(self) -> int:
        """Seconds before Redis hands an unacknowledged message to another worker."""
        return self.visibility_timeout or VISIBILITY_TIMEOUT_FACTOR * self.task_time_limit

    @property
    def effective_page_lease_seconds(self) -> int:
        """A page running longer than this has lost its worker."""
        return self.page_lease_seconds or 2 * self.task_time_limit

    @property
    def retry_schedule(self) -> list[float]:
        """Delays before each webhook retry, in seconds."""
        return [float(v) for v in self.webhook_retry_schedule.split(",") if v.strip()]

    @property
    def max_upload_bytes(self) -> int:
        """Upload size limit in bytes."""
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_batch_upload_bytes(self) -> int:
        """Size limit of an archive uploaded through the API, in bytes."""
        return self.max_batch_upload_mb * 1024 * 1024

    @property
    def broker_url(self) -> str:
        """The Redis URL Celery talks to; required once a process needs the broker."""
        if not self.redis_url:
            raise RuntimeError("QUIRE_REDIS_URL is not set; `quire run` starts an embedded Redis")
        return self.redis_url
