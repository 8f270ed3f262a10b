"""Object key layout: everything of a job lives under its tenant's and job's prefix."""

from __future__ import annotations


def job_prefix(tenant_id: str, job_id: str) -> str:
    """Folder of all objects of one job."""
    return f"tenants/{tenant_id}/jobs/{job_id}"


def source_key(tenant_id: str, job_id: str, extension: str) -> str:
    """The uploaded file as received."""
    return f"{job_prefix(tenant_id, job_id)}/source.{extension}"


def page_image_key(tenant_id: str, job_id: str, index: int, extension: str) -> str:
    """One page image, as the GPU worker reads it."""
    return f"{job_prefix(tenant_id, job_id)}/pages/{index:05d}.{extension}"


def batch_prefix(tenant_id: str, batch_id: str) -> str:
    """Folder of a batch's own objects (its jobs' objects live under each job's prefix)."""
    return f"tenants/{tenant_id}/batches/{batch_id}"


def batch_source_key(tenant_id: str, batch_id: str, extension: str) -> str:
    """An archive sent straight to ``POST /v1/batches``."""
    return f"{batch_prefix(tenant_id, batch_id)}/source.{extension}"


def upload_prefix(tenant_id: str, upload_id: str) -> str:
    """Folder of a presigned upload: the file and, in the local store, its parts."""
    return f"tenants/{tenant_id}/uploads/{upload_id}"


def upload_key(tenant_id: str, upload_id: str) -> str:
    """A file sent with presigned URLs, once complete."""
    return f"{upload_prefix(tenant_id, upload_id)}/data"


def upload_part_key(tenant_id: str, upload_id: str, number: int) -> str:
    """One part of a presigned upload to the local store."""
    return f"{upload_prefix(tenant_id, upload_id)}/parts/{number:05d}"


def dataset_prefix(tenant_id: str, dataset_id: str) -> str:
    """Folder of a training dataset's objects."""
    return f"tenants/{tenant_id}/datasets/{dataset_id}"


def dataset_source_key(tenant_id: str, dataset_id: str, extension: str) -> str:
    """A dataset's archive (page images with PAGE XML or ALTO) as received or as assembled."""
    return f"{dataset_prefix(tenant_id, dataset_id)}/source.{extension}"


def training_prefix(tenant_id: str, training_id: str) -> str:
    """Folder of a training run's checkpoints."""
    return f"tenants/{tenant_id}/trainings/{training_id}"


def training_checkpoint_key(tenant_id: str, training_id: str) -> str:
    """The run's last checkpoint, a tar of its working folder (rewritten every epoch)."""
    return f"{training_prefix(tenant_id, training_id)}/checkpoint.tar"


def model_key(tenant_id: str, model_id: str, filename: str) -> str:
    """A trained model's weights file."""
    return f"tenants/{tenant_id}/models/{model_id}/{filename}"
