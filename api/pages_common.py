"""What every dashboard page shares: the caller, the language, templates, forms, errors.

A page handler takes a :class:`Page` (``Annotated`` dependencies :data:`SignedIn` or
:data:`Anyone`) and returns ``page.render("name.html", ...)``. Routers of pages use
:class:`PageRoute`, which shows a domain error (404 outside the caller's communes, 403 ...)
as an HTML page in the caller's language; ``NotAuthenticated`` is left to the app's
handler, which redirects to ``/login``. Forms carry a per-session CSRF token, and every
page is sent with a Content-Security-Policy that allows nothing but this server (and the
tile server when ``tile_url`` is set), so the pages make no other network request.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, current_principal, require_principal
from api.errors import ApiError, Forbidden, NotAuthenticated
from api.i18n import LANGUAGES, Translator, choose_language
from api.settings import ApiSettings

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
CSRF_KEY = "csrf"
FLASH_KEY = "flash"
#: Roles that see the district overview (technicians start on their tasks).
OVERVIEW_ROLES = ("admin", "district", "commune", "reader")


def tile_origin(tile_url: str) -> str:
    """``https://{s}.tile.example.org/{z}/{x}/{y}.png`` -> ``https://*.tile.example.org``."""
    parts = urlsplit(tile_url.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_policy(settings: ApiSettings) -> str:
    """The CSP header: this origin only, plus the tile server's images when configured."""
    images = " ".join(filter(None, ("'self' data: blob:", tile_origin(settings.tile_url))))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'"
    )


def csrf_token(request: Request) -> str:
    """This session's form token (created on first use)."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session[CSRF_KEY] = token
    return token


def csrf_ok(request: Request, token: str) -> bool:
    """Whether a submitted form carries this session's token."""
    expected = request.session.get(CSRF_KEY)
    return isinstance(expected, str) and secrets.compare_digest(expected, token)


def check_csrf(request: Request, token: str) -> None:
    """Raise 403 unless the form carries this session's token."""
    if not csrf_ok(request, token):
        raise Forbidden(
            "Biểu mẫu đã hết hạn.",
            "The form has expired.",
            "Tải lại trang rồi gửi lại / reload the page and send it again",
        )


def flash(request: Request, kind: str, text: str) -> None:
    """Keep a message for the next page (``kind``: ok or error)."""
    request.session[FLASH_KEY] = {"kind": kind, "text": text}


def safe_next(target: str | None) -> str:
    """A redirect target on this site only (a relative path), else ``/``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def redirect(url: str) -> RedirectResponse:
    """303 See Other: the browser follows with a GET."""
    return RedirectResponse(url, status_code=303)


@dataclass
class Page:
    """A page request: who, in which language, with which settings."""

    request: Request
    me: Principal | None
    t: Translator
    settings: ApiSettings

    @property
    def principal(self) -> Principal:
        """The signed-in caller (pages behind :data:`SignedIn` always have one)."""
        if self.me is None:
            raise NotAuthenticated
        return self.me

    def lang_url(self, lang: str) -> str:
        """This page's address in another language."""
        query = dict(self.request.query_params) | {"lang": lang}
        return f"{self.request.url.path}?{urlencode(query)}"

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """Render ``template`` with the shared context (and the flash message, once)."""
        context |= {
            "me": self.me,
            "t": self.t,
            "lang": self.t.lang,
            "languages": LANGUAGES,
            "page": self,
            "csrf": csrf_token(self.request),
            "flash": self.request.session.pop(FLASH_KEY, None),
            "settings": self.settings,
            "overview": self.me is not None and self.me.role in OVERVIEW_ROLES,
        }
        response = TEMPLATES.TemplateResponse(
            self.request, template, context, status_code=status_code
        )
        response.headers["Content-Security-Policy"] = content_policy(self.settings)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def signed_in(request: Request, me: Annotated[Principal, Depends(require_principal)]) -> Page:
    """A page for a signed-in caller (redirects to the login page otherwise)."""
    settings = _settings(request)
    return Page(
        request, me, Translator(choose_language(request, me.language, settings.language)), settings
    )


def anyone(request: Request) -> Page:
    """A page anyone may open (the login page)."""
    settings = _settings(request)
    return Page(
        request, None, Translator(choose_language(request, None, settings.language)), settings
    )


SignedIn = Annotated[Page, Depends(signed_in)]
Anyone = Annotated[Page, Depends(anyone)]


def error_page(request: Request, exc: ApiError) -> Response:
    """A domain error as an HTML page (status kept) in the caller's language."""
    settings = _settings(request)
    me = current_principal(request)
    lang = choose_language(request, me.language if me else None, settings.language)
    page = Page(request, me, Translator(lang), settings)
    return page.render(
        "error.html",
        status_code=exc.status,
        message=page.t.message(exc.message, exc.message_en),
        hint=exc.hint,
    )


class PageRoute(APIRoute):
    """A route whose domain errors are shown as pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler (dependencies included) to catch ``ApiError``."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except NotAuthenticated:
                raise  # the app's handler redirects to /login
            except ApiError as exc:  # the page looks the caller up again: off the loop
                return await run_in_threadpool(error_page, request, exc)

        return guarded
