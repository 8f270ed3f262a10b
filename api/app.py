"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api.context import ApiContext
from api.deps import refuse_nul_in_url
from api.metrics import install_metrics
from api.problems import install_problem_handlers
from api.rate_limiter import RateLimitHeaders
from api.routes import (
    batches,
    corrections,
    datasets,
    health,
    jobs,
    keys,
    models,
    purges,
    trainings,
    uploads,
    webhooks,
)
from shared.logging_setup import configure_logging
from shared.settings import Settings
from ui.routes import install_ui

DESCRIPTION = """Asynchronous OCR for scanned documents.

Authenticate with `Authorization: Bearer <key>` (or `X-API-Key: <key>`). A key's scopes say
what it may do: `read` (GET routes), `submit` (writes), `admin` (`/v1/keys`); a missing scope is
a 403 `missing_scope`. Errors are `application/problem+json` documents with a stable `code`."""


def create_app_from_env() -> FastAPI:
    """The app of one of several API processes (``quire api --workers N``): settings and
    logging from the environment, as the first process had them."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; settings are read from the environment when not given."""
    context = ApiContext.build(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await context.aclose()

    app = FastAPI(
        title="quire",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(refuse_nul_in_url)],
        # /docs and /redoc are served by ui.docs from vendored files (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.quire = context
    install_problem_handlers(app)
    app.add_middleware(RateLimitHeaders)
    install_metrics(app, context.sessions)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(corrections.router)
    app.include_router(batches.router)
    app.include_router(uploads.router)
    app.include_router(webhooks.router)
    app.include_router(keys.router)
    app.include_router(purges.router)
    app.include_router(datasets.router)
    app.include_router(trainings.router)
    app.include_router(models.router)
    install_ui(app)
    return app
