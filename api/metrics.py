"""Prometheus metrics of the API: request latency and status, and jobs by status.

Each app gets its own registry (tests build many apps in one process). Job counts are read
from the database when ``/metrics`` is scraped, so every API replica reports the same truth.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db.models import Job, JobStatus, Page, PageStatus


class JobsCollector(Collector):
    """``quire_jobs{status}`` and ``quire_pages{status}`` from the database at scrape time."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.sessions() as session:
            jobs = dict(
                session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
            )
            pages = dict(
                session.execute(select(Page.status, func.count()).group_by(Page.status)).all()
            )
        yield _gauge("quire_jobs", "Jobs by status.", jobs, [s.value for s in JobStatus])
        yield _gauge("quire_pages", "Pages by status.", pages, [s.value for s in PageStatus])


def _gauge(name: str, doc: str, counts: dict[str, int], statuses: list[str]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["status"])
    for status in statuses:
        family.add_metric([status], counts.get(status, 0))
    return family


class MeasureRequests:
    """ASGI middleware counting and timing every HTTP request by method, route and status
    (plain ASGI: Starlette's ``BaseHTTPMiddleware`` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.latency.labels(scope["method"], route).observe(time.perf_counter() - started)
            self.requests.labels(scope["method"], route, str(status)).inc()


def install_metrics(app: FastAPI, sessions: sessionmaker[Session]) -> CollectorRegistry:
    """Count and time every request, and serve ``GET /metrics``."""
    registry = CollectorRegistry()
    requests = Counter(
        "quire_http_requests", "HTTP requests.", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "quire_http_request_duration_seconds",
        "HTTP request latency.",
        ["method", "route"],
        registry=registry,
    )
    registry.register(JobsCollector(sessions))

    app.add_middleware(MeasureRequests, requests=requests, latency=latency)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
