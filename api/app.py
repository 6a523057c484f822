"""The FastAPI application: ``create_app(settings)`` (``camnet api`` serves it).

Engine and background helpers live in the lifespan (FastAPI template); one exception
handler turns domain errors (``api.errors.ApiError``) into JSON that says what to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from api import (
    pages,
    pages_alerts,
    pages_evaluation,
    routes,
    routes_alerts,
    routes_evaluation,
    routes_tasks,
)
from api.coverage_cache import CoverageCache
from api.errors import ApiError, NotAuthenticated
from api.metrics import ApiMetrics, MetricsMiddleware
from api.settings import ApiSettings
from collector.db import make_engine

STATIC = Path(__file__).with_name("static")


def create_app(settings: ApiSettings | None = None, *, background: bool = True) -> FastAPI:
    """Build the app; ``background=False`` skips the coverage thread (tests)."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.db_url)
        coverage = CoverageCache(engine, settings.coverage_refresh)
        app.state.engine, app.state.settings, app.state.coverage = engine, settings, coverage
        if background:
            coverage.start()
        try:
            yield
        finally:
            coverage.stop()
            engine.dispose()

    app = FastAPI(
        title="camnet API",
        version="1",
        description="Camera an ninh: tỉ lệ camera hoạt động, bản đồ, nhiệm vụ sửa chữa / "
        "community camera health, coverage and repair tasks.",
        lifespan=lifespan,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_key(),
        session_cookie="camnet_session",
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=settings.https_only,
    )
    metrics = ApiMetrics()
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.exception_handler(ApiError)
    async def domain_error(request: Request, exc: ApiError) -> Response:
        if isinstance(exc, NotAuthenticated) and not request.url.path.startswith("/api/"):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return JSONResponse(exc.body(), status_code=exc.status)

    app.include_router(routes.router)
    app.include_router(routes_tasks.router)
    app.include_router(routes_alerts.router)
    app.include_router(routes_evaluation.router)
    app.include_router(pages.router)
    app.include_router(pages_alerts.router)
    app.include_router(pages_evaluation.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
