"""The panel's ASGI app: the JSON API (/api/v1, its OpenAPI document at
/api/v1/openapi.json), the server-rendered pages and their shipped CSS. No CDN: FastAPI's
interactive docs (which load scripts from one) are off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from glue.errors import BubbleError
from glue.panel import api, pages
from glue.panel.migrations import IMAPS, Jobs, MailServer
from glue.panel.request import Panel
from glue.services.context import Context
from migrator.network import Network, Resolve, public_only, system_resolve
from migrator.target import Target

STATIC = Path(__file__).parent / "static"


def create_app(
    ctx: Context,
    apply: bool = True,
    migration_target: Callable[[str], Target] | None = None,
    private_sources: bool = False,
    resolve: Resolve = system_resolve,
    mail: MailServer = IMAPS,
) -> FastAPI:
    """`migration_target`: how migrations reach an account's server other than by ssh;
    `private_sources`: migrations from old hosts on loopback or private networks (tests);
    `resolve`: the old hosts' names to addresses (tests: a customer's hostile DNS); `mail`:
    how migrations reach the accounts' mailboxes (IMAPS port, CA file)."""
    app = FastAPI(
        title="Bubblehost panel API",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.panel = Panel(ctx, apply)
    network = Network(resolve, None if private_sources else public_only)
    app.state.jobs = Jobs(app.state.panel, migration_target, network, mail)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(BubbleError)
    async def bad_input(request: Request, exc: BubbleError) -> Response:
        """A rule of the services refused the request: its one line, nothing changed."""
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return pages.error_page(request, 422, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """Starlette's own (a path that does not exist) too: a page asked for answers a page,
        as one a customer may not see does."""
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=exc.headers)  # fmt: skip
        return pages.error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        """One line naming the wrong field."""
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        detail = f"{field}: {first['msg']}"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": detail}, status_code=422)
        return pages.error_page(request, 422, detail)

    @app.middleware("http")
    async def headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"
        )
        return response

    return app
