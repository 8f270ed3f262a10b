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
