"""Queue and task names shared by the API (producer) and the workers (consumers)."""

from __future__ import annotations

CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"
# Trainings: one at a time per worker, on GPU capacity in production, the CPU locally.
TRAIN_QUEUE = "train"

PREPARE_JOB = "quire.prepare_job"
OCR_PAGE = "quire.ocr_page"
DELIVER_WEBHOOK = "quire.deliver_webhook"
INGEST_BATCH = "quire.ingest_batch"
IMPORT_DATASET = "quire.import_dataset"
RUN_TRAINING = "quire.run_training"

TASK_QUEUES = {
    PREPARE_JOB: CPU_QUEUE,
    OCR_PAGE: GPU_QUEUE,
    DELIVER_WEBHOOK: CPU_QUEUE,
    INGEST_BATCH: CPU_QUEUE,
    IMPORT_DATASET: CPU_QUEUE,
    RUN_TRAINING: TRAIN_QUEUE,
}

# Task payloads are small, versioned JSON: ids only, never bytes or ORM objects.
PAYLOAD_VERSION = 1


def prepare_job_payload(job_id: str) -> dict[str, object]:
    """Arguments of ``prepare_job``."""
    return {"v": PAYLOAD_VERSION, "job_id": job_id}


def ocr_page_payload(job_id: str, page_index: int) -> dict[str, object]:
    """Arguments of ``ocr_page``."""
    return {"v": PAYLOAD_VERSION, "job_id": job_id, "page_index": page_index}


def deliver_webhook_payload(delivery_id: str) -> dict[str, object]:
    """Arguments of ``deliver_webhook``."""
    return {"v": PAYLOAD_VERSION, "delivery_id": delivery_id}


def ingest_batch_payload(batch_id: str) -> dict[str, object]:
    """Arguments of ``ingest_batch``."""
    return {"v": PAYLOAD_VERSION, "batch_id": batch_id}


def import_dataset_payload(dataset_id: str) -> dict[str, object]:
    """Arguments of ``import_dataset``."""
    return {"v": PAYLOAD_VERSION, "dataset_id": dataset_id}


def run_training_payload(training_id: str) -> dict[str, object]:
    """Arguments of ``run_training``."""
    return {"v": PAYLOAD_VERSION, "training_id": training_id}
